// The WebSocket edge on Bun.serve: admission (admission.ts, §1), framing and the per-connection limits (§2),
// heartbeats and read deadlines (§2.5), and dispatch to the request runner. Connection state lives on ws.data (a Conn).
import type { Server, ServerWebSocket } from "bun";
import { readFileSync } from "node:fs";
import type { AuthPort } from "../backend/ports.js";
import type { Config } from "../config/schema.js";
import { type Logger, rateLimitedLog } from "../observe/log.js";
import { type Counters, bump } from "../observe/stats.js";
import { type DisconnectKind, Disconnects } from "../protocol/disconnects.js";
import type { Conn } from "../sessions/conn.js";
import type { Registry } from "../sessions/registry.js";
import type { Sessions } from "../sessions/sessions.js";
import { decodeReq, resp } from "./codec/envelope.js";
import { InflateError, gunzipBounded } from "./codec/gzip.js";
import { HANDSHAKE_OK_FRAME, handshakeErrorBody } from "./handshake.js";
import { RATE_LIMITED, TokenBucket } from "../sessions/limits.js";
import { createAdmission } from "./admission.js";
import { createRequestRunner } from "./request-runner.js";
import { handleTextFrame } from "./heartbeat.js";
import type { Outbound } from "./outbound.js";
import type { Handler } from "./requests.js";

export interface EdgeDeps {
  config: Config;
  log: Logger;
  counters: Counters;
  registry: Registry;
  sessions: Sessions;
  outbound: Outbound;
  auth: AuthPort;
  handlers: Map<number, Handler>;
  /** False while draining: new handshakes are refused. */
  accepting: () => boolean;
  observeRequest?: (reqIdentifier: number, seconds: number) => void;
}

export interface Edge {
  server: Server<Conn>;
  /** Connections counted against websocketMaxConnNum: open ones plus handshakes in progress. */
  slots(): number;
  /** After a config reload: the handshake rate, and every open connection's request and byte rates, anew. */
  reconfigure(): void;
  /** Stops listening (new connections are refused by the kernel) and keeps serving the open ones (a drain). */
  stopAccepting(): void;
  stop(): void;
}

