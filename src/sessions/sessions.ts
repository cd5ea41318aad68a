// Sessions: registration under the multi-login policy, kicks, logout and background mode. Everything that
// changes who is connected runs synchronously here; token RPCs that follow a kick run afterwards and
// never hold up a registration (§9.2.2–3).
import type { AuthPort, CallMeta } from "../backend/ports.js";
import type { Logger } from "../observe/log.js";
import { type Counters, bump } from "../observe/stats.js";
import { Req, platformName } from "../protocol/constants.js";
import { Disconnects } from "../protocol/disconnects.js";
import { type WireResp, resp } from "../protocol/wire.js";
import type { Conn } from "./conn.js";
import { decideLogin } from "./policy.js";
import type { Registry } from "./registry.js";

/** What sessions need of the socket layer: answer a connection and close it (gateway/outbound.ts provides it). */
export interface ConnWriter {
  sendResp(conn: Conn, resp: WireResp): boolean;
  close(conn: Conn, code: number, reason: string): void;
}

export type KickReason = "multi-login" | "admin" | "hub" | "peer" | "drain";

export interface Sessions {
  register(conn: Conn): void;
  unregister(conn: Conn): void;
  /** Kick one connection: 2002, removed at once, closed after its queue drains. */
  kick(conn: Conn, reason: KickReason): void;
  /** Kick a user's connections on one platform (0 = all); returns how many. */
  kickUser(userID: string, platformID: number, reason: KickReason): number;
  /** Apply the login policy for a login that happened elsewhere (another node). */
  applyRemoteLogin(userID: string, platformID: number, token: string, meta: CallMeta): number;
  setBackground(conn: Conn, background: boolean): void;
  /** How many of the user's connections would remain here after this login's policy kicks (for the per-user limit). */
  remainingAfterLogin(userID: string, platformID: number, token: string): number;
  /** Before a kicked connection is removed (webhooks). */
  onKicked(listener: (conn: Conn, reason: KickReason) => void): void;
  /** After a connection is registered here (cluster: tell the nodes holding the same user). */
  onRegistered(listener: (conn: Conn) => void): void;
}

export function createSessions(opts: {
  registry: Registry;
  outbound: ConnWriter;
  auth: AuthPort;
  policy: () => number;
  counters: Counters;
  log: Logger;
}): Sessions {
  const { registry, outbound, auth, counters, log } = opts;

  const metaOf = (c: { operationID: string; userID: string; platformID: number; connID: string }): CallMeta => ({
    operationID: c.operationID, opUserID: c.userID, platform: platformName(c.platformID), connID: c.connID,
  });

  const enforce = (userID: string, incoming: { platformID: number; token: string }, meta: CallMeta, exclude?: Conn): number => {
    const existing = registry.userConns(userID);
    if (!existing) return 0;
    const others = exclude ? [...existing].filter((c) => c !== exclude) : existing;
    const decision = decideLogin(opts.policy(), others, incoming);
    for (const c of decision.kick) s.kick(c, "multi-login");
    if (decision.invalidate) {
      const { preservedToken, platformID } = decision.invalidate;
      auth.invalidateToken({ preservedToken, userID, platformID }, meta).catch((err) =>
        log.warn("invalidateToken failed", { userID, platformID, err, operationID: meta.operationID }));
    }
    if (decision.kickTokens.length > 0)
      auth.kickTokens(decision.kickTokens, meta).catch((err) => log.warn("kickTokens failed", { userID, err, operationID: meta.operationID }));
    return decision.kick.length;
  };

  const kicked: ((conn: Conn, reason: KickReason) => void)[] = [];
  const registered: ((conn: Conn) => void)[] = [];
  const s: Sessions = {
    register(conn) {
      enforce(conn.userID, conn, metaOf(conn));
      conn.state = "open";
      registry.add(conn);
      for (const l of registered) l(conn);
    },
    unregister(conn) {
      registry.remove(conn);
      conn.state = "closed";
    },
    kick(conn, reason) {
      if (!registry.has(conn)) return;
      for (const l of kicked) l(conn, reason);
      registry.remove(conn);
      bump(counters.kicks, reason);
      outbound.sendResp(conn, resp(Req.KickOnlineMsg));
      outbound.close(conn, Disconnects.kicked.code, `${Disconnects.kicked.reason}: ${reason}`);
      log.info("kicked", { connID: conn.connID, userID: conn.userID, platformID: conn.platformID, reason });
    },
    kickUser(userID, platformID, reason) {
      const conns = registry.userConns(userID);
      if (!conns) return 0;
      let n = 0;
      for (const c of [...conns]) {
        if (platformID === 0 || c.platformID === platformID) {
          s.kick(c, reason);
          n++;
        }
      }
      return n;
    },
    applyRemoteLogin(userID, platformID, token, meta) {
      return enforce(userID, { platformID, token }, meta);
    },
    remainingAfterLogin(userID, platformID, token) {
      const existing = registry.userConns(userID);
      if (!existing) return 0;
      return existing.length - decideLogin(opts.policy(), existing, { platformID, token }).kick.length;
    },
    setBackground(conn, background) {
      if (conn.isBackground === background) return;
      // Only iOS in background is skipped by pushes (§4.6); push.ts reads this flag.
      conn.isBackground = background;
    },
    onKicked: (l) => void kicked.push(l),
    onRegistered: (l) => void registered.push(l),
  };
  return s;
}
