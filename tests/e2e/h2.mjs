// HTTP/2 in Chromium: 12 EventSources to one https origin (the server with `--dev-tls`, a certificate generated at
// start; Chromium with --ignore-certificate-errors) are all open at once and all receive, over one connection.
// Control: the same page over plain HTTP/1.1 cannot open them all (Chromium's 6 connections per origin).
// Needs `cargo build -p typed-eventsource-server` (scripts/test.sh).
import { Failure, check, launchBrowser, runCase, startServer, unique } from "./lib.mjs";

const STREAMS = 12;
const TIMEOUT = 15_000;

const log = (line) => console.log(`  ${line}`);

/** Opens `n` EventSources to `/subscribe` in `page`; their state lives in `window.streams`. */
async function openStreams(page, n) {
  await page.evaluate((n) => {
    window.streams = Array.from({ length: n }, () => {
      const s = { open: false, texts: [], source: new EventSource("/subscribe") };
      s.source.onopen = () => { s.open = true; };
      s.source.onmessage = (e) => s.texts.push(JSON.parse(e.data).text);
      return s;
    });
  }, n);
}

const openCount = (page) => page.evaluate(() => window.streams.filter((s) => s.open).length);

/** The value of one metric line, fetched by the page itself (so over the page's own connection). */
async function metrics(page) {
  return page.evaluate(async () => {
    const res = await fetch("/metrics");
    const text = await res.text();
    const entry = performance.getEntriesByName(res.url).pop();
    return { text, protocol: entry ? entry.nextHopProtocol : null };
  });
}

function metric(text, name) {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  check(line !== undefined, `no metric ${name} in:\n${text}`);
  return Number(line.slice(name.length + 1));
}

const tests = {
  async "12 EventSources to one https origin are open at once, all receive, over one HTTP/2 connection"({ browser }) {
    const server = await startServer({ extraArgs: ["--dev-tls"] });
    try {
      check(server.url.startsWith("https://"), `the server is not on https: ${server.url}`);
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${server.url}/healthz`);
      await openStreams(page, STREAMS);
      try {
        await page.waitForFunction((n) => window.streams.every((s) => s.open), STREAMS, { timeout: TIMEOUT });
      } catch {
        throw new Failure(`only ${await openCount(page)} of ${STREAMS} streams opened`);
      }
      log(`${STREAMS} EventSources open at once`);
      const tag = unique("h2");
      const status = await page.evaluate(async (text) => {
        const res = await fetch("/update", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ text }),
        });
        return res.status;
      }, tag);
      check(status === 200, `POST /update answered ${status}`);
      try {
        await page.waitForFunction((tag) => window.streams.every((s) => s.texts.includes(tag)), tag, { timeout: TIMEOUT });
      } catch {
        const got = await page.evaluate((tag) => window.streams.filter((s) => s.texts.includes(tag)).length, tag);
        throw new Failure(`only ${got} of ${STREAMS} streams received the message`);
      }
      log(`all ${STREAMS} received the message`);
      const { text, protocol } = await metrics(page);
      check(protocol === "h2", `the page's requests used ${protocol}, not h2`);
      const streams = metric(text, 'sse_open_streams{kind="broadcast"}');
      const h2 = metric(text, 'sse_open_connections{protocol="h2"}');
      const h1 = metric(text, 'sse_open_connections{protocol="http/1.1"}');
      check(streams === STREAMS, `the server counts ${streams} open streams, not ${STREAMS}`);
      check(h2 === 1 && h1 === 0, `the server sees ${h2} HTTP/2 and ${h1} HTTP/1.1 connections, not 1 and 0`);
      log(`the server sees ${streams} streams on ${h2} HTTP/2 connection (and ${h1} HTTP/1.1)`);
      await context.close();
    } finally {
      await server.stop();
    }
  },

  async "control: over plain HTTP/1.1 the same page cannot open them all"({ browser }) {
    const server = await startServer();
    try {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${server.url}/healthz`);
      await openStreams(page, STREAMS);
      // Chromium's limit is 6 connections per origin: wait until 6 streams are open (so a slow machine cannot make
      // this pass), then give a 7th time to (not) follow.
      await page.waitForFunction(() => window.streams.filter((s) => s.open).length >= 6, null, { timeout: TIMEOUT });
      await page.waitForTimeout(1500);
      const open = await openCount(page);
      check(open === 6, `${open} of ${STREAMS} opened over HTTP/1.1, not Chromium's 6: this test could not tell HTTP/2 apart`);
      log(`over HTTP/1.1 only ${open} of ${STREAMS} opened (one connection each)`);
      await context.close();
    } finally {
      await server.stop();
    }
  },
};

async function main() {
  const failures = [];
  const browser = await launchBrowser(["--ignore-certificate-errors"]);
  try {
    for (const [name, test] of Object.entries(tests)) {
      await runCase(name, failures, () => test({ browser }));
    }
  } finally {
    await browser.close();
  }
  if (failures.length) {
    console.error(`\n${failures.length} HTTP/2 end-to-end test(s) failed:\n- ${failures.join("\n- ")}`);
    process.exit(1);
  }
  console.log("all HTTP/2 end-to-end tests passed");
}

main().catch((e) => {
  console.error(e instanceof Failure ? e.message : e);
  process.exit(1);
});
