// Shared pieces of the benchmark scenarios: server processes, worker processes, stats, result files.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import { join } from "node:path";
import { signToken } from "../../src/backend/embedded/jwt.js";
import { VERSION } from "../../src/version.js";
import type { WorkerCmd } from "./worker.js";
import { freePort, freePortRun, waitHttp } from "../../test/support/proc.js";
import { startRedis } from "../../test/support/redis.js";

// The same helpers the tests use: a free port, waiting for an HTTP endpoint, a private redis-server.
export { freePort, startRedis, waitHttp };

export const SECRET = "bench-secret";
const ROOT = new URL("../..", import.meta.url).pathname;

export interface ImgateProc {
  ws: number;
  rpc: number;
  admin: number;
  pid: number;
  dataDir: string;
  /** The admin token the node generated in its data dir. */
  adminToken(): string;
  rssKB(): number;
  stop(): Promise<void>;
}

export async function startImgate(extra: string[] = [], env: Record<string, string> = {}): Promise<ImgateProc> {
  // --workers N: worker i serves admin HTTP on admin + i, so a run of N free ports.
  const wi = extra.indexOf("--workers");
  const processes = wi >= 0 ? Number(extra[wi + 1]) : 1;
  const admin = await freePortRun(processes);
  let [ws, rpc] = [await freePort(), await freePort()];
  while (ws >= admin && ws < admin + processes) ws = await freePort();
  while ((rpc >= admin && rpc < admin + processes) || rpc === ws) rpc = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "imgate-bench-"));
  // BENCH_PROFILE=dir writes a CPU profile of the server (markdown) into dir when it stops.
  const prof = process.env.BENCH_PROFILE ? ["--cpu-prof-md", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  const proc = Bun.spawn([process.execPath, ...prof, join(ROOT, "src/cli.ts"), "serve", "--host", "127.0.0.1", "--ws-port", String(ws),
    "--rpc-port", String(rpc), "--admin-port", String(admin), "--data-dir", dataDir, "--secret", SECRET, "--log-level", "warn",
    "--log-format", "json", ...extra], {
    stdout: "inherit", stderr: "inherit",
    // The per-connection rates stay checked but out of reach: a benchmark's closed loop sends far more than a person.
    env: { ...process.env, IMGATE_CONFIG: "", IMGATE_WS_REQUESTS_PER_SECOND: "1000000000", IMGATE_WS_BYTES_PER_SECOND: "1000000000000", ...env },
  });
  // Wait for every worker's admin endpoint.
  for (let i = 0; i < processes; i++) await waitHttp(`http://127.0.0.1:${admin + i}/healthz`);
  return {
    ws, rpc, admin, pid: proc.pid, dataDir,
    adminToken: () => readFileSync(join(dataDir, "admin-token"), "utf8").trim(),
    rssKB: () => treeRssKB(proc.pid),
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function rssKB(pid: number): number {
  const status = require("node:fs").readFileSync(`/proc/${pid}/status`, "utf8") as string;
  return Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0);
}

/** What bench/lib/idle-client.mjs (Node.js) understands. */
export type IdleClientCmd = { cmd: "connect"; urls: string[]; localAddress: string; concurrency: number } | { cmd: "close" };

/** RSS of a process and all its descendants (a supervisor and its workers, nginx and its worker). */
export function treeRssKB(pid: number): number {
  return rssKB(pid) + childrenOf(pid).reduce((a, c) => a + treeRssKB(c), 0);
}

/** CPU time (ms, all threads) of a process and all its descendants so far. */
export function treeCpuMs(pid: number): number {
  return (procCpu(`/proc/${pid}/stat`)?.ms ?? 0) + childrenOf(pid).reduce((a, c) => a + treeCpuMs(c), 0);
}

function childrenOf(pid: number): number[] {
  const fs = require("node:fs") as typeof import("node:fs");
  try {
    return fs.readdirSync(`/proc/${pid}/task`).flatMap((t) =>
      fs.readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

export interface Worker {
  call<T = any>(cmd: WorkerCmd | IdleClientCmd): Promise<T>;
  pid: number;
}

/** A load-generator process: bench/lib/worker.ts on Bun, or (node: true) bench/lib/idle-client.mjs on Node.js. */
export async function startWorker(opts: { node?: boolean } = {}): Promise<Worker> {
  let nextId = 1;
  const waiting = new Map<number, (v: any) => void>();
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const cmd = opts.node ? ["node", join(ROOT, "bench/lib/idle-client.mjs")] : [process.execPath, join(ROOT, "bench/lib/worker.ts")];
  const proc = Bun.spawn(cmd, {
    stdout: "inherit", stderr: "inherit", serialization: opts.node ? "json" : "advanced",
    ipc(m: any) {
      if (m.ready) return ready();
      waiting.get(m.id)?.(m.out);
      waiting.delete(m.id);
    },
  });
  await isReady;
  return {
    pid: proc.pid,
    call(cmd) {
      const id = nextId++;
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        proc.send({ ...cmd, id });
      });
    },
  };
}

export function users(prefix: string, count: number, platformID = 5) {
  return Array.from({ length: count }, (_, i) => {
    const userID = `${prefix}${i}`;
    return { userID, platformID, token: signToken(SECRET, userID, platformID, 86400) };
  });
}

/**
 * The chat pairs of worker i when `all` users are split evenly over `workers` load generators: both ends of a pair
 * live in the same worker (its clients send and receive), so latency is measured on one clock.
 */
export function workerPairs(all: { userID: string }[], workers: number, i: number): [string, string][] {
  const per = Math.ceil(all.length / workers);
  const mine = all.slice(i * per, (i + 1) * per).map((u) => u.userID);
  const out: [string, string][] = [];
  for (let k = 0; k + 1 < mine.length; k += 2) out.push([mine[k]!, mine[k + 1]!]);
  return out;
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** Latency over time: samples bucketed by send time into `bucketMs` windows → [seconds from start, p50, p99, count]. */
export function latencySeries(sentAt: number[], latency: number[], bucketMs: number): [number, number, number, number][] {
  if (sentAt.length === 0) return [];
  const t0 = Math.min(...sentAt);
  const buckets = new Map<number, number[]>();
  sentAt.forEach((t, i) => {
    const b = Math.floor((t - t0) / bucketMs);
    let xs = buckets.get(b);
    if (!xs) buckets.set(b, (xs = []));
    xs.push(latency[i]!);
  });
  return [...buckets.entries()].sort((a, b) => a[0] - b[0])
    .map(([b, xs]) => [round((b * bucketMs) / 1000, 2), round(percentile(xs, 50)), round(percentile(xs, 99)), xs.length]);
}

/**
 * A process's or thread's name and CPU time so far (utime + stime, in ms: clock ticks of 10 ms) from its /proc stat
 * file (/proc/<pid>/stat, /proc/<pid>/task/<tid>/stat); undefined when it is gone.
 */
export function procCpu(statFile: string): { comm: string; ms: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(statFile, "utf8");
  } catch {
    return undefined;
  }
  // The name is in parentheses and may hold spaces or ")": the fields start after the last ")".
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { comm: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")), ms: (Number(f[11]) + Number(f[12])) * 10 };
}

export const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

/** Versions of what the peers run on: Node.js, ws, Socket.IO, nginx (absent when not installed). */
export function peerVersions(): Record<string, string> {
  const pkg = (name: string) => {
    try {
      return JSON.parse(require("node:fs").readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")).version as string;
    } catch {
      return "";
    }
  };
  const out = (cmd: string[]) => {
    try {
      const r = Bun.spawnSync(cmd);
      return (r.stdout.toString() + r.stderr.toString()).trim();
    } catch {
      return "";
    }
  };
  const nginx = out(["nginx", "-v"]).match(/nginx\/(\S+)/)?.[1] ?? "";
  return Object.fromEntries(Object.entries({ node: out(["node", "--version"]).replace(/^v/, ""), ws: pkg("ws"), "socket.io": pkg("socket.io"),
    "@socket.io/redis-adapter": pkg("@socket.io/redis-adapter"), nginx, "redis-server": out(["redis-server", "--version"]).match(/v=(\S+)/)?.[1] ?? "" }).filter(([, v]) => v));
}

export function machine() {
  return { cpus: cpus().length, cpu: cpus()[0]?.model, bun: Bun.version, imgate: VERSION, peers: peerVersions(), date: new Date().toISOString() };
}

export function writeResult(name: string, result: Record<string, unknown>) {
  const dir = join(ROOT, "docs/bench");
  mkdirSync(dir, { recursive: true });
  const full = { scenario: name, machine: machine(), ...result };
  // A partial run (BENCH_ONLY, for profiling one server) prints its result but leaves the report's files alone.
  if (process.env.BENCH_ONLY) progress(`BENCH_ONLY is set: docs/bench/${name}.json not written`);
  else writeFileSync(join(dir, `${name}.json`), JSON.stringify(full, null, 2) + "\n");
  console.log(JSON.stringify(full));
}

export function progress(msg: string) {
  process.stderr.write(`[bench] ${msg}\n`);
}

/** CPU time (ms) of each thread of `pid` so far, by thread name (/proc/<pid>/task/<tid>/stat: comm, utime + stime). */
export function threadCpuMs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    const t = procCpu(`/proc/${pid}/task/${tid}/stat`); // undefined: the thread ended meanwhile
    if (t) out.set(t.comm, (out.get(t.comm) ?? 0) + t.ms);
  }
  return out;
}

/** Server CPU per event (a delivered message, a handshake) over a stage: all threads, and per thread name (µs). */
export function cpuPerEvent(before: Map<string, number>, after: Map<string, number>, events: number) {
  const perThread: Record<string, number> = {};
  let total = 0;
  for (const [name, ms] of after) {
    const used = ms - (before.get(name) ?? 0);
    total += used;
    if (used > 0) perThread[name] = round((used * 1000) / Math.max(1, events), 1);
  }
  return { totalUs: round((total * 1000) / Math.max(1, events), 1), perThreadUs: perThread };
}
