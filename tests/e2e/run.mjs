// End-to-end tests: the Yew demo and the plain-JavaScript page in Debian's Chromium (playwright-core), against the
// real server started here on a free port (`--dev --www www`), plus the npm package check. Screenshots of each panel
// land in artifacts/e2e/. Needs `npm run build` and `cargo build -p typed-eventsource-server` first (scripts/test.sh).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { ARTIFACTS, Failure, check, launchBrowser, openPage, publish, requireFile, runCase, startServer, unique } from "./lib.mjs";
import { packCheck } from "./pack-check.mjs";

const TIMEOUT = 15_000;
const TERMINAL = "closed — terminal message, readyState 2";

const log = (line) => console.log(`  ${line}`);
const shot = (locator, name) => locator.screenshot({ path: join(ARTIFACTS, `${name}.png`) });

/** The status text of the badge inside `panel`, once it equals `text`. */
async function expectStatus(panel, text) {
  const status = panel.locator('[data-test="badge"] [data-test="status"]').first();
  try {
    await status.filter({ hasText: text }).waitFor({ timeout: TIMEOUT });
  } catch {
    throw new Failure(`expected the badge to read "${text}", it reads "${await status.textContent()}"`);
  }
}

/** Waits until `panel` lists an item whose text contains `needle`; returns that item. */
async function expectItem(panel, itemTest, needle, who) {
  const item = panel.locator(`[data-test="${itemTest}"]`, { hasText: needle });
  try {
    await item.first().waitFor({ timeout: TIMEOUT });
  } catch {
    throw new Failure(`${who} never showed "${needle}"`);
  }
  return item;
}

