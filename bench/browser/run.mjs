// Browser dispatch bench (see bench/README.md): starts the server with a 100k-event history, fills it with
// `sse-loadgen publish`, opens bench/browser/index.html in headless Chromium and prints a markdown fragment.
// Usage: node bench/browser/run.mjs SERVER_BIN LOADGEN_BIN PKG_DIR [OUT.md]
import { spawn, execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '../../package.json'));
const { chromium } = require('playwright-core');

const [serverBin, loadgenBin, pkgDir, outFile] = process.argv.slice(2);
const N = Number(process.env.BROWSER_EVENTS || 100000);
const ROUNDS = Number(process.env.BROWSER_ROUNDS || 3);

const www = mkdtempSync(join(tmpdir(), 'sse-browser-bench-'));
cpSync(join(here, 'index.html'), join(www, 'index.html'));
mkdirSync(join(www, 'pkg'));
cpSync(pkgDir, join(www, 'pkg'), { recursive: true });

const server = spawn(serverBin, ['serve', '--listen', '127.0.0.1:0', '--dev', '--history', String(N), '--www', www], {
  stdio: ['ignore', 'pipe', 'ignore'],
});
const addr = await new Promise((resolve, reject) => {
  let buf = '';
  server.stdout.on('data', (d) => {
    buf += d;
    const m = buf.match(/listening on (http:\/\/\S+)/);
    if (m) resolve(m[1]);
  });
  server.on('exit', (c) => reject(new Error(`server exited ${c}`)));
});
let browser;
try {
  execFileSync(loadgenBin, ['publish', '--url', addr, '--count', String(N)], { stdio: 'inherit' });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') console.error('page:', m.text()); });
  await page.goto(`${addr}/index.html?n=${N}&rounds=${ROUNDS}`);
  await page.waitForFunction(() => window.benchResult, null, { timeout: 300000, polling: 200 });
  const result = await page.evaluate(() => window.benchResult);
  if (result.error) throw new Error(result.error);
  const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rate = (runs) => median(runs.map((r) => r.count / r.ms * 1000));
  const plain = rate(result.runs.plain);
  const typed = rate(result.runs.typed);
  const all = [...result.runs.plain, ...result.runs.typed];
  const accounted = all.every((r) => r.count === N && r.bad === 0);
  const version = (await browser.version());
  const md = [
    `| browser (Chromium ${version}, ${N} replayed events, median of ${ROUNDS} alternating rounds) | events/s |`,
    '|---|---|',
    `| plain \`EventSource\` + \`JSON.parse\` | ${plain.toFixed(0)} |`,
    `| typed-eventsource \`TypedEventSource.on("message", (data, meta) => …)\` | ${typed.toFixed(0)} |`,
    `| ratio typed / plain (goal ≥ 0.95, issue 23) | ${(typed / plain).toFixed(2)} |`,
    '',
    `All events accounted for (every run: ${N} events, consecutive positions in order, SSE ids <epoch>-<position>): ${accounted ? 'yes' : 'NO'}. ` +
      `Runs (ms): plain ${result.runs.plain.map((r) => r.ms.toFixed(0)).join(', ')}; typed ${result.runs.typed.map((r) => r.ms.toFixed(0)).join(', ')}` +
      (accounted ? '.' : `; events out of place (per run): plain ${result.runs.plain.map((r) => r.bad).join(', ')}; typed ${result.runs.typed.map((r) => r.bad).join(', ')}.`),
    '',
  ].join('\n');
  console.log(md);
  if (outFile) writeFileSync(outFile, md);
} finally {
  await browser?.close();
  server.kill();
  rmSync(www, { recursive: true, force: true });
}
