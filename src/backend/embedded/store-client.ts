// The event loop's side of the store worker: typed calls answered by id, a bounded number in flight (beyond
// it a call fails at once with 500 instead of queueing without limit), and a watch over the worker: if it dies
// every waiting call fails with 500, /readyz turns 503 with the reason, and a new worker is started (a few times
// a minute at most; after that the node stays unready and says so). A worker that stops answering for longer
// than `stuckAfterMs` makes the node unready too.
import { CodeError, ErrCode } from "../../protocol/errors.js";
import type { Logger } from "../../observe/log.js";
import type { StoreCtx } from "../ports.js";
import { createStoreCalls } from "./store-calls.js";
import type { Args, FromWorker, Result, StoreOp, ToWorker } from "./store-protocol.js";

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

/** Longer than ~120 lines on purpose: spawning, restarting and closing the worker share one closure over its state
 *  (current, open, down, closing), which is easier to follow whole than passed between functions. */
export async function startStoreClient(opts: StoreClientOptions): Promise<StoreClient> {
  const stuckAfterMs = opts.stuckAfterMs ?? 15_000;
  const maxRestarts = opts.maxRestartsPerMinute ?? 5;
  const calls = createStoreCalls({
    maxQueue: opts.maxQueue,
    maxPerLane: opts.maxPerLane ?? Math.max(64, Math.floor(opts.maxQueue / 10)),
    post: (m) => {
      if (!open || !current) return false;
      current.postMessage(m);
      return true;
    },
  });
  let current: Worker | undefined;
  let open = false;
  let closing = false;
  let down: string | undefined = "starting";
  let restarts = 0;
  const restartTimes: number[] = [];
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
          // Answered from a macrotask, not from inside the message event: a call made by a continuation running in the
          // event's dispatch can have its own reply left undelivered until some later message or deadline (Bun 1.4.5:
          // a kicked-token login waited out its 10 s handshake deadline, test/sessions.test.ts; reproduced at 0.1.0).
          setImmediate(() => calls.answer(m.replies));
        } else if ("opened" in m) {
          open = true;
          down = undefined;
          watch.reset();
          settle();
          calls.flush();
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
        opts.log?.error("store worker exited; failing its waiting calls with 500 and starting a new one", { waiting: calls.size() });
        calls.failAll("store worker exited");
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

  const watch = watchStuck(calls, stuckAfterMs, opts.log);

  try {
    await spawn();
  } catch (e) {
    closing = true;
    watch.stop();
    current?.terminate();
    throw e;
  }

  return {
    call<K extends StoreOp>(op: K, args: Args<K>, ctx?: StoreCtx): Promise<Result<K>> {
      if (closing) return Promise.reject(new CodeError(ErrCode.ServerInternal, "ServerInternalError", "store closed"));
      if (!open) return Promise.reject(new CodeError(ErrCode.ServerInternal, "ServerInternalError", down ?? "store not open"));
      return calls.add(op, args, ctx);
    },
    notReady() {
      if (down) return down;
      if (watch.stuck()) return "store worker not answering";
      return undefined;
    },
    stats: () => ({ inFlight: calls.size(), restarts, rejectedFull: calls.rejectedFull() }),
    worker: () => current,
    async close() {
      closing = true;
      watch.stop();
      const w = current;
      if (!w || !open) {
        w?.terminate();
        calls.failAll("store closed");
        return;
      }
      calls.flush();
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
      calls.failAll("store closed");
    },
  };
}

/** Readiness watch: an unanswered call older than `stuckAfterMs` means the worker hangs (logged once until it answers). */
function watchStuck(calls: { oldest(): number; size(): number }, stuckAfterMs: number, log?: Logger) {
  let stuck = false;
  const timer = setInterval(() => {
    const oldest = calls.oldest();
    const now = Number.isFinite(oldest) && Date.now() - oldest > stuckAfterMs;
    if (now && !stuck) log?.error("store worker has not answered for a while; the node is unready", { waitingMs: Date.now() - oldest, waiting: calls.size() });
    stuck = now;
  }, 1000);
  timer.unref?.();
  return { stuck: () => stuck, reset: () => void (stuck = false), stop: () => clearInterval(timer) };
}
