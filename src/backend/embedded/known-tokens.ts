// Tokens this process verified and found normal, kept when their connection closes, so the client's reconnect skips
// the HMAC, the SHA-256 and the token-state read (a login storm of 8,000 clients: 40–41 → 32–36 µs of server CPU a
// handshake). Every kick goes through this process's TokenStates (the embedded shape is one process), and each one
// that completes is logged by (user, platform): a kept token is used only if no kick of its user and platform
// completed since its state was read. A kick that completed before the read is in the state the read saw; one still
// under way is concurrent with the handshake either way. Connected clients cost nothing here (a token is kept from
// its connection's close to its next use; keeping them from the handshake on cost idle connections ~0.14 KB each);
// LRU, at most MAX_KNOWN_TOKENS.
import { BoundedMap } from "../../bounds.js";
import { unverifiedClaims } from "../token-hash.js";
import type { AuthPort, TokenIssuer } from "../ports.js";
import { type TokenStates, type VerifiedTokens, createEmbeddedAuth, tokenIssuer } from "./auth.js";

/** ~250 bytes each (the token and a map entry): at most ~12 MB for clients that left. */
export const MAX_KNOWN_TOKENS = 50_000;
/** (user, platform) pairs whose last kick is remembered; past that, everything cached before is treated as kicked. */
const MAX_KICK_LOG = 100_000;

export interface KickLog {
  /** The position now: read it before a token's state is read, and cache the token with it. */
  now(): number;
  /** True if a kick of (userID, platformID) completed after position `since`. */
  kickedSince(userID: string, platformID: number, since: number): boolean;
}

/** The embedded shape's token services as the node runs them: every kick logged, verified tokens remembered. */
export function embeddedTokenAuth(states: TokenStates, secret: string): { auth: AuthPort; tokens: TokenIssuer } {
  const logged = logKicks(states);
  return { auth: createEmbeddedAuth(logged, secret, knownTokens(logged)), tokens: tokenIssuer(logged, secret) };
}

/** `states` with its kicks logged when they complete (or fail: a failed kick may still have been written). */
export function logKicks(states: TokenStates, maxLog = MAX_KICK_LOG): TokenStates & KickLog {
  // Positions start at 1: 0 means "not verified here" to whoever keeps one.
  let seq = 1;
  /** Entries read at or before this position cannot be trusted (their pair's kick was forgotten or unknown). */
  let floor = 0;
  const last = new Map<string, number>();
  const key = (userID: string, platformID: number) => `${platformID}\u0000${userID}`;
  const kicked = (userID: string, platformID: number) => {
    seq++;
    if (last.size >= maxLog) {
      last.clear();
      floor = seq;
    }
    last.set(key(userID, platformID), seq);
  };
  const everything = () => (floor = ++seq);
  const after = <T>(p: Promise<T>, log: () => void) => p.finally(log);
  return {
    checkIn: (token, userID, platformID) => states.checkIn(token, userID, platformID),
    invalidateOthers: (preservedToken, userID, platformID) =>
      after(states.invalidateOthers(preservedToken, userID, platformID), () => kicked(userID, platformID)),
    kick: (tokens) =>
      after(states.kick(tokens), () => {
        for (const t of tokens) {
          const c = unverifiedClaims(t);
          if (c) kicked(c.UserID, c.PlatformID);
          else everything();
        }
      }),
    kickAll: (userID, platformID) => after(states.kickAll(userID, platformID), () => kicked(userID, platformID)),
    now: () => seq,
    kickedSince: (userID, platformID, since) => since < floor || (last.get(key(userID, platformID)) ?? 0) > since,
  };
}

/**
 * The verified, normal tokens whose connections closed, each kept as the kick log's position when its state was read:
 * its claims are read again from the token itself when it comes back (its signature was checked when it was kept).
 * A token comes here when its connection closes and leaves when it is used again, so connected clients cost nothing.
 */
export function knownTokens(kicks: KickLog, max = MAX_KNOWN_TOKENS): VerifiedTokens {
  const known = new BoundedMap<string, number>(max);
  return {
    position: () => kicks.now(),
    take(token: string, nowSec: number) {
      const readAt = known.get(token);
      if (readAt === undefined) return undefined;
      known.delete(token);
      const c = unverifiedClaims(token);
      // As verifyToken: expired at exp (a token without exp does not expire).
      if (!c || (c.exp !== undefined && nowSec >= c.exp) || kicks.kickedSince(c.UserID, c.PlatformID, readAt)) return undefined;
      return { claims: { userID: c.UserID, platformID: c.PlatformID, expireTimeSeconds: BigInt(c.exp ?? 0) }, readAt };
    },
    set(token: string, readAt: number): void {
      known.set(token, readAt);
    },
  };
}
