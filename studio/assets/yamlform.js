// The "create from Azure YAML" form shared by every create action: a YAML box (paste, or load a
// .yml file into it), optionally the code folder, and a submit that shows each step's progress
// and the server's validation error at the YAML box, naming the field.
//
// The YAML goes to berthd as text (Content-Type: application/yaml); berthd parses and validates
// it. When a code folder is given, the browser packs it into a deterministic tar, uploads it with
// POST /api/v1/artifacts (berthd answers the digest), and adds the reference the CLI would send
// to the YAML text: an `artifact: {digest, base_name, is_file: false}` line inside the document's
// `code_configuration` mapping (block or flow style), or a new `code_configuration` block when
// the document has none. No YAML parser runs in the browser.

import { request, ApiError } from "./api.js";
import { packTar, filesOf } from "./tar.js";
import { h, field, errorBox, showError, uid } from "./util.js";

function flowArtifact(artifact) {
  return `{digest: "${artifact.digest}", base_name: ${JSON.stringify(artifact.base_name)}, is_file: false}`;
}

// The base name the CLI would use for the folder named by code_configuration.code.
export function codeBaseName(yamlText) {
  const m = /^\s+code:\s*["']?([^"'#\s]+)["']?/m.exec(yamlText) || /code:\s*["']?([^"',}#\s]+)/.exec(yamlText);
  if (!m) return "code";
  const parts = m[1].split("/").filter((p) => p && p !== ".");
  return parts.length ? parts[parts.length - 1] : "code";
}

export function withCodeArtifact(yamlText, artifact) {
  const lines = yamlText.replace(/\r\n/g, "\n").split("\n");
  const ref = flowArtifact(artifact);
  const at = lines.findIndex((l) => /^code_configuration\s*:/.test(l));
  if (at < 0) {
    const body = lines.join("\n").replace(/\s*$/, "\n");
    return `${body}code_configuration:\n  code: ${JSON.stringify(artifact.base_name)}\n  artifact: ${ref}\n`;
  }
  const rest = lines[at].replace(/^code_configuration\s*:\s*/, "").replace(/\s+#.*$/, "");
  if (rest.startsWith("{")) {
    lines[at] = `code_configuration: {artifact: ${ref}, ${rest.slice(1)}`;
    return lines.join("\n");
  }
  if (rest !== "") throw new ApiError(400, "BadArgument", "expected a mapping", "code_configuration");
  let indent = "  ";
  for (let i = at + 1; i < lines.length; i += 1) {
    if (!lines[i].trim() || lines[i].trim().startsWith("#")) continue;
    const m = /^(\s+)\S/.exec(lines[i]);
    if (m) indent = m[1];
    break;
  }
  lines.splice(at + 1, 0, `${indent}artifact: ${ref}`);
  return lines.join("\n");
}

export async function uploadArtifact(files, baseName, onProgress) {
  onProgress(`Packing ${files.length} file(s) of ${baseName}…`);
  const tar = await packTar(files);
  onProgress(`Uploading ${baseName} (${Math.ceil(tar.size / 1024)} KiB)…`);
  const answer = await request("POST", "/api/v1/artifacts", { body: tar, contentType: "application/x-tar" });
  return { digest: answer.digest, base_name: baseName, is_file: false };
}

// yamlForm({id, legend, placeholder, withCode, submitLabel, send(yamlText) -> Promise, done(result)})
export function yamlForm(options) {
  const id = options.id;
  const textarea = h("textarea", { id: `${id}-yaml`, rows: 14, spellcheck: "false", placeholder: options.placeholder || "" });
  const yamlFile = h("input", { type: "file", id: `${id}-yaml-file`, accept: ".yml,.yaml,text/yaml" });
  yamlFile.addEventListener("change", async () => {
    if (yamlFile.files.length) textarea.value = await yamlFile.files[0].text();
  });
  const yamlError = errorBox(null, `${id}-yaml-error`);
  textarea.setAttribute("aria-describedby", yamlError.id);
  const progress = h("p", { class: "progress-line", role: "status", id: `${id}-progress` });
  const submit = h("button", { type: "submit", id: `${id}-submit` }, options.submitLabel || "Create");
  const parts = [
    h("legend", {}, options.legend),
    field("YAML document", textarea, "Paste Azure ML YAML, or load a file below."),
    field("…or load a YAML file", yamlFile),
  ];
  let folderInput = null;
  let filesInput = null;
  if (options.withCode) {
    folderInput = h("input", { type: "file", id: `${id}-code-folder`, webkitdirectory: true, multiple: true });
    filesInput = h("input", { type: "file", id: `${id}-code-files`, multiple: true });
    parts.push(h("fieldset", { class: "code-upload" },
      h("legend", {}, "Code (optional: the folder code_configuration.code names)"),
      field("Code folder", folderInput),
      field("…or the folder's files", filesInput, "Files land at the top of the folder."),
    ));
  }
  parts.push(h("p", { class: "actions" }, submit), progress, yamlError);
  const form = h("form", { id, class: "yaml-form", novalidate: true }, h("fieldset", {}, parts));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(yamlError, null);
    textarea.removeAttribute("aria-invalid");
    let text = textarea.value;
    if (!text.trim()) {
      showError(yamlError, { message: "Paste a YAML document or load a file first." });
      textarea.focus();
      return;
    }
    submit.disabled = true;
    const say = (msg) => { progress.textContent = msg; };
    try {
      const chosen = [folderInput, filesInput].find((input) => input && input.files.length);
      if (chosen) {
        const { baseName, files } = filesOf(chosen, codeBaseName(text));
        const artifact = await uploadArtifact(files, baseName, say);
        text = withCodeArtifact(text, artifact);
      }
      say("Sending the document…");
      const result = await options.send(text);
      say("Created; berthd is provisioning it.");
      if (options.done) options.done(result);
    } catch (e) {
      say("");
      textarea.setAttribute("aria-invalid", "true");
      showError(yamlError, e);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export function yamlName(text) {
  const m = /^name\s*:\s*["']?([^"'#\s]+)/m.exec(text);
  return m ? m[1] : "";
}

export { uid };
