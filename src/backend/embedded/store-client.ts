// The event loop's side of the store worker: typed calls answered by id, a bounded number in flight (beyond
// it a call fails at once with 500 instead of queueing without limit), and a watch over the worker: if it dies
// every waiting call fails with 500, /readyz turns 503 with the reason, and a new worker is started (a few times
// a minute at most; after that the node stays unready and says so). A worker that stops answering for longer
// than `stuckAfterMs` makes the node unready too.
import { CodeError, ErrCode } from "../../protocol/errors.js";
import type { Logger } from "../../observe/log.js";
import type { StoreCtx } from "../ports.js";
import type { Args, FromWorker, Result, StoreOp, StoreRequest, ToWorker } from "./store-protocol.js";

export interface StoreClientOptions {
  dataDir: string;
  /** Calls in flight beyond which a new call fails at once (500). */
  maxQueue: number;
  /** Calls in flight of one lane (one user) beyond which that lane's new calls fail at once; default maxQueue / 10. */
  maxPerLane?: number;
  log?: Logger;
  /** A call unanswered this long makes the node unready (lock waits are bounded by busy_timeout, 5 s). */
  stuckAfterMs?: number;
  /** Restarts allowed per minute before giving up. */
  maxRestartsPerMinute?: number;
}

export interface StoreClient {
  /** `ctx.lane` takes turns with the other lanes on the store thread; a call whose `ctx.signal` aborts before it
   *  ran is dropped there (and rejected here at once). */
  call<K extends StoreOp>(op: K, args: Args<K>, ctx?: StoreCtx): Promise<Result<K>>;
  /** undefined when ready, else why not. */
  notReady(): string | undefined;
  stats(): { inFlight: number; restarts: number; rejectedFull: number };
  /** The current worker thread (tests terminate it to play a crash). */
  worker(): Worker | undefined;
  close(): Promise<void>;
}

/** The worker's module: next to this file in the source tree, an entrypoint of its own in the compiled binary. */
function workerSpecifier(): string {
  // In `bun build --compile` output, entrypoints live under /$bunfs/root/ by their path relative to src/.
  return import.meta.url.includes("/$bunfs/") ? "./backend/embedded/store-worker.ts" : new URL("./store-worker.ts", import.meta.url).href;
}

interface Waiting {
  resolve: (v: any) => void;
  reject: (e: unknown) => void;
  since: number;
  lane: string;
  /** Removes the abort listener, if any. */
  unlisten?: () => void;
}

