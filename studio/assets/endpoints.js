// Online endpoints: the list (with "create from YAML") and one endpoint's page (deployments,
// traffic editor, keys or token, Test panel, swagger, snippets, add a deployment, delete).

import { request, get, listAll, enc, ApiError } from "./api.js";
import { h, replace, field, stateBadge, table, errorBox, showError, copyBlock, confirmAction, poll } from "./util.js";
import { yamlForm } from "./yamlform.js";

export function trafficText(endpoint) {
  const parts = Object.entries(endpoint.traffic || {}).filter(([, w]) => w > 0).map(([d, w]) => `${d} ${w} %`);
  const mirror = Object.entries(endpoint.mirror_traffic || {}).filter(([, w]) => w > 0).map(([d, w]) => `mirror ${d} ${w} %`);
  return [...parts, ...mirror].join(" · ") || "no traffic";
}

const ENDPOINT_EXAMPLE = `$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json
name: my-endpoint
auth_mode: key`;

export async function endpointsPage(main) {
  const list = h("div", { id: "endpoint-list" }, h("p", { class: "loading" }, "Loading endpoints…"));
  const form = yamlForm({
    id: "create-endpoint",
    legend: "Create an online endpoint from YAML",
    placeholder: ENDPOINT_EXAMPLE,
    submitLabel: "Create endpoint",
    send: (text) => request("POST", "/api/v1/online-endpoints", { body: text, contentType: "application/yaml" }),
    done: (endpoint) => { location.hash = `#/endpoints/${enc(endpoint.name)}`; },
  });
  replace(main,
    h("h1", {}, "Online endpoints"),
    list,
    h("details", { class: "create", open: true }, h("summary", {}, "Create an endpoint"), form));

  const render = async () => {
    const endpoints = await listAll("/api/v1/online-endpoints");
    replace(list, table("Online endpoints",
      ["Name", "Auth mode", "State", "Deployments", "Traffic", "Scoring URL"],
      endpoints.map((e) => [
        h("a", { href: `#/endpoints/${enc(e.name)}` }, e.name),
        e.auth_mode,
        stateBadge(e.provisioning_state),
        Object.keys(e.traffic || {}).join(", ") || "none",
        trafficText(e),
        h("code", { class: "url" }, e.scoring_uri),
      ]),
      "No online endpoint yet. Paste an endpoint's YAML below to create one (or run `berth online-endpoint create -f endpoint.yml`)."));
  };
  return poll(render, 5000);
}

// ---- one endpoint

const DEPLOYMENT_EXAMPLE = `$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
name: blue
endpoint_name: my-endpoint
code_configuration:
  code: ./server
  scoring_script: score.py
environment:
  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04
instance_type: Standard_DS3_v2
instance_count: 1`;

function scoringPath(name) {
  return `/endpoints/${enc(name)}/score`;
}

function snippets(endpoint, credential) {
  const uri = endpoint.scoring_uri;
  const curl = `curl -X POST '${uri}' \\
  -H 'Authorization: Bearer ${credential}' \\
  -H 'Content-Type: application/json' \\
  -d '{"data": [[1, 2, 3, 4]]}'`;
  const python = `import json
import urllib.request

request = urllib.request.Request(
    ${JSON.stringify(uri)},
    data=json.dumps({"data": [[1, 2, 3, 4]]}).encode(),
    headers={"Content-Type": "application/json",
             "Authorization": "Bearer ${credential}"},
    method="POST")
with urllib.request.urlopen(request) as response:
    print(response.status, response.headers["azureml-model-deployment"])
    print(response.read().decode())`;
  return [curl, python];
}

