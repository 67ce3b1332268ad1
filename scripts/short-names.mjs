// Shortens the names between wasm-bindgen's module and its glue: `node scripts/short-names.mjs DIR...` rewrites each
// DIR/*_bg.wasm, its JavaScript glue DIR/*.js and its DIR/*.d.ts (`wasm-pack build --target web`'s output) in place.
//
// Why: wasm-bindgen names every JS function the module imports `__wbg_<name>_<16 hex digits>` and exports functions
// such as `typedeventsource_onStateChange` or `wasm_bindgen__convert__closures_____invoke__<17 hex digits>`; the hex
// digits do not compress, and the names were ~1.3 KB of the gzipped default entry point (~2.1 KB of /full).
// - An import is declared once in the glue, as a key of the imports object (`__wbg_call_40b0…: function(…) {…}`);
// - an export is used by the glue as `wasm.<name>` and typed in the .d.ts as `readonly <name>: …` (`InitOutput`)
//   and in wasm-pack's <name>_bg.wasm.d.ts as `export const <name>: …`.
// The imports' module name (`./<name>_bg.js`, the key of the glue's imports object) becomes empty.
// Renaming the module's side and those the same way changes nothing else: the glue's API (the class, `init`,
// `initSync`) keeps its names. A name found otherwise (an import that is not exactly one such key, an export the glue
// does not use, `memory`) is left as it is; a second run finds no long names and changes nothing.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Unsigned LEB128 at `pos`: [value, next position]. */
function leb(buf, pos) {
  let value = 0;
  let shift = 0;
  let byte;
  do {
    byte = buf[pos++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [value, pos];
}

function uleb(value) {
  const out = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return Buffer.from(out);
}

const name = (s) => Buffer.concat([uleb(Buffer.byteLength(s)), Buffer.from(s)]);

/** The n-th short name: a…z, A…Z, then two letters and so on (never a JS keyword: those are lower case, ≥ 2 letters,
 * and the two-letter ones, `do`, `if`, `in`, are skipped). */
function shortName(n) {
  const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  let s = "";
  do {
    s = letters[n % 52] + s;
    n = Math.floor(n / 52) - 1;
  } while (n >= 0);
  return s;
}

/** The name (a length and UTF-8 bytes) at `pos`: [name, next position]. */
function readName(buf, pos) {
  const [len, start] = leb(buf, pos);
  return [buf.toString("utf8", start, start + len), start + len];
}

/** The end of an import's description (its kind and type) starting at `pos`. */
function importEnd(wasm, pos) {
  const kind = wasm[pos++];
  if (kind === 0) return leb(wasm, pos)[1]; // function: type index
  if (kind === 1 || kind === 2) {
    if (kind === 1) pos++; // table: element type
    let flags;
    [flags, pos] = leb(wasm, pos);
    [, pos] = leb(wasm, pos); // minimum
    return flags & 1 ? leb(wasm, pos)[1] : pos; // maximum
  }
  if (kind === 3) return pos + 2; // global: value type, mutability
  if (kind === 4) return leb(wasm, pos + 1)[1]; // tag: attribute, type index
  throw new Error(`import kind ${kind} unknown`);
}

/** Rewrites the import section of `wasm` with `renameImport(module, field)` (a new [module, field], or the same)
 * and the export section with `renameExport(name)` (a new name, or the same); the other sections are copied. */
function rename(wasm, renameImport, renameExport) {
  const parts = [wasm.subarray(0, 8)];
  let pos = 8;
  while (pos < wasm.length) {
    const id = wasm[pos];
    const [len, start] = leb(wasm, pos + 1);
    const end = start + len;
    if (id !== 2 && id !== 7) {
      parts.push(wasm.subarray(pos, end));
      pos = end;
      continue;
    }
    let [count, p] = leb(wasm, start);
    const body = [uleb(count)];
    for (let i = 0; i < count; i++) {
      let names;
      if (id === 2) {
        let module, field;
        [module, p] = readName(wasm, p);
        [field, p] = readName(wasm, p);
        names = renameImport(module, field);
      } else {
        let field;
        [field, p] = readName(wasm, p);
        names = [renameExport(field)];
      }
      // The description after the name(s), copied as it is: an import's kind and type, an export's kind and index.
      const descEnd = id === 2 ? importEnd(wasm, p) : leb(wasm, p + 1)[1];
      body.push(...names.map(name), wasm.subarray(p, descEnd));
      p = descEnd;
    }
    const section = Buffer.concat(body);
    parts.push(Buffer.from([id]), uleb(section.length), section);
    pos = end;
  }
  return Buffer.concat(parts);
}

/** The next short name of `counter` that is not a JS keyword (those are lower case, ≥ 2 letters; the two-letter ones
 * are `do`, `if` and `in`). */
function nextShort(counter) {
  let short;
  do short = shortName(counter.next++);
  while (short === "do" || short === "if" || short === "in");
  return short;
}

const escape = (s) => s.replace(/[$]/g, "\\$&");

function shorten(dir) {
  const wasmFile = readdirSync(dir).find((f) => f.endsWith("_bg.wasm"));
  if (!wasmFile) throw new Error(`no *_bg.wasm in ${dir}`);
  const base = join(dir, wasmFile.replace(/_bg\.wasm$/, ""));
  const module = `./${wasmFile.replace(/\.wasm$/, ".js")}`;
  let js = readFileSync(`${base}.js`, "utf8");
  let dts = readFileSync(`${base}.d.ts`, "utf8");
  // wasm-pack's declarations of the module's exports (not in the npm package's files; kept true all the same).
  const wasmDtsFile = `${base}_bg.wasm.d.ts`;
  let wasmDts = existsSync(wasmDtsFile) ? readFileSync(wasmDtsFile, "utf8") : null;
  const wasm = readFileSync(join(dir, wasmFile));
  // The imports' module (`./<name>_bg.js`, written before each import's name), when the glue holds it once, as the
  // key of its imports object: the empty name (a wasm name may be empty; ~90 B gzipped off the default entry point,
  // where a one-letter name saves ~75 B).
  const moduleKey = new RegExp(`(\\n\\s+)"${module.replace(/[.$]/g, "\\$&")}": `);
  const shortModule = js.split(module).length === 2 && moduleKey.test(js) ? "" : module;
  js = js.replace(moduleKey, `$1"${shortModule}": `);
  const imports = { next: 0 };
  const exports = { next: 0 };
  let renamed = 0;
  const out = rename(
    wasm,
    (mod, field) => {
      if (mod !== module) return [mod, field];
      if (!/^__wb/.test(field)) return [shortModule, field];
      // Exactly once in the glue, as a key of the imports object (whose other keys are `__proto__` and names left
      // long: a short name clashes with none).
      const key = new RegExp(`(\\n\\s+)${escape(field)}: `);
      const uses = js.split(new RegExp(`(?<![\\w$.])${escape(field)}(?![\\w$])`)).length - 1;
      if (uses !== 1 || !key.test(js)) return [shortModule, field];
      const short = nextShort(imports);
      js = js.replace(key, `$1${short}: `);
      renamed++;
      return [shortModule, short];
    },
    (field) => {
      const use = new RegExp(`\\bwasm\\.${escape(field)}(?![\\w$])`, "g");
      if (field === "memory" || field.length <= 2 || js.search(use) < 0) return field;
      const short = nextShort(exports);
      js = js.replace(use, `wasm.${short}`);
      dts = dts.replace(new RegExp(`(\\breadonly )${escape(field)}:`), `$1${short}:`);
      wasmDts = wasmDts?.replace(new RegExp(`(\\bexport const )${escape(field)}:`), `$1${short}:`);
      renamed++;
      return short;
    },
  );
  writeFileSync(join(dir, wasmFile), out);
  writeFileSync(`${base}.js`, js);
  writeFileSync(`${base}.d.ts`, dts);
  if (wasmDts !== null) writeFileSync(wasmDtsFile, wasmDts);
  console.log(`${dir}: ${renamed} names shortened`);
}

const dirs = process.argv.slice(2);
if (dirs.length === 0) {
  console.error("usage: node scripts/short-names.mjs DIR...");
  process.exit(2);
}
for (const dir of dirs) shorten(dir);
