// Figures of a stream shared across tabs (issue 14), in Chromium against the real server:
// - hand-off: 4 pages of one context share /subscribe; the leader page is closed 20 times (a new page joins after
//   each) and the time until another page leads, and until its connection is open again, is measured (p50/p99/max);
// - relay cost: 2 pages share /subscribe, 500 events are published (20 POSTs in flight); the follower's dispatch
//   rate is compared with the leader's, and the relay delay (follower's handler time − leader's) is reported. Needs `npm run build:pkg` and
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

requireFile("www/pkg/full/typed_eventsource.js", "run `npm run build:pkg`");
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
// Relay cost.
const relay = {};
{
  const server2 = await startServer();
  const browser2 = await launchBrowser();
  try {
    const context = await browser2.newContext();
    const pages = [await tab(context, server2.url), await tab(context, server2.url)];
    await poll(async () => ((await state(pages)).every(([, ready]) => ready === 1) ? true : undefined));
    const roles = (await state(pages)).map(([role]) => role);
    const N = 500;
    let next = 0;
    const worker = async () => {
      while (next < N) {
        const text = `relay-${next++}`;
        await fetch(`${server2.url}/update`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ text }) });
      }
    };
    await Promise.all(Array.from({ length: 20 }, worker));
    await poll(async () => ((await Promise.all(pages.map((p) => p.evaluate(() => window.t.events.length)))).every((n) => n >= N) ? true : undefined), 30_000);
    const events = await Promise.all(pages.map((p) => p.evaluate(() => window.t.events.map((e) => [e.id, e.at]))));
    const leader = events[roles.indexOf("leader")];
    const follower = events[roles.indexOf("follower")];
    const rate = (es) => (es.length - 1) / ((es.at(-1)[1] - es[0][1]) / 1000);
    const at = new Map(leader);
    const delays = follower.map(([id, t]) => t - at.get(id)).sort((a, b) => a - b);
    relay.line = `relay: leader ${rate(leader).toFixed(0)} events/s, follower ${rate(follower).toFixed(0)} events/s (${(rate(follower) / rate(leader)).toFixed(2)}×, goal ≥ 0.8×); relay delay p50 ${pct(delays, 50).toFixed(2)} ms, p99 ${pct(delays, 99).toFixed(2)} ms (${N} events)`;
  } finally {
    await browser2.close();
    await server2.stop();
  }
}
console.log(relay.line);
for (const [name, xs] of [["another tab leads", leads], ["its connection is open", opens]]) {
  xs.sort((a, b) => a - b);
  console.log(`${name}: p50 ${pct(xs, 50).toFixed(0)} ms, p99 ${pct(xs, 99).toFixed(0)} ms, max ${xs.at(-1).toFixed(0)} ms (${xs.length} leader kills, ${TABS} tabs)`);
}
