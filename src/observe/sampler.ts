// Once a second, a snapshot for the dashboard and `imgate stats`: totals, per-second rates, delivery latency
// percentiles, per-platform split and the busiest users. Keeps the last five minutes.
import { ALL_PLATFORMS, platformName } from "../protocol/constants.js";
import type { LoopLag } from "./loop-lag.js";
import { type Counters, sum } from "./stats.js";

export interface Snapshot {
  t: number;
  connections: number;
  users: number;
  framesInPerSec: number;
  framesOutPerSec: number;
  pushesPerSec: number;
  slowConsumerCloses: number;
  kicks: number;
  deliveryMs: { p50: number; p99: number; count: number };
  platforms: { platform: string; connections: number }[];
  busiest: { userID: string; requests: number }[];
  /** Event-loop lag over this sample's second (ms). */
  loopLagMs: { p50: number; p99: number; max: number };
  /** "ready", or why not (draining, Redis down, not registered in etcd): what /readyz answers. */
  readiness: string;
}

export function createSampler(opts: {
  counters: Counters;
  /** The session registry's counts. */
  registry: { readonly connections: number; readonly userCount: number; perPlatform(): number[] };
  readiness?: () => { ready: boolean; reason?: string };
  loopLag?: LoopLag;
  everyMs?: number;
  keep?: number;
}) {
  const { counters: c, registry } = opts;
  const every = opts.everyMs ?? 1000;
  const keep = opts.keep ?? 300;
  const history: Snapshot[] = [];
  const listeners = new Set<(s: Snapshot) => void>();
  let last = { t: Date.now(), in: c.messagesIn, out: c.messagesOut, pushes: sum(c.pushes) };

  const take = (): Snapshot => {
    const now = Date.now();
    const secs = Math.max(0.001, (now - last.t) / 1000);
    const pushes = sum(c.pushes);
    const lat = c.deliveryLatencyMs.splice(0).sort((a, b) => a - b);
    const pct = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]! : 0);
    const per = registry.perPlatform();
    const busiest = [...c.userRequests].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([userID, requests]) => ({ userID, requests }));
    c.userRequests.clear();
    const s: Snapshot = {
      t: now,
      connections: registry.connections,
      users: registry.userCount,
      framesInPerSec: Math.round((c.messagesIn - last.in) / secs),
      framesOutPerSec: Math.round((c.messagesOut - last.out) / secs),
      pushesPerSec: Math.round((pushes - last.pushes) / secs),
      slowConsumerCloses: c.slowConsumerCloses,
      kicks: sum(c.kicks),
      deliveryMs: { p50: pct(0.5), p99: pct(0.99), count: lat.length },
      platforms: ALL_PLATFORMS.map((p) => ({ platform: platformName(p), connections: per[p] ?? 0 })).filter((p) => p.connections > 0),
      busiest,
      loopLagMs: opts.loopLag?.takeWindow() ?? { p50: 0, p99: 0, max: 0 },
      readiness: readinessText(opts.readiness?.()),
    };
    last = { t: now, in: c.messagesIn, out: c.messagesOut, pushes };
    return s;
  };

  const timer = setInterval(() => {
    const s = take();
    history.push(s);
    if (history.length > keep) history.shift();
    for (const l of listeners) l(s);
  }, every);
  timer.unref?.();

  return {
    history: () => history,
    subscribe(l: (s: Snapshot) => void) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    stop: () => clearInterval(timer),
  };
}

export type Sampler = ReturnType<typeof createSampler>;

function readinessText(r: { ready: boolean; reason?: string } | undefined): string {
  if (!r || r.ready) return "ready";
  return `not ready: ${r.reason ?? "unknown"}`;
}
