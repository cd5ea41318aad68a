// Running one client request: its in-flight slot, its deadline and cancellation (one RequestCancel, cancelled at
// the deadline or when the connection closes; its AbortSignal goes to a backend call that asks for it), and its one
// reply with its own msgIncr.
import type { Config } from "../config/schema.js";
import type { Logger } from "../observe/log.js";
import { type Counters, bump } from "../observe/stats.js";
import { Req } from "../protocol/constants.js";
import { CodeError, ErrCode, toCodeError } from "../protocol/errors.js";
import type { Conn } from "../sessions/conn.js";
import { type WireReq, resp } from "./codec/envelope.js";
import type { Outbound } from "./outbound.js";
import { type Handler, metaFor } from "./requests.js";
import { RequestCancel } from "./cancel.js";

export interface RunnerDeps {
  config: Config;
  log: Logger;
  counters: Counters;
  outbound: Outbound;
  observeRequest?: (reqIdentifier: number, seconds: number) => void;
}

export type RunRequest = (conn: Conn, req: WireReq, handler: Handler) => void;

/** The reads whose cost grows with what the client names (conversations, ranges, seqs). */
const HEAVY_READS = new Set<number>([Req.PullMsgBySeqList, Req.PullMsg, Req.GetConvMaxReadSeq, Req.PullConvLastMessage]);

/**
 * Heavy reads of one user run at most `limit()` at a time, the rest wait their turn (per user, in order): the
 * event loop's share of one user's reads (decoding what the store returns, encoding the reply) stays bounded,
 * however many connections and requests that user opens. Waiting counts toward the request's deadline.
 */
function perUserTurns(limit: () => number) {
  const users = new Map<string, { active: number; waiting: (() => void)[] }>();
  return {
    async acquire(userID: string, cancel: RequestCancel): Promise<void> {
      let u = users.get(userID);
      if (!u) users.set(userID, (u = { active: 0, waiting: [] }));
      if (u.active < limit()) {
        u.active++;
        return;
      }
      const entry = u;
      let go!: () => void;
      const turn = new Promise<void>((resolve) => entry.waiting.push((go = resolve)));
      try {
        await cancel.race(turn, (why) => new CodeError(ErrCode.ServerInternal, "ServerInternalError", `waiting for this user's earlier reads: ${why.message}`));
      } catch (e) {
        const i = entry.waiting.indexOf(go);
        if (i >= 0) entry.waiting.splice(i, 1);
        // Cancelled just as its turn came: the slot it was handed goes on.
        else this.release(userID);
        throw e;
      }
    },
    release(userID: string): void {
      const u = users.get(userID);
      if (!u) return;
      const next = u.waiting.shift();
      // The slot passes straight to the next waiter (active stays the same).
      if (next) return next();
      u.active--;
      if (u.active === 0) users.delete(userID);
    },
  };
}

export function createRequestRunner(deps: RunnerDeps): RunRequest {
  const { config, log, counters, outbound } = deps;
  const turns = perUserTurns(() => config.ws.maxConcurrentReadsPerUser);
  const inTurn = (conn: Conn, req: WireReq, handler: Handler): Handler => async (ctx) => {
    if (!HEAVY_READS.has(req.reqIdentifier)) return handler(ctx);
    await turns.acquire(conn.userID, ctx.meta.cancel);
    try {
      return await handler(ctx);
    } finally {
      turns.release(conn.userID);
    }
  };
  return (conn, req, plainHandler) => {
    const handler = inTurn(conn, req, plainHandler);
    conn.inflight++;
    bump(counters.userRequests, conn.userID);
    const key = String(req.reqIdentifier);
    const started = performance.now();
    // Cancellation: the backend call behind this request (a store call, a gRPC call to OpenIM's services) is dropped
    // or aborted at the request's deadline or when the connection goes, so the work stops when its slot is given back.
    const cancel = new RequestCancel();
    (conn.aborts ??= new Set()).add(cancel);
    const deadline = setTimeout(() => cancel.cancel(new Error("deadline exceeded")), config.ws.requestTimeoutMs);
    // (A getter in the literal: the AbortSignal is made only if something reads it.)
    const meta = { ...metaFor(conn, req), cancel, get signal() { return cancel.signal; } };
    handler({ conn, req, meta })
      .catch((e) => ({ error: toCodeError(e), after: undefined, data: undefined }))
      .then((r) => {
        clearTimeout(deadline);
        // Emptied, the set is dropped: an idle connection keeps nothing for requests it made long ago.
        if (conn.aborts?.delete(cancel) && conn.aborts.size === 0) conn.aborts = undefined;
        conn.inflight--;
        deps.observeRequest?.(req.reqIdentifier, (performance.now() - started) / 1000);
        const err = r.error;
        bump(counters.requests, `${key}:${err ? err.code : 0}`);
        if (err && err.code === ErrCode.ServerInternal) log.warn("request failed", { connID: conn.connID, operationID: req.operationID, reqIdentifier: req.reqIdentifier, err: err.message });
        // Queued: it leaves with whatever else this turn writes to the connection (a 1003's echo push).
        outbound.queueResp(conn, resp(req.reqIdentifier, {
          msgIncr: req.msgIncr, operationID: req.operationID,
          errCode: err ? err.code : 0, errMsg: err ? err.msg : "", data: err ? undefined : r.data,
        }));
        r.after?.();
      });
  };
}
