// Hand-off time of a stream shared across tabs (issue 14): 4 pages of one Chromium context share /subscribe; the
// leader page is closed 20 times (a new page joins after each) and the time until another page leads, and until
// its connection is open again, is measured. Prints p50 / p99 / max. Needs `npm run build:pkg` and
// `cargo build -p typed-eventsource-server`; run from the repository root: `node bench/browser/share-handoff.mjs`.
import { check, launchBrowser, requireFile, startServer } from "../../tests/e2e/lib.mjs";

const ROUNDS = Number(process.env.ROUNDS ?? 20);
const TABS = 4;

async function tab(context, base) {
  const page = await context.newPage();
  await page.goto(`${base}/share-test.html`);
  await page.waitForFunction(() => window.t?.ready);
  await page.evaluate(() => window.t.start("/subscribe", { share: true }));
  return page;
}

async function poll(probe, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    check(Date.now() < deadline, "no hand-off within 10 s");
    await new Promise((r) => setTimeout(r, 5));
  }
}

const state = (pages) => Promise.all(pages.map((p) => p.evaluate(() => [window.t.role(), window.t.readyState()])));
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];

requireFile("www/pkg/typed_eventsource.js", "run `npm run build:pkg`");
const server = await startServer();
const browser = await launchBrowser();
const leads = [];
const opens = [];
try {
  const context = await browser.newContext();
  let pages = [];
  for (let i = 0; i < TABS; i++) pages.push(await tab(context, server.url));
  for (let round = 0; round < ROUNDS; round++) {
    const leader = await poll(async () => {
      const s = await state(pages);
      const i = s.findIndex(([role, ready]) => role === "leader" && ready === 1);
      return i >= 0 ? i : undefined;
    });
    const rest = pages.filter((_, i) => i !== leader);
    const t0 = performance.now();
    await pages[leader].close();
    await poll(async () => ((await state(rest)).some(([role]) => role === "leader") ? true : undefined));
    leads.push(performance.now() - t0);
    await poll(async () => ((await state(rest)).some(([role, ready]) => role === "leader" && ready === 1) ? true : undefined));
    opens.push(performance.now() - t0);
    pages = [...rest, await tab(context, server.url)];
  }
} finally {
  await browser.close();
  await server.stop();
}
for (const [name, xs] of [["another tab leads", leads], ["its connection is open", opens]]) {
  xs.sort((a, b) => a - b);
  console.log(`${name}: p50 ${pct(xs, 50).toFixed(0)} ms, p99 ${pct(xs, 99).toFixed(0)} ms, max ${xs.at(-1).toFixed(0)} ms (${xs.length} leader kills, ${TABS} tabs)`);
}
