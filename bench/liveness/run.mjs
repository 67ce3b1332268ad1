// Liveness figures (issue 21), in Chromium against the real server: `node bench/liveness/run.mjs [runs] [quietSeconds]`
// (defaults 20 and 180). Needs `npm run build:pkg` and `cargo build -p typed-eventsource-server`. Prints markdown.
//
// 1. Silence → recovered delivery: a stream through the blackhole proxy (tests/support/blackhole.mjs) with
//    heartbeatTimeout 4000 and the default reconnect policy, against a server with 1 s heartbeats. Each run silences
//    the proxy's connections (left open), publishes one event at once, and measures until a page delivers it; per
//    transport (EventSource, fetch) and shared (2 tabs of one context, `share: true`, the later of the two). The three
//    modes run side by side, each behind its own proxy.
// 2. Reconnects on a quiet stream with the defaults (45 s timeout, 15 s server heartbeats), both transports, over
//    `quietSeconds`, extrapolated to an hour.
// 3. What the heartbeats cost an idle stream: the bytes on the wire (HTTP/1.1 chunked) of an idle stream of a server
//    with 1 s heartbeats on which nothing is published, per heartbeat, times 240 (one per 15 s for an hour), against
//    the comment alone.
import net from "node:net";
import { startProxy } from "../../tests/e2e/blackhole.mjs";
import { launchBrowser, requireFile, startServer, unique } from "../../tests/e2e/lib.mjs";

const runs = Number(process.argv[2] ?? 20);
const quietSeconds = Number(process.argv[3] ?? 180);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function publish(base, text) {
  const res = await fetch(`${base}/update`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ text }) });
  if (res.status !== 200) throw new Error(`POST /update answered ${res.status}`);
}

async function tab(context, base, url, options) {
  const page = await context.newPage();
  await page.goto(`${base}/share-test.html`);
  await page.waitForFunction(() => window.t?.ready);
  await page.evaluate(([u, o]) => window.t.start(u, o), [url, options]);
  await page.waitForFunction(() => window.t.readyState() === 1, null, { timeout: 15_000 });
  return page;
}