export async function startStoreClient(opts: StoreClientOptions): Promise<StoreClient> {
  const stuckAfterMs = opts.stuckAfterMs ?? 15_000;
  const maxRestarts = opts.maxRestartsPerMinute ?? 5;
  const waiting = new Map<number, Waiting>();
  const perLane = new Map<string, number>();
  const maxPerLane = opts.maxPerLane ?? Math.max(64, Math.floor(opts.maxQueue / 10));
  let nextID = 1;
  let outbox: StoreRequest[] = [];
  let cancels: number[] = [];
  /** Takes the call out of `waiting` and its lane's count; returns it if it was still waiting. */
  const finish = (id: number): Waiting | undefined => {
    const w = waiting.get(id);
    if (!w) return undefined;
    waiting.delete(id);
    const n = (perLane.get(w.lane) ?? 1) - 1;
    if (n <= 0) perLane.delete(w.lane);
    else perLane.set(w.lane, n);
    w.unlisten?.();
    return w;
  };
  let posting = false;
  let current: Worker | undefined;
  let open = false;
  let closing = false;
  let down: string | undefined = "starting";
  let restarts = 0;
  const restartTimes: number[] = [];
  let rejectedFull = 0;
  let stuckLogged = false;

  const failAll = (why: string) => {
    const err = new CodeError(ErrCode.ServerInternal, "ServerInternalError", why);
    for (const id of [...waiting.keys()]) finish(id)?.reject(err);
    outbox = [];
    cancels = [];
  };

  const flush = () => {
    posting = false;
    if (!open || !current || (outbox.length === 0 && cancels.length === 0)) return;
    const requests = outbox;
    outbox = [];
    const cancel = cancels.length ? cancels : undefined;
    cancels = [];
    current.postMessage({ requests, cancel } satisfies ToWorker);
  };

  /** Starts a worker and resolves once it opened the database; rejects with the worker's reason otherwise. */
  const spawn = () =>
    new Promise<void>((resolve, reject) => {
      const w = new Worker(workerSpecifier());
      current = w;
      let settled = false;
      const timer = setTimeout(() => settle(new Error("the store worker did not open the database within 10 s")), 10_000);
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      w.onmessage = (e: MessageEvent<FromWorker>) => {
        const m = e.data;
        if ("replies" in m) {
          for (const r of m.replies) {
            const entry = finish(r.id);
            if (!entry) continue;
            if (r.ok) entry.resolve(r.value);
            else entry.reject(new CodeError(r.code, r.msg, r.detail ?? ""));
          }
        } else if ("opened" in m) {
          open = true;
          down = undefined;
          stuckLogged = false;
          settle();
          flush();
        } else if ("fatal" in m) {
          settle(new Error(`the store worker could not open the database: ${m.fatal}`));
        }
      };
      w.addEventListener("error", (e) => {
        opts.log?.error("store worker error", { err: (e as ErrorEvent).message });
      });
      w.addEventListener("close", () => {
        if (current !== w) return;
        open = false;
        current = undefined;
        settle(new Error("the store worker exited while starting"));
        if (closing) return;
        down = "store worker exited; restarting";
        opts.log?.error("store worker exited; failing its waiting calls with 500 and starting a new one", { waiting: waiting.size });
        failAll("store worker exited");
        void restart();
      });
      w.postMessage({ open: { dataDir: opts.dataDir } } satisfies ToWorker);
    });

  const restart = async () => {
    const now = Date.now();
    while (restartTimes.length && restartTimes[0]! < now - 60_000) restartTimes.shift();
    if (restartTimes.length >= maxRestarts) {
      down = `store worker failed ${restartTimes.length} times in a minute; not restarting`;
      opts.log?.error("store worker keeps failing; the node stays unready", { restarts: restartTimes.length });
      return;
    }
    restartTimes.push(now);
    restarts++;
    await Bun.sleep(100 * restartTimes.length);
    if (closing) return;
    try {
      await spawn();
      opts.log?.info("store worker restarted", { restarts });
    } catch (e) {
      down = (e as Error).message;
      opts.log?.error("store worker restart failed", { err: e });
      current?.terminate();
    }
  };

  // Readiness watch: an unanswered call older than stuckAfterMs means the worker hangs.
  const watch = setInterval(() => {
    const oldest = Math.min(...[...waiting.values()].map((w) => w.since));
    const stuck = Number.isFinite(oldest) && Date.now() - oldest > stuckAfterMs;
    if (stuck && !stuckLogged) {
      stuckLogged = true;
      opts.log?.error("store worker has not answered for a while; the node is unready", { waitingMs: Date.now() - oldest, waiting: waiting.size });
    }
    if (!stuck) stuckLogged = false;
  }, 1000);
  watch.unref?.();

  try {
    await spawn();
  } catch (e) {
    closing = true;
    clearInterval(watch);
    current?.terminate();
    throw e;
  }

  return {
    call<K extends StoreOp>(op: K, args: Args<K>, ctx?: StoreCtx): Promise<Result<K>> {
      const fail = (why: string) => Promise.reject(new CodeError(ErrCode.ServerInternal, "ServerInternalError", why));
      if (closing) return fail("store closed");
      if (!open) return fail(down ?? "store not open");
      const signal = ctx?.signal;
      if (signal?.aborted) return fail(`store call dropped: ${(signal.reason as Error)?.message ?? "aborted"}`);
      if (waiting.size >= opts.maxQueue) {
        rejectedFull++;
        return fail(`store busy: ${waiting.size} calls waiting`);
      }
      const lane = ctx?.lane ?? "";
      const mine = perLane.get(lane) ?? 0;
      if (mine >= maxPerLane) {
        rejectedFull++;
        return fail(`store busy: ${mine} calls of this user waiting`);
      }
      perLane.set(lane, mine + 1);
      const id = nextID++;
      const p = new Promise<Result<K>>((resolve, reject) => waiting.set(id, { resolve, reject, since: Date.now(), lane }));
      outbox.push({ id, op, args, lane } as StoreRequest);
      if (signal) {
        // Dropped, not run: out of the outbox if it has not left yet, else the store thread is told to skip it.
        const onAbort = () => {
          const w = finish(id);
          if (!w) return;
          const i = outbox.findIndex((r) => r.id === id);
          if (i >= 0) outbox.splice(i, 1);
          else cancels.push(id);
          w.reject(new CodeError(ErrCode.ServerInternal, "ServerInternalError", `store call dropped: ${(signal.reason as Error)?.message ?? "aborted"}`));
          if (!posting) {
            posting = true;
            queueMicrotask(flush);
          }
        };
        signal.addEventListener("abort", onAbort, { once: true });
        waiting.get(id)!.unlisten = () => signal.removeEventListener("abort", onAbort);
      }
      if (!posting) {
        posting = true;
        queueMicrotask(flush);
      }
      return p;
    },
    notReady() {
      if (down) return down;
      if (stuckLogged) return "store worker not answering";
      return undefined;
    },
    stats: () => ({ inFlight: waiting.size, restarts, rejectedFull }),
    worker: () => current,
    async close() {
      closing = true;
      clearInterval(watch);
      const w = current;
      if (!w || !open) {
        w?.terminate();
        failAll("store closed");
        return;
      }
      flush();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 5000);
        w.addEventListener("message", (e: MessageEvent<FromWorker>) => {
          if ("closed" in e.data) {
            clearTimeout(t);
            resolve();
          }
        });
        w.postMessage({ close: true } satisfies ToWorker);
      });
      open = false;
      w.terminate();
      failAll("store closed");
    },
  };
}
