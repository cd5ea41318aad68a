// Frames from a client: the per-connection rates (every frame, text ones too, before any inflate or decode), gzip
// within its bound, the envelope, and on to the request runner; text frames carry only heartbeats (§2.1). A
// protocol error closes the connection with its kind (protocol/disconnects.ts).
import type { Config } from "../config/schema.js";
import { type Counters, bump } from "../observe/stats.js";
import type { DisconnectKind } from "../protocol/disconnects.js";
import type { Conn } from "../sessions/conn.js";
import { RATE_LIMITED, TokenBucket } from "../sessions/limits.js";
import { decodeReq, resp } from "./codec/envelope.js";
import { InflateError, gunzipBounded } from "./codec/gzip.js";
import { handleTextFrame } from "./heartbeat.js";
import type { Outbound } from "./outbound.js";
import type { RunRequest } from "./request-runner.js";
import type { Handler } from "./requests.js";

export function createFrameIntake(deps: {
  config: Config;
  counters: Counters;
  outbound: Outbound;
  handlers: Map<number, Handler>;
  run: RunRequest;
  closeProtocol: (conn: Conn, kind: DisconnectKind) => void;
}) {
  const { counters, outbound, handlers, run, closeProtocol } = deps;
  const ws = deps.config.ws;
  const requestBucketOf = () => (ws.requestsPerSecond > 0 ? new TokenBucket(ws.requestsPerSecond, ws.requestsPerSecond * 2) : undefined);
  const byteBucketOf = () => (ws.bytesPerSecond > 0 ? new TokenBucket(ws.bytesPerSecond, Math.max(ws.bytesPerSecond * 2, ws.maxFrameBytes)) : undefined);

  /**
   * The rates, checked on every frame (text ones too) before it is inflated or decoded. A request over the rate
   * is still answered (1650: the SDKs wait for every reply), which costs a decode: that is granted at most at the
   * rate itself (a second bucket); a client that keeps sending past it is closed instead.
   */
  const overLimit = (conn: Conn, bytes: number): "ok" | "refuse" | "closed" => {
    const byteBucket = conn.byteBucket === undefined && ws.bytesPerSecond > 0 ? (conn.byteBucket = byteBucketOf()) : conn.byteBucket;
    if (byteBucket && !byteBucket.take(bytes)) {
      bump(counters.limitRefusals, "byte_rate");
      closeProtocol(conn, "byteRate");
      return "closed";
    }
    const requestBucket = conn.requestBucket === undefined && ws.requestsPerSecond > 0 ? (conn.requestBucket = requestBucketOf()) : conn.requestBucket;
    if (!requestBucket || requestBucket.take()) return "ok";
    bump(counters.limitRefusals, "request_rate");
    conn.refusalBucket ??= new TokenBucket(ws.requestsPerSecond, ws.requestsPerSecond * 2);
    if (conn.refusalBucket.take()) return "refuse";
    closeProtocol(conn, "requestRate");
    return "closed";
  };

  function onBinary(conn: Conn, raw: Uint8Array) {
    counters.messagesIn++;
    counters.bytesIn += raw.byteLength;
    const limit = overLimit(conn, raw.byteLength);
    if (limit === "closed") return;
    let buf = raw;
    if (conn.gzip) {
      try {
        buf = gunzipBounded(raw, ws.maxInflatedBytes);
      } catch (e) {
        const tooLarge = e instanceof InflateError && e.tooLarge;
        return closeProtocol(conn, tooLarge ? "inflatedTooLarge" : "badGzip");
      }
    }
    let req;
    try {
      req = decodeReq(conn.codec, buf);
    } catch {
      return closeProtocol(conn, "undecodable");
    }
    if (req.sendID !== conn.userID) return closeProtocol(conn, "sendIDMismatch");
    const handler = handlers.get(req.reqIdentifier);
    if (!handler) return closeProtocol(conn, "unknownRequest");
    if (conn.inflight >= ws.maxInflightPerConn) return closeProtocol(conn, "tooManyInFlight");
    if (limit === "refuse") {
      // Answered, not dropped: the SDKs wait for every reply.
      bump(counters.requests, `${req.reqIdentifier}:${RATE_LIMITED.code}`);
      outbound.sendResp(conn, resp(req.reqIdentifier, { msgIncr: req.msgIncr, operationID: req.operationID, errCode: RATE_LIMITED.code, errMsg: RATE_LIMITED.msg }));
      return;
    }
    run(conn, req, handler);
  }

  return {
    binary: onBinary,
    text(conn: Conn, message: string) {
      if (overLimit(conn, Buffer.byteLength(message)) !== "ok") return;
      const r = handleTextFrame(message);
      if (r.kind === "pong") outbound.sendText(conn, r.reply);
      else if (r.kind === "error") closeProtocol(conn, "badText");
    },
    /** After a reload: the connection's buckets are made anew at its next frame, with the new rates. */
    resetRates(conn: Conn) {
      conn.requestBucket = undefined;
      conn.byteBucket = undefined;
      conn.refusalBucket = undefined;
    },
  };
}
