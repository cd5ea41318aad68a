// Token states of the cluster shape in Redis, shared by every node: HASH UID_PID_TOKEN_STATUS:<user>:<platform>
// (OpenIM's key, §10), field = SHA-256 of the token (hex; never the token), value = "<state>:<exp>" with state
// 0 normal / 2 kicked and exp the token's expiry. The key lives as long as its longest-lived token, and a user's
// expired states go whenever a token of that user and platform is recorded (as OpenIM deletes expired tokens
// when it issues one), so the hash does not grow with logins. As in the embedded shape, a validly signed token
// not in the hash yet is accepted and recorded (imgate mints tokens offline; there is no issuing service).
import type { Cluster, Redis } from "ioredis";
import { randomBytes } from "node:crypto";
import { platformName } from "../../protocol/constants.js";
import { ErrCode, codeError } from "../../protocol/errors.js";
import type { AuthPort, TokenIssuer } from "../ports.js";
import { signToken, verifyToken } from "../embedded/jwt.js";
import { NO_EXP_KEEP_SECONDS, stateExpiry, tokenHashHex, unverifiedClaims } from "../token-hash.js";

const NORMAL = "0", KICKED = "2";
export const tokenStateKey = (userID: string, platformID: number) => `UID_PID_TOKEN_STATUS:${userID}:${platformName(platformID)}`;

/**
 * KEYS[1] the user/platform hash; ARGV: field, state, exp, now, mode ("absent": record only if unknown, "set").
 * Drops the hash's expired fields, writes this one, and stretches the key's TTL to the latest expiry it holds.
 * Returns the state the field had (nil when unknown).
 */
const RECORD = `
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if prev and ARGV[5] == 'absent' then return prev end
local now = tonumber(ARGV[4])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local exp = tonumber(string.match(all[i + 1], ':(%d+)$'))
  if exp and exp <= now then redis.call('HDEL', KEYS[1], all[i]) end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
local exp = tonumber(ARGV[3])
local at = redis.call('EXPIRETIME', KEYS[1])
if exp > now and at < exp then redis.call('EXPIREAT', KEYS[1], exp) end
return prev
`;

type WithRecord = (Redis | Cluster) & {
  imgateTokenRecord(key: string, field: string, state: string, exp: number, now: number, mode: "absent" | "set"): Promise<string | null>;
};

function withRecord(redis: Redis | Cluster): WithRecord {
  if (!("imgateTokenRecord" in redis)) redis.defineCommand("imgateTokenRecord", { numberOfKeys: 1, lua: RECORD });
  return redis as WithRecord;
}

const nowSec = () => Math.floor(Date.now() / 1000);
const expiryOf = (token: string) => stateExpiry(token, nowSec());
/** The state part of a stored value ("0:1796…" → "0"; a bare "0" of an older layout reads the same). */
const stateOf = (v: string | null | undefined) => v?.split(":")[0];
const expOf = (v: string) => Number(v.split(":")[1]) || nowSec() + NO_EXP_KEEP_SECONDS;

/** Marks every normal token state in the hash kicked, except `keep` (a field). */
async function kickAllBut(redis: Redis | Cluster, k: string, keep?: string): Promise<void> {
  const all = await redis.hgetall(k);
  const live = Object.entries(all).filter(([f, v]) => f !== keep && stateOf(v) === NORMAL);
  if (live.length) await redis.hset(k, ...live.flatMap(([f, v]) => [f, `${KICKED}:${expOf(v)}`]));
}

export function createRedisAuth(redis: Redis | Cluster, secret: string): AuthPort {
  const r = withRecord(redis);
  return {
    async parseToken(token) {
      const claims = verifyToken(secret, token);
      const k = tokenStateKey(claims.UserID, claims.PlatformID);
      const field = tokenHashHex(token);
      const state = stateOf(await redis.hget(k, field)) ?? stateOf(await r.imgateTokenRecord(k, field, NORMAL, expiryOf(token), nowSec(), "absent"));
      if (state === KICKED) throw codeError(ErrCode.TokenKicked, "token is kicked");
      return { userID: claims.UserID, platformID: claims.PlatformID, expireTimeSeconds: BigInt(claims.exp) };
    },
    async invalidateToken({ preservedToken, userID, platformID }) {
      const k = tokenStateKey(userID, platformID);
      const field = tokenHashHex(preservedToken);
      await r.imgateTokenRecord(k, field, NORMAL, expiryOf(preservedToken), nowSec(), "set");
      await kickAllBut(redis, k, field);
    },
    async kickTokens(tokens) {
      await Promise.all(tokens.map((t) => {
        const c = unverifiedClaims(t);
        return c ? r.imgateTokenRecord(tokenStateKey(c.UserID, c.PlatformID), tokenHashHex(t), KICKED, expiryOf(t), nowSec(), "set") : null;
      }));
    },
  };
}

/**
 * A token state carried over from elsewhere (`imgate migrate`): kicked overwrites, normal is written only where the
 * field is unknown (a state already kicked here stays kicked), expired fields of the hash go, the TTL stretches.
 */
export async function recordTokenState(redis: Redis | Cluster, s: { userID: string; platformID: number; hashHex: string; kicked: boolean; expiresAt: number }) {
  return withRecord(redis).imgateTokenRecord(tokenStateKey(s.userID, s.platformID), s.hashHex, s.kicked ? KICKED : NORMAL, s.expiresAt, nowSec(), s.kicked ? "set" : "absent");
}

/** Tokens signed with `secret`, recorded in the user's hash (so a force_logout kicks them before first use). */
export function createRedisTokenIssuer(redis: Redis | Cluster, secret: string): TokenIssuer {
  const r = withRecord(redis);
  return {
    async issue(userID, platformID, ttlSeconds) {
      const token = signToken(secret, userID, platformID, ttlSeconds, undefined, randomBytes(8).toString("hex"));
      await r.imgateTokenRecord(tokenStateKey(userID, platformID), tokenHashHex(token), NORMAL, expiryOf(token), nowSec(), "set");
      return token;
    },
    kickAll: (userID, platformID) => kickAllBut(redis, tokenStateKey(userID, platformID)),
  };
}
