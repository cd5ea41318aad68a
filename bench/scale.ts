// Scenario "scale": the inputs of docs/cluster.md's scale model, measured, and the model checked at small scale.
// Two imgate nodes (cluster shape) on one redis-server; Redis's own counters (INFO commandstats, stats, memory)
// are read around each phase:
//   logins   — K clients log in (split over both nodes): Redis commands, bytes and memory per login
//   messages — M cross-node 1:1 messages at a steady rate: Redis commands, bytes, memory and CPU per message, and
//              bus publishes per message
//   logouts  — the K clients leave: Redis commands per presence change
// Then the check: 2 nodes × `check` connections and 1:1 chat at `checkRate`/s; the model's prediction of Redis
// memory, Redis ops/s and Redis CPU next to what was measured.
import { percentile, progress, round, startImgate, startRedis, startWorker, users, writeResult, type Worker } from "./lib/harness.js";

function redisInfo(port: number) {
  const out = Bun.spawnSync(["redis-cli", "-p", String(port), "INFO", "all"]).stdout.toString();
  const num = (k: string) => Number(out.match(new RegExp(`^${k}:(\\d+)`, "m"))?.[1] ?? 0);
  const calls = (cmd: string) => Number(out.match(new RegExp(`^cmdstat_${cmd}:calls=(\\d+)`, "m"))?.[1] ?? 0);
  return {
    commands: num("total_commands_processed"), inBytes: num("total_net_input_bytes"), outBytes: num("total_net_output_bytes"),
    memory: num("used_memory"), publishes: calls("publish"), cpuMs: (Number(out.match(/^used_cpu_sys:([\d.]+)/m)?.[1] ?? 0) + Number(out.match(/^used_cpu_user:([\d.]+)/m)?.[1] ?? 0)) * 1000,
  };
}
type Info = ReturnType<typeof redisInfo>;
const per = (a: Info, b: Info, n: number) => ({
  commands: round((b.commands - a.commands) / n, 2), bytesIn: round((b.inBytes - a.inBytes) / n, 0), bytesOut: round((b.outBytes - a.outBytes) / n, 0),
  memoryBytes: round((b.memory - a.memory) / n, 0), publishes: round((b.publishes - a.publishes) / n, 2), cpuUs: round(((b.cpuMs - a.cpuMs) * 1000) / n, 1),
});

async function connectSplit(ws: Worker[], urls: string[], list: ReturnType<typeof users>) {
  const half = Math.ceil(list.length / 2);
  await Promise.all([
    ws[0]!.call({ cmd: "connect", url: urls[0]!, users: list.slice(0, half), concurrency: 100, chat: true }),
    ws[1]!.call({ cmd: "connect", url: urls[1]!, users: list.slice(half), concurrency: 100, chat: true }),
  ]);
}

/** Waits until Redis's command count stops moving (the batchers and route writers are done). */
async function settle(port: number) {
  let last = -1;
  for (let i = 0; i < 100; i++) {
    const c = redisInfo(port).commands;
    if (c - last < 20) return;
    last = c;
    await Bun.sleep(300);
  }
}

