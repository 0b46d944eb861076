// One online deployment: settings as read-only YAML, instances, a live log tail (every 2 s) and
// Chart.js charts of berthd's per-deployment metrics over a chosen window.

import { request, get, enc, ApiError } from "./api.js";
import { h, replace, field, stateBadge, table, errorBox, showError, confirmAction, poll, toYaml } from "./util.js";

const WINDOWS = [[300, "Last 5 minutes"], [900, "Last 15 minutes"], [3600, "Last hour"]];
const SHOWN_ELSEWHERE = new Set(["instances", "live"]);

function lineChart(canvas, title, series) {
  const Chart = window.Chart;
  return new Chart(canvas, {
    type: "line",
    data: { labels: [], datasets: series.map(([label, color]) => ({ label, data: [], borderColor: color, backgroundColor: color, pointRadius: 0, borderWidth: 2, tension: 0.2 })) },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      plugins: { title: { display: true, text: title }, legend: { position: "bottom" } },
      scales: { x: { ticks: { maxTicksLimit: 6 } }, y: { beginAtZero: true } },
    },
  });
}

function chartBox(id, label) {
  const canvas = h("canvas", { id, role: "img", "aria-label": label });
  return [h("figure", { class: "chart" }, h("div", { class: "chart-box" }, canvas), h("figcaption", { class: "visually-hidden" }, label)), canvas];
}

