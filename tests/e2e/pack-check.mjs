// The npm package: `npm pack` of pkg/, installed offline into a fresh folder, imported from node (wasm read from
// disk), and its TypeScript declarations type-checked against a small usage file.
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, check, tempDir } from "./lib.mjs";

const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

export async function packCheck(log) {
  const pkgDir = join(ROOT, "pkg");
  check(existsSync(join(pkgDir, "package.json")), "pkg/ is missing — run `npm run build`");
  const out = tempDir("typed-eventsource-pack-");
  const packed = JSON.parse(run("npm", ["pack", pkgDir, "--json", "--pack-destination", out], ROOT));
  const tarball = join(out, packed[0].filename);
  const files = packed[0].files.map((f) => f.path);
  for (const f of ["package.json", "typed_eventsource.js", "typed_eventsource.d.ts", "typed_eventsource_bg.wasm"]) {
    check(files.includes(f), `the tarball lacks ${f} (has ${files.join(", ")})`);
  }
  log(`packed ${packed[0].filename} (${packed[0].size} bytes, ${files.length} files)`);

  const app = tempDir("typed-eventsource-install-");
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  run("npm", ["install", "--offline", "--no-audit", "--no-fund", tarball], app);
  const installed = join(app, "node_modules", "typed-eventsource");
  const meta = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
  check(meta.name === "typed-eventsource", `package name is ${meta.name}`);
  check(/^\d+\.\d+\.\d+/.test(meta.version ?? ""), `package version is ${meta.version}`);
  check(meta.type === "module", "the package is not ESM (type: module)");
  for (const field of ["description", "license", "repository", "types", "main"]) {
    check(meta[field], `package.json lacks "${field}"`);
  }
  check(existsSync(join(installed, meta.types)), `the declarations ${meta.types} are not installed`);
  check(existsSync(join(installed, meta.main)), `the module ${meta.main} is not installed`);

  // Import it as a consumer would, from the installed folder; the wasm is read from disk (node has no fetch of files).
  const probe = `
    import { readFileSync } from "node:fs";
    import init, { TypedEventSource } from "typed-eventsource";
    const wasm = readFileSync(new URL("./node_modules/typed-eventsource/typed_eventsource_bg.wasm", import.meta.url));
    await init({ module_or_path: wasm });
    console.log(typeof TypedEventSource);
  `;
  writeFileSync(join(app, "probe.mjs"), probe);
  const kind = run(process.execPath, ["probe.mjs"], app).trim();
  check(kind === "function", `TypedEventSource imported from the installed package is ${kind}, not a function`);
  log("installed offline into a fresh folder; the module loads its wasm and exports TypedEventSource");

  // The declarations: a typed usage file must compile, and a wrong use must not.
  copyFileSync(join(ROOT, "tests", "e2e", "usage.ts"), join(app, "usage.ts"));
  writeFileSync(join(app, "wrong.ts"), `import { TypedEventSource } from "typed-eventsource";\n` +
    `new TypedEventSource("/x", { closeOn: [{ data: "finished" }] });\n`);
  const tsconfig = (files) => JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, target: "es2022", module: "es2022", moduleResolution: "bundler", lib: ["es2022", "dom", "esnext.disposable"], skipLibCheck: false },
    files,
  });
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  writeFileSync(join(app, "tsconfig.json"), tsconfig(["usage.ts"]));
  try {
    run(process.execPath, [tsc, "-p", "tsconfig.json"], app);
  } catch (e) {
    check(false, `tsc rejected tests/e2e/usage.ts against the installed declarations:\n${e.stdout}${e.stderr}`);
  }
  writeFileSync(join(app, "tsconfig.json"), tsconfig(["wrong.ts"]));
  let rejected = false;
  try {
    run(process.execPath, [tsc, "-p", "tsconfig.json"], app);
  } catch {
    rejected = true;
  }
  check(rejected, "tsc accepted a close rule without `event`: the declarations are too loose");
  log("the declarations type-check a usage file (strict) and reject a wrong option");
}
