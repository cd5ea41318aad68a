// OpenIM-compatible tokens: JWT HS256 with claims UserID, PlatformID, exp, iat (§10).
import { createHmac, timingSafeEqual } from "node:crypto";
import { ErrCode, codeError } from "../../protocol/errors.js";

export interface TokenClaims {
  UserID: string;
  PlatformID: number;
  exp: number;
  iat: number;
  nbf?: number;
  /** A random ID (RFC 7519 jti): tokens issued through the API differ even when minted in the same second for the
   *  same user, so a re-issued token is never a kicked one (OpenIM's Claims parse it as RegisteredClaims.ID). */
  jti?: string;
}

const HEADER = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");

export function signToken(
  secret: string, userID: string, platformID: number, ttlSeconds: number, nowSec = Math.floor(Date.now() / 1000), jti?: string,
): string {
  // OpenIM issues iat 5 s in the past so small clock skew between nodes does not reject fresh tokens.
  const claims: TokenClaims = { UserID: userID, PlatformID: platformID, exp: nowSec + ttlSeconds, iat: nowSec - 5, ...(jti ? { jti } : {}) };
  const body = `${HEADER}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}`;
  return `${body}.${mac(secret, body)}`;
}

function mac(secret: string, body: string): string {
  return createHmac("sha256", secret).update(body).digest("base64url");
}

const segment = /^[A-Za-z0-9_-]*$/;

/** Verifies signature and time claims; throws OpenIM's token CodeErrors (1501, 1503, 1504, 1505). */
export function verifyToken(secret: string, token: string, nowSec = Math.floor(Date.now() / 1000)): TokenClaims {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts.every((p) => segment.test(p))) throw codeError(ErrCode.TokenMalformed, "token is malformed");
  const [h, p, s] = parts as [string, string, string];
  let header: any, claims: any;
  try {
    header = JSON.parse(Buffer.from(h, "base64url").toString("utf8"));
    claims = JSON.parse(Buffer.from(p, "base64url").toString("utf8"));
  } catch {
    throw codeError(ErrCode.TokenMalformed, "token is malformed");
  }
  if (typeof header !== "object" || header === null || typeof claims !== "object" || claims === null)
    throw codeError(ErrCode.TokenMalformed, "token is malformed");
  if (header.alg !== "HS256") throw codeError(ErrCode.TokenUnknown, `signing method ${String(header.alg)} is invalid`);
  const want = Buffer.from(mac(secret, `${h}.${p}`));
  const got = Buffer.from(s);
  if (want.length !== got.length || !timingSafeEqual(want, got)) throw codeError(ErrCode.TokenUnknown, "signature is invalid");
  if (typeof claims.exp === "number" && nowSec >= claims.exp) throw codeError(ErrCode.TokenExpired, "token is expired");
  if (typeof claims.nbf === "number" && nowSec < claims.nbf) throw codeError(ErrCode.TokenNotValidYet, "token is not valid yet");
  if (typeof claims.UserID !== "string" || !Number.isInteger(claims.PlatformID))
    throw codeError(ErrCode.TokenUnknown, "token claims lack UserID or PlatformID");
  return claims as TokenClaims;
}