function trafficEditor(endpoint, deployments, onApplied) {
  const names = deployments.map((d) => d.name);
  const inputs = {};
  const rows = names.map((name) => {
    const traffic = h("input", { type: "number", min: "0", max: "100", step: "1", id: `traffic-${name}`, value: String((endpoint.traffic || {})[name] || 0), inputmode: "numeric" });
    const mirror = h("input", { type: "number", min: "0", max: "50", step: "1", id: `mirror-${name}`, value: String((endpoint.mirror_traffic || {})[name] || 0), inputmode: "numeric" });
    inputs[name] = { traffic, mirror };
    return h("tr", {},
      h("th", { scope: "row" }, name),
      h("td", {}, h("label", { for: traffic.id, class: "visually-hidden" }, `Traffic to ${name} (%)`), traffic),
      h("td", {}, h("label", { for: mirror.id, class: "visually-hidden" }, `Mirrored traffic to ${name} (%)`), mirror));
  });
  const sum = h("output", { id: "traffic-sum" });
  const error = errorBox(null, "traffic-error");
  const status = h("p", { role: "status", id: "traffic-status" });
  const submit = h("button", { type: "submit", id: "traffic-apply" }, "Apply traffic");
  const values = () => Object.fromEntries(names.map((n) => [n, {
    traffic: Number(inputs[n].traffic.value || 0), mirror: Number(inputs[n].mirror.value || 0) }]));
  const update = () => {
    const total = Object.values(values()).reduce((a, v) => a + v.traffic, 0);
    sum.value = `${total} %`;
    sum.classList.toggle("bad", total !== 100);
  };
  const validate = (v) => {
    const total = Object.values(v).reduce((a, x) => a + x.traffic, 0);
    for (const [n, x] of Object.entries(v)) {
      if (!Number.isInteger(x.traffic) || x.traffic < 0 || x.traffic > 100) return { target: `traffic.${n}`, message: "a whole number from 0 to 100" };
      if (!Number.isInteger(x.mirror) || x.mirror < 0 || x.mirror > 50) return { target: `mirror_traffic.${n}`, message: "a whole number from 0 to 50 (at most 50 % can be mirrored)" };
      if (x.mirror > 0 && x.traffic > 0) return { target: `mirror_traffic.${n}`, message: "a deployment gets live or mirrored traffic, never both" };
    }
    if (total !== 100) return { target: "traffic", message: `the weights must sum to 100, they sum to ${total}` };
    if (Object.values(v).filter((x) => x.mirror > 0).length > 1) return { target: "mirror_traffic", message: "only one deployment can receive mirrored traffic" };
    return null;
  };
  const form = h("form", { id: "traffic-form", novalidate: true },
    h("div", { class: "table-wrap" }, h("table", {},
      h("caption", {}, "Traffic split: live weights sum to 100; one deployment may get a mirrored copy of up to 50 %"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Deployment"), h("th", { scope: "col" }, "Traffic (%)"), h("th", { scope: "col" }, "Mirror (%)"))),
      h("tbody", {}, rows))),
    h("p", {}, "Total live traffic: ", sum),
    h("p", { class: "actions" }, submit), status, error);
  form.addEventListener("input", update);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, null);
    status.textContent = "";
    const v = values();
    const problem = validate(v);
    if (problem) {
      showError(error, problem);
      return;
    }
    const traffic = Object.fromEntries(names.map((n) => [n, v[n].traffic]));
    const mirror = Object.fromEntries(names.filter((n) => v[n].mirror > 0).map((n) => [n, v[n].mirror]));
    submit.disabled = true;
    status.textContent = "Applying…";
    try {
      await request("PATCH", `/api/v1/online-endpoints/${enc(endpoint.name)}`, { json: { traffic, mirror_traffic: mirror } });
      status.textContent = "Traffic applied.";
      onApplied();
    } catch (e) {
      status.textContent = "";
      showError(error, e);
    } finally {
      submit.disabled = false;
    }
  });
  update();
  return form;
}

function credentialsSection(endpoint, state) {
  const section = h("section", { id: "keys", "aria-labelledby": "keys-title" }, h("h2", { id: "keys-title" }, endpoint.auth_mode === "aml_token" ? "Token" : "Keys"));
  const error = errorBox(null, "keys-error");
  const body = h("div", {});
  section.append(body, error);
  const render = async () => {
    if (endpoint.auth_mode === "aml_token") {
      const token = await request("POST", `/api/v1/online-endpoints/${enc(endpoint.name)}/token`);
      state.credential = token.accessToken;
      replace(body, copyBlock("Token", token.accessToken, "token-value"),
        h("p", {}, `Expires ${token.expiryTimeUtc}; refresh after ${token.refreshAfterTimeUtc}.`),
        h("button", { type: "button", class: "secondary", onclick: () => render().catch((e) => showError(error, e)) }, "Get a new token"));
      return;
    }
    const keys = await get(`/api/v1/online-endpoints/${enc(endpoint.name)}/keys`);
    state.credential = keys.primaryKey;
    const regenerate = (type) => async () => {
      const ok = await confirmAction(`Regenerate the ${type} key?`,
        `Clients using the current ${type} key of ${endpoint.name} are refused from now on.`, "Regenerate");
      if (!ok) return;
      showError(error, null);
      try {
        await request("POST", `/api/v1/online-endpoints/${enc(endpoint.name)}/regenerate-keys`, { json: { key_type: type } });
        await render();
        state.onCredential();
      } catch (e) {
        showError(error, e);
      }
    };
    replace(body,
      copyBlock("Primary key", keys.primaryKey, "primary-key"),
      h("button", { type: "button", class: "danger", id: "regenerate-primary", onclick: regenerate("primary") }, "Regenerate primary key"),
      copyBlock("Secondary key", keys.secondaryKey, "secondary-key"),
      h("button", { type: "button", class: "danger", id: "regenerate-secondary", onclick: regenerate("secondary") }, "Regenerate secondary key"));
  };
  state.renderCredentials = () => render().then(() => state.onCredential && state.onCredential()).catch((e) => showError(error, e));
  return section;
}