export function startEdge(deps: EdgeDeps): Edge {
  const { config, log, counters, registry, sessions, outbound, handlers } = deps;
  const ws = config.ws;
  const admission = createAdmission(deps);
  const run = createRequestRunner(deps);
  const requestBucketOf = () => (ws.requestsPerSecond > 0 ? new TokenBucket(ws.requestsPerSecond, ws.requestsPerSecond * 2) : undefined);
  const byteBucketOf = () => (ws.bytesPerSecond > 0 ? new TokenBucket(ws.bytesPerSecond, Math.max(ws.bytesPerSecond * 2, ws.maxFrameBytes)) : undefined);

  // A protocol error is the client's: counted by kind, logged at most a few times a minute per kind.
  const protocolLog = rateLimitedLog(log, 10, 60_000);
  const closeProtocol = (conn: Conn, kind: DisconnectKind) => {
    const d = Disconnects[kind];
    bump(counters.protocolCloses, kind);
    protocolLog(kind, "closing connection", { connID: conn.connID, userID: conn.userID, reason: d.reason, code: d.code, reconnect: d.reconnect });
    const wasOpen = conn.state === "open";
    outbound.close(conn, d.code, d.reason);
    if (wasOpen) sessions.unregister(conn);
  };

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

  const server = Bun.serve<Conn>({
    hostname: ws.host,
    port: ws.port,
    // Workers of `serve --workers N` share the port; the kernel spreads connections over them.
    reusePort: process.env.IMGATE_WORKER !== undefined,
    tls: ws.tlsCert ? { cert: readFileSync(ws.tlsCert, "utf8"), key: readFileSync(ws.tlsKey, "utf8") } : undefined,
    // Any path and method reach the handshake, as the reference mounts its handler on "/" (§1.1).
    fetch: (req, server) => admission.admit(req, server),
    websocket: {
      maxPayloadLength: ws.maxFrameBytes,
      // Our slow-consumer check closes a socket before Bun would drop a frame for it.
      backpressureLimit: ws.slowConsumerBytes + 4 * ws.maxFrameBytes + (1 << 20),
      closeOnBackpressureLimit: false,
      // Read deadlines and Web pings are ours (Bun's idle timer is 4 s coarse); this is only a backstop.
      idleTimeout: Math.min(960, ws.pongWaitSeconds + 30),
      sendPings: false,
      perMessageDeflate: false,
      publishToSelf: true,
      open(sock: ServerWebSocket<Conn>) {
        const conn = sock.data;
        conn.ws = sock;
        admission.opened(conn);
        if (conn.handshakeError) {
          // Browsers cannot read a failed upgrade's body: report the token failure as one text frame (§1.3).
          outbound.sendText(conn, handshakeErrorBody(conn.handshakeError));
          outbound.close(conn, Disconnects.authFailed.code, Disconnects.authFailed.reason);
          return;
        }
        counters.handshakes++;
        if (conn.isMsgResp) outbound.sendText(conn, HANDSHAKE_OK_FRAME);
        sessions.register(conn);
        log.debug("connected", { connID: conn.connID, userID: conn.userID, platformID: conn.platformID, codec: conn.variant });
      },
      message(sock, message) {
        const conn = sock.data;
        if (conn.state !== "open") return;
        conn.lastSeen = Date.now();
        if (typeof message === "string") {
          if (overLimit(conn, Buffer.byteLength(message)) !== "ok") return;
          const r = handleTextFrame(message);
          if (r.kind === "pong") outbound.sendText(conn, r.reply);
          else if (r.kind === "error") closeProtocol(conn, "badText");
          return;
        }
        onBinary(conn, message);
      },
      ping(sock) {
        sock.data.lastSeen = Date.now();
      },
      pong(sock) {
        sock.data.lastSeen = Date.now();
      },
      close(sock) {
        const conn = sock.data;
        admission.release(conn);
        if (conn.state === "open" || conn.state === "closing") sessions.unregister(conn);
        conn.state = "closed";
        for (const a of conn.aborts ?? []) a.abort(new Error("connection closed"));
        log.debug("disconnected", { connID: conn.connID, userID: conn.userID });
      },
    },
  });

  // One timer for every read deadline and ping instead of one per connection. OpenIM pings only Web (platform 5);
  // we ping every connection that has been silent for the ping period, because OpenIM's own wasm Go core sends no
  // heartbeat on the wire (its socket layer drops ping writes) and would otherwise be cut by the read deadline
  // every ~31 s on any other platform. Every WebSocket stack answers control pings (docs/compatibility.md).
  const pongWait = ws.pongWaitSeconds * 1000;
  const pingPeriod = ws.pingPeriodSeconds * 1000;
  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const conn of registry.allConns()) {
      if (now - conn.lastSeen > pongWait) closeProtocol(conn, "readDeadline");
      else if (now - conn.lastSeen >= pingPeriod && now - conn.lastPing >= pingPeriod) {
        conn.lastPing = now;
        conn.ws?.ping();
      }
    }
  }, 1000);
  sweeper.unref?.();

  let listening = true;
  return {
    server,
    slots: () => admission.slots(),
    reconfigure() {
      admission.reconfigure();
      // Buckets are made anew at each connection's next frame, with the new rates.
      for (const conn of registry.allConns()) {
        conn.requestBucket = undefined;
        conn.byteBucket = undefined;
        conn.refusalBucket = undefined;
      }
    },
    stopAccepting() {
      if (!listening) return;
      listening = false;
      // Open sockets keep working (sends, publishes, their requests); only the listening socket closes.
      server.stop(false);
    },
    stop() {
      clearInterval(sweeper);
      listening = false;
      server.stop(true);
    },
  };
}
