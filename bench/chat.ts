// Scenario "chat": M pairs exchange 1:1 messages. Stage 1 holds a fixed rate and reports send→push latency
// (with a latency-over-time series) and the server's CPU per message by thread; stage 2 pushes as hard as the
// clients can (closed loop) and reports sustained messages/s; stage 3 ramps an open loop (fixed schedule, ×1.5 a
// step) to the highest rate with p99 under 50 ms. The same clients and frames run against imgate (stored in SQLite) and, in the same
// run, against the peers relaying from memory: bare Bun.serve (the floor under imgate), node + ws, Socket.IO.
import { cpuPerEvent, latencySeries, percentile, progress, round, threadCpuMs, startImgate, startWorker, users, workerPairs, writeResult, type Worker } from "./lib/harness.js";
import { startNodeWs, startRawBun, startSocketIO, type PeerServer } from "./lib/peers.js";

interface Target {
  url: string;
  socketio?: boolean;
  /** The server process (its threads' CPU is read from /proc). */
  pid: number;
  rssKB(): number;
  stop(): Promise<void>;
}

export async function chat(quick: boolean) {
  const pairs = quick ? 100 : 500;
  const workers = 2;
  const stageMs = quick ? 3000 : 10_000;
  const rampMs = quick ? 2000 : 5000;
  const all = users("c", pairs * 2);
  const per = Math.ceil(all.length / workers);
  const pairList = (i: number) => workerPairs(all, workers, i);

  const run = async (name: string, target: Target, withRamp = true) => {
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
    const openLoop = async (stage: string, rate: number, ms = stageMs) => {
      progress(`chat/${name}: ${stage}, ${rate} msg/s for ${ms} ms`);
      const cpu0 = threadCpuMs(target.pid);
      await Promise.all(ws.map((w, i) => w.call({ cmd: "chat", pairs: pairList(i), ratePerSec: rate / workers, durationMs: ms })));
      const s = await summarize(rate, ms);
      return { ...s, serverCpuPerMessage: cpuPerEvent(cpu0, threadCpuMs(target.pid), s.delivered) };
    };
    /**
     * Open-loop ramp: messages leave on a fixed schedule whatever the replies do, the rate ×1.5 a step from 2,000;
     * the highest rate whose p99 stays under 50 ms with (nearly) everything delivered is the ceiling.
     */
    const ramp = async () => {
      const steps: { rate: number; p99: number; delivered: number; sent: number; cpuUs: number }[] = [];
      let ceiling = 0;
      for (let rate = 2000; rate <= 120_000; rate = Math.round(rate * 1.5)) {
        const s = await openLoop("ramp", rate, rampMs);
        steps.push({ rate, p99: s.pushLatencyMs.p99, delivered: s.delivered, sent: s.sent, cpuUs: s.serverCpuPerMessage.totalUs });
        const ok = s.pushLatencyMs.p99 < 50 && s.delivered >= 0.95 * (rate * rampMs / 1000);
        if (!ok) break;
        ceiling = rate;
      }
      return { ceilingPerSec: ceiling, steps };
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
    const openRamp = withRamp ? await ramp() : undefined;
    const rssMB = round(target.rssKB() / 1024, 1);
    await Promise.all(ws.map((w) => w.call({ cmd: "close" })));
    await target.stop();
    return { steady, max, ramp: openRamp, serverRssMB: rssMB };
  };
  const peer = (p: PeerServer, socketio = false): Target => ({ url: `ws://127.0.0.1:${p.port}/`, socketio, pid: p.pid, rssKB: p.rssKB, stop: p.stop });

  // BENCH_ONLY=imgate skips the peers (for profiling one server).
  const only = process.env.BENCH_ONLY;
  const skip = { max: { messagesPerSec: NaN } } as any;
  const rawBun = only ? skip : await run("raw-bun", peer(await startRawBun()));
  const nodeWs = only ? skip : await run("node-ws", peer(await startNodeWs()));
  // Socket.IO has its closed loop beside the others; the open-loop ramp compares imgate with the bare relays.
  const socketIO = only ? skip : await run("socket.io", peer(await startSocketIO(), true), false);
  const server = await startImgate();
  const imgate = await run("imgate", { url: `ws://127.0.0.1:${server.ws}/`, pid: server.pid, rssKB: server.rssKB, stop: server.stop });
  const ratio = (x: { max: { messagesPerSec: number } }) => round(imgate.max.messagesPerSec / x.max.messagesPerSec, 3);
  writeResult("chat", {
    quick, pairs, clients: all.length, imgate, rawBun, nodeWs, socketIO,
    maxRatioToRawBun: ratio(rawBun), maxRatioToNodeWs: ratio(nodeWs), maxRatioToSocketIO: ratio(socketIO),
    openCeilingRatioToRawBun: only ? NaN : round(imgate.ramp!.ceilingPerSec / rawBun.ramp.ceilingPerSec, 3),
    openCeilingRatioToNodeWs: only ? NaN : round(imgate.ramp!.ceilingPerSec / nodeWs.ramp.ceilingPerSec, 3),
    steadyCpuRatioToRawBun: only ? NaN : round(imgate.steady.serverCpuPerMessage.totalUs / rawBun.steady.serverCpuPerMessage.totalUs, 2),
  });
}
