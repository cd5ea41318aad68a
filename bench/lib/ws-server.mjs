// A peer for comparison: a plain Node.js server with the `ws` package doing the same job as the bare Bun ceiling
// (every client joins one group; POST /publish?rounds=R&size=S sends R frames of S bytes to every client).
// Run with node: node bench/lib/ws-server.mjs <port>
import { createServer } from "node:http";
import { WebSocketServer } from "ws";

const port = Number(process.argv[2]);
const clients = new Set();
const server = createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  if (url.pathname === "/healthz") return res.end("ok");
  if (url.pathname === "/publish") {
    const rounds = Number(url.searchParams.get("rounds") ?? 1);
    const frame = Buffer.alloc(Number(url.searchParams.get("size") ?? 300), 120);
    let i = 0;
    const step = () => {
      for (const ws of clients) ws.send(frame, { binary: true });
      if (++i < rounds) setImmediate(step);
      else res.end("ok");
    };
    return step();
  }
  res.statusCode = 404;
  res.end();
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on("connection", (ws) => {
  clients.add(ws);
  ws.on("close", () => clients.delete(ws));
});
server.listen(port, "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
