// Token states of the cluster shape in Redis, in OpenIM's layout (§10): HASH UID_PID_TOKEN_STATUS:<user>:<platform>
// field token → 0 normal / 2 kicked, shared by every node. As in the embedded shape, a validly signed token
// not in the hash yet is accepted and recorded (imgate mints tokens offline; there is no issuing service).
import type { Cluster, Redis } from "ioredis";
import { platformName } from "../../protocol/constants.js";
import { ErrCode, codeError } from "../../protocol/errors.js";
import { randomBytes } from "node:crypto";
import type { AuthPort, TokenIssuer } from "../ports.js";
import { signToken, verifyToken } from "../embedded/jwt.js";

const KICKED = "2";
const key = (userID: string, platformID: number) => `UID_PID_TOKEN_STATUS:${userID}:${platformName(platformID)}`;

/** UserID and PlatformID of a token without checking it (kickTokens only has the tokens). */
function claimsOf(token: string): { UserID: string; PlatformID: number } | undefined {
  try {
    const c = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"));
    return typeof c.UserID === "string" && Number.isInteger(c.PlatformID) ? c : undefined;
  } catch {
    return undefined;
  }
}

export function createRedisAuth(redis: Redis | Cluster, secret: string, ttlSeconds = 90 * 86400): AuthPort {
  return {
    async parseToken(token) {
      const claims = verifyToken(secret, token);
      const k = key(claims.UserID, claims.PlatformID);
      const state = await redis.hget(k, token);
      if (state === KICKED) throw codeError(ErrCode.TokenKicked, "token is kicked");
      if (state === null) {
        await redis.hsetnx(k, token, "0");
        await redis.expire(k, ttlSeconds);
      }
      return { userID: claims.UserID, platformID: claims.PlatformID, expireTimeSeconds: BigInt(claims.exp) };
    },
    async invalidateToken({ preservedToken, userID, platformID }) {
      const k = key(userID, platformID);
      const all = await redis.hgetall(k);
      const others = Object.keys(all).filter((t) => t !== preservedToken && all[t] !== KICKED);
      await redis.hset(k, preservedToken, "0", ...others.flatMap((t) => [t, KICKED]));
    },
    async kickTokens(tokens) {
      await Promise.all(tokens.map((t) => {
        const c = claimsOf(t);
        return c ? redis.hset(key(c.UserID, c.PlatformID), t, KICKED) : Promise.resolve(0);
      }));
    },
  };
}

/** Tokens signed with `secret`, recorded in the user's hash (so a force_logout kicks them before first use). */
export function createRedisTokenIssuer(redis: Redis | Cluster, secret: string, ttlSeconds = 90 * 86400): TokenIssuer {
  return {
    async issue(userID, platformID, tokenTtl) {
      const token = signToken(secret, userID, platformID, tokenTtl, undefined, randomBytes(8).toString("hex"));
      const k = key(userID, platformID);
      await redis.hset(k, token, "0");
      await redis.expire(k, Math.max(ttlSeconds, tokenTtl));
      return token;
    },
    async kickAll(userID, platformID) {
      const k = key(userID, platformID);
      const all = await redis.hgetall(k);
      const live = Object.keys(all).filter((t) => all[t] !== KICKED);
      if (live.length) await redis.hset(k, ...live.flatMap((t) => [t, KICKED]));
    },
  };
}
