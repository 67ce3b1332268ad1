// After the two wasm-pack builds of `npm run build:pkg`: pkg/ holds the EventSource-only entry point
// (`typed-eventsource`, Cargo features `js`) and pkg/full/ the full one (`typed-eventsource/full`, `js,fetch`).
// wasm-pack wrote pkg/package.json for the first; this adds the second to its files and exports, then copies pkg/ to
// www/pkg/ for the demo pages and the end-to-end tests.
import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";

const manifest = "pkg/package.json";
const meta = JSON.parse(readFileSync(manifest, "utf8"));
const name = meta.main.replace(/\.js$/, "");
const full = [`full/${name}_bg.wasm`, `full/${name}.js`, `full/${name}.d.ts`];
meta.files = [...new Set([...meta.files, ...full])];
meta.exports = {
  ".": { types: `./${meta.types}`, default: `./${meta.main}` },
  "./full": { types: `./full/${name}.d.ts`, default: `./full/${name}.js` },
  // The .wasm files, for loaders that read them by package path rather than next to the module.
  [`./${name}_bg.wasm`]: `./${name}_bg.wasm`,
  [`./full/${name}_bg.wasm`]: `./full/${name}_bg.wasm`,
  "./package.json": "./package.json",
};
writeFileSync(manifest, JSON.stringify(meta, null, 2) + "\n");
// wasm-pack's own ignore file (`*`) in the second output folder; pkg/.gitignore already keeps pkg/ out of git.
rmSync("pkg/full/.gitignore", { force: true });
rmSync("www/pkg", { recursive: true, force: true });
cpSync("pkg", "www/pkg", { recursive: true });
