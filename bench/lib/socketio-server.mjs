// A peer for comparison: Socket.IO on Node.js (WebSocket transport only). Every client joins one room;
// POST /publish?rounds=R&size=S emits R binary messages of S bytes to the room.
// Run with node: node bench/lib/socketio-server.mjs <port>
import { Server } from "socket.io";
import { controlServer } from "./peer-http.mjs";

const http = controlServer((frame) => io.to("all").emit("m", frame));
const io = new Server(http, { transports: ["websocket"], perMessageDeflate: false, serveClient: false });
io.on("connection", (s) => s.join("all"));
http.listen(Number(process.argv[2]), "127.0.0.1");
process.on("SIGTERM", () => process.exit(0));
