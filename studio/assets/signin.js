// Sign-in: the admin token is POSTed once to /studio/api/session and exchanged for an HttpOnly
// session cookie. The field is cleared whatever the answer; nothing is stored in the browser.

const form = document.getElementById("signin-form");
const field = document.getElementById("token");
const error = document.getElementById("signin-error");
const submit = document.getElementById("signin-submit");

function showError(text) {
  error.textContent = text;
  error.hidden = false;
}

async function alreadySignedIn() {
  const r = await fetch("/studio/api/session", { credentials: "same-origin" });
  if (r.ok) location.replace("/studio/#/endpoints");
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = field.value.trim();
  field.value = "";
  if (!token) {
    showError("Enter the admin token.");
    field.focus();
    return;
  }
  error.hidden = true;
  submit.disabled = true;
  submit.textContent = "Signing in…";
  try {
    const r = await fetch("/studio/api/session", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
    });
    if (r.ok) {
      location.replace("/studio/#/endpoints");
      return;
    }
    if (r.status === 429) showError("Too many attempts: wait a moment, then try again.");
    else if (r.status === 401) showError("That token is not berthd's admin token.");
    else showError(`Sign-in failed (HTTP ${r.status}).`);
  } catch (e) {
    showError(`berthd cannot be reached: ${e.message}`);
  } finally {
    submit.disabled = false;
    submit.textContent = "Sign in";
    field.focus();
  }
});

alreadySignedIn().catch(() => {});
field.focus();
