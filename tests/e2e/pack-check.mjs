// The npm package: `npm pack` of pkg/, installed offline into a fresh folder, both entry points imported from node
// (wasm read from disk) — `typed-eventsource` (EventSource only) and `typed-eventsource/full` (both transports, tab
// sharing) — and
// their TypeScript declarations type-checked against small usage files.
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
  const entryFiles = ["typed_eventsource.js", "typed_eventsource.d.ts", "typed_eventsource_bg.wasm"];
  for (const f of ["package.json", ...entryFiles, ...entryFiles.map((f) => `full/${f}`)]) {
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
  for (const entry of [".", "./full"]) {
    const target = meta.exports?.[entry];
    check(target && existsSync(join(installed, target.default)) && existsSync(join(installed, target.types)),
      `package.json exports no installed module and declarations for "${entry}"`);
  }

  // Import it as a consumer would, from the installed folder; the wasm is read from disk (node has no fetch of files).
  for (const [entry, dir] of [["typed-eventsource", ""], ["typed-eventsource/full", "full/"]]) {
    const probe = `
      import { readFileSync } from "node:fs";
      import init, { TypedEventSource } from "${entry}";
      const wasm = readFileSync(new URL("./node_modules/typed-eventsource/${dir}typed_eventsource_bg.wasm", import.meta.url));
      await init({ module_or_path: wasm });
      console.log(typeof TypedEventSource);
    `;
    writeFileSync(join(app, "probe.mjs"), probe);
    const kind = run(process.execPath, ["probe.mjs"], app).trim();
    check(kind === "function", `TypedEventSource imported from ${entry} is ${kind}, not a function`);
  }
  // The EventSource-only entry point refuses the fetch transport and sharing (before any connection) and names the
  // full one.
  for (const options of [`{ transport: "fetch" }`, `{ share: true }`]) {
    const refusal = `
      import { readFileSync } from "node:fs";
      import init, { TypedEventSource } from "typed-eventsource";
      await init({ module_or_path: readFileSync(new URL("./node_modules/typed-eventsource/typed_eventsource_bg.wasm", import.meta.url)) });
      try { new TypedEventSource("/x", ${options}); console.log("accepted"); } catch (e) { console.log(e.message); }
    `;
    writeFileSync(join(app, "refusal.mjs"), refusal);
    const message = run(process.execPath, ["refusal.mjs"], app).trim();
    check(message.includes("typed-eventsource/full"), `${options} from typed-eventsource: ${message}`);
  }
  log("installed offline into a fresh folder; both entry points load their wasm and export TypedEventSource; the " +
    "EventSource-only one refuses transport: \"fetch\" and share, naming typed-eventsource/full");

  // The declarations: a typed usage file per entry point must compile, and wrong uses must not (a close rule without
  // its event; the fetch transport from the EventSource-only entry point).
  copyFileSync(join(ROOT, "tests", "e2e", "usage.ts"), join(app, "usage.ts"));
  copyFileSync(join(ROOT, "tests", "e2e", "usage-full.ts"), join(app, "usage-full.ts"));
  const wrong = {
    "wrong.ts": `new TypedEventSource("/x", { closeOn: [{ data: "finished" }] });`,
    "wrong-fetch.ts": `new TypedEventSource("/x", { transport: "fetch" });`,
    "wrong-headers.ts": `new TypedEventSource("/x", { headers: { Authorization: "Bearer t" } });`,
    "wrong-share.ts": `new TypedEventSource("/x", { share: true });`,
    "wrong-role.ts": `console.log(new TypedEventSource("/x").shareRole);`,
  };
  for (const [file, line] of Object.entries(wrong)) {
    writeFileSync(join(app, file), `import { TypedEventSource } from "typed-eventsource";\n${line}\n`);
  }
  const tsconfig = (files) => JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, target: "es2022", module: "es2022", moduleResolution: "bundler", lib: ["es2022", "dom", "esnext.disposable"], skipLibCheck: false },
    files,
  });
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  writeFileSync(join(app, "tsconfig.json"), tsconfig(["usage.ts", "usage-full.ts"]));
  try {
    run(process.execPath, [tsc, "-p", "tsconfig.json"], app);
  } catch (e) {
    check(false, `tsc rejected tests/e2e/usage*.ts against the installed declarations:\n${e.stdout}${e.stderr}`);
  }
  for (const [file, line] of Object.entries(wrong)) {
    writeFileSync(join(app, "tsconfig.json"), tsconfig([file]));
    let rejected = false;
    try {
      run(process.execPath, [tsc, "-p", "tsconfig.json"], app);
    } catch {
      rejected = true;
    }
    check(rejected, `tsc accepted \`${line}\` from typed-eventsource: the declarations are too loose`);
  }
  log("the declarations of both entry points type-check their usage files (strict) and reject wrong options");
}
