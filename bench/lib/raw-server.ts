// The ceiling: a bare Bun.serve WebSocket server with no gateway logic. Every client subscribes to one topic;
// POST /publish?rounds=R&size=S publishes R frames of S bytes, one per event-loop turn (as separate pushes arrive).
const port = Number(process.argv[2]);
const server = Bun.serve({
  hostname: "127.0.0.1",
  port,
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
    return srv.upgrade(req) ? undefined : new Response("no", { status: 400 });
  },
  websocket: {
    open(ws) {
      ws.subscribe("all");
    },
    message() {},
    perMessageDeflate: false,
    sendPings: false,
  },
});
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
