// Helpers for the end-to-end tests: the real server on a free port, Debian's Chromium, and small assertions.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

export const ROOT = new URL("../../", import.meta.url).pathname;
export const ARTIFACTS = join(ROOT, "artifacts", "e2e");
const SERVER_BIN = join(ROOT, "target", "debug", "typed-eventsource-server");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

export class Failure extends Error {}

export function check(cond, message) {
  if (!cond) throw new Failure(message);
}

/** Polls `probe` (async) until it returns a truthy value; fails with `what` (or `what()`) after `ms`. */
export async function until(probe, what, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Failure(`timed out after ${ms} ms: ${typeof what === "function" ? await what() : what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `POST /update {"text": text}` on the server at `base`; fails unless 200; answers the event's id. */
export async function publish(base, text) {
  const res = await fetch(`${base}/update`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ text }) });
  check(res.status === 200, `POST /update answered ${res.status}`);
  return (await res.json()).id;
}

/**
 * Runs one named test: prints `test NAME`, then `ok`, or `FAILED: why` and records NAME in `failures`. `body` gets
 * an array for the pages' errors, which must be empty when it returns.
 */
export async function runCase(name, failures, body) {
  console.log(`test ${name}`);
  const errors = [];
  try {
    await body(errors);
    check(errors.length === 0, `the pages reported errors:\n    ${errors.join("\n    ")}`);
    console.log("  ok");
  } catch (e) {
    failures.push(name);
    console.log(`  FAILED: ${e instanceof Failure ? e.message : e.stack}`);
  }
}

/** Fails with `message` unless the build outputs exist. */
export function requireFile(path, hint) {
  check(existsSync(join(ROOT, path)), `${path} is missing — ${hint}`);
}

/**
 * Starts `typed-eventsource-server serve --dev --www www` on `listen` (default a free port) with its own data dir
 * (default a new temporary one), plus `extraArgs` (e.g. `--dev-tls` for https); resolves with
 * { url, listen, dataDir, stop, kill }.
 */
export async function startServer({ listen = "127.0.0.1:0", dataDir = tempDir("tes-e2e-data-"), extraArgs = [] } = {}) {
  check(existsSync(SERVER_BIN), `${SERVER_BIN} is missing — run \`cargo build -p typed-eventsource-server\``);
  const child = spawn(SERVER_BIN, ["serve", "--listen", listen, "--dev", "--www", "www", "--data-dir", dataDir, ...extraArgs], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => { stderr = (stderr + d).slice(-4000); });
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Failure(`the server printed no address in 30 s; stderr:\n${stderr}`)), 30_000);
    child.once("exit", (code) => reject(new Failure(`the server exited (${code}) before listening; stderr:\n${stderr}`)));
    lines.on("line", (line) => {
      const m = /^listening on (https?:\/\/\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ""));
      }
    });
  });
  lines.on("line", () => {}); // keep draining stdout
  const stopWith = (signal) => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", resolve);
    child.kill(signal);
    setTimeout(() => child.kill("SIGKILL"), 3000).unref();
  });
  return { url, listen: new URL(url).host, dataDir, stop: () => stopWith("SIGTERM"), kill: () => stopWith("SIGKILL") };
}

/** Debian's Chromium through playwright-core, with `extraArgs` added to its flags; never downloads a browser. */
export async function launchBrowser(extraArgs = []) {
  check(existsSync(CHROMIUM), `${CHROMIUM} is missing — run scripts/setup.sh (apt-get install chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
      ...extraArgs,
    ],
  });
}

/** A new page in its own context (its own "tab" with fresh storage), recording page errors. */
export async function openPage(browser, url, errors) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`${url}: ${e.message}`));
  page.on("console", (msg) => {
    if (msg.type() === "error" && !msg.location().url.endsWith("/favicon.ico")) errors.push(`${url}: console error: ${msg.text()}`);
  });
  await page.goto(url);
  return page;
}

export function tempDir(prefix) {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function unique(prefix) {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}
