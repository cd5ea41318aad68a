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
import { HANDSHAKE_OK_FRAME, handshakeErrorBody } from "./handshake.js";
import { createAdmission } from "./admission.js";
import { createFrameIntake } from "./frames.js";
import { createRequestRunner } from "./request-runner.js";
import { startSweeper } from "./sweeper.js";
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
  const frames = createFrameIntake({ config, counters, outbound, handlers, run, closeProtocol });

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
        if (typeof message === "string") frames.text(conn, message);
        else frames.binary(conn, message);
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
        for (const a of conn.aborts ?? []) a.cancel(new Error("connection closed"));
        log.debug("disconnected", { connID: conn.connID, userID: conn.userID });
      },
    },
  });

  const sweeper = startSweeper(registry, ws, (conn) => closeProtocol(conn, "readDeadline"));

  let listening = true;
  return {
    server,
    slots: () => admission.slots(),
    reconfigure() {
      admission.reconfigure();
      for (const conn of registry.allConns()) frames.resetRates(conn);
    },
    stopAccepting() {
      if (!listening) return;
      listening = false;
      // Open sockets keep working (sends, publishes, their requests); only the listening socket closes.
      server.stop(false);
    },
    stop() {
      sweeper.stop();
      listening = false;
      server.stop(true);
    },
  };
}
