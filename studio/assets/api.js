// The studio's one door to berthd: fetch with the session cookie, the CSRF token on every
// write, JSON in and out, and berth's error shape turned into ApiError. The CSRF token lives in
// this module's variable only; it is fetched again from GET /studio/api/session on each load.

let csrfToken = null;

export class ApiError extends Error {
  constructor(status, code, message, target) {
    super(message);
    this.status = status;
    this.code = code;
    this.target = target || "";
  }
}

export function goToSignIn() {
  location.replace("/studio/signin");
}

export async function loadSession() {
  const r = await fetch("/studio/api/session", { credentials: "same-origin" });
  if (r.status === 401) {
    goToSignIn();
    return null;
  }
  if (!r.ok) throw new ApiError(r.status, "", `session check failed (HTTP ${r.status})`);
  const session = await r.json();
  csrfToken = session.csrf_token;
  return session;
}

export async function signOut() {
  await fetch("/studio/api/session", {
    method: "DELETE",
    credentials: "same-origin",
    headers: { "X-CSRF-Token": csrfToken || "" },
  });
  csrfToken = null;
  goToSignIn();
}

async function errorOf(r) {
  let code = "";
  let message = `HTTP ${r.status}`;
  let target = "";
  const text = await r.text();
  try {
    const body = JSON.parse(text);
    const e = body.error || {};
    if (typeof e === "string") message = e;
    else {
      code = e.code || "";
      message = e.message || message;
      target = e.target || "";
    }
  } catch {
    if (text) message = text;
  }
  return new ApiError(r.status, code, message, target);
}

// request(method, path, {json, body, contentType, raw}) -> parsed JSON (or the Response when
// raw). Throws ApiError on a non-2xx answer; a 401 sends the browser to the sign-in page.
export async function request(method, path, options = {}) {
  const headers = { ...(options.headers || {}) };
  let body = options.body;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers["Content-Type"] = "application/json";
  } else if (options.contentType) {
    headers["Content-Type"] = options.contentType;
  }
  if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken || "";
  const r = await fetch(path, { method, headers, body, credentials: "same-origin" });
  if (r.status === 401 && !options.noRedirect) {
    goToSignIn();
    throw new ApiError(401, "Unauthorized", "signed out");
  }
  if (!r.ok) throw await errorOf(r);
  if (options.raw) return r;
  if (r.status === 204) return null;
  const type = r.headers.get("Content-Type") || "";
  return type.includes("json") ? r.json() : r.text();
}

export const get = (path, options) => request("GET", path, options);

// Every item of a paged list (follows nextLink, which is absolute: keep only its path).
export async function listAll(path) {
  const items = [];
  let next = path;
  while (next) {
    const page = await get(next);
    items.push(...(page.value || []));
    next = page.nextLink ? new URL(page.nextLink).pathname + new URL(page.nextLink).search : null;
  }
  return items;
}

export const enc = encodeURIComponent;