export async function scale(quick: boolean) {
  const K = quick ? 2000 : 5000, M = quick ? 3000 : 10_000, rate = 1000;
  const check = quick ? 3000 : 20_000, checkRate = 2000, checkSeconds = quick ? 5 : 10;
  const redis = await startRedis();
  const nodes = [await startImgate(["--redis", redis.url, "--node-id", "s1"]), await startImgate(["--redis", redis.url, "--node-id", "s2"])];
  const urls = nodes.map((n) => `ws://127.0.0.1:${n.ws}/`);
  const ws: Worker[] = [await startWorker(), await startWorker()];
  await settle(redis.port);

  progress(`scale: ${K} logins`);
  let a = redisInfo(redis.port);
  const loginUsers = users("sl", K);
  await connectSplit(ws, urls, loginUsers);
  await settle(redis.port);
  let b = redisInfo(redis.port);
  const perLogin = per(a, b, K);

  progress(`scale: ${M} cross-node messages at ${rate}/s`);
  // Pairs across the nodes: sender in worker 0 (node 1), receiver in worker 1 (node 2) would need both ends in one
  // worker for latency; here only Redis's side is measured, so each worker sends to a user on the other node.
  const half = Math.ceil(K / 2);
  const pairsFor = (w: number) => loginUsers.slice(w === 0 ? 0 : half, w === 0 ? half : K).map((u, i) =>
    [u.userID, loginUsers[(w === 0 ? half : 0) + (i % half)]!.userID] as [string, string]);
  a = redisInfo(redis.port);
  await Promise.all(ws.map((w, i) => w.call({ cmd: "chat", pairs: pairsFor(i), ratePerSec: rate / 2, durationMs: (M / rate) * 1000 })));
  await settle(redis.port);
  b = redisInfo(redis.port);
  const sentMessages = M;
  const perMessage = per(a, b, sentMessages);

  progress(`scale: ${K} logouts`);
  a = redisInfo(redis.port);
  await Promise.all(ws.map((w) => w.call({ cmd: "close" })));
  await settle(redis.port);
  b = redisInfo(redis.port);
  const perLogout = per(a, b, K);

  // ---- the small-scale check --------------------------------------------------------------------------------
  progress(`scale: check, 2 nodes × ${check / 2} connections, ${checkRate} msg/s for ${checkSeconds} s`);
  const ws2: Worker[] = [await startWorker(), await startWorker()];
  const before = redisInfo(redis.port);
  const checkUsers = users("sc", check);
  const model = {
    memoryBytes: Math.round(check * perLogin.memoryBytes + checkRate * checkSeconds * perMessage.memoryBytes),
    opsPerSec: Math.round(checkRate * perMessage.commands),
    cpuPct: round((checkRate * perMessage.cpuUs) / 10_000, 1),
  };
  await connectSplit(ws2, urls, checkUsers);
  await settle(redis.port);
  const h = Math.ceil(check / 2);
  const checkPairs = (w: number) => checkUsers.slice(w === 0 ? 0 : h, w === 0 ? h : check).map((u, i) => [u.userID, checkUsers[(w === 0 ? h : 0) + (i % h)]!.userID] as [string, string]);
  const t0 = redisInfo(redis.port);
  const start = performance.now();
  await Promise.all(ws2.map((w, i) => w.call({ cmd: "chat", pairs: checkPairs(i), ratePerSec: checkRate / 2, durationMs: checkSeconds * 1000 })));
  const secs = (performance.now() - start) / 1000;
  await settle(redis.port);
  const t1 = redisInfo(redis.port);
  const measured = {
    memoryBytes: t1.memory - before.memory,
    opsPerSec: Math.round((t1.commands - t0.commands) / secs),
    cpuPct: round((t1.cpuMs - t0.cpuMs) / (secs * 10), 1),
  };
  const counts = await Promise.all(ws2.map((w) => w.call({ cmd: "count" })));
  const lat = counts.flatMap((c) => c.latencies as number[]);
  await Promise.all(ws2.map((w) => w.call({ cmd: "close" })));
  await Promise.all(nodes.map((n) => n.stop()));
  await redis.stop();
  progress(`scale: per login ${JSON.stringify(perLogin)}`);
  progress(`scale: per message ${JSON.stringify(perMessage)}`);
  progress(`scale: per logout ${JSON.stringify(perLogout)}`);
  progress(`scale: check model ${JSON.stringify(model)} measured ${JSON.stringify(measured)}`);
  writeResult("scale", {
    quick, logins: K, messages: sentMessages, perLogin, perMessage, perLogout,
    check: { connections: check, ratePerSec: checkRate, seconds: checkSeconds, model, measured, deliveries: lat.length, p99Ms: round(percentile(lat, 99)) },
  });
}