function testPanel(endpoint, deployments, state) {
  const body = h("textarea", { id: "test-body", rows: 6, spellcheck: "false" }, '{"data": [[1, 2, 3, 4]]}');
  const choice = h("select", { id: "test-deployment" },
    h("option", { value: "" }, "Follow the traffic split"),
    deployments.map((d) => h("option", { value: d.name }, d.name)));
  const send = h("button", { type: "submit", id: "test-send" }, "Send request");
  const result = h("dl", { id: "test-result", class: "result", hidden: true });
  const answer = h("pre", { id: "test-answer", tabindex: "0", "aria-label": "Response body", hidden: true });
  const error = errorBox(null, "test-error");
  const form = h("form", { id: "test-form", novalidate: true },
    field("Request body (JSON)", body),
    field("Deployment (azureml-model-deployment header)", choice),
    h("p", { class: "actions" }, send), error, result, answer);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, null);
    send.disabled = true;
    send.textContent = "Sending…";
    const headers = { "Content-Type": "application/json", Authorization: `Bearer ${state.credential || ""}` };
    if (choice.value) headers["azureml-model-deployment"] = choice.value;
    const started = performance.now();
    try {
      const r = await fetch(scoringPath(endpoint.name), { method: "POST", headers, body: body.value, credentials: "omit" });
      const text = await r.text();
      const ms = Math.round(performance.now() - started);
      replace(result,
        h("dt", {}, "Status"), h("dd", { id: "test-status" }, `${r.status} ${r.statusText}`),
        h("dt", {}, "Latency"), h("dd", { id: "test-latency" }, `${ms} ms`),
        h("dt", {}, "Answered by"), h("dd", { id: "test-served-by" }, r.headers.get("azureml-model-deployment") || "—"));
      let pretty = text;
      try { pretty = JSON.stringify(JSON.parse(text), null, 2); } catch { /* not JSON: as is */ }
      answer.textContent = pretty;
      result.hidden = false;
      answer.hidden = false;
    } catch (e) {
      showError(error, e);
    } finally {
      send.disabled = false;
      send.textContent = "Send request";
    }
  });
  return form;
}

function swaggerSection(endpoint, state) {
  const out = h("pre", { id: "swagger", tabindex: "0", "aria-label": "Swagger document", hidden: true });
  const note = h("p", { role: "status", id: "swagger-status" });
  const load = async () => {
    note.textContent = "Loading…";
    const r = await fetch(`/endpoints/${enc(endpoint.name)}/swagger.json`, { headers: { Authorization: `Bearer ${state.credential || ""}` }, credentials: "omit" });
    if (r.status === 404) {
      note.textContent = "The deployment serves no swagger document (its /swagger.json is 404).";
      out.hidden = true;
      return;
    }
    const text = await r.text();
    note.textContent = `HTTP ${r.status}`;
    try { out.textContent = JSON.stringify(JSON.parse(text), null, 2); } catch { out.textContent = text; }
    out.hidden = false;
  };
  return h("section", { "aria-labelledby": "swagger-title" }, h("h2", { id: "swagger-title" }, "Swagger document"),
    h("p", {}, h("button", { type: "button", class: "secondary", id: "swagger-load", onclick: () => load().catch((e) => { note.textContent = e.message; }) }, "Load swagger.json")),
    note, out);
}

