// End-to-end test of a source while the browser is offline (issue 21), on both transports: the npm package's full
// entry point (www/share-test.html) against the real server, the stream going through the blackhole proxy
// (tests/support/blackhole.mjs), the browser taken offline with CDP network emulation (playwright's
// `context.setOffline`, which also sets `navigator.onLine`). Emulation blocks new requests but leaves a loopback
// stream flowing, so the proxy then drops the stream: the browser cannot reconnect until it is back online.
// Needs `npm run build:pkg` and `cargo build -p typed-eventsource-server`.
import { startProxy } from "./blackhole.mjs";
import { Failure, check, launchBrowser, publish, requireFile, runCase, startServer, unique, until } from "./lib.mjs";

const TIMEOUT = 15_000;
const log = (line) => console.log(`  ${line}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const texts = (page) => page.evaluate(() => window.t.events.filter((e) => !e.event).map((e) => JSON.parse(e.data).text));
const seen = (page) => page.evaluate(() => ({
  reasons: window.t.reasons,
  errors: window.t.errors.map((e) => e.kind),
  offline: window.t.es.offline,
  readyState: window.t.readyState(),
  ids: window.t.events.map((e) => e.id),
}));

async function offlineCase({ server, proxy, browser, errors }, transport) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (msg) => {
      // Offline, the browser logs its own failed requests (net::ERR_INTERNET_DISCONNECTED): expected here.
      if (msg.type() === "error" && !/favicon|ERR_INTERNET_DISCONNECTED|Failed to load resource/.test(msg.text() + msg.location().url)) errors.push(`console error: ${msg.text()}`);
    });
    await page.goto(`${server.url}/share-test.html`);
    await page.waitForFunction(() => window.t?.ready, null, { timeout: TIMEOUT });
    // One retry only: a source that counted its attempts while offline would have closed long before the end.
    const options = { transport, reconnect: { maxRetries: 1, initialDelayMs: 100, maxDelayMs: 100 } };
    await page.evaluate(([url, o]) => window.t.start(url, o), [`${proxy.url}/subscribe`, options]);
    await until(() => page.evaluate(() => window.t.readyState() === 1), "the stream opens");
    const first = unique("online");
    await publish(server.url, first);
    await until(async () => (await texts(page)).includes(first), "the first event");

    await context.setOffline(true);
    await proxy.drop();
    await until(() => page.evaluate(() => window.t.es.offline), async () => `the source does not wait for the network: ${JSON.stringify(await seen(page))}`);
    const missed = [unique("offline"), unique("offline")];
    for (const text of missed) await publish(server.url, text);
    await sleep(2_500);
    const during = await seen(page);
    check(during.reasons.length === 0, `closed while offline: ${JSON.stringify(during.reasons)}`);
    check(during.offline && during.readyState === 0, `not waiting: ${JSON.stringify(during)}`);
    check(during.errors.filter((k) => k === "offline").length === 1, `one offline error expected: ${JSON.stringify(during.errors)}`);
    check(!during.errors.includes("fatal"), `an attempt was made and failed while offline: ${JSON.stringify(during.errors)}`);

    await context.setOffline(false);
    const back = Date.now();
    await until(async () => {
      const got = await texts(page);
      return missed.every((m) => got.includes(m));
    }, "the events published while offline");
    const recovered = Date.now() - back;
    const after = unique("after");
    await publish(server.url, after);
    await until(async () => (await texts(page)).includes(after), "live delivery after the recovery");
    const got = await texts(page);
    check(JSON.stringify(got) === JSON.stringify([first, ...missed, after]), `each event once, in order: ${JSON.stringify(got)}`);
    const end = await seen(page);
    check(new Set(end.ids).size === end.ids.length, `an id delivered twice: ${JSON.stringify(end.ids)}`);
    check(!end.offline && end.reasons.length === 0, `not recovered: ${JSON.stringify(end)}`);
    // The goal: reconnect within 1 s of `online` (the source polls navigator.onLine every 250 ms).
    check(recovered < 1_000, `the events published while offline arrived ${recovered} ms after the browser was back online`);
    log(`${transport}: offline 2.5 s with 1 retry allowed: not closed, 1 offline error, no attempt; back online → the 2 missed events in ${recovered} ms`);
  } finally {
    await context.close();
  }
}

async function main() {
  requireFile("www/pkg/full/typed_eventsource.js", "run `npm run build:pkg`");
  const server = await startServer();
  const proxy = await startProxy(server.listen);
  const browser = await launchBrowser();
  const failures = [];
  try {
    for (const transport of ["eventsource", "fetch"]) {
      const name = `offline (CDP emulation) while the stream is cut, ${transport}: no attempt burned; back online it resumes within 1 s with what was published`;
      await runCase(name, failures, (errors) => offlineCase({ server, proxy, browser, errors }, transport));
    }
  } finally {
    await browser.close();
    proxy.stop();
    await server.stop();
  }
  if (failures.length) {
    console.error(`\n${failures.length} liveness test(s) failed:\n- ${failures.join("\n- ")}`);
    process.exit(1);
  }
  console.log("all liveness tests passed");
}

main().catch((e) => {
  console.error(e instanceof Failure ? e.message : e);
  process.exit(1);
});
