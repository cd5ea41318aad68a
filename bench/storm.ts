// Scenario "storm": the reconnect storm a drained node causes, with and without the gradual drain. N clients on a
// victim node; the victim is drained (Admin/Drain over HTTP/1.1 JSON) either at once or over a window; each client,
// as the SDKs do, reconnects at once to the survivor and sends its first sync request (1001). Reported per mode:
// the survivor's peak handshakes/s (completed reconnects in any 1-second window), handshake latency p50/p99/max
// (client side, open to open), the survivor's largest event-loop lag, and how long until everyone was back.
import { percentile, progress, round, SECRET, startImgate, startWorker, users, writeResult, type Worker } from "./lib/harness.js";

interface Mode {
  mode: string;
  drainSeconds: number;
  clients: number;
  peakHandshakesPerSec: number;
  handshakeMs: { p50: number; p99: number; max: number };
  survivorMaxLoopLagMs: number;
  allBackAfterMs: number;
  failedAttempts: number;
  missing: number;
}

async function maxLagMs(admin: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
  return Number(text.match(/^imgate_event_loop_lag_max_seconds (\S+)/m)?.[1] ?? 0) * 1000;
}

/** Most events in any window of `ms` (sliding over the sorted times). */
function peakPer(times: number[], ms: number): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (t[i]! - t[j]! >= ms) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

export async function storm(quick: boolean) {
  const N = quick ? 2000 : 10_000;
  const workers = 2;
  const modes: { mode: string; drainSeconds: number }[] = [
    { mode: "all at once (drainSeconds 0)", drainSeconds: 0 },
    { mode: "gradual over 10 s", drainSeconds: 10 },
  ];
  const results: Mode[] = [];
  for (const m of modes) {
    const victim = await startImgate();
    const survivor = await startImgate();
    const ws: Worker[] = await Promise.all(Array.from({ length: workers }, () => startWorker()));
    const all = users("st", N);
    const per = Math.ceil(N / workers);
    progress(`storm/${m.mode}: connecting ${N} clients to the victim`);
    await Promise.all(ws.map((w, i) => w.call({ cmd: "connect", url: `ws://127.0.0.1:${victim.ws}/`, users: all.slice(i * per, (i + 1) * per), concurrency: 50, chat: true })));
    await Bun.sleep(1000);
    await maxLagMs(survivor.admin); // starts the survivor's lag window
    const watching = ws.map((w, i) => w.call({ cmd: "storm", survivorUrl: `ws://127.0.0.1:${survivor.ws}/`, users: all.slice(i * per, (i + 1) * per), timeoutMs: (m.drainSeconds + 30) * 1000 }));
    const t0 = performance.timeOrigin + performance.now();
    const drained = await fetch(`http://127.0.0.1:${victim.rpc}/imgate.admin.v1.Admin/Drain`, {
      method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${victim.adminToken()}` }, body: JSON.stringify({ overSeconds: m.drainSeconds }),
    });
    if (!drained.ok) throw new Error(`drain failed: ${drained.status} ${await drained.text()}`);
    const outs = await Promise.all(watching);
    const backAt = outs.flatMap((o) => o.backAt as number[]);
    const hs = outs.flatMap((o) => o.handshakeMs as number[]);
    const r: Mode = {
      mode: m.mode, drainSeconds: m.drainSeconds, clients: N,
      peakHandshakesPerSec: peakPer(backAt, 1000),
      handshakeMs: { p50: round(percentile(hs, 50)), p99: round(percentile(hs, 99)), max: round(Math.max(0, ...hs)) },
      survivorMaxLoopLagMs: round(await maxLagMs(survivor.admin), 1),
      allBackAfterMs: round(Math.max(0, ...backAt) - t0, 0),
      failedAttempts: outs.reduce((a, o) => a + o.failures, 0),
      missing: outs.reduce((a, o) => a + o.missing, 0),
    };
    progress(`storm/${m.mode}: peak ${r.peakHandshakesPerSec} handshakes/s, p99 ${r.handshakeMs.p99} ms, loop lag ${r.survivorMaxLoopLagMs} ms, all back after ${r.allBackAfterMs} ms`);
    results.push(r);
    await Promise.all(ws.map((w) => w.call({ cmd: "close" })));
    await victim.stop().catch(() => {});
    await survivor.stop();
  }
  writeResult("storm", { secret: SECRET.length > 0, results });
}