/** When `page` delivered the event with `text` (page clock, ms since the epoch), waiting up to 20 s. */
async function deliveredAt(page, text) {
  const handle = await page.waitForFunction((want) => window.t.events.find((e) => !e.event && JSON.parse(e.data).text === want)?.at, text, { timeout: 20_000, polling: 10 });
  return handle.jsonValue();
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function silenceRuns(browser, server, name, options, tabs) {
  const proxy = await startProxy(server.listen);
  const context = await browser.newContext();
  try {
    return await measureSilences(proxy, context, server, name, options, tabs);
  } finally {
    await context.close();
    proxy.stop();
  }
}

async function measureSilences(proxy, context, server, name, options, tabs) {
  const pages = [];
  for (let i = 0; i < tabs; i++) pages.push(await tab(context, server.url, `${proxy.url}/subscribe`, options));
  // A first event: a stream resumes after the last id it has seen, and before any it has none to resume after.
  const warmUp = unique(`${name}-warm-up`);
  await publish(server.url, warmUp);
  await Promise.all(pages.map((p) => deliveredAt(p, warmUp)));
  const times = [];
  let timeouts = 0;
  for (let run = 0; run < runs; run++) {
    // Let the new connection settle (the quiet stream gets its 1 s heartbeats meanwhile).
    await sleep(1_000 + Math.random() * 500);
    const text = unique(`${name}-${run}`);
    const t0 = Date.now();
    await proxy.silence();
    await publish(server.url, text);
    let at;
    try {
      at = Math.max(...(await Promise.all(pages.map((p) => deliveredAt(p, text)))));
    } catch (e) {
      const state = await Promise.all(pages.map((p) => p.evaluate(() => ({ role: window.t.role(), readyState: window.t.readyState(), errors: window.t.errors.map((x) => x.kind), events: window.t.events.length, opens: window.t.opens }))));
      throw new Error(`${name}, run ${run}: the event published during the silence did not arrive in 20 s: ${JSON.stringify(state)}; proxy ${JSON.stringify(await proxy.stats())}`);
    }
    times.push(at - t0);
  }
  for (const page of pages) timeouts += await page.evaluate(() => window.t.errors.filter((e) => e.kind === "heartbeat-timeout").length);
  const ids = await Promise.all(pages.map((p) => p.evaluate(() => window.t.events.map((e) => e.id))));
  const duplicates = ids.reduce((n, l) => n + (l.length - new Set(l).size), 0);
  const accepted = (await proxy.stats()).accepted;
  times.sort((a, b) => a - b);
  return { name, p50: percentile(times, 50), p99: percentile(times, 99), min: times[0], max: times[times.length - 1], timeouts, duplicates, connections: accepted };
}

async function quiet(browser, server) {
  const context = await browser.newContext();
  const pages = [];
  for (const transport of ["eventsource", "fetch"]) pages.push([transport, await tab(context, server.url, "/subscribe", { transport })]);
  await sleep(quietSeconds * 1000);
  const out = [];
  for (const [transport, page] of pages) {
    const r = await page.evaluate(() => ({ opens: window.t.opens, timeouts: window.t.errors.filter((e) => e.kind === "heartbeat-timeout").length, events: window.t.events.length }));
    out.push({ transport, reconnects: r.opens - 1, timeouts: r.timeouts, delivered: r.events });
  }
  await context.close();
  return out;
}

/** Bytes on the wire of an idle stream over `seconds` (after its first frame), and the heartbeats in them. */
function idleBytes(listen, seconds) {
  return new Promise((resolve, reject) => {
    const [host, port] = listen.split(":");
    const socket = net.connect(Number(port), host, () => socket.write(`GET /subscribe HTTP/1.1\r\nHost: ${listen}\r\nAccept: text/event-stream\r\n\r\n`));
    let started = false;
    let bytes = 0;
    let text = "";
    socket.on("data", (chunk) => {
      const s = chunk.toString("latin1");
      if (!started) {
        // Headers and the first frame (retry:) are not heartbeats.
        if (s.includes("retry:")) started = true;
        return;
      }
      bytes += chunk.length;
      text += s;
    });
    socket.on("error", reject);
    setTimeout(() => {
      socket.destroy();
      resolve({ bytes, heartbeats: (text.match(/event: heartbeat\n/g) ?? []).length, comments: (text.match(/: keep-alive\n\n/g) ?? []).length });
    }, seconds * 1000);
  });
}

requireFile("www/pkg/full/typed_eventsource.js", "run `npm run build:pkg`");
const fast = await startServer({ extraArgs: ["--heartbeat-secs", "1"] });
const normal = await startServer();
// Its own server: nothing is published on it, so its stream carries heartbeats only.
const idle = await startServer({ extraArgs: ["--heartbeat-secs", "1"] });
const browser = await launchBrowser();
try {
  const started = Date.now();
  const [es, fetchT, shared, quietResult, wire] = await Promise.all([
    silenceRuns(browser, fast, "EventSource", { heartbeatTimeout: 4000 }, 1),
    silenceRuns(browser, fast, "fetch", { transport: "fetch", heartbeatTimeout: 4000 }, 1),
    silenceRuns(browser, fast, "EventSource, shared by 2 tabs", { heartbeatTimeout: 4000, share: true }, 2),
    quiet(browser, normal),
    idleBytes(idle.listen, 10),
  ]);
  // Measured with a 1 s period (data "1000"); at 15 s the data is "15000", one byte more.
  const perBeat = wire.bytes / wire.heartbeats + 1;
  // The comment alone, as the server sent it before: 14 bytes in one chunk (`e\r\n` … `\r\n`).
  const commentOnly = 14 + 5;
  console.log(`### Liveness (${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, ${Math.round((Date.now() - started) / 1000)} s)\n`);
  console.log(`Silence → recovered delivery, ${runs} runs each, heartbeatTimeout 4000 ms, default reconnect policy (first re-open after 0.5–1 s), server heartbeats every 1 s:\n`);
  console.log("| stream | p50 | p99 | min | max | heartbeat-timeout errors | duplicates | connections made |");
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of [es, fetchT, shared]) {
    const ms = (x) => `${Math.round(x)} ms`;
    console.log(`| ${r.name} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.min)} | ${ms(r.max)} | ${r.timeouts} | ${r.duplicates} | ${r.connections} |`);
  }
  console.log(`\nQuiet stream with the defaults (heartbeatTimeout 45 s; server heartbeats every 15 s), ${quietSeconds} s:\n`);
  for (const q of quietResult) {
    const perHour = (q.reconnects * 3600) / quietSeconds;
    console.log(`- ${q.transport}: ${q.reconnects} reconnects, ${q.timeouts} heartbeat-timeout errors, ${q.delivered} events delivered → ${perHour} reconnects per hour (extrapolated)`);
  }
  console.log(`\nHeartbeat cost of an idle stream: ${wire.bytes} bytes on the wire for ${wire.heartbeats} heartbeats (${(perBeat - 1).toFixed(1)} B each; ${perBeat.toFixed(1)} B with a 15 s period, HTTP/1.1 chunked: the comment and the heartbeat event in one chunk) → ${Math.round(perBeat * 240)} B per hour at 15 s; the comment alone was ${commentOnly} B → ${commentOnly * 240} B per hour: +${Math.round((perBeat - commentOnly) * 240)} B per hour per idle stream.`);
} finally {
  await browser.close();
  await fast.stop();
  await normal.stop();
  await idle.stop();
}
