// The HTTP control endpoint both Node.js peers share: /healthz, and POST /publish?rounds=R&size=S calling
// `broadcast(frame)` R times, one round per event-loop turn (as separate pushes arrive).
import { createServer } from "node:http";

export function controlServer(broadcast) {
  return createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname === "/healthz") return res.end("ok");
    if (url.pathname === "/publish") {
      const rounds = Number(url.searchParams.get("rounds") ?? 1);
      const frame = Buffer.alloc(Number(url.searchParams.get("size") ?? 300), 120);
      let i = 0;
      const step = () => {
        broadcast(frame);
        if (++i < rounds) setImmediate(step);
        else res.end("ok");
      };
      return step();
    }
    res.statusCode = 404;
    res.end();
  });
}
