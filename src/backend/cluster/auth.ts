// Token states of the cluster shape in Redis, in OpenIM's layout (§10): HASH UID_PID_TOKEN_STATUS:<user>:<platform>
// field token → 0 normal / 2 kicked, shared by every node. As in the embedded shape, a validly signed token
// not in the hash yet is accepted and recorded (imgate mints tokens offline; there is no issuing service).
import type { Cluster, Redis } from "ioredis";
import { platformName } from "../../protocol/constants.js";
import { ErrCode, codeError } from "../../protocol/errors.js";
import type { AuthPort } from "../ports.js";
import { verifyToken } from "../embedded/jwt.js";

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
