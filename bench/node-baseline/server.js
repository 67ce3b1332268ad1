// The seeds' hand-written Node SSE server, as a baseline: express, an array of open responses, res.write per event
// per client. `node server.js [--listen 127.0.0.1:0]` prints `listening on http://ADDR`.
import express from 'express';

const app = express();
app.use(express.json());

let clients = [];
let nextId = 0;

app.get('/subscribe', (req, res) => {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
  });
  res.write('retry: 3000\n\n');
  clients.push(res);
  req.on('close', () => {
    clients = clients.filter((c) => c !== res);
  });
});

app.post('/update', (req, res) => {
  const text = req.body && req.body.text;
  if (typeof text !== 'string' || text === '') {
    res.status(400).json({ error: 'text must be a non-empty string' });
    return;
  }
  nextId += 1;
  const message = { id: nextId, text, timestamp: Date.now() };
  const frame = `id: ${nextId}\ndata: ${JSON.stringify(message)}\n\n`;
  for (const client of clients) {
    client.write(frame);
  }
  res.json(message);
});

setInterval(() => {
  for (const client of clients) client.write(': keep-alive\n\n');
}, 15000);

const i = process.argv.indexOf('--listen');
const [host, port] = (i > 0 ? process.argv[i + 1] : '127.0.0.1:0').split(':');
const server = app.listen(Number(port), host, () => {
  const a = server.address();
  console.log(`listening on http://${a.address}:${a.port}`);
});
