// Embedded auth service: OpenIM-compatible JWTs plus a persisted token-state table, so a kicked token stays
// kicked across restarts. Tokens minted offline (`imgate token`) are unknown until first used: an unknown
// token with a valid signature counts as normal (OpenIM would say 1507; there is no issuing service here).
import type { Database } from "bun:sqlite";
import type { AuthPort } from "../ports.js";
import { ErrCode, codeError } from "../../protocol/errors.js";
import { verifyToken } from "./jwt.js";

const NORMAL = 0, KICKED = 2;

export function createEmbeddedAuth(db: Database, secret: string): AuthPort {
  const getState = db.query<{ state: number }, [string]>("SELECT state FROM token_state WHERE token = ?");
  const remember = db.query("INSERT OR IGNORE INTO token_state (token, user_id, platform_id, state) VALUES (?, ?, ?, 0)");
  const kickOthers = db.query(
    "UPDATE token_state SET state = 2 WHERE user_id = ? AND platform_id = ? AND token != ? AND state = 0",
  );
  const kick = db.query("UPDATE token_state SET state = 2 WHERE token = ?");
  const keep = db.query(
    "INSERT INTO token_state (token, user_id, platform_id, state) VALUES (?, ?, ?, 0) ON CONFLICT(token) DO NOTHING",
  );
  return {
    async parseToken(token) {
      const claims = verifyToken(secret, token);
      const state = getState.get(token)?.state;
      if (state === KICKED) throw codeError(ErrCode.TokenKicked, "token is kicked");
      if (state !== undefined && state !== NORMAL) throw codeError(ErrCode.TokenUnknown, `token state ${state}`);
      if (state === undefined) remember.run(token, claims.UserID, claims.PlatformID);
      return { userID: claims.UserID, platformID: claims.PlatformID, expireTimeSeconds: BigInt(claims.exp) };
    },
    async invalidateToken({ preservedToken, userID, platformID }) {
      db.transaction(() => {
        keep.run(preservedToken, userID, platformID);
        kickOthers.run(userID, platformID, preservedToken);
      })();
    },
    async kickTokens(tokens) {
      db.transaction(() => {
        for (const t of tokens) kick.run(t);
      })();
    },
  };
}
