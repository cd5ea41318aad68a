// Scenario "presence": connection churn against a gateway whose status store is a real redis-server in
// OpenIM's layout. Reports status events absorbed per second, store writes (Lua calls) per event, and the
// staleness of the store: from a probe client's connect or close to its online_change message.
import { Redis } from "ioredis";
import { percentile, startRedis, progress, round, startImgate, startWorker, users, writeResult } from "./lib/harness.js";
import { signToken } from "../src/backend/embedded/jwt.js";
import { SECRET } from "./lib/harness.js";


function evalCalls(port: number): number {
  const info = Bun.spawnSync(["redis-cli", "-p", String(port), "INFO", "commandstats"]).stdout.toString();
  return [...info.matchAll(/cmdstat_(?:evalsha|eval):calls=(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
}

export async function presence(quick: boolean) {
  const durationMs = quick ? 4000 : 15_000;
  const redis = await startRedis();
  const server = await startImgate(["--redis", `redis://127.0.0.1:${redis.port}`]);
  const sub = new Redis(`redis://127.0.0.1:${redis.port}`);
  await sub.subscribe("online_change");
  const seen = new Map<string, number>();
  sub.on("message", (_c, m: string) => seen.set(m, performance.timeOrigin + performance.now()));

  const workers = await Promise.all([startWorker(), startWorker()]);
  const list = users("p", quick ? 500 : 2000, 2);
  const callsBefore = evalCalls(redis.port);
  progress(`presence: churning ${list.length} users for ${durationMs} ms, probing staleness`);
  const churn = Promise.all(workers.map((w, i) => w.call({
    cmd: "churn", url: `ws://127.0.0.1:${server.ws}/`, users: list.filter((_, k) => k % 2 === i), concurrency: 32, durationMs,
  })));

  // Probes: a user of its own connects, waits, closes; each transition must show up on online_change.
  const staleness: number[] = [];
  const end = Date.now() + durationMs - 1500;
  let probe = 0;
  while (Date.now() < end) {
    const userID = `probe${probe++}`;
    const ws = new WebSocket(`ws://127.0.0.1:${server.ws}/?sendID=${userID}&token=${signToken(SECRET, userID, 5, 3600)}&platformID=5&operationID=p&isBackground=false&sdkType=js`);
    const opened = await new Promise<number>((r) => (ws.onopen = () => r(performance.timeOrigin + performance.now())));
    await Bun.sleep(300);
    const closedAt = performance.timeOrigin + performance.now();
    ws.close();
    const wait = async (key: string, since: number) => {
      for (let i = 0; i < 300 && !seen.has(key); i++) await Bun.sleep(10);
      if (seen.has(key)) staleness.push(seen.get(key)! - since);
    };
    await wait(`5:${userID}`, opened);
    await wait(userID, closedAt);
  }
  const results = await churn;
  const cycles = results.reduce((a, r) => a + r.cycles, 0);
  await Bun.sleep(1500);
  const storeWrites = evalCalls(redis.port) - callsBefore;
  const events = cycles * 2;
  sub.disconnect();
  await Promise.all(workers.map((w) => w.call({ cmd: "close" })));
  await server.stop();
  await redis.stop();
  writeResult("presence", {
    quick, users: list.length, durationMs,
    statusEventsPerSec: round(events / (durationMs / 1000), 0),
    storeWrites, writesPerEvent: round(storeWrites / events, 4),
    probes: staleness.length,
    stalenessMs: { p50: round(percentile(staleness, 50)), p99: round(percentile(staleness, 99)), max: round(Math.max(...staleness)) },
  });
}
