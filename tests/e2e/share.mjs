// End-to-end tests of one connection for every tab (issue 14): pages of one browser context (which share
// BroadcastChannel and Web Locks, as the tabs of a browser do) open the same stream with `share`, from the npm
// package (www/share-test.html), against the real server started here. The server's `sse_open_streams` gauge
// (GET /metrics) counts the connections. Needs `npm run build:pkg` and `cargo build -p typed-eventsource-server`.
import { Failure, check, launchBrowser, publish, requireFile, runCase, startServer, unique, until } from "./lib.mjs";

const TIMEOUT = 15_000;
const log = (line) => console.log(`  ${line}`);

/** `sse_open_streams{kind}` on the server. */
async function openStreams(base, kind) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = new RegExp(`^sse_open_streams\\{kind="${kind}"\\} (\\d+)$`, "m").exec(text);
  check(m, `no sse_open_streams{kind="${kind}"} in /metrics`);
  return Number(m[1]);
}

/** A counter without labels on the server's /metrics. */
async function counter(base, name) {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)$`, "m").exec(text);
  check(m, `no ${name} in /metrics`);
  return Number(m[1]);
}

async function expectStreams(base, kind, n) {
  await until(async () => (await openStreams(base, kind)) === n, async () => `the server has ${await openStreams(base, kind)} ${kind} stream(s) open, expected ${n}`);
}

/** POST /update {text}; resolves with the published event's id. */
/** `n` pages of one context (the same "browser": shared channels and locks), each on the test page. */
async function openTabs(context, base, n, errors) {
  const pages = [];
  for (let i = 0; i < n; i++) {
    const page = await context.newPage();
    page.on("pageerror", (e) => errors.push(`tab ${i}: ${e.message}`));
    page.on("console", (msg) => {
      if (msg.type() === "error" && !msg.location().url.endsWith("/favicon.ico")) errors.push(`tab ${i}: console error: ${msg.text()}`);
    });
    await page.goto(`${base}/share-test.html`);
    await page.waitForFunction(() => window.t?.ready, null, { timeout: TIMEOUT });
    pages.push(page);
  }
  return pages;
}

const start = (page, url, options) => page.evaluate(([u, o]) => window.t.start(u, o), [url, options]);
const roles = (pages) => Promise.all(pages.map((p) => p.evaluate(() => window.t.role())));
// A data that is not JSON (a forged event) reads as no text.
const texts = (page) => page.evaluate(() => window.t.events.filter((e) => !e.event).map((e) => { try { return JSON.parse(e.data).text; } catch { return undefined; } }));
const ids = (page) => page.evaluate(() => window.t.events.map((e) => e.id));

/** Waits until exactly one page leads and every other follows and all read readyState 1; returns the leader's index. */
async function settled(pages) {
  const leader = await until(async () => {
    const r = await roles(pages);
    const states = await Promise.all(pages.map((p) => p.evaluate(() => window.t.readyState())));
    const leaders = r.filter((x) => x === "leader").length;
    return leaders === 1 && r.every((x) => x === "leader" || x === "follower") && states.every((s) => s === 1) && r.indexOf("leader") + 1;
  }, async () => `roles ${JSON.stringify(await roles(pages))}, readyStates ${JSON.stringify(await Promise.all(pages.map((p) => p.evaluate(() => window.t.readyState()))))}`);
  return leader - 1;
}

/** Every page in `pages` shows exactly the `published` texts, once each, in order. */
async function expectAll(pages, published, who = (i) => `tab ${i}`) {
  for (const [i, page] of pages.entries()) {
    await until(async () => (await texts(page)).filter((t) => published.includes(t)).length >= published.length,
      async () => `${who(i)} has ${(await texts(page)).filter((t) => published.includes(t)).length} of ${published.length} events`);
  }
  for (const [i, page] of pages.entries()) {
    const got = (await texts(page)).filter((t) => published.includes(t));
    check(JSON.stringify(got) === JSON.stringify(published), `${who(i)} got ${JSON.stringify(got)}, expected each of ${published.length} once in order`);
    const all = await ids(page);
    check(new Set(all).size === all.length, `${who(i)} delivered an event id twice: ${JSON.stringify(all)}`);
  }
}

/** The channel name the library uses for `url` with `share: true` (EventSource, no credentials), in the page. */
function sharedChannelName(url) {
  const description = `${new URL(url, location.href).href}\n0\neventsource`;
  let h = 0xcbf29ce484222325n;
  for (const b of new TextEncoder().encode(description)) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return `typed-eventsource/share/stream/${h.toString(16).padStart(16, "0")}`;
}

/** In the attacker's page: announces `nextId` with a forged event (and posts malformed messages) on the channel. */
async function forgeOnChannel({ url, nextId, namer }) {
  const name = (0, eval)(`(${namer})`)(url);
  const channel = new BroadcastChannel(name);
  const from = Math.random();
  const forged = { k: "ev", from, event: "message", data: JSON.stringify({ text: "forged" }), id: nextId, origin: location.origin };
  for (const seq of [1, 2, 1e6]) channel.postMessage({ ...forged, seq });
  for (const junk of [null, "ev", [1, 2], { k: "ev", from }, { k: "ev", from, event: "message", data: 5, id: "x", origin: "", seq: 3 }, { k: "hb", from }, { k: "end", from }]) channel.postMessage(junk);
  await new Promise((r) => setTimeout(r, 300));
  channel.close();
}

/** In the attacker's page: posts leader messages as another tab for a second. */
async function forgeLeader({ url, namer }) {
  const name = (0, eval)(`(${namer})`)(url);
  const channel = new BroadcastChannel(name);
  const from = Math.random();
  for (let i = 0; i < 20; i++) {
    channel.postMessage({ k: "leader", from });
    channel.postMessage({ k: "bye", from });
    channel.postMessage({ k: "end", from, how: "failed", message: "forged failure" });
    channel.postMessage({ k: "hb", from, open: true });
    await new Promise((r) => setTimeout(r, 50));
  }
  channel.close();
}

const SHARED_CHANNEL_NAME = sharedChannelName.toString();

const tests = {
  async "8 tabs share one connection: the server sees 1 stream, every tab gets every event once, in order, same ids"({ base, errors, context }) {
    const pages = await openTabs(context, base, 8, errors);
    for (const page of pages) await start(page, "/subscribe", { share: true });
    await settled(pages);
    await expectStreams(base, "broadcast", 1);
    // Counted on the server: 20 events written to client streams in all (160 if each tab had its own connection; the
    // gauge alone would also read 1 with 8 connections of which 7 had closed again).
    const delivered0 = await counter(base, "sse_events_delivered_total");
    const published = [];
    for (let i = 0; i < 20; i++) {
      const text = unique(`m${i}`);
      await publish(base, text);
      published.push(text);
    }
    await expectAll(pages, published);
    const delivered = (await counter(base, "sse_events_delivered_total")) - delivered0;
    check(delivered === published.length, `the server wrote ${delivered} events to streams for ${published.length} published: not one connection`);
    const idLists = await Promise.all(pages.map(ids));
    check(idLists.every((l) => JSON.stringify(l) === JSON.stringify(idLists[0])), "the tabs saw different event ids");
    check((await openStreams(base, "broadcast")) === 1, "more than one broadcast stream is open");
    log("8 tabs, 1 connection to the server (8 without sharing); 20 events, each once in every tab, same ids");
  },

  async "closing the leader tab while publishing: another tab leads, nothing lost or repeated"({ base, errors, context }) {
    const pages = await openTabs(context, base, 4, errors);
    for (const page of pages) await start(page, "/subscribe", { share: true });
    const leader = await settled(pages);
    const rest = pages.filter((_, i) => i !== leader);
    const published = [];
    let publishing = true;
    const publisher = (async () => {
      for (let i = 0; publishing; i++) {
        const text = unique(`h${i}`);
        await publish(base, text);
        published.push(text);
        await new Promise((r) => setTimeout(r, 30));
      }
    })();
    await until(async () => published.length >= 5, "the publisher started");
    const closedAt = Date.now();
    await pages[leader].close();
    const newLeader = (await until(async () => (await roles(rest)).indexOf("leader") + 1, "a new leader")) - 1;
    const handOff = Date.now() - closedAt;
    await until(async () => (await rest[newLeader].evaluate(() => window.t.readyState())) === 1, "the new leader's connection opened");
    const published0 = published.length;
    await until(async () => published.length >= published0 + 10, "more events after the hand-off");
    publishing = false;
    await publisher;
    await expectAll(rest, published);
    await expectStreams(base, "broadcast", 1);
    // Not the < 1 s goal (bench/browser/share-handoff.mjs measures it): that the tabs recover at all, in time. A closed
    // tab releases its Web Lock at once; even the fallback (followers hearing nothing for 1 s + up to 0.5 s jitter,
    // checked every 250 ms) is in by ~1.8 s. 5 s leaves >3 s for a loaded machine's page and polling overhead.
    check(handOff < 5000, `the hand-off took ${handOff} ms (no recovery within 5 s)`);
    log(`leader closed: a new tab led after ${handOff} ms; ${published.length} events published meanwhile, each once in order in the 3 other tabs`);
  },

  async "a silent leader (its main thread stalled, as when frozen) is taken over; when it wakes, no tab has a duplicate"({ base, errors, context }) {
    // CDP's Page.setWebLifecycleState "frozen" does nothing to a visible headless page (no `freeze` event, timers
    // keep running): the leader is stalled instead, which is what freezing does to it — no task runs, the lock stays
    // held, nothing is relayed — and then resumed with its queued tasks, as a thawed tab is.
    const pages = await openTabs(context, base, 3, errors);
    for (const page of pages) await start(page, "/subscribe", { share: true });
    const leader = await settled(pages);
    const rest = pages.filter((_, i) => i !== leader);
    const published = [unique("before")];
    await publish(base, published[0]);
    await expectAll(pages, published);
    const STALL_MS = 4000;
    const stalledAt = Date.now();
    const stall = pages[leader].evaluate((ms) => { const end = Date.now() + ms; while (Date.now() < end); }, STALL_MS);
    const newLeader = (await until(async () => {
      published.push(unique("while-stalled"));
      await publish(base, published.at(-1));
      await new Promise((r) => setTimeout(r, 50));
      return (await roles(rest)).indexOf("leader") + 1;
    }, "a follower taking over from the stalled leader", 10_000)) - 1;
    const takeOver = Date.now() - stalledAt;
    // The point is that a follower steals the lock from a live-but-stalled leader, i.e. before the stall ends: the
    // fallback takes over after 1 s of silence + up to 0.5 s jitter, checked every 250 ms (~1.8 s at most), which
    // leaves ~2.2 s of the 4 s stall for a loaded machine; a takeover after the stall would prove nothing.
    check(takeOver < STALL_MS, `the takeover (${takeOver} ms) came after the stall ended`);
    for (let i = 0; i < 5; i++) {
      published.push(unique("after"));
      await publish(base, published.at(-1));
    }
    await expectAll(rest, published);
    await stall;
    const last = unique("woken");
    await publish(base, last);
    published.push(last);
    await expectAll(pages, published, (i) => (i === leader ? "the woken tab" : `tab ${i}`));
    await settled(pages);
    await expectStreams(base, "broadcast", 1);
    check((await roles(pages))[leader] === "follower", "the woken tab still leads");
    log(`leader stalled: follower ${newLeader} stole the lock after ${takeOver} ms; woken, the old leader follows; every tab has the ${published.length} events once, in order`);
  },

  async "a follower's close() detaches only it; the last tab leaving closes the connection"({ base, errors, context }) {
    const pages = await openTabs(context, base, 3, errors);
    for (const page of pages) await start(page, "/subscribe", { share: true });
    const leader = await settled(pages);
    const followers = pages.filter((_, i) => i !== leader);
    await followers[0].evaluate(() => window.t.close());
    const closed = await followers[0].evaluate(() => ({ reasons: window.t.reasons, state: window.t.readyState(), n: window.t.events.length }));
    check(closed.reasons.length === 1 && closed.reasons[0].kind === "client" && closed.state === 2, `the closed follower reads ${JSON.stringify(closed)}`);
    const text = unique("after-close");
    await publish(base, text);
    const open = [pages[leader], followers[1]];
    await expectAll(open, [text]);
    check((await followers[0].evaluate(() => window.t.events.length)) === closed.n, "the closed follower still received events");
    await expectStreams(base, "broadcast", 1);
    // The leader leaves: the other follower takes over; then it leaves too: nothing is left open.
    await pages[leader].evaluate(() => window.t.close());
    await until(async () => (await followers[1].evaluate(() => window.t.role())) === "leader", "the last tab leading");
    const text2 = unique("last-tab");
    await publish(base, text2);
    await expectAll([followers[1]], [text, text2]);
    await followers[1].evaluate(() => window.t.close());
    await expectStreams(base, "broadcast", 0);
    log("a follower's close() left the others receiving; after the last tab's close() the server has 0 streams");
  },

  async "a terminal message closes the stream in every tab, each reporting terminal once"({ base, errors, context }) {
    const pages = await openTabs(context, base, 4, errors);
    const res = await fetch(`${base}/jobs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ steps: 30, intervalMs: 100 }) });
    check(res.status === 200, `POST /jobs answered ${res.status}`);
    const { id } = await res.json();
    for (const page of pages) await start(page, `/jobs/${id}/events`, { share: true, closeOn: [{ event: "ping", data: "finished" }] });
    await expectStreams(base, "job", 1);
    for (const [i, page] of pages.entries()) {
      await until(async () => (await page.evaluate(() => window.t.reasons.length)) > 0, `tab ${i} closing`);
    }
    // Once the server has seen the shared connection close, nothing is left that could give a second reason.
    await expectStreams(base, "job", 0);
    for (const [i, page] of pages.entries()) {
      const { reasons, state } = await page.evaluate(() => ({ reasons: window.t.reasons, state: window.t.readyState() }));
      check(reasons.length === 1, `tab ${i} reported ${reasons.length} close reasons`);
      check(reasons[0].kind === "terminal" && reasons[0].event === "ping" && reasons[0].data === "finished", `tab ${i} closed with ${JSON.stringify(reasons[0])}`);
      check(state === 2, `tab ${i} reads readyState ${state}`);
    }
    log("4 tabs on one job stream: each closed with reason terminal (ping: finished) once, readyState 2; 0 streams left");
  },

  async "the fetch transport shares too"({ base, errors, context }) {
    const pages = await openTabs(context, base, 3, errors);
    for (const page of pages) await start(page, "/subscribe", { share: true, transport: "fetch" });
    await settled(pages);
    await expectStreams(base, "broadcast", 1);
    const published = [unique("f1"), unique("f2"), unique("f3")];
    for (const text of published) await publish(base, text);
    await expectAll(pages, published);
    log("3 tabs with transport: \"fetch\": 1 connection, every event once in every tab");
  },

  async "without Web Locks and BroadcastChannel each tab has its own connection and still works"({ base, errors, context }) {
    await context.addInitScript(() => {
      delete Navigator.prototype.locks;
      delete window.BroadcastChannel;
    });
    const pages = await openTabs(context, base, 3, errors);
    check((await pages[0].evaluate(() => typeof BroadcastChannel + " " + typeof navigator.locks)) === "undefined undefined", "the APIs are still there");
    for (const page of pages) await start(page, "/subscribe", { share: true });
    await until(async () => (await roles(pages)).every((r) => r === "alone"), async () => `roles ${JSON.stringify(await roles(pages))}`);
    await expectStreams(base, "broadcast", 3);
    const published = [unique("alone1"), unique("alone2")];
    for (const text of published) await publish(base, text);
    await expectAll(pages, published);
    log("no Web Locks, no BroadcastChannel: 3 tabs, role \"alone\", 3 connections, every event once in each");
  },

  // Issue 22, finding 10: the channel of a shared stream is computable by any script of the origin. The attacker
  // below is such a script in another tab: it names the channel as the library does (FNV-1a of the absolute URL,
  // credentials flag and transport) and posts on it as a tab that does not hold the lock.
  async "a script posting on the channel cannot make the leader drop an event, nor reach the tabs' handlers"({ base, errors, context }) {
    const pages = await openTabs(context, base, 3, errors);
    for (const page of pages) await start(page, "/subscribe", { share: true });
    await settled(pages);
    const first = unique("real0");
    await publish(base, first);
    await expectAll(pages, [first]);
    const lastId = (await ids(pages[0])).at(-1);
    const cut = lastId.lastIndexOf("-");
    const nextId = `${lastId.slice(0, cut)}-${Number(lastId.slice(cut + 1)) + 1}`;
    const attacker = await context.newPage();
    await attacker.goto(`${base}/share-test.html`);
    await attacker.evaluate(forgeOnChannel, { url: "/subscribe", nextId, namer: SHARED_CHANNEL_NAME });
    const real = unique("real1");
    const position = await publish(base, real);
    check(nextId.endsWith(`-${position}`), `the server stored the event at ${position}, the attacker announced ${nextId}`);
    await expectAll(pages, [first, real]);
    for (const [i, page] of pages.entries()) {
      const events = await page.evaluate(() => window.t.events);
      check(events.length === 2, `tab ${i} delivered ${events.length} events (2 published): ${JSON.stringify(events)}`);
    }
    await settled(pages);
    await expectStreams(base, "broadcast", 1);
    log(`the attacker announced ${nextId} (and posted malformed messages): every tab still got the real event, no forged one`);
  },

  async "forged leader messages demote no tab and close no stream"({ base, errors, context }) {
    const pages = await openTabs(context, base, 3, errors);
    for (const page of pages) await start(page, "/subscribe", { share: true });
    const leader = await settled(pages);
    const attacker = await context.newPage();
    await attacker.goto(`${base}/share-test.html`);
    await attacker.evaluate(forgeLeader, { url: "/subscribe", namer: SHARED_CHANNEL_NAME });
    const after = await roles(pages);
    check(after[leader] === "leader" && after.filter((r) => r === "leader").length === 1, `roles after the forged messages: ${JSON.stringify(after)} (leader was tab ${leader})`);
    for (const [i, page] of pages.entries()) {
      const { reasons, state } = await page.evaluate(() => ({ reasons: window.t.reasons, state: window.t.readyState() }));
      check(reasons.length === 0 && state === 1, `tab ${i} reads readyState ${state}, close reasons ${JSON.stringify(reasons)}`);
    }
    const text = unique("after-forgery");
    await publish(base, text);
    await expectAll(pages, [text]);
    await expectStreams(base, "broadcast", 1);
    log("forged leader, bye, end and open messages for 1 s: the leader kept its place, no tab closed, events still reach every tab once");
  },
};

async function main() {
  requireFile("www/pkg/full/typed_eventsource.js", "run `npm run build:pkg`");
  const only = process.argv[2];
  const failures = [];
  const server = await startServer();
  console.log(`server at ${server.url}`);
  const browser = await launchBrowser();
  try {
    for (const [name, test] of Object.entries(tests)) {
      if (only && !name.includes(only)) continue;
      await runCase(name, failures, async (errors) => {
        // A fresh context per test: its pages share channels and locks with each other only.
        const context = await browser.newContext();
        try {
          await expectStreams(server.url, "broadcast", 0);
          await test({ base: server.url, errors, context });
          // Every tab gone: no connection may be left.
          await context.close();
          await expectStreams(server.url, "broadcast", 0);
          await expectStreams(server.url, "job", 0);
        } finally {
          await context.close();
        }
      });
    }
  } finally {
    await browser.close();
    await server.stop();
  }
  if (failures.length) {
    console.error(`\n${failures.length} tab-sharing test(s) failed:\n- ${failures.join("\n- ")}`);
    process.exit(1);
  }
  console.log("all tab-sharing tests passed");
}

main().catch((e) => {
  console.error(e instanceof Failure ? e.message : e);
  process.exit(1);
});
