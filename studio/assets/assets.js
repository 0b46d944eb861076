// Models and data assets: every version, and where each is used (computed from the online and
// batch deployments, and from the jobs' inputs).

import { listAll, enc } from "./api.js";
import { h, replace, table, fmtTime } from "./util.js";

// "azureml:name:version" -> "name:version" (a string model reference), else "".
function assetRef(value) {
  if (typeof value === "string") {
    const m = /^azureml:(.+)$/.exec(value);
    return m ? m[1] : "";
  }
  if (value && typeof value === "object" && value.name && value.version && !value.artifact) return `${value.name}:${value.version}`;
  return "";
}

async function modelUses() {
  const uses = new Map();
  const add = (ref, link) => {
    if (!ref) return;
    if (!uses.has(ref)) uses.set(ref, []);
    uses.get(ref).push(link);
  };
  for (const e of await listAll("/api/v1/online-endpoints")) {
    for (const d of await listAll(`/api/v1/online-endpoints/${enc(e.name)}/deployments`)) {
      add(assetRef(d.model), h("a", { href: `#/endpoints/${enc(e.name)}/deployments/${enc(d.name)}` }, `${e.name}/${d.name}`));
    }
  }
  for (const e of await listAll("/api/v1/batch-endpoints")) {
    for (const d of await listAll(`/api/v1/batch-endpoints/${enc(e.name)}/deployments`)) {
      add(assetRef(d.model), h("span", {}, `batch ${e.name}/${d.name}`));
    }
  }
  return uses;
}

function joinLinks(links) {
  if (!links || !links.length) return "not used";
  return links.flatMap((l, i) => (i ? [", ", l] : [l]));
}

export async function modelsPage(main) {
  replace(main, h("h1", {}, "Models"), h("p", { class: "loading" }, "Loading models…"));
  const [models, uses] = await Promise.all([listAll("/api/v1/models"), modelUses()]);
  replace(main, h("h1", {}, "Models"),
    table("Registered models, every version", ["Name", "Version", "Type", "Registered", "Used by"],
      models.map((m) => [m.name, String(m.version), m.type || "custom_model", fmtTime(m.created_at), joinLinks(uses.get(`${m.name}:${m.version}`))]),
      "No model registered yet. Register one with `berth model create --name <name> --path <folder>`, then refer to it from a deployment as `model: azureml:<name>:<version>`."));
  return null;
}

export async function dataPage(main) {
  replace(main, h("h1", {}, "Data assets"), h("p", { class: "loading" }, "Loading data assets…"));
  const [assets, jobs] = await Promise.all([listAll("/api/v1/data"), listAll("/api/v1/jobs")]);
  const uses = new Map();
  for (const j of jobs) {
    for (const input of Object.values(j.inputs || {})) {
      const ref = assetRef(input.path);
      if (!ref) continue;
      if (!uses.has(ref)) uses.set(ref, []);
      uses.get(ref).push(h("a", { href: `#/jobs/${enc(j.name)}` }, j.name));
    }
  }
  const usedBy = (a) => joinLinks([...(uses.get(`${a.name}:${a.version}`) || []), ...(uses.get(`${a.name}@latest`) || [])]);
  replace(main, h("h1", {}, "Data assets"),
    table("Data assets, every version", ["Name", "Version", "Type", "Path", "Archived", "Used by (jobs)"],
      assets.map((a) => [a.name, String(a.version), a.type, h("code", { class: "url" }, a.path || ""), a.archived ? "yes" : "no", usedBy(a)]),
      "No data asset yet. Create one with `berth data create --name <name> --path <folder> --type uri_folder`, then use it as a job's input: `--input azureml:<name>:<version>`."));
  return null;
}
