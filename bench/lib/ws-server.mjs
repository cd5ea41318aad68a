// A peer for comparison: a plain Node.js server with the `ws` package doing the same job as the bare Bun ceiling
// (every client joins one group; POST /publish?rounds=R&size=S sends R frames of S bytes to every client).
// Chat clients (imgate's query, sendID=…) get their 1003 frames relayed by the bundled chat-relay.
// Run with node: RELAY_MODULE=<bundle> node bench/lib/ws-server.mjs <port>
import { WebSocketServer } from "ws";
import { controlServer } from "./peer-http.mjs";

const { relay, userOf } = await import(process.env.RELAY_MODULE);
const clients = new Set();
const users = new Map();
const server = controlServer((frame) => {
  for (const ws of clients) ws.send(frame, { binary: true });
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on("connection", (ws, req) => {
  const user = userOf(req.url);
  if (!user) {
    clients.add(ws);
    ws.on("close", () => clients.delete(ws));
    return;
  }
  users.set(user, ws);
  ws.on("message", (data) => {
    const r = relay(data);
    ws.send(r.reply, { binary: true });
    users.get(r.to)?.send(r.push, { binary: true });
    ws.send(r.push, { binary: true });
  });
  ws.on("close", () => users.get(user) === ws && users.delete(user));
});
server.listen(Number(process.argv[2]), "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
