// A deterministic ustar writer, equivalent to the CLI's packer (src/cli/artifact_packer.cc):
// entries sorted by name, folders included, mode 0644 (files) or 0755 (folders and scripts
// whose name ends in .sh), mtime 0, uid/gid 0, two zero blocks at the end. berthd computes the
// digest (POST /api/v1/artifacts), so the browser needs no SHA-256.

const BLOCK = 512;
const SKIPPED = new Set(["__pycache__", ".git"]);
const encoder = new TextEncoder();

function writeString(header, offset, length, text) {
  const bytes = encoder.encode(text);
  if (bytes.length > length) throw new Error(`tar: "${text}" is too long for a ustar header`);
  header.set(bytes, offset);
}

function writeOctal(header, offset, length, value) {
  writeString(header, offset, length, value.toString(8).padStart(length - 1, "0"));
}

// Splits a long name into ustar's prefix (155 bytes) and name (100 bytes) at a '/'.
function splitName(name) {
  if (encoder.encode(name).length <= 100) return ["", name];
  for (let i = name.length - 1; i > 0; i -= 1) {
    if (name[i] !== "/") continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (encoder.encode(prefix).length <= 155 && encoder.encode(rest).length <= 100) return [prefix, rest];
  }
  throw new Error(`tar: the path "${name}" is too long`);
}

function header(name, size, mode, isFolder) {
  const block = new Uint8Array(BLOCK);
  const [prefix, shortName] = splitName(isFolder ? `${name}/` : name);
  writeString(block, 0, 100, shortName);
  writeOctal(block, 100, 8, mode);
  writeOctal(block, 108, 8, 0); // uid
  writeOctal(block, 116, 8, 0); // gid
  writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, 0); // mtime
  block.fill(0x20, 148, 156); // checksum counts as spaces
  block[156] = isFolder ? 0x35 : 0x30; // '5' folder, '0' file
  writeString(block, 257, 6, "ustar");
  writeString(block, 263, 2, "00");
  writeString(block, 345, 155, prefix);
  let sum = 0;
  for (const b of block) sum += b;
  writeString(block, 148, 7, sum.toString(8).padStart(6, "0"));
  block[154] = 0;
  block[155] = 0x20;
  return block;
}

// files: [{path: "a/b.py", file: File}] (paths relative to the folder). Returns a Blob.
export async function packTar(files) {
  const entries = new Map();
  for (const { path, file } of files) {
    const parts = path.split("/").filter((p) => p && p !== ".");
    if (!parts.length || parts.some((p) => p === ".." || SKIPPED.has(p))) continue;
    for (let i = 1; i < parts.length; i += 1) {
      const folder = parts.slice(0, i).join("/");
      if (!entries.has(folder)) entries.set(folder, null);
    }
    entries.set(parts.join("/"), file);
  }
  const names = [...entries.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const chunks = [];
  for (const name of names) {
    const file = entries.get(name);
    if (file === null) {
      chunks.push(header(name, 0, 0o755, true));
      continue;
    }
    const data = new Uint8Array(await file.arrayBuffer());
    chunks.push(header(name, data.length, name.endsWith(".sh") ? 0o755 : 0o644, false));
    chunks.push(data);
    const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
    if (pad) chunks.push(new Uint8Array(pad));
  }
  chunks.push(new Uint8Array(BLOCK * 2));
  return new Blob(chunks, { type: "application/x-tar" });
}

// The files of an <input type=file webkitdirectory> (paths below the chosen folder, whose name
// is the base name) or of an <input type=file multiple> (the files at the folder's top).
export function filesOf(input, fallbackBaseName) {
  const list = [...(input.files || [])];
  if (!list.length) return { baseName: fallbackBaseName, files: [] };
  const relative = list[0].webkitRelativePath || "";
  if (relative.includes("/")) {
    const baseName = relative.split("/")[0];
    return {
      baseName,
      files: list.map((file) => ({ path: file.webkitRelativePath.split("/").slice(1).join("/"), file })),
    };
  }
  return { baseName: fallbackBaseName, files: list.map((file) => ({ path: file.name, file })) };
}