export async function endpointPage(main, name) {
  let endpoint;
  try {
    endpoint = await get(`/api/v1/online-endpoints/${enc(name)}`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      replace(main, h("h1", {}, name), h("p", { class: "empty" }, "This endpoint does not exist (any more). "), h("a", { href: "#/endpoints" }, "Back to the endpoints"));
      return null;
    }
    throw e;
  }
  const state = { credential: "" };
  const summary = h("dl", { class: "summary", id: "endpoint-summary" });
  const deploymentsBox = h("div", { id: "deployment-list" });
  const trafficBox = h("div", { id: "traffic-box" });
  const testBox = h("div", { id: "test-box" });
  const snippetsBox = h("div", { id: "snippets" });
  const credentials = credentialsSection(endpoint, state);
  const deleteError = errorBox(null, "delete-endpoint-error");
  let deploymentNames = "";

  const renderSnippets = () => {
    const [curl, python] = snippets(endpoint, state.credential || "<key>");
    replace(snippetsBox, copyBlock("curl", curl, "snippet-curl"), copyBlock("Python", python, "snippet-python"));
  };
  state.onCredential = renderSnippets;

  const addForm = yamlForm({
    id: "create-deployment",
    legend: `Add a deployment to ${name} from YAML`,
    placeholder: DEPLOYMENT_EXAMPLE.replace("my-endpoint", name),
    withCode: true,
    submitLabel: "Create deployment",
    send: (text) => request("POST", `/api/v1/online-endpoints/${enc(name)}/deployments`, { body: text, contentType: "application/yaml" }),
    done: () => refresh(true),
  });

  const deleteEndpoint = async () => {
    const ok = await confirmAction(`Delete endpoint ${name}?`, "Its deployments stop and its scoring URL answers 401 from now on.", "Delete endpoint");
    if (!ok) return;
    try {
      await request("DELETE", `/api/v1/online-endpoints/${enc(name)}`);
      location.hash = "#/endpoints";
    } catch (e) {
      showError(deleteError, e);
    }
  };

  replace(main,
    h("p", { class: "crumbs" }, h("a", { href: "#/endpoints" }, "Online endpoints"), " / ", name),
    h("h1", {}, `Endpoint ${name}`),
    summary,
    h("section", { "aria-labelledby": "deployments-title" }, h("h2", { id: "deployments-title" }, "Deployments"), deploymentsBox,
      h("details", { class: "create" }, h("summary", {}, "Add a deployment"), addForm)),
    h("section", { "aria-labelledby": "traffic-title" }, h("h2", { id: "traffic-title" }, "Traffic"), trafficBox),
    h("section", { "aria-labelledby": "test-title" }, h("h2", { id: "test-title" }, "Test"), testBox),
    credentials,
    h("section", { "aria-labelledby": "snippets-title" }, h("h2", { id: "snippets-title" }, "Call it"), snippetsBox),
    swaggerSection(endpoint, state),
    h("section", { "aria-labelledby": "danger-title", class: "danger-zone" }, h("h2", { id: "danger-title" }, "Delete"),
      h("button", { type: "button", class: "danger", id: "delete-endpoint", onclick: deleteEndpoint }, "Delete this endpoint"), deleteError));

  async function refresh(rebuildEditors) {
    endpoint = await get(`/api/v1/online-endpoints/${enc(name)}`);
    const deployments = await listAll(`/api/v1/online-endpoints/${enc(name)}/deployments`);
    replace(summary,
      h("dt", {}, "State"), h("dd", { id: "endpoint-state" }, stateBadge(endpoint.provisioning_state), endpoint.reason ? ` ${endpoint.reason}` : ""),
      h("dt", {}, "Auth mode"), h("dd", {}, endpoint.auth_mode),
      h("dt", {}, "Traffic"), h("dd", { id: "endpoint-traffic" }, trafficText(endpoint)),
      h("dt", {}, "Scoring URL"), h("dd", {}, h("code", { class: "url" }, endpoint.scoring_uri)),
      h("dt", {}, "Swagger URL"), h("dd", {}, h("code", { class: "url" }, endpoint.openapi_uri)),
      endpoint.description ? [h("dt", {}, "Description"), h("dd", {}, endpoint.description)] : null);
    replace(deploymentsBox, table(`Deployments of ${name}`,
      ["Name", "State", "Instances (ready / desired)", "Traffic", "Reason"],
      deployments.map((d) => {
        const live = d.live || {};
        return [
          h("a", { href: `#/endpoints/${enc(name)}/deployments/${enc(d.name)}` }, d.name),
          stateBadge(d.provisioning_state),
          `${live.ready_instances ?? "—"} / ${live.desired_instances ?? d.instance_count ?? "—"}`,
          `${(endpoint.traffic || {})[d.name] || 0} %${(endpoint.mirror_traffic || {})[d.name] ? ` (mirror ${(endpoint.mirror_traffic || {})[d.name]} %)` : ""}`,
          d.reason || "",
        ];
      }),
      "No deployment yet: add one from its YAML below (Add a deployment), then give it traffic."));
    const names = deployments.map((d) => d.name).join(",");
    if (rebuildEditors || names !== deploymentNames) {
      deploymentNames = names;
      replace(trafficBox, deployments.length
        ? trafficEditor(endpoint, deployments, () => refresh(false))
        : h("p", { class: "empty" }, "Traffic goes to deployments: add one first."));
      replace(testBox, deployments.length
        ? testPanel(endpoint, deployments, state)
        : h("p", { class: "empty" }, "Add a deployment to test the endpoint."));
    }
  }

  await refresh(true);
  state.renderCredentials();
  renderSnippets();
  const stop = poll(() => refresh(false), 3000);
  return stop;
}
