// A peer for comparison: Socket.IO on Node.js (WebSocket transport only). Every client joins one room;
// POST /publish?rounds=R&size=S emits R binary messages of S bytes to the room.
// Run with node: node bench/lib/socketio-server.mjs <port>
import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2]);
const http = createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  if (url.pathname === "/healthz") return res.end("ok");
  if (url.pathname === "/publish") {
    const rounds = Number(url.searchParams.get("rounds") ?? 1);
    const frame = Buffer.alloc(Number(url.searchParams.get("size") ?? 300), 120);
    let i = 0;
    const step = () => {
      io.to("all").emit("m", frame);
      if (++i < rounds) setImmediate(step);
      else res.end("ok");
    };
    return step();
  }
});
const io = new Server(http, { transports: ["websocket"], perMessageDeflate: false, serveClient: false });
io.on("connection", (s) => s.join("all"));
http.listen(port, "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
