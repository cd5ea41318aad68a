// Admission: everything decided before a socket is upgraded, in the order it costs the least to refuse. Draining,
// the connection slots, the browser Origin, the per-address handshake rate and connection count, the node-wide
// handshake rate, the handshake's parameters, the token, the per-user connection count. What comes out is a Conn
// for the WebSocket layer, or an answer in OpenIM's handshake error format (HTTP 200 JSON, §1.3).
import type { Server } from "bun";
import { createHash } from "node:crypto";
import type { AuthPort } from "../backend/ports.js";
import { cidrMatcher } from "../config/cidr.js";
import type { Config } from "../config/schema.js";
import { type Counters, bump } from "../observe/stats.js";
import { platformName } from "../protocol/constants.js";
import { CodeError, ErrCode, codeError, toCodeError } from "../protocol/errors.js";
import type { Conn } from "../sessions/conn.js";
import { BoundedMap } from "../bounds.js";
import { KeyedCounter, TokenBucket } from "../sessions/limits.js";
import type { Sessions } from "../sessions/sessions.js";
import { variantOf } from "./codec/envelope.js";
import { handshakeErrorBody, parseHandshake } from "./handshake.js";
import { withDeadline } from "./requests.js";
import { joinHostPort } from "../config/host-port.js";

export interface AdmissionDeps {
  config: Config;
  counters: Counters;
  sessions: Sessions;
  auth: AuthPort;
  /** False while draining: new handshakes are refused. */
  accepting: () => boolean;
}

export interface Admission {
  /** Undefined when the socket was upgraded (its Conn travels as ws.data), else the answer to send. */
  admit(req: Request, server: Server<Conn>): Promise<Response | undefined>;
  /** The socket is open (the WebSocket layer registers it now): it no longer counts as a pending handshake. */
  opened(conn: Conn): void;
  /** A socket admitted earlier has closed: its slot and its address's count are given back. */
  release(conn: Conn): void;
  /** Connections counted against websocketMaxConnNum: open ones plus handshakes in progress. */
  slots(): number;
  /** After a config reload: rates and address lists anew. */
  reconfigure(): void;
}

/** Per-address handshake buckets kept at most (least recently used go first: a forgotten address starts full). */
export const MAX_TRACKED_ADDRESSES = 100_000;

let nextConnId = 1;

/** Origin patterns: exact ("https://app.example.com") or a subdomain wildcard ("https://*.example.com"). */
function originMatcher(patterns: string[]): (origin: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.includes("*")).map((p) => p.toLowerCase()));
  const wild = patterns.filter((p) => p.includes("*")).map((p) => {
    const [scheme, host] = p.toLowerCase().split("://*.") as [string, string];
    return { scheme, suffix: "." + host };
  });
  return (origin) => {
    const o = origin.toLowerCase();
    if (exact.has(o)) return true;
    return wild.some((w) => o.startsWith(w.scheme + "://") && o.endsWith(w.suffix) && o.length > w.scheme.length + 3 + w.suffix.length);
  };
}

/** Longer than ~120 lines on purpose: `admit` reads as the checks in their refusal order, over counters it shares
 *  with `opened`/`release`; split up, the order would be harder to see. */
