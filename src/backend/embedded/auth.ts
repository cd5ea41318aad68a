// Embedded auth service: OpenIM-compatible JWTs plus a persisted token-state table (hashes, never tokens), so a
// kicked token stays kicked across restarts. Tokens minted offline (`imgate token`) are unknown until first used: an unknown
// token with a valid signature counts as normal (OpenIM would say 1507; there is no issuing service here).
// The signature is checked on the event loop (CPU only); the token states live with the database: written on the
// store worker (tokenStatesOn runs there), and a known token's state is read on the event loop (writer.ts). Tokens
// already verified and found normal may be remembered (known-tokens.ts) until a kick of their user and platform.
import type { Database } from "bun:sqlite";
import { randomBytes } from "node:crypto";
import type { AuthPort, TokenIssuer } from "../ports.js";
import { ErrCode, codeError } from "../../protocol/errors.js";
import { signToken, verifyToken } from "./jwt.js";
import { stateExpiry, tokenHash } from "../token-hash.js";

const NORMAL = 0, KICKED = 2;

/** The token-state table, as the auth service uses it. */
export interface TokenStates {
  /** The token's state; a token never seen is recorded as normal and reported undefined (one round trip). */
  checkIn(token: string, userID: string, platformID: number): Promise<number | undefined>;
  /** Keeps `preservedToken` normal and kicks the user's other tokens on that platform, in one transaction. */
  invalidateOthers(preservedToken: string, userID: string, platformID: number): Promise<void>;
  kick(tokens: string[]): Promise<void>;
  /** Kicks every token of the user on that platform. */
  kickAll(userID: string, platformID: number): Promise<void>;
}

/** The SQLite side of TokenStates (synchronous: it runs on the store worker's thread). Rows are keyed by the
 *  token's SHA-256 and carry its expiry; a user's expired rows go when that user logs in on the platform again
 *  (as OpenIM deletes expired tokens when it issues one), and `sweepExpired` takes the rest. */
/** A recorded token's state by its hash (undefined: never seen); on any connection to the database. */
export function tokenStateReader(db: Database): (hash: Buffer) => number | undefined {
  const getState = db.query<{ state: number }, [Buffer]>("SELECT state FROM token_state WHERE token_hash = ?");
  return (hash) => getState.get(hash)?.state;
}

export function tokenStatesOn(db: Database) {
  const stateOf = tokenStateReader(db);
  const remember = db.query(
    "INSERT OR IGNORE INTO token_state (token_hash, user_id, platform_id, state, expires_at) VALUES (?, ?, ?, 0, ?)");
  const dropExpiredOf = db.query("DELETE FROM token_state WHERE user_id = ? AND platform_id = ? AND expires_at <= ?");
  const kickOthers = db.query(
    "UPDATE token_state SET state = 2 WHERE user_id = ? AND platform_id = ? AND token_hash != ? AND state = 0",
  );
  const kick = db.query("UPDATE token_state SET state = 2 WHERE token_hash = ?");
  const kickAll = db.query("UPDATE token_state SET state = 2 WHERE user_id = ? AND platform_id = ? AND state = 0");
  const keep = db.query(
    "INSERT INTO token_state (token_hash, user_id, platform_id, state, expires_at) VALUES (?, ?, ?, 0, ?) ON CONFLICT(token_hash) DO NOTHING",
  );
  const sweep = db.query("DELETE FROM token_state WHERE expires_at <= ?");
  const now = () => Math.floor(Date.now() / 1000);
  const expiryOf = (token: string) => stateExpiry(token, now());
  /** Each token's state, in order; the ones never seen are recorded as normal, all in one transaction. */
  const checkInMany = db.transaction((list: { token: string; userID: string; platformID: number }[]) =>
    list.map(({ token, userID, platformID }) => {
      const h = tokenHash(token);
      const state = stateOf(h);
      if (state === undefined) {
        dropExpiredOf.run(userID, platformID, now());
        remember.run(h, userID, platformID, expiryOf(token));
      }
      return state;
    }));
  return {
    checkIn: (token: string, userID: string, platformID: number) => checkInMany([{ token, userID, platformID }])[0],
    checkInMany: (list: { token: string; userID: string; platformID: number }[]): (number | undefined)[] => checkInMany(list),
    invalidateOthers: (preservedToken: string, userID: string, platformID: number) =>
      db.transaction(() => {
        const h = tokenHash(preservedToken);
        keep.run(h, userID, platformID, expiryOf(preservedToken));
        kickOthers.run(userID, platformID, h);
      })(),
    kick: (tokens: string[]) =>
      db.transaction(() => {
        for (const t of tokens) kick.run(tokenHash(t));
      })(),
    kickAll: (userID: string, platformID: number) => void kickAll.run(userID, platformID),
    /** Removes the states of tokens that have expired (they are refused by their signature check anyway). */
    sweepExpired: (at = now()) => sweep.run(at).changes,
  };
}

/** Tokens signed with `secret` and recorded in `states`. */
export function tokenIssuer(states: TokenStates, secret: string): TokenIssuer {
  return {
    async issue(userID, platformID, ttlSeconds) {
      const token = signToken(secret, userID, platformID, ttlSeconds, undefined, randomBytes(8).toString("hex"));
      await states.checkIn(token, userID, platformID);
      return token;
    },
    kickAll: (userID, platformID) => states.kickAll(userID, platformID),
  };
}

type Claims = { userID: string; platformID: number; expireTimeSeconds: bigint };

/** Tokens verified and found normal whose connections closed (known-tokens.ts), and the position to verify one at. */
export interface VerifiedTokens {
  position(): number;
  /** The token's claims and position if it is remembered and still good; it is forgotten either way. */
  take(token: string, nowSec: number): { claims: Claims; readAt: number } | undefined;
  set(token: string, readAt: number): void;
}

export function createEmbeddedAuth(states: TokenStates, secret: string, verified?: VerifiedTokens): AuthPort {
  return {
    async parseToken(token) {
      const nowSec = Math.floor(Date.now() / 1000);
      const known = verified?.take(token, nowSec);
      if (known) return { ...known.claims, verifiedAt: known.readAt };
      const claims = verifyToken(secret, token, nowSec);
      const readAt = verified?.position();
      const state = await states.checkIn(token, claims.UserID, claims.PlatformID);
      if (state === KICKED) throw codeError(ErrCode.TokenKicked, "token is kicked");
      if (state !== undefined && state !== NORMAL) throw codeError(ErrCode.TokenUnknown, `token state ${state}`);
      return { userID: claims.UserID, platformID: claims.PlatformID, expireTimeSeconds: BigInt(claims.exp), verifiedAt: readAt };
    },
    ...(verified && { released: (token: string, verifiedAt: number) => verified.set(token, verifiedAt) }),
    async invalidateToken({ preservedToken, userID, platformID }) {
      await states.invalidateOthers(preservedToken, userID, platformID);
    },
    async kickTokens(tokens) {
      await states.kick(tokens);
    },
  };
}
