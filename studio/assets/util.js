// Small DOM and formatting helpers. Text always goes in as text nodes (never innerHTML), and no
// style attribute is ever written: the Content-Security-Policy allows neither.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key in el && typeof value !== "string") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : value);
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let nextId = 0;
export function uid(prefix) {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

// A labelled control: [label, control] for a <p class="field">.
export function field(labelText, control, hint) {
  if (!control.id) control.id = uid("f");
  const parts = [h("label", { for: control.id }, labelText), control];
  if (hint) {
    const hintId = uid("hint");
    control.setAttribute("aria-describedby", hintId);
    parts.push(h("small", { id: hintId, class: "hint" }, hint));
  }
  return h("p", { class: "field" }, parts);
}

export function stateBadge(state) {
  const s = String(state || "unknown");
  return h("span", { class: `badge state-${s.toLowerCase()}` }, s);
}

export function table(caption, headers, rows, emptyText) {
  if (!rows.length) return h("p", { class: "empty" }, emptyText);
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c)))))));
}

export function errorBox(error, id) {
  const box = h("p", { class: "error", role: "alert", id });
  if (error) showError(box, error);
  else box.hidden = true;
  return box;
}

export function showError(box, error) {
  if (!error) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  const target = error.target ? `${error.target}: ` : "";
  const already = error.target && String(error.message).startsWith(error.target);
  box.textContent = already ? error.message : `${target}${error.message}`;
  box.hidden = false;
}

// A read-only code block with a Copy button.
export function copyBlock(labelText, text, id) {
  const pre = h("pre", { id, tabindex: "0", "aria-label": labelText }, h("code", {}, text));
  const status = h("span", { class: "copied", role: "status" });
  const button = h("button", {
    type: "button", class: "secondary small",
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(text);
        status.textContent = "Copied";
      } catch {
        const range = document.createRange();
        range.selectNodeContents(pre);
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        status.textContent = "Selected: press Ctrl+C";
      }
    },
  }, `Copy ${labelText.toLowerCase()}`);
  return h("div", { class: "copy-block" }, h("div", { class: "copy-head" }, h("strong", {}, labelText), button, status), pre);
}

// Asks before a destructive action, in the page's <dialog>. Resolves true on Confirm.
export function confirmAction(title, message, confirmLabel = "Confirm") {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-message").textContent = message;
  document.getElementById("confirm-ok").textContent = confirmLabel;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    document.getElementById("confirm-cancel").focus();
  });
}

export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

export function fmtDuration(seconds) {
  if (seconds === undefined || seconds === null || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

// ---- YAML rendering of a JSON document (read-only views)

const PLAIN = /^[A-Za-z_/.][A-Za-z0-9_./@:-]*$/;
const RESERVED = new Set(["true", "false", "null", "yes", "no", "on", "off", "y", "n", "~"]);

function scalar(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "boolean" || typeof v === "number") return String(v);
  const s = String(v);
  if (PLAIN.test(s) && !RESERVED.has(s.toLowerCase()) && !s.endsWith(":")) return s;
  return JSON.stringify(s);
}

export function toYaml(value, indent = 0) {
  const pad = " ".repeat(indent);
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return value.map((item) => {
      if (item && typeof item === "object" && Object.keys(item).length) {
        const inner = toYaml(item, indent + 2).replace(/^\s+/, "");
        return `${pad}- ${inner}`;
      }
      return `${pad}- ${typeof item === "object" && item ? (Array.isArray(item) ? "[]" : "{}") : scalar(item)}`;
    }).join("\n");
  }
  if (value && typeof value === "object") {
    const keys = Object.keys(value);
    if (!keys.length) return "{}";
    return keys.map((k) => {
      const v = value[k];
      const key = `${pad}${scalar(k)}:`;
      if (v && typeof v === "object" && (Array.isArray(v) ? v.length : Object.keys(v).length)) {
        return `${key}\n${toYaml(v, indent + 2)}`;
      }
      if (v && typeof v === "object") return `${key} ${Array.isArray(v) ? "[]" : "{}"}`;
      return `${key} ${scalar(v)}`;
    }).join("\n");
  }
  return pad + scalar(value);
}

// Repeats fn every `ms` while the page is shown; the returned stop() ends it. A tick runs only
// after the previous one finished, so a slow berthd never piles up requests.
export function poll(fn, ms) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    try {
      await fn();
    } catch (e) {
      if (e && e.status === 401) return;
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
