// Scenario "burst": what a burst leaves behind. Three cycles of burst (closed loop: as fast as the clients and
// the server go together) → 1,000 msg/s → idle, on the same 1:1 chat clients, against imgate (SQLite store) and
// the bare Bun.serve relay. Each phase reports send→push p50/p99 and, for imgate, the largest event-loop lag
// of the phase (imgate_event_loop_lag_max_seconds, read at the phase's start and end) and the size of the WAL.
import { statSync } from "node:fs";
import { join } from "node:path";
import { percentile, progress, round, startImgate, startWorker, users, workerPairs, writeResult, type Worker } from "./lib/harness.js";
import { startRawBun } from "./lib/peers.js";

interface Phase {
  cycle: number;
  phase: "burst" | "1000/s" | "idle";
  messagesPerSec: number;
  pushLatencyMs: { p50: number; p99: number; max: number };
  /** The p99 of the phase's first second (what the issue saw: a stall right after the burst). */
  firstSecondP99Ms: number;
  maxLoopLagMs?: number;
  walMB?: number;
}

export async function burst(quick: boolean) {
  const pairs = 50;
  const workers = 2;
  const burstMs = quick ? 2000 : 5000, steadyMs = quick ? 2000 : 5000, idleMs = quick ? 1000 : 3000;
  const cycles = 3;
  const all = users("b", pairs * 2);
  const per = Math.ceil(all.length / workers);
  const pairList = (i: number) => workerPairs(all, workers, i);

  const run = async (name: string, url: string, probe?: { maxLagMs(): Promise<number>; walMB(): number }) => {
    const ws: Worker[] = await Promise.all(Array.from({ length: workers }, startWorker));
    progress(`burst/${name}: connecting ${all.length} clients`);
    await Promise.all(ws.map((w, i) => w.call({ cmd: "connect", url, users: all.slice(i * per, (i + 1) * per), concurrency: 50, chat: true })));
    const measure = async (cycle: number, phase: Phase["phase"], ms: number, body: () => Promise<unknown>): Promise<Phase> => {
      await probe?.maxLagMs(); // starts the phase's lag window
      await body(); // the workers' chat commands wait 500 ms after their last send: the last pushes arrive
      const counts = await Promise.all(ws.map((w) => w.call({ cmd: "count" })));
      const lat = counts.flatMap((c) => c.latencies as number[]);
      const sentAt = counts.flatMap((c) => c.latencySentAt as number[]);
      const start = Math.min(...sentAt);
      const first = lat.filter((_, i) => sentAt[i]! < start + 1000);
      const r: Phase = {
        cycle, phase, messagesPerSec: round(lat.length / (ms / 1000), 0),
        pushLatencyMs: { p50: round(percentile(lat, 50)), p99: round(percentile(lat, 99)), max: round(Math.max(0, ...lat)) },
        firstSecondP99Ms: round(percentile(first, 99)),
      };
      if (probe) {
        r.maxLoopLagMs = round(await probe.maxLagMs(), 1);
        r.walMB = round(probe.walMB(), 1);
      }
      progress(`burst/${name}: cycle ${cycle} ${phase}: ${r.messagesPerSec} msg/s, p99 ${r.pushLatencyMs.p99} ms${probe ? `, loop lag max ${r.maxLoopLagMs} ms` : ""}`);
      return r;
    };
    const chatAt = (rate: number, durationMs: number) => Promise.all(ws.map((w, i) => w.call({ cmd: "chat", pairs: pairList(i), ratePerSec: rate / workers, durationMs })));
    // JIT warm-up, not reported.
    await chatAt(1000, 3000);
    await Promise.all(ws.map((w) => w.call({ cmd: "count" })));
    const phases: Phase[] = [];
    for (let cycle = 1; cycle <= cycles; cycle++) {
      phases.push(await measure(cycle, "burst", burstMs, () => Promise.all(ws.map((w, i) => w.call({ cmd: "chatClosed", pairs: pairList(i), window: 4, durationMs: burstMs })))));
      phases.push(await measure(cycle, "1000/s", steadyMs, () => chatAt(1000, steadyMs)));
      phases.push(await measure(cycle, "idle", idleMs, () => Bun.sleep(idleMs)));
    }
    await Promise.all(ws.map((w) => w.call({ cmd: "close" })));
    return phases;
  };

  const raw = await startRawBun();
  const rawBun = await run("raw-bun", `ws://127.0.0.1:${raw.port}/`);
  await raw.stop();

  const server = await startImgate();
  const dataDir = server.dataDir;
  const imgate = await run("imgate", `ws://127.0.0.1:${server.ws}/`, {
    async maxLagMs() {
      const text = await (await fetch(`http://127.0.0.1:${server.admin}/metrics`)).text();
      return Number(/^imgate_event_loop_lag_max_seconds (\S+)$/m.exec(text)?.[1] ?? NaN) * 1000;
    },
    walMB() {
      try {
        return statSync(join(dataDir, "imgate.db-wal")).size / 1e6;
      } catch {
        return 0;
      }
    },
  });
  await server.stop();

  const worst = (ps: Phase[], phase: Phase["phase"], f: (p: Phase) => number) => Math.max(...ps.filter((p) => p.phase === phase).map(f));
  writeResult("burst", {
    quick, pairs, clients: all.length, burstMs, steadyMs, idleMs, cycles, imgate, rawBun,
    summary: {
      imgate: {
        p99At1000MsWorst: worst(imgate, "1000/s", (p) => p.pushLatencyMs.p99),
        firstSecondAfterBurstP99Worst: worst(imgate, "1000/s", (p) => p.firstSecondP99Ms),
        maxLoopLagMsWorst: Math.max(...imgate.map((p) => p.maxLoopLagMs ?? 0)),
        burstMessagesPerSec: round(imgate.filter((p) => p.phase === "burst").reduce((a, p) => a + p.messagesPerSec, 0) / cycles, 0),
        walMBMax: Math.max(...imgate.map((p) => p.walMB ?? 0)),
      },
      rawBun: {
        p99At1000MsWorst: worst(rawBun, "1000/s", (p) => p.pushLatencyMs.p99),
        firstSecondAfterBurstP99Worst: worst(rawBun, "1000/s", (p) => p.firstSecondP99Ms),
        burstMessagesPerSec: round(rawBun.filter((p) => p.phase === "burst").reduce((a, p) => a + p.messagesPerSec, 0) / cycles, 0),
      },
    },
  });
}
