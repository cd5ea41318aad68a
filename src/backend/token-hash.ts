// Tokens at rest: stores keep the SHA-256 of a bearer token, never the token, so a copied database or Redis
// snapshot gives nobody a login. A token's expiry is read from its claims (unverified: only to know when the
// stored state may go), so a token's state lives exactly as long as the token.
import { createHash } from "node:crypto";

export function tokenHash(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

export function tokenHashHex(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** UserID, PlatformID and exp of a token without checking its signature (kicks and migrations only have the token). */
export function unverifiedClaims(token: string): { UserID: string; PlatformID: number; exp?: number } | undefined {
  try {
    const c = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"));
    if (typeof c?.UserID !== "string" || !Number.isInteger(c.PlatformID)) return undefined;
    return { UserID: c.UserID, PlatformID: c.PlatformID, exp: typeof c.exp === "number" ? c.exp : undefined };
  } catch {
    return undefined;
  }
}

/** The token's exp (Unix seconds), undefined when it has none or cannot be read. */
export function tokenExpiry(token: string): number | undefined {
  return unverifiedClaims(token)?.exp;
}

/** A token without exp still needs its stored state to end: it is kept this long (OpenIM's longest default token lifetime). */
export const NO_EXP_KEEP_SECONDS = 90 * 86400;

/** When a token's stored state may go (Unix seconds): its exp, or NO_EXP_KEEP_SECONDS after nowSec. */
export function stateExpiry(token: string, nowSec: number): number {
  return tokenExpiry(token) ?? nowSec + NO_EXP_KEEP_SECONDS;
}
