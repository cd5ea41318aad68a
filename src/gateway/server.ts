// The WebSocket edge on Bun.serve: handshake (§1), framing (§2), heartbeats and read deadlines (§2.5),
// and dispatch to the request router. Connection state lives on ws.data (a Conn).
import type { Server, ServerWebSocket } from "bun";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { AuthPort } from "../backend/ports.js";
import type { Config } from "../config/schema.js";
import { type Logger, rateLimitedLog } from "../observe/log.js";
import { type Counters, bump } from "../observe/stats.js";
import { platformName } from "../protocol/constants.js";
import { type DisconnectKind, Disconnects } from "../protocol/disconnects.js";
import { CodeError, ErrCode, codeError, toCodeError } from "../protocol/errors.js";
import type { Conn } from "../sessions/conn.js";
import type { Registry } from "../sessions/registry.js";
import type { Sessions } from "../sessions/sessions.js";
import { decodeReq, resp, variantOf } from "./codec/envelope.js";
import { InflateError, gunzipBounded } from "./codec/gzip.js";
import { HANDSHAKE_OK_FRAME, handshakeErrorBody, parseHandshake } from "./handshake.js";
import { KeyedCounter, RATE_LIMITED, TokenBucket } from "../sessions/limits.js";
import { handleTextFrame } from "./heartbeat.js";
import type { Outbound } from "./outbound.js";
import { type Handler, metaFor, withDeadline } from "./requests.js";

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

let nextConnId = 1;

