// Batch endpoints (list, create from YAML), jobs (list) and one job (live progress bar, first
// errors, driver log, output download, cancel).

import { request, get, listAll, enc, ApiError } from "./api.js";
import { h, replace, stateBadge, table, errorBox, showError, confirmAction, poll, fmtTime, fmtDuration } from "./util.js";
import { yamlForm, yamlName } from "./yamlform.js";

const JOB_ENDED = new Set(["Completed", "Failed", "Canceled"]);

const BATCH_ENDPOINT_EXAMPLE = `$schema: https://azuremlschemas.azureedge.net/latest/batchEndpoint.schema.json
name: my-batch-endpoint
description: scores folders of files`;

const BATCH_DEPLOYMENT_EXAMPLE = `$schema: https://azuremlschemas.azureedge.net/latest/modelBatchDeployment.schema.json
name: main
endpoint_name: my-batch-endpoint
type: model
model: azureml:my-model:1
code_configuration:
  code: ./code
  scoring_script: score.py
settings:
  mini_batch_size: 10
  output_action: append_row`;

function needName(text, what) {
  const name = yamlName(text);
  if (!name) throw new ApiError(400, "BadArgument", `the ${what} needs a name`, "name");
  return name;
}

export async function batchEndpointsPage(main) {
  const list = h("div", { id: "batch-endpoint-list" }, h("p", { class: "loading" }, "Loading batch endpoints…"));
  const endpointForm = yamlForm({
    id: "create-batch-endpoint", legend: "Create a batch endpoint from YAML", placeholder: BATCH_ENDPOINT_EXAMPLE, submitLabel: "Create batch endpoint",
    send: (text) => request("PUT", `/api/v1/batch-endpoints/${enc(needName(text, "batch endpoint"))}`, { body: text, contentType: "application/yaml" }),
    done: () => render(),
  });
  const deploymentForm = yamlForm({
    id: "create-batch-deployment", legend: "Create a batch deployment from YAML (endpoint_name names its endpoint)", placeholder: BATCH_DEPLOYMENT_EXAMPLE,
    withCode: true, submitLabel: "Create batch deployment",
    send: (text) => {
      const endpoint = /^endpoint_name\s*:\s*["']?([^"'#\s]+)/m.exec(text);
      if (!endpoint) throw new ApiError(400, "BadArgument", "the deployment needs endpoint_name", "endpoint_name");
      return request("PUT", `/api/v1/batch-endpoints/${enc(endpoint[1])}/deployments/${enc(needName(text, "batch deployment"))}`, { body: text, contentType: "application/yaml" });
    },
    done: () => render(),
  });
  replace(main, h("h1", {}, "Batch endpoints"), list,
    h("details", { class: "create" }, h("summary", {}, "Create a batch endpoint"), endpointForm),
    h("details", { class: "create" }, h("summary", {}, "Create a batch deployment"), deploymentForm));

  async function render() {
    const endpoints = await listAll("/api/v1/batch-endpoints");
    const rows = [];
    for (const e of endpoints) {
      const deployments = await listAll(`/api/v1/batch-endpoints/${enc(e.name)}/deployments`);
      const def = (e.defaults || {}).deployment_name || "";
      rows.push([
        e.name, e.auth_mode || "aad_token", stateBadge(e.provisioning_state || "Succeeded"),
        deployments.map((d) => (d.name === def ? `${d.name} (default)` : d.name)).join(", ") || "none",
        h("a", { href: `#/jobs?endpoint=${enc(e.name)}` }, "jobs"),
        h("code", { class: "url" }, e.scoring_uri || ""),
      ]);
    }
    replace(list, table("Batch endpoints", ["Name", "Auth mode", "State", "Deployments", "Jobs", "Invocation URL"], rows,
      "No batch endpoint yet. Create one from its YAML below, then a deployment, then start a job with `berth batch-endpoint invoke`."));
  }
  return poll(render, 5000);
}

function progressOf(job) {
  const p = job.progress || {};
  const mb = p.mini_batches || {};
  const items = p.items || {};
  return { mb, items, p };
}

export async function jobsPage(main, endpoint) {
  const list = h("div", { id: "job-list" }, h("p", { class: "loading" }, "Loading jobs…"));
  replace(main, h("h1", {}, endpoint ? `Batch jobs of ${endpoint}` : "Batch jobs"),
    endpoint ? h("p", {}, h("a", { href: "#/jobs" }, "Show every job")) : null, list);
  const render = async () => {
    const jobs = await listAll(endpoint ? `/api/v1/jobs?endpoint=${enc(endpoint)}` : "/api/v1/jobs");
    replace(list, table("Batch jobs, newest first", ["Name", "Endpoint / deployment", "Status", "Mini-batches done", "Created"],
      jobs.map((j) => {
        const { mb } = progressOf(j);
        return [h("a", { href: `#/jobs/${enc(j.name)}` }, j.name), `${j.endpoint_name} / ${j.deployment_name}`, stateBadge(j.status),
          mb.total ? `${(mb.succeeded || 0) + (mb.failed || 0)} / ${mb.total}` : "—", fmtTime(j.created_at)];
      }),
      "No job yet. Start one with `berth batch-endpoint invoke -n <endpoint> --input <folder>`, or POST to a batch endpoint's invocation URL."));
  };
  return poll(render, 3000);
}

export async function jobPage(main, name) {
  const base = `/api/v1/jobs/${enc(name)}`;
  let job;
  try {
    job = await get(base);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      replace(main, h("h1", {}, name), h("p", { class: "empty" }, "No such job. "), h("a", { href: "#/jobs" }, "Back to the jobs"));
      return null;
    }
    throw e;
  }
  const bar = h("progress", { id: "job-progress", max: "100", value: "0" });
  const barLabel = h("label", { for: "job-progress" }, "Mini-batches done");
  const percent = h("output", { id: "job-percent", for: "job-progress" });
  const figures = h("dl", { class: "summary", id: "job-figures" });
  const errors = h("div", { id: "job-errors" });
  const log = h("pre", { id: "job-log", class: "log", tabindex: "0", "aria-label": "Driver log" });
  const download = h("p", { id: "job-download" });
  const cancelError = errorBox(null, "cancel-error");
  const cancel = h("button", { type: "button", class: "danger", id: "job-cancel" }, "Cancel job");
  cancel.addEventListener("click", async () => {
    const ok = await confirmAction(`Cancel job ${name}?`, "Its workers are stopped at once; mini-batches in flight are abandoned.", "Cancel job");
    if (!ok) return;
    try {
      job = await request("POST", `${base}/cancel`);
      render();
    } catch (e) {
      showError(cancelError, e);
    }
  });
  replace(main,
    h("p", { class: "crumbs" }, h("a", { href: "#/jobs" }, "Jobs"), " / ", name),
    h("h1", {}, `Job ${name}`),
    h("section", { "aria-labelledby": "progress-title" }, h("h2", { id: "progress-title" }, "Progress"),
      h("p", { class: "progress-row" }, barLabel, bar, percent), figures),
    h("section", { "aria-labelledby": "output-title" }, h("h2", { id: "output-title" }, "Output"), download),
    h("section", { "aria-labelledby": "errors-title" }, h("h2", { id: "errors-title" }, "First errors"), errors),
    h("section", { "aria-labelledby": "log-title" }, h("h2", { id: "log-title" }, "Driver log"), log),
    h("section", { class: "danger-zone", "aria-labelledby": "cancel-title" }, h("h2", { id: "cancel-title" }, "Cancel"), cancel, cancelError));

  function render() {
    const { mb, items, p } = progressOf(job);
    const done = (mb.succeeded || 0) + (mb.failed || 0);
    const pct = mb.total ? Math.floor((100 * done) / mb.total) : (job.status === "Completed" ? 100 : 0);
    bar.value = pct;
    bar.textContent = `${pct} %`;
    percent.value = `${pct} %`;
    replace(figures,
      h("dt", {}, "Status"), h("dd", { id: "job-status" }, stateBadge(job.status), job.error ? ` ${job.error}` : ""),
      h("dt", {}, "Endpoint / deployment"), h("dd", {}, `${job.endpoint_name} / ${job.deployment_name}`),
      h("dt", {}, "Mini-batches"), h("dd", { id: "job-mini-batches" }, `${done} of ${mb.total ?? "—"} done (${mb.succeeded || 0} succeeded, ${mb.failed || 0} failed, ${mb.running || 0} running, ${mb.pending || 0} pending)`),
      h("dt", {}, "Items"), h("dd", { id: "job-items" }, `${(items.succeeded || 0) + (items.failed || 0)} of ${items.total ?? "—"} (${items.failed || 0} failed)`),
      h("dt", {}, "Workers"), h("dd", {}, String(p.workers ?? 0)),
      h("dt", {}, "Rate"), h("dd", {}, p.items_per_second ? `${p.items_per_second.toFixed(1)} items/s` : "—"),
      h("dt", {}, "ETA"), h("dd", {}, JOB_ENDED.has(job.status) ? "ended" : fmtDuration(p.eta_seconds)),
      h("dt", {}, "Created / started / ended"), h("dd", {}, `${fmtTime(job.created_at)} / ${fmtTime(job.started_at)} / ${fmtTime(job.ended_at)}`));
    replace(errors, (job.errors || []).length
      ? h("ol", {}, job.errors.map((e) => h("li", {}, `mini-batch ${e.mini_batch} (try ${e.attempt}, ${(e.files || []).join(", ")}): ${e.message}`)))
      : h("p", { class: "empty" }, "No failed mini-batch."));
    replace(download, job.status === "Completed"
      ? h("a", { href: `${base}/download?output=score`, download: `${name}-score.tar`, id: "job-download-link" }, "Download the score output (tar)")
      : `The output can be downloaded once the job has completed (now ${job.status}).`);
    cancel.disabled = JOB_ENDED.has(job.status) || job.status === "CancelRequested";
  }
  render();

  let offset = 0;
  const tick = async () => {
    const chunk = await get(`${base}/log?offset=${offset}`);
    if (chunk.text) {
      const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.append(chunk.text);
      if (atBottom) log.scrollTop = log.scrollHeight;
    }
    offset = chunk.offset;
    job = chunk.job || (await get(base));
    render();
  };
  return poll(tick, 1000);
}
