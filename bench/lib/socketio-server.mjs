// A peer for comparison: Socket.IO on Node.js (WebSocket transport only). Every client joins one room;
// POST /publish?rounds=R&size=S emits R binary messages of S bytes to the room. A chat client names its user
// in the handshake auth ({userID}) and joins that user's room; its "m" events are relayed by the bundled
// chat-relay to the rooms of both users. With REDIS_URL the Redis adapter joins several processes.
// Run with node: RELAY_MODULE=<bundle> [REDIS_URL=redis://…] node bench/lib/socketio-server.mjs <port>
import { Server } from "socket.io";
import { controlServer } from "./peer-http.mjs";

const { relay } = await import(process.env.RELAY_MODULE);
const http = controlServer((frame) => io.to("all").emit("m", frame));
const io = new Server(http, { transports: ["websocket"], perMessageDeflate: false, serveClient: false });
if (process.env.REDIS_URL) {
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const { Redis } = await import("ioredis");
  const pub = new Redis(process.env.REDIS_URL);
  io.adapter(createAdapter(pub, pub.duplicate()));
}
io.on("connection", (s) => {
  const user = s.handshake.auth?.userID;
  if (!user) return s.join("all");
  s.join(user);
  s.on("m", (data) => {
    const r = relay(data);
    s.emit("m", r.reply);
    io.to(r.to).to(r.from).emit("m", r.push);
  });
});
http.listen(Number(process.argv[2]), "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
