// Scenario "chat": M pairs exchange 1:1 messages. Stage 1 holds a fixed rate and reports send→push latency
// (with a latency-over-time series); stage 2 pushes as hard as the clients can (closed loop) and reports
// sustained messages/s. The same clients and frames run against imgate (stored in SQLite) and, in the same
// run, against the peers relaying from memory: bare Bun.serve (the floor under imgate), node + ws, Socket.IO.
import { latencySeries, percentile, progress, round, startImgate, startWorker, users, workerPairs, writeResult, type Worker } from "./lib/harness.js";
import { startNodeWs, startRawBun, startSocketIO, type PeerServer } from "./lib/peers.js";

interface Target {
  url: string;
  socketio?: boolean;
  rssKB(): number;
  stop(): Promise<void>;
}

export async function chat(quick: boolean) {
  const pairs = quick ? 100 : 500;
  const workers = 2;
  const stageMs = quick ? 3000 : 10_000;
  const all = users("c", pairs * 2);
  const per = Math.ceil(all.length / workers);
  const pairList = (i: number) => workerPairs(all, workers, i);

  const run = async (name: string, target: Target) => {
    const ws: Worker[] = await Promise.all(Array.from({ length: workers }, startWorker));
    progress(`chat/${name}: connecting ${all.length} clients`);
    await Promise.all(ws.map((w, i) => w.call({ cmd: "connect", url: target.url, users: all.slice(i * per, (i + 1) * per), concurrency: 50, chat: true, socketio: target.socketio })));
    const summarize = async (rate: number | "closed", elapsedMs: number) => {
      const counts = await Promise.all(ws.map((w) => w.call({ cmd: "count" })));
      const lat = counts.flatMap((c) => c.latencies as number[]);
      const reply = counts.flatMap((c) => c.replyLatencies as number[]);
      return {
        requestedPerSec: rate,
        sent: counts.reduce((a, c) => a + c.sent, 0),
        delivered: lat.length,
        errors: counts.reduce((a, c) => a + c.errors, 0),
        messagesPerSec: round(lat.length / (elapsedMs / 1000), 0),
        pushLatencyMs: { p50: round(percentile(lat, 50)), p99: round(percentile(lat, 99)), p999: round(percentile(lat, 99.9)) },
        replyLatencyMs: { p50: round(percentile(reply, 50)), p99: round(percentile(reply, 99)) },
        series: latencySeries(counts.flatMap((c) => c.latencySentAt as number[]), lat, 500),
      };
    };
    const openLoop = async (stage: string, rate: number) => {
      progress(`chat/${name}: ${stage}, ${rate} msg/s for ${stageMs} ms`);
      await Promise.all(ws.map((w, i) => w.call({ cmd: "chat", pairs: pairList(i), ratePerSec: rate / workers, durationMs: stageMs })));
      return summarize(rate, stageMs);
    };
    const closedLoop = async (window: number) => {
      progress(`chat/${name}: max, closed loop with ${window} in flight per sender for ${stageMs} ms`);
      await Promise.all(ws.map((w, i) => w.call({ cmd: "chatClosed", pairs: pairList(i), window, durationMs: stageMs })));
      const { series: _, ...rest } = await summarize("closed", stageMs);
      return { window, ...rest };
    };
    // JIT warm-up: a young process spends much of its CPU compiling; measure warm servers, as production runs.
    await openLoop("warm-up", 2000);
    const steady = await openLoop("steady", 2000);
    const max = await closedLoop(2);
    const rssMB = round(target.rssKB() / 1024, 1);
    await Promise.all(ws.map((w) => w.call({ cmd: "close" })));
    await target.stop();
    return { steady, max, serverRssMB: rssMB };
  };
  const peer = (p: PeerServer, socketio = false): Target => ({ url: `ws://127.0.0.1:${p.port}/`, socketio, rssKB: p.rssKB, stop: p.stop });

  // BENCH_ONLY=imgate skips the peers (for profiling one server).
  const only = process.env.BENCH_ONLY;
  const skip = { max: { messagesPerSec: NaN } } as any;
  const rawBun = only ? skip : await run("raw-bun", peer(await startRawBun()));
  const nodeWs = only ? skip : await run("node-ws", peer(await startNodeWs()));
  const socketIO = only ? skip : await run("socket.io", peer(await startSocketIO(), true));
  const server = await startImgate();
  const imgate = await run("imgate", { url: `ws://127.0.0.1:${server.ws}/`, rssKB: server.rssKB, stop: server.stop });
  const ratio = (x: { max: { messagesPerSec: number } }) => round(imgate.max.messagesPerSec / x.max.messagesPerSec, 3);
  writeResult("chat", {
    quick, pairs, clients: all.length, imgate, rawBun, nodeWs, socketIO,
    maxRatioToRawBun: ratio(rawBun), maxRatioToNodeWs: ratio(nodeWs), maxRatioToSocketIO: ratio(socketIO),
  });
}
