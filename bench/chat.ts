// Scenario "chat": M pairs exchange 1:1 messages through the embedded store. Stage 1 holds a fixed rate and
// reports send→push latency; stage 2 pushes as hard as the clients can and reports sustained messages/s.
import { machine, percentile, progress, round, startImgate, startWorker, users, writeResult } from "./lib/harness.js";

export async function chat(quick: boolean) {
  const pairs = quick ? 100 : 500;
  const workers = 2;
  const stageMs = quick ? 3000 : 10_000;
  const server = await startImgate();
  const ws = await Promise.all(Array.from({ length: workers }, startWorker));
  const all = users("c", pairs * 2);
  progress(`chat: connecting ${all.length} clients`);
  const per = Math.ceil(all.length / workers);
  await Promise.all(ws.map((w, i) => w.call({ cmd: "connect", url: `ws://127.0.0.1:${server.ws}/`, users: all.slice(i * per, (i + 1) * per), concurrency: 50 })));
  // Pairs are split so both ends of a pair live in the same worker (its clients send and receive).
  const pairList = (i: number) => {
    const mine = all.slice(i * per, (i + 1) * per).map((u) => u.userID);
    const out: [string, string][] = [];
    for (let k = 0; k + 1 < mine.length; k += 2) out.push([mine[k]!, mine[k + 1]!]);
    return out;
  };

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
    };
  };
  const openLoop = async (name: string, rate: number) => {
    progress(`chat: ${name}, ${rate} msg/s for ${stageMs} ms`);
    await Promise.all(ws.map((w, i) => w.call({ cmd: "chat", pairs: pairList(i), ratePerSec: rate / workers, durationMs: stageMs })));
    return summarize(rate, stageMs);
  };
  const closedLoop = async (window: number) => {
    progress(`chat: max, closed loop with ${window} in flight per sender for ${stageMs} ms`);
    await Promise.all(ws.map((w, i) => w.call({ cmd: "chatClosed", pairs: pairList(i), window, durationMs: stageMs })));
    return { window, ...(await summarize("closed", stageMs)) };
  };

  // JIT warm-up: a young process spends much of its CPU compiling; measure a warm server, as production runs.
  await openLoop("warm-up", 2000);
  const steady = await openLoop("steady", 2000);
  const flat = await closedLoop(2);
  const rss = server.rssKB();
  await Promise.all(ws.map((w) => w.call({ cmd: "close" })));
  await server.stop();
  writeResult("chat", { quick, pairs, clients: all.length, steady, max: flat, serverRssMB: round(rss / 1024, 1), machine: machine() });
}
