// A peer for comparison: a plain Node.js server with the `ws` package doing the same job as the bare Bun ceiling
// (every client joins one group; POST /publish?rounds=R&size=S sends R frames of S bytes to every client).
// Run with node: node bench/lib/ws-server.mjs <port>
import { WebSocketServer } from "ws";
import { controlServer } from "./peer-http.mjs";

const clients = new Set();
const server = controlServer((frame) => {
  for (const ws of clients) ws.send(frame, { binary: true });
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on("connection", (ws) => {
  clients.add(ws);
  ws.on("close", () => clients.delete(ws));
});
server.listen(Number(process.argv[2]), "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
