// A load-generator process for idle connections at scale, on Node.js and `ws` because a Bun WebSocket client
// cannot choose its source address: each process binds its own 127.0.0.x, so past ~28k connections the
// loopback's ephemeral ports (per source and destination pair) do not run out. Driven over IPC (JSON) by idle.ts.
// Run with node: node bench/lib/idle-client.mjs
import WebSocket from "ws";

const clients = [];
const now = () => performance.timeOrigin + performance.now();

async function connect({ urls, localAddress, concurrency }) {
  let i = 0, failed = 0;
  const handshakes = [];
  const t0 = now();
  const one = () => new Promise((resolve) => {
    const url = urls[i++];
    const start = now();
    const ws = new WebSocket(url, { localAddress, perMessageDeflate: false });
    ws.on("open", () => {
      handshakes.push(now() - start);
      clients.push(ws);
      resolve();
    });
    ws.on("error", () => {
      failed++;
      resolve();
    });
  });
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (i < urls.length) await one();
  }));
  return { connected: urls.length - failed, failed, ms: now() - t0, handshakes };
}

process.on("message", async (m) => {
  let out;
  if (m.cmd === "connect") out = await connect(m);
  else if (m.cmd === "close") {
    for (const ws of clients) ws.terminate();
    out = { closed: clients.length };
    setTimeout(() => process.exit(0), 50);
  }
  process.send({ id: m.id, out });
});
process.send({ ready: true });