/** POST /update {text} on `base`; fails unless 200. */
const tests = {
  async "the demo page stays open while its server restarts and gets what was published meanwhile, once"({ browser, errors }) {
    // Its own server and data dir: this test restarts it.
    let server = await startServer();
    const pageErrors = [];
    try {
      const page = await openPage(browser, `${server.url}/`, pageErrors);
      const board = page.locator('[data-test="broadcast"]');
      await expectStatus(board, "open, readyState 1");
      const before = unique("before");
      await publish(server.url, before);
      await expectItem(board, "board-item", before, "the page");
      // Killed (no goodbye), restarted on the same port and data: the page's EventSource reconnects by itself
      // (retry: 3 s) with Last-Event-ID, and must get exactly what was published while it was away.
      await server.kill();
      await expectStatus(board, "connecting, readyState 0");
      server = await startServer({ listen: server.listen, dataDir: server.dataDir });
      const meanwhile = unique("meanwhile");
      await publish(server.url, meanwhile);
      await expectStatus(board, "open, readyState 1");
      await expectItem(board, "board-item", meanwhile, "the page after the restart");
      const after = unique("after");
      await publish(server.url, after);
      await expectItem(board, "board-item", after, "the page after the restart");
      for (const text of [before, meanwhile, after]) {
        const n = await board.locator('[data-test="board-item"]', { hasText: text }).count();
        check(n === 1, `the page shows "${text}" ${n} times`);
      }
      log("killed and restarted under an open page: it reconnected and showed the message sent meanwhile once");
      await page.context().close();
    } finally {
      await server.stop();
      // The browser logs its refused reconnect attempts while the server is down: expected here, nothing else is.
      errors.push(...pageErrors.filter((e) => !/ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET|ERR_INCOMPLETE_CHUNKED_ENCODING/.test(e)));
    }
  },

  async "after a restart with a wiped store the board says it missed events and reloads what the server has"({ browser, errors }) {
    // Its own server: restarted on the same port with a fresh data dir (a new epoch), the page's Last-Event-ID
    // cannot be honoured: the server sends a replay-gap, the board shows the banner and only what follows it.
    let server = await startServer();
    const pageErrors = [];
    try {
      const page = await openPage(browser, `${server.url}/`, pageErrors);
      const board = page.locator('[data-test="broadcast"]');
      await expectStatus(board, "open, readyState 1");
      const before = unique("before-wipe");
      await publish(server.url, before);
      await expectItem(board, "board-item", before, "the page");
      check(await board.locator('[data-test="gap"]').count() === 0, "a gap banner before any gap");
      await server.kill();
      await expectStatus(board, "connecting, readyState 0");
      server = await startServer({ listen: server.listen });
      const banner = board.locator('[data-test="gap"]', { hasText: "missed events — reloading" });
      try {
        await banner.waitFor({ timeout: TIMEOUT });
      } catch {
        throw new Failure("the board never said it missed events");
      }
      await expectStatus(board, "open, readyState 1");
      const after = unique("after-wipe");
      await publish(server.url, after);
      await expectItem(board, "board-item", after, "the page after the wipe");
      const stale = await board.locator('[data-test="board-item"]', { hasText: before }).count();
      check(stale === 0, `the board still shows "${before}" from before the gap`);
      await shot(board, "broadcast-gap");
      log("restarted with a wiped store: the board said it missed events and reloaded from the server's replay");
      await page.context().close();
    } finally {
      await server.stop();
      errors.push(...pageErrors.filter((e) => !/ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET|ERR_INCOMPLETE_CHUNKED_ENCODING/.test(e)));
    }
  },

  async "two pages see the same broadcast; a newline stays text"({ browser, base, errors }) {
    const [a, b] = [await openPage(browser, `${base}/`, errors), await openPage(browser, `${base}/`, errors)];
    const boards = [a, b].map((p) => p.locator('[data-test="broadcast"]'));
    for (const board of boards) await expectStatus(board, "open, readyState 1");
    const tag = unique("hello");
    // A text that would break a hand-written frame, or inject a fake event, if it were written as `data: ${text}`.
    const text = `line one ${tag}\nevent: ping\ndata: injected`;
    await boards[0].locator('[data-test="board-input"]').fill(text);
    await boards[0].locator('[data-test="board-send"]').click();
    for (const [i, board] of boards.entries()) {
      const item = await expectItem(board, "board-item", tag, `page ${i + 1}`);
      check((await item.count()) === 1, `page ${i + 1} shows the message ${await item.count()} times`);
      const shown = await item.locator(".text").innerText();
      check(shown === text, `page ${i + 1} shows ${JSON.stringify(shown)}, not ${JSON.stringify(text)}`);
      check(/^\d\d:\d\d:\d\d$/.test(await item.locator("time").innerText()), `page ${i + 1} shows no time`);
    }
    log("both pages show the message once, with its time, the newlines as text");
    await shot(boards[1], "broadcast");

    // Close, then reconnect: the badge follows, and a message sent meanwhile is replayed (Last-Event-ID).
    await boards[1].getByRole("button", { name: "Close" }).click();
    await expectStatus(boards[1], "closed — by the client, readyState 2");
    const missed = unique("missed");
    await boards[0].locator('[data-test="board-input"]').fill(missed);
    await boards[0].locator('[data-test="board-send"]').click();
    await expectItem(boards[0], "board-item", missed, "page 1");
    await boards[1].getByRole("button", { name: "Reconnect" }).click();
    await expectStatus(boards[1], "open, readyState 1");
    await expectItem(boards[1], "board-item", missed, "page 2 after reconnecting");
    log("close shows readyState 2 (client); reconnect resumes and replays the missed message");
    await a.context().close();
    await b.context().close();
  },

  async "per-user notifications reach only that user's tabs"({ browser, base, errors }) {
    const pages = [];
    for (const me of ["alice", "bob", "bob"]) {
      const page = await openPage(browser, `${base}/`, errors);
      const panel = page.locator('[data-test="notifications"]');
      await panel.locator('[data-test="me"]').selectOption(me);
      await expectStatus(panel, "open, readyState 1");
      await panel.locator('[data-test="badge"] .label', { hasText: `/sse/${me}` }).waitFor({ timeout: TIMEOUT });
      pages.push({ me, page, panel });
    }
    const [alice, bob1, bob2] = pages;
    const send = async (from, to, text) => {
      await from.panel.locator('[data-test="to"]').selectOption(to);
      await from.panel.locator('[data-test="notify-text"]').fill(text);
      await from.panel.locator('[data-test="notify-send"]').click();
    };
    const forBob = unique("card assigned to you");
    await send(alice, "bob", forBob);
    await expectItem(bob1.panel, "inbox-item", forBob, "bob's first tab");
    await expectItem(bob2.panel, "inbox-item", forBob, "bob's second tab");
    const forAlice = unique("card assigned to you");
    await send(bob1, "alice", forAlice);
    await expectItem(alice.panel, "inbox-item", forAlice, "alice's tab");
    // Each user's stream keeps order: a leak would arrive before a later note to the same user. forBob was sent
    // before forAlice (alice has it); this one follows forAlice on bob's stream.
    const lastForBob = unique("last for bob");
    await send(alice, "bob", lastForBob);
    await expectItem(bob1.panel, "inbox-item", lastForBob, "bob's first tab");
    await expectItem(bob2.panel, "inbox-item", lastForBob, "bob's second tab");
    const leaks = [
      [alice, forBob],
      [bob1, forAlice],
      [bob2, forAlice],
    ];
    for (const [who, text] of leaks) {
      const n = await who.panel.locator('[data-test="inbox-item"]', { hasText: text }).count();
      check(n === 0, `${who.me}'s tab received a notification meant for someone else: ${text}`);
    }
    log("bob's two tabs got bob's notification, alice's tab got alice's, nobody got the other's");
    await shot(bob2.panel, "notifications");
    for (const p of pages) await p.page.context().close();
  },

  async "the job panel ends closed on its terminal message, readyState 2"({ browser, base, errors }) {
    const page = await openPage(browser, `${base}/`, errors);
    const panel = page.locator('[data-test="job"]');
    await panel.locator('input[type="number"]').fill("6");
    await panel.locator('[data-test="job-start"]').click();
    await expectStatus(panel, "open, readyState 1");
    await expectStatus(panel, TERMINAL);
    const badge = panel.locator('[data-test="badge"]');
    check((await badge.getAttribute("data-ready-state")) === "2", "the job badge's readyState is not 2");
    check((await badge.innerText()).includes("terminal message `ping`: finished"), "the close reason names ping/finished");
    const progress = panel.locator('[data-test="job-progress"]');
    check((await progress.getAttribute("data-percent")) === "100", "the progress bar did not reach 100%");
    check((await panel.locator('[data-test="job-status"]').innerText()) === "DONE", "the last status is not DONE");
    log("progress reached 100% (DONE); the stream closed itself: " + TERMINAL);
    await shot(panel, "job");
    await page.screenshot({ path: join(ARTIFACTS, "demo.png"), fullPage: true });
    await page.context().close();
  },

  async "the plain-JavaScript page receives events and shows the close reason"({ browser, base, errors }) {
    const page = await openPage(browser, `${base}/js.html`, errors);
    const logBox = page.locator('[data-test="js-log"]');
    await logBox.filter({ hasText: "TypedEventSource is a function" }).waitFor({ timeout: TIMEOUT });
    await page.locator('[data-test="js-start"]').click();
    try {
      await page.locator("#js-status", { hasText: TERMINAL }).waitFor({ timeout: TIMEOUT });
    } catch {
      throw new Failure(`the JS page's status reads "${await page.locator("#js-status").textContent()}"`);
    }
    const reason = await page.locator("#js-reason").innerText();
    check(reason === "terminal message ping: finished", `the JS page's close reason reads "${reason}"`);
    const text = await logBox.innerText();
    for (const needle of ["open", "READY", "DONE", "ping: step 8/8", "closed (terminal), readyState 2"]) {
      check(text.includes(needle), `the JS page's log lacks "${needle}":\n${text}`);
    }
    log("new TypedEventSource(...) from /pkg: JSON progress, text pings, onClose terminal, readyState 2");
    await shot(page.locator('[data-test="js-job"]'), "js-page");
    await page.context().close();
  },
};

async function main() {
  mkdirSync(ARTIFACTS, { recursive: true });
  requireFile("www/demo/typed_eventsource_demo.js", "run `npm run build`");
  requireFile("www/pkg/typed_eventsource.js", "run `npm run build`");
  const failures = [];
  const server = await startServer();
  console.log(`server at ${server.url}`);
  const browser = await launchBrowser();
  try {
    for (const [name, test] of Object.entries(tests)) {
      await runCase(name, failures, (errors) => test({ browser, base: server.url, errors }));
    }
  } finally {
    await browser.close();
    await server.stop();
  }
  await runCase("the npm package: pack, install offline, import, type-check", failures, () => packCheck(log));
  console.log(`screenshots: ${ARTIFACTS}`);
  if (failures.length) {
    console.error(`\n${failures.length} end-to-end test(s) failed:\n- ${failures.join("\n- ")}`);
    process.exit(1);
  }
  console.log("all end-to-end tests passed");
}

main().catch((e) => {
  console.error(e instanceof Failure ? e.message : e);
  process.exit(1);
});