export function startEdge(deps: EdgeDeps): Edge {
  const { config, log, counters, registry, sessions, outbound, handlers } = deps;
  const ws = config.ws;
  // Handshakes in progress and open sockets both hold a slot, so bursts cannot overshoot the limit (§9.2.16).
  let slots = 0;
  const handshakeBucketOf = () => (ws.handshakesPerSecond > 0 ? new TokenBucket(ws.handshakesPerSecond, ws.handshakesPerSecond) : undefined);
  const requestBucketOf = () => (ws.requestsPerSecond > 0 ? new TokenBucket(ws.requestsPerSecond, ws.requestsPerSecond * 2) : undefined);
  const byteBucketOf = () => (ws.bytesPerSecond > 0 ? new TokenBucket(ws.bytesPerSecond, Math.max(ws.bytesPerSecond * 2, ws.maxFrameBytes)) : undefined);
  let handshakeBucket = handshakeBucketOf();
  const perIP = new KeyedCounter();
  const refuse = (limit: string, detail: string) => {
    bump(counters.limitRefusals, limit);
    return new CodeError(ErrCode.ConnOverMaxNumLimit, "ConnOverMaxNumLimit", detail);
  };

  const httpError = (e: CodeError) => {
    bump(counters.handshakeFailures, e.code);
    return new Response(handshakeErrorBody(e), { status: 200, headers: { "Content-Type": "application/json; charset=utf-8" } });
  };

  // A protocol error is the client's: counted by kind, logged at most a few times a minute per kind.
  const protocolLog = rateLimitedLog(log, 10, 60_000);
  const closeProtocol = (conn: Conn, kind: DisconnectKind) => {
    const d = Disconnects[kind];
    bump(counters.protocolCloses, kind);
    protocolLog(kind, "closing connection", { connID: conn.connID, userID: conn.userID, reason: d.reason, code: d.code });
    const wasOpen = conn.state === "open";
    outbound.close(conn, d.code, d.reason);
    if (wasOpen) sessions.unregister(conn);
  };

  async function handshake(req: Request, server: Server<Conn>): Promise<Response | undefined> {
    if (!deps.accepting()) return httpError(new CodeError(ErrCode.ConnOverMaxNumLimit, "ConnOverMaxNumLimit", "gateway is draining"));
    if (slots >= ws.maxConnections) return httpError(codeError(ErrCode.ConnOverMaxNumLimit, "over max conn num limit"));
    if (handshakeBucket && !handshakeBucket.take()) return httpError(refuse("handshake_rate", "handshake rate limit"));
    slots++;
    let upgraded = false;
    try {
      const ip = server.requestIP(req);
      const xff = req.headers.get("x-forwarded-for");
      const hostPort = ip ? (ip.family === "IPv6" ? `[${ip.address}]:${ip.port}` : `${ip.address}:${ip.port}`) : "";
      const remoteAddr = xff ? `${hostPort}_${xff}` : hostPort;
      const sourceIP = ip?.address ?? "";
      if (ws.maxConnsPerIP > 0 && perIP.get(sourceIP) >= ws.maxConnsPerIP)
        return httpError(refuse("per_ip", "too many connections from this address"));
      const connID = createHash("md5").update(`${remoteAddr}_${Date.now()}`).digest("hex");
      let p;
      try {
        p = parseHandshake(new URL(req.url), (h) => req.headers.get(h));
      } catch (e) {
        return httpError(toCodeError(e));
      }
      let handshakeError: CodeError | undefined;
      try {
        const claims = await withDeadline(
          deps.auth.parseToken(p.token, { operationID: p.operationID, opUserID: p.userID, platform: platformName(p.platformID), connID }),
          ws.handshakeTimeoutSeconds * 1000,
          "parseToken",
        );
        if (claims.userID !== p.userID) throw new CodeError(ErrCode.TokenInvalid, "TokenInvalidError", `token uid ${claims.userID} != userID ${p.userID}`);
        if (claims.platformID !== p.platformID)
          throw new CodeError(ErrCode.TokenInvalid, "TokenInvalidError", `token platform ${claims.platformID} != platformID ${p.platformID}`);
        if (ws.maxConnsPerUser > 0 && sessions.remainingAfterLogin(p.userID, p.platformID, p.token) >= ws.maxConnsPerUser)
          throw refuse("per_user", "too many connections for this user");
      } catch (e) {
        handshakeError = toCodeError(e);
        if (!p.isMsgResp) return httpError(handshakeError);
        bump(counters.handshakeFailures, handshakeError.code);
      }
      const now = Date.now();
      const codec = p.sdkType === "js" ? "json" : "gob";
      const conn: Conn = {
        id: nextConnId++, connID, userID: p.userID, platformID: p.platformID, token: p.token, operationID: p.operationID,
        codec, gzip: p.gzip, variant: variantOf(codec, p.gzip), sdkType: p.sdkType, sdkVersion: p.sdkVersion,
        isMsgResp: p.isMsgResp,
        // The handshake's isBackground is validated but every connection starts in foreground (§4.6).
        isBackground: false,
        remoteAddr, connectedAt: now, lastSeen: now, lastPing: now, inflight: 0, state: "handshake", handshakeError,
        ip: sourceIP,
        requestBucket: requestBucketOf(),
        byteBucket: byteBucketOf(),
      };
      upgraded = server.upgrade(req, { data: conn });
      if (upgraded) perIP.add(sourceIP, 1);
      if (!upgraded)
        return new Response("Bad Request\nwebsocket: the client is not using the websocket protocol\n", {
          status: 400, headers: { "Content-Type": "text/plain; charset=utf-8" },
        });
      return undefined;
    } finally {
      if (!upgraded) slots--;
    }
  }

  function onBinary(conn: Conn, raw: Uint8Array) {
    counters.messagesIn++;
    counters.bytesIn += raw.byteLength;
    if (conn.byteBucket && !conn.byteBucket.take(raw.byteLength)) {
      bump(counters.limitRefusals, "byte_rate");
      return closeProtocol(conn, "byteRate");
    }
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
    if (conn.requestBucket && !conn.requestBucket.take()) {
      // Answered, not dropped: the SDKs wait for every reply.
      bump(counters.limitRefusals, "request_rate");
      bump(counters.requests, `${req.reqIdentifier}:${RATE_LIMITED.code}`);
      outbound.sendResp(conn, resp(req.reqIdentifier, { msgIncr: req.msgIncr, operationID: req.operationID, errCode: RATE_LIMITED.code, errMsg: RATE_LIMITED.msg }));
      return;
    }
    conn.inflight++;
    bump(counters.userRequests, conn.userID);
    const key = String(req.reqIdentifier);
    const started = performance.now();
    // Cancellation: the backend call behind this request (a gRPC call to OpenIM's services) is aborted at the
    // request's deadline or when the connection goes, so the work stops when its slot is given back.
    const abort = new AbortController();
    (conn.aborts ??= new Set()).add(abort);
    const deadline = setTimeout(() => abort.abort(new Error("deadline exceeded")), ws.requestTimeoutMs);
    handler({ conn, req, meta: { ...metaFor(conn, req), signal: abort.signal } })
      .catch((e) => ({ error: toCodeError(e), after: undefined, data: undefined }))
      .then((r) => {
        clearTimeout(deadline);
        // Emptied, the set is dropped: an idle connection keeps nothing for requests it made long ago.
        if (conn.aborts?.delete(abort) && conn.aborts.size === 0) conn.aborts = undefined;
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
  }

  const server = Bun.serve<Conn>({
    hostname: ws.host,
    port: ws.port,
    // Workers of `serve --workers N` share the port; the kernel spreads connections over them.
    reusePort: process.env.IMGATE_WORKER !== undefined,
    tls: ws.tlsCert ? { cert: readFileSync(ws.tlsCert, "utf8"), key: readFileSync(ws.tlsKey, "utf8") } : undefined,
    // Any path and method reach the handshake, as the reference mounts its handler on "/" (§1.1).
    fetch: handshake,
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
        slots--;
        perIP.add(conn.ip, -1);
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
    slots: () => slots,
    reconfigure() {
      handshakeBucket = handshakeBucketOf();
      for (const conn of registry.allConns()) {
        conn.requestBucket = requestBucketOf();
        conn.byteBucket = byteBucketOf();
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
