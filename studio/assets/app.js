// berth studio: hash routes -> pages. Each page renders into <main> and returns a cleanup
// function (stops its polling) that runs when the route changes.

import { loadSession, signOut } from "./api.js";
import { h, replace } from "./util.js";
import { endpointsPage, endpointPage } from "./endpoints.js";
import { deploymentPage } from "./deployment.js";
import { batchEndpointsPage, jobsPage, jobPage } from "./batch.js";
import { modelsPage, dataPage } from "./assets.js";

const main = document.getElementById("main");
let cleanup = null;

const routes = [
  [/^#\/endpoints\/([^/]+)\/deployments\/([^/]+)$/, (m) => deploymentPage(main, m[1], m[2]), "endpoints"],
  [/^#\/endpoints\/([^/]+)$/, (m) => endpointPage(main, m[1]), "endpoints"],
  [/^#\/endpoints$/, () => endpointsPage(main), "endpoints"],
  [/^#\/batch-endpoints$/, () => batchEndpointsPage(main), "batch-endpoints"],
  [/^#\/jobs\/([^/]+)$/, (m) => jobPage(main, m[1]), "jobs"],
  [/^#\/jobs(?:\?endpoint=([^&]*))?$/, (m) => jobsPage(main, m[1] || ""), "jobs"],
  [/^#\/models$/, () => modelsPage(main), "models"],
  [/^#\/data$/, () => dataPage(main), "data"],
];

async function route() {
  if (cleanup) cleanup();
  cleanup = null;
  const hash = location.hash || "#/endpoints";
  for (const [pattern, render, nav] of routes) {
    const m = pattern.exec(hash);
    if (!m) continue;
    for (const a of document.querySelectorAll("[data-nav]")) {
      if (a.dataset.nav === nav) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    const decoded = m.map((part) => (part === undefined ? "" : decodeURIComponent(part)));
    try {
      cleanup = (await render(decoded)) || null;
    } catch (e) {
      if (e && e.status === 401) return;
      replace(main, h("h1", {}, "Something went wrong"), h("p", { class: "error", role: "alert" }, e.message || String(e)));
    }
    return;
  }
  replace(main, h("h1", {}, "Not found"), h("p", {}, "No such page. "), h("a", { href: "#/endpoints" }, "Go to the endpoints"));
}

async function start() {
  const session = await loadSession();
  if (!session) return;
  document.getElementById("sign-out").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", route);
  if (!location.hash) history.replaceState(null, "", "#/endpoints");
  await route();
}

start();