export async function deploymentPage(main, endpointName, name) {
  const base = `/api/v1/online-endpoints/${enc(endpointName)}/deployments/${enc(name)}`;
  let deployment;
  try {
    deployment = await get(base);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      replace(main, h("h1", {}, name), h("p", { class: "empty" }, "This deployment does not exist (any more). "), h("a", { href: `#/endpoints/${enc(endpointName)}` }, `Back to ${endpointName}`));
      return null;
    }
    throw e;
  }
  const summary = h("dl", { class: "summary", id: "deployment-summary" });
  const instancesBox = h("div", { id: "instances" });
  const settings = h("pre", { id: "settings-yaml", tabindex: "0", "aria-label": "Deployment settings as YAML" });
  const logs = h("pre", { id: "log-tail", class: "log", tabindex: "0", "aria-label": "Last 200 log lines" }, "Loading logs…");
  const logStatus = h("p", { class: "hint", id: "log-status" });
  const windowSelect = h("select", { id: "metrics-window" }, WINDOWS.map(([s, label]) => h("option", { value: String(s) }, label)));
  const metricsNote = h("p", { class: "hint", id: "metrics-status", role: "status" });
  const [rpsFigure, rpsCanvas] = chartBox("chart-rps", "Requests per second");
  const [latFigure, latCanvas] = chartBox("chart-latency", "Latency p50 and p99 in milliseconds");
  const [errFigure, errCanvas] = chartBox("chart-status", "4xx, 5xx and 429 answers per step");
  const deleteError = errorBox(null, "delete-deployment-error");

  const remove = async () => {
    const ok = await confirmAction(`Delete deployment ${name}?`, `Its instances stop. A deployment that still has live traffic cannot be deleted: move its traffic first.`, "Delete deployment");
    if (!ok) return;
    try {
      await request("DELETE", base);
      location.hash = `#/endpoints/${enc(endpointName)}`;
    } catch (e) {
      showError(deleteError, e);
    }
  };

  replace(main,
    h("p", { class: "crumbs" }, h("a", { href: "#/endpoints" }, "Online endpoints"), " / ", h("a", { href: `#/endpoints/${enc(endpointName)}` }, endpointName), " / ", name),
    h("h1", {}, `Deployment ${name}`),
    summary,
    h("section", { "aria-labelledby": "instances-title" }, h("h2", { id: "instances-title" }, "Instances"), instancesBox),
    h("section", { "aria-labelledby": "metrics-title" }, h("h2", { id: "metrics-title" }, "Metrics"),
      field("Window", windowSelect), metricsNote, h("div", { class: "charts" }, rpsFigure, latFigure, errFigure)),
    h("section", { "aria-labelledby": "logs-title" }, h("h2", { id: "logs-title" }, "Logs (inference-server, newest instance)"), logStatus, logs),
    h("section", { "aria-labelledby": "settings-title" }, h("h2", { id: "settings-title" }, "Settings"), settings),
    h("section", { "aria-labelledby": "danger-title", class: "danger-zone" }, h("h2", { id: "danger-title" }, "Delete"),
      h("button", { type: "button", class: "danger", id: "delete-deployment", onclick: remove }, "Delete this deployment"), deleteError));

  const renderDeployment = () => {
    const live = deployment.live || {};
    replace(summary,
      h("dt", {}, "State"), h("dd", { id: "deployment-state" }, stateBadge(deployment.provisioning_state)),
      h("dt", {}, "Reason"), h("dd", {}, deployment.reason || "—"),
      h("dt", {}, "Instances"), h("dd", {}, `${live.ready_instances ?? "—"} ready of ${live.desired_instances ?? "—"} desired`),
      h("dt", {}, "In flight / queued"), h("dd", {}, `${live.requests_in_flight ?? 0} / ${live.requests_queued ?? 0}`),
      h("dt", {}, "Requests since berthd started"), h("dd", {}, String(live.requests_total ?? 0)));
    replace(instancesBox, table(`Instances of ${name}`, ["Id", "State", "Restarts", "Current spec", "Process", "Exit"],
      (deployment.instances || []).map((i) => [String(i.id), stateBadge(i.state), String(i.restarts ?? 0), i.current === false ? "no (being replaced)" : "yes",
        i.pid ? String(i.pid) : "—", i.exit_code !== undefined ? `code ${i.exit_code}` : i.exit_signal !== undefined ? `signal ${i.exit_signal}` : "—"]),
      "No instance runs: the deployment is starting, scaled to zero, or failed (see Reason)."));
    const shown = Object.fromEntries(Object.entries(deployment).filter(([k]) => !SHOWN_ELSEWHERE.has(k)));
    settings.textContent = toYaml(shown);
  };
  renderDeployment();

  let charts = null;
  const renderMetrics = async () => {
    if (!window.Chart) {
      metricsNote.textContent = "The chart library did not load.";
      return;
    }
    const m = await get(`${base}/metrics?window_s=${windowSelect.value}`);
    const points = m.points || [];
    if (!charts) {
      charts = [
        lineChart(rpsCanvas, "Requests per second", [["requests/s", "#1f6feb"]]),
        lineChart(latCanvas, "Latency (ms)", [["p50", "#2da44e"], ["p99", "#bf8700"]]),
        lineChart(errCanvas, "Error answers", [["4xx", "#bf8700"], ["5xx", "#cf222e"], ["429", "#8250df"]]),
      ];
    }
    const labels = points.map((p) => new Date(p.time).toLocaleTimeString());
    const columns = [["requests_per_s"], ["p50_ms", "p99_ms"], ["status_4xx", "status_5xx", "status_429"]];
    charts.forEach((chart, i) => {
      chart.data.labels = labels;
      columns[i].forEach((key, j) => { chart.data.datasets[j].data = points.map((p) => p[key] ?? 0); });
      chart.update();
    });
    const total = points.reduce((a, p) => a + (p.requests_per_s || 0) * (m.step_s || 1), 0);
    metricsNote.textContent = total > 0
      ? `${points.length} points, one every ${m.step_s} s.`
      : "No requests in this window yet: send some from the endpoint's Test panel.";
    metricsNote.dataset.points = String(points.length);
    metricsNote.dataset.requests = String(Math.round(total));
  };
  windowSelect.addEventListener("change", () => renderMetrics().catch((e) => { metricsNote.textContent = e.message; }));

  const renderLogs = async () => {
    try {
      const text = await get(`${base}/logs?lines=200`);
      const atBottom = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
      logs.textContent = text || "(the instance has printed nothing yet)";
      if (atBottom) logs.scrollTop = logs.scrollHeight;
      logStatus.textContent = `Updated ${new Date().toLocaleTimeString()}; refreshed every 2 s.`;
    } catch (e) {
      logStatus.textContent = `No logs: ${e.message}`;
    }
  };

  const stops = [
    poll(async () => { deployment = await get(base); renderDeployment(); }, 2000),
    poll(renderLogs, 2000),
    poll(() => renderMetrics().catch((e) => { metricsNote.textContent = `Metrics unavailable: ${e.message}`; }), 2000),
  ];
  return () => {
    stops.forEach((s) => s());
    if (charts) charts.forEach((c) => c.destroy());
  };
}
