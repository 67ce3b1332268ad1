// An SSE server nobody on this project wrote: a few lines of Node around the npm package better-sse, for the browser
// tests in tests/foreign.rs. `node tests/foreign/server.mjs PORT` (scripts/test.sh starts it on a free port).
//
// GET /feed: `retry: 100`; without a Last-Event-ID header, `tick` events {"n": 1..3} with ids 1..3, then the server
// drops the connection; after id N, ticks N+1..6, then a `status` event {"state": "done"} with id 7, then it stays
// open. better-sse reads the Last-Event-ID header itself (`session.lastId`). GET /health: 200.
import http from "node:http";
import { createSession } from "better-sse";

const port = Number(process.argv[2] ?? 0);

const server = http.createServer(async (req, res) => {
  // The test page is on another origin; fetch's Last-Event-ID header needs a preflight.
  res.setHeader("Access-Control-Allow-Origin", "*");
  res.setHeader("Access-Control-Allow-Headers", "last-event-id, authorization");
  if (req.method === "OPTIONS") {
    res.writeHead(204).end();
    return;
  }
  const url = new URL(req.url ?? "/", "http://localhost");
  if (url.pathname === "/health") {
    res.writeHead(200).end("ok");
    return;
  }
  if (url.pathname !== "/feed") {
    res.writeHead(404).end();
    return;
  }
  const session = await createSession(req, res, { retry: 100, keepAlive: null });
  const after = Number.parseInt(session.lastId, 10) || 0;
  if (after === 0) {
    for (let n = 1; n <= 3; n++) session.push({ n }, "tick", String(n));
    setTimeout(() => res.end(), 50); // the server drops the connection
    return;
  }
  for (let n = after + 1; n <= 6; n++) session.push({ n }, "tick", String(n));
  session.push({ state: "done" }, "status", "7");
});

server.listen(port, "127.0.0.1", () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
