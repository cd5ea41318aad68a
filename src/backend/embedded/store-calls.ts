// The calls waiting for the store thread, on the event loop's side: each answered by id, a bounded number in all and
// per lane (user), posted to the worker once per turn, and a call whose signal aborts dropped (out of the outbox
// if it has not left yet, else on the worker's cancel list) and rejected at once.
import { CodeError, ErrCode } from "../../protocol/errors.js";
import type { StoreCtx } from "../ports.js";
import type { Args, Result, StoreOp, StoreReply, StoreRequest, ToWorker } from "./store-protocol.js";

interface Waiting {
  resolve: (v: any) => void;
  reject: (e: unknown) => void;
  since: number;
  lane: string;
  /** Removes the abort listener, if any. */
  unlisten?: () => void;
}

const failure = (why: string) => new CodeError(ErrCode.ServerInternal, "ServerInternalError", why);

export function createStoreCalls(opts: {
  maxQueue: number;
  maxPerLane: number;
  /** Posts a batch to the worker; false when there is none to post to now (the batch waits for the next flush). */
  post: (m: ToWorker) => boolean;
}) {
  const waiting = new Map<number, Waiting>();
  const perLane = new Map<string, number>();
  let nextID = 1;
  let outbox: StoreRequest[] = [];
  let cancels: number[] = [];
  let posting = false;
  let rejectedFull = 0;

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

  const flush = () => {
    posting = false;
    if (outbox.length === 0 && cancels.length === 0) return;
    const m: ToWorker = { requests: outbox, cancel: cancels.length ? cancels : undefined };
    if (!opts.post(m)) return;
    outbox = [];
    cancels = [];
  };
  const schedule = () => {
    if (posting) return;
    posting = true;
    // At the end of the loop's turn, not the microtask checkpoint: each handshake, socket frame or timer is a
    // callback of its own, so a microtask posted one message per call (a login storm: 36 → 11 µs of the store
    // thread and ~5 µs of this one per first login, batched).
    setImmediate(flush);
  };

  return {
    add<K extends StoreOp>(op: K, args: Args<K>, ctx?: StoreCtx): Promise<Result<K>> {
      const signal = ctx?.signal;
      if (signal?.aborted) return Promise.reject(failure(`store call dropped: ${(signal.reason as Error)?.message ?? "aborted"}`));
      if (waiting.size >= opts.maxQueue) {
        rejectedFull++;
        return Promise.reject(failure(`store busy: ${waiting.size} calls waiting`));
      }
      const lane = ctx?.lane ?? "";
      const mine = perLane.get(lane) ?? 0;
      if (mine >= opts.maxPerLane) {
        rejectedFull++;
        return Promise.reject(failure(`store busy: ${mine} calls of this user waiting`));
      }
      perLane.set(lane, mine + 1);
      const id = nextID++;
      const p = new Promise<Result<K>>((resolve, reject) => waiting.set(id, { resolve, reject, since: Date.now(), lane }));
      outbox.push({ id, op, args, lane } as StoreRequest);
      if (signal) {
        const onAbort = () => {
          const w = finish(id);
          if (!w) return;
          const i = outbox.findIndex((r) => r.id === id);
          if (i >= 0) outbox.splice(i, 1);
          else cancels.push(id);
          w.reject(failure(`store call dropped: ${(signal.reason as Error)?.message ?? "aborted"}`));
          schedule();
        };
        signal.addEventListener("abort", onAbort, { once: true });
        waiting.get(id)!.unlisten = () => signal.removeEventListener("abort", onAbort);
      }
      schedule();
      return p;
    },
    /** The worker's answers. */
    answer(replies: StoreReply[]) {
      for (const r of replies) {
        const entry = finish(r.id);
        if (!entry) continue;
        if (r.ok) entry.resolve(r.value);
        else entry.reject(new CodeError(r.code, r.msg, r.detail ?? ""));
      }
    },
    /** Posts what waits now (after the worker opened, before it closes). */
    flush,
    /** Fails every waiting call with 500 `why` (the worker died, the store closed). */
    failAll(why: string) {
      const err = failure(why);
      for (const id of [...waiting.keys()]) finish(id)?.reject(err);
      outbox = [];
      cancels = [];
    },
    /** When the oldest unanswered call was made (Infinity when none waits). */
    oldest: () => Math.min(...[...waiting.values()].map((w) => w.since)),
    size: () => waiting.size,
    rejectedFull: () => rejectedFull,
  };
}
