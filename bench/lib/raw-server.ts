// The ceiling: a bare Bun.serve WebSocket server with no gateway logic. Every client subscribes to one topic;
// POST /publish?rounds=R&size=S publishes R frames of S bytes, one per event-loop turn (as separate pushes arrive).
// A client that connects with imgate's query (sendID=…) is a chat client: its 1003 frames are relayed from
// memory (chat-relay.ts), the floor under imgate's chat path.
import { relay, userOf } from "./chat-relay.js";
import type { ServerWebSocket } from "bun";

const port = Number(process.argv[2]);
const users = new Map<string, ServerWebSocket<string>>();
const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
  // RAW_REUSE_PORT=1: one of several processes on the same port (the kernel spreads connections).
  reusePort: process.env.RAW_REUSE_PORT === "1",
  fetch(req, srv) {
    const url = new URL(req.url);
    if (url.pathname === "/publish") {
      const rounds = Number(url.searchParams.get("rounds") ?? 1);
      const frame = new Uint8Array(Number(url.searchParams.get("size") ?? 300)).fill(120);
      return new Promise<Response>((resolve) => {
        let i = 0;
        const step = () => {
          srv.publish("all", frame);
          if (++i < rounds) setImmediate(step);
          else resolve(new Response("ok"));
        };
        step();
      });
    }
    if (url.pathname === "/healthz") return new Response("ok");
    return srv.upgrade(req, { data: userOf(req.url) }) ? undefined : new Response("no", { status: 400 });
  },
  websocket: {
    open(ws: ServerWebSocket<string>) {
      if (ws.data) users.set(ws.data, ws);
      else ws.subscribe("all");
    },
    message(ws: ServerWebSocket<string>, data) {
      const r = relay(data as Uint8Array);
      ws.send(r.reply);
      users.get(r.to)?.send(r.push);
      ws.send(r.push);
    },
    close(ws: ServerWebSocket<string>) {
      if (users.get(ws.data) === ws) users.delete(ws.data);
    },
    perMessageDeflate: false,
    sendPings: false,
  },
});
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