export function createAdmission(deps: AdmissionDeps): Admission {
  const { config, counters, sessions } = deps;
  const ws = config.ws;
  // Handshakes in progress and open sockets both hold a slot, so bursts cannot overshoot the limit (§9.2.16).
  let slots = 0;
  const perIP = new KeyedCounter();
  // Handshakes of a user still checking their token: counted with the user's open connections, so a burst of
  // parallel handshakes cannot pass the per-user limit together.
  const pendingPerUser = new KeyedCounter();
  let nodeBucket: TokenBucket | undefined;
  let ipBuckets = new BoundedMap<string, TokenBucket>(MAX_TRACKED_ADDRESSES);
  let exempt = cidrMatcher(ws.limitExempt);
  let trusted = cidrMatcher(ws.trustedProxies);
  let originAllowed = originMatcher(ws.allowedOrigins);
  const configure = () => {
    nodeBucket = ws.handshakesPerSecond > 0 ? new TokenBucket(ws.handshakesPerSecond, ws.handshakesPerSecond) : undefined;
    ipBuckets = new BoundedMap(MAX_TRACKED_ADDRESSES);
    exempt = cidrMatcher(ws.limitExempt);
    trusted = cidrMatcher(ws.trustedProxies);
    originAllowed = originMatcher(ws.allowedOrigins);
  };
  configure();

  const refuse = (limit: string, detail: string) => {
    bump(counters.limitRefusals, limit);
    return new CodeError(ErrCode.ConnOverMaxNumLimit, "ConnOverMaxNumLimit", detail);
  };
  const httpError = (e: CodeError) => {
    bump(counters.handshakeFailures, e.code);
    return new Response(handshakeErrorBody(e), { status: 200, headers: { "Content-Type": "application/json; charset=utf-8" } });
  };

  /** The client's address: the peer, or behind a trusted proxy the nearest untrusted X-Forwarded-For entry. */
  const clientIP = (peer: string, xff: string | null): string => {
    if (!xff || !trusted(peer)) return peer;
    const hops = xff.split(",").map((h) => h.trim()).filter(Boolean);
    for (let i = hops.length - 1; i >= 0; i--) if (!trusted(hops[i]!)) return hops[i]!;
    return hops[0] ?? peer;
  };

  const ipBucket = (ip: string) => {
    let b = ipBuckets.get(ip);
    if (!b) ipBuckets.set(ip, (b = new TokenBucket(ws.handshakesPerIPPerSecond, ws.handshakesPerIPPerSecond * 2)));
    return b;
  };

  async function admit(req: Request, server: Server<Conn>): Promise<Response | undefined> {
    if (!deps.accepting()) return httpError(new CodeError(ErrCode.ConnOverMaxNumLimit, "ConnOverMaxNumLimit", "gateway is draining"));
    if (slots >= ws.maxConnections) return httpError(codeError(ErrCode.ConnOverMaxNumLimit, "over max conn num limit"));
    const origin = req.headers.get("origin");
    if (origin !== null && ws.allowedOrigins.length > 0 && !originAllowed(origin)) {
      bump(counters.limitRefusals, "origin");
      bump(counters.handshakeFailures, 403);
      return new Response(`origin ${origin.slice(0, 200)} is not allowed\n`, { status: 403 });
    }
    const peer = server.requestIP(req);
    const xff = req.headers.get("x-forwarded-for");
    const ip = clientIP(peer?.address ?? "", xff);
    const limited = !exempt(ip);
    if (limited && ws.handshakesPerIPPerSecond > 0 && !ipBucket(ip).take()) return httpError(refuse("handshake_rate_ip", "handshake rate limit for this address"));
    if (limited && ws.maxConnsPerIP > 0 && perIP.get(ip) >= ws.maxConnsPerIP) return httpError(refuse("per_ip", "too many connections from this address"));
    if (nodeBucket && !nodeBucket.take()) return httpError(refuse("handshake_rate", "handshake rate limit"));
    slots++;
    let upgraded = false;
    let pendingUser: string | undefined;
    try {
      const hostPort = peer ? joinHostPort(peer.address, peer.port) : "";
      const remoteAddr = xff ? `${hostPort}_${xff}` : hostPort;
      const connID = createHash("md5").update(`${remoteAddr}_${Date.now()}`).digest("hex");
      let p;
      try {
        p = parseHandshake(new URL(req.url), (h) => req.headers.get(h));
      } catch (e) {
        return httpError(toCodeError(e));
      }
      pendingUser = p.userID;
      pendingPerUser.add(pendingUser, 1);
      let handshakeError: CodeError | undefined;
      let verifiedAt = 0;
      try {
        const claims = await withDeadline(
          deps.auth.parseToken(p.token, { operationID: p.operationID, opUserID: p.userID, platform: platformName(p.platformID), connID }),
          ws.handshakeTimeoutSeconds * 1000,
          "parseToken",
        );
        if (claims.userID !== p.userID) throw new CodeError(ErrCode.TokenInvalid, "TokenInvalidError", `token uid ${claims.userID} != userID ${p.userID}`);
        if (claims.platformID !== p.platformID)
          throw new CodeError(ErrCode.TokenInvalid, "TokenInvalidError", `token platform ${claims.platformID} != platformID ${p.platformID}`);
        verifiedAt = claims.verifiedAt ?? 0;
        // This handshake counts itself among the pending ones.
        if (ws.maxConnsPerUser > 0 && sessions.remainingAfterLogin(p.userID, p.platformID, p.token) + pendingPerUser.get(p.userID) > ws.maxConnsPerUser)
          throw refuse("per_user", `too many connections for this user (at most ${ws.maxConnsPerUser})`);
      } catch (e) {
        handshakeError = toCodeError(e);
        if (!p.isMsgResp) return httpError(handshakeError);
        bump(counters.handshakeFailures, handshakeError.code);
      }
      const now = Date.now();
      const codec = p.sdkType === "js" ? "json" : "gob";
      const conn: Conn = {
        id: nextConnId++, connID, userID: p.userID, platformID: p.platformID, token: p.token, verifiedAt, operationID: p.operationID,
        codec, gzip: p.gzip, variant: variantOf(codec, p.gzip), sdkType: p.sdkType, sdkVersion: p.sdkVersion,
        isMsgResp: p.isMsgResp,
        // The handshake's isBackground is validated but every connection starts in foreground (§4.6).
        isBackground: false,
        remoteAddr, connectedAt: now, lastSeen: now, lastPing: now, inflight: 0, state: "handshake", handshakeError,
        ip: limited ? ip : "",
      };
      upgraded = server.upgrade(req, { data: conn });
      // Until the open handler registers it, it stays a pending handshake of its user.
      if (upgraded) pendingUser = undefined;
      if (upgraded && conn.ip) perIP.add(conn.ip, 1);
      if (!upgraded)
        return new Response("Bad Request\nwebsocket: the client is not using the websocket protocol\n", {
          status: 400, headers: { "Content-Type": "text/plain; charset=utf-8" },
        });
      return undefined;
    } finally {
      if (!upgraded) slots--;
      if (pendingUser !== undefined) pendingPerUser.add(pendingUser, -1);
    }
  }

  return {
    admit,
    opened(conn) {
      pendingPerUser.add(conn.userID, -1);
    },
    release(conn) {
      slots--;
      if (conn.ip) perIP.add(conn.ip, -1);
      // Not for a connection refused after the upgrade (isMsgResp's token failures): its token was not good.
      if (conn.verifiedAt > 0 && !conn.handshakeError) deps.auth.released?.(conn.token, conn.verifiedAt);
    },
    slots: () => slots,
    reconfigure: configure,
  };
}
