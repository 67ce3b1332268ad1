// A TCP proxy that can make the connections it holds go silent without closing them — what a laptop's sleep, a NAT
// or load balancer that forgot a connection, or a Wi-Fi/cellular switch does to a long-lived stream. For the liveness
// tests (tests/liveness.rs) and bench/liveness.
//
//   node tests/support/blackhole.mjs TARGET_HOST:PORT
//
// prints `listening on http://127.0.0.1:P control http://127.0.0.1:C` (both ports free ones). Every connection to P
// is forwarded to the target. The control server (CORS: any origin, so a test page can call it):
//   POST /silence  every connection open now stops forwarding, both ways, and stays open (what arrives is dropped;
//                  the target closing its side is not passed on); connections made later are forwarded as usual.
//                  Answers {"silenced": n}.
//   POST /drop     closes every connection open now (both sides): a path that broke outright. {"dropped": n}.
//   GET  /stats    {"open": n, "silent": n, "accepted": n} (accepted: connections since start).
// A connection closes when the client closes it (or, while not silent, when the target does).
import http from "node:http";
import net from "node:net";

const target = process.argv[2];
const cut = target ? target.lastIndexOf(":") : -1;
if (cut < 0) {
  console.error("usage: node tests/support/blackhole.mjs TARGET_HOST:PORT");
  process.exit(2);
}
const targetHost = target.slice(0, cut);
const targetPort = Number(target.slice(cut + 1));

const connections = new Set();
let accepted = 0;

const proxy = net.createServer((client) => {
  accepted += 1;
  const upstream = net.connect(targetPort, targetHost);
  const conn = { client, upstream, silent: false };
  connections.add(conn);
  client.on("data", (chunk) => { if (!conn.silent) upstream.write(chunk); });
  upstream.on("data", (chunk) => { if (!conn.silent) client.write(chunk); });
  const close = () => {
    connections.delete(conn);
    client.destroy();
    upstream.destroy();
  };
  client.on("close", close);
  client.on("error", close);
  // A silent connection hides the target's end from the client, as a dead path would.
  upstream.on("close", () => { if (!conn.silent) close(); });
  upstream.on("error", () => { if (!conn.silent) close(); });
});

const control = http.createServer((req, res) => {
  res.setHeader("Access-Control-Allow-Origin", "*");
  res.setHeader("Content-Type", "application/json");
  if (req.method === "OPTIONS") {
    res.writeHead(204).end();
  } else if (req.method === "POST" && req.url === "/silence") {
    let silenced = 0;
    for (const conn of connections) {
      if (!conn.silent) {
        conn.silent = true;
        silenced += 1;
      }
    }
    res.end(JSON.stringify({ silenced }));
  } else if (req.method === "POST" && req.url === "/drop") {
    const dropped = connections.size;
    for (const conn of [...connections]) {
      connections.delete(conn);
      conn.client.destroy();
      conn.upstream.destroy();
    }
    res.end(JSON.stringify({ dropped }));
  } else if (req.method === "GET" && req.url === "/stats") {
    const silent = [...connections].filter((c) => c.silent).length;
    res.end(JSON.stringify({ open: connections.size, silent, accepted }));
  } else {
    res.writeHead(404).end(JSON.stringify({ error: "POST /silence, POST /drop or GET /stats" }));
  }
});

proxy.listen(0, "127.0.0.1", () => {
  control.listen(0, "127.0.0.1", () => {
    console.log(`listening on http://127.0.0.1:${proxy.address().port} control http://127.0.0.1:${control.address().port}`);
  });
});
