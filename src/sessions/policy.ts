// Multi-terminal login policies (§4.4) as a pure decision: given the user's existing connections and a
// new one, which connections to kick and which tokens to invalidate. Platforms 1..11 (the reference
// rejects 10 and 11 on some paths, §9.2.12).
import { MultiLoginPolicy, platformClass } from "../protocol/constants.js";

export interface LoginSide {
  platformID: number;
  token: string;
}

export interface PolicyDecision<C> {
  kick: C[];
  /** auth.invalidateToken{preservedToken, userID, platformID}: every other token of (user, platform) is kicked. */
  invalidate?: { preservedToken: string; platformID: number };
  /** auth.kickTokens{tokens}. */
  kickTokens: string[];
}

export function decideLogin<C extends LoginSide>(policy: number, existing: Iterable<C>, incoming: LoginSide): PolicyDecision<C> {
  const none: PolicyDecision<C> = { kick: [], kickTokens: [] };
  const all = [...existing];
  switch (policy) {
    case MultiLoginPolicy.AllLoginButSameTermKick: {
      const same = all.filter((c) => c.platformID === incoming.platformID);
      if (same.length === 0) return none;
      return {
        kick: same.filter((c) => c.token !== incoming.token),
        invalidate: { preservedToken: incoming.token, platformID: incoming.platformID },
        kickTokens: [],
      };
    }
    case MultiLoginPolicy.AllLoginButSameClassKick: {
      const cls = platformClass(incoming.platformID);
      const kick = all.filter((c) => platformClass(c.platformID) === cls && c.token !== incoming.token);
      return { kick, kickTokens: unique(kick.map((c) => c.token)) };
    }
    case MultiLoginPolicy.PCAndOther: {
      if (platformClass(incoming.platformID) === "PC") return none;
      const others = all.filter((c) => platformClass(c.platformID) !== "PC");
      if (others.length === 0) return none;
      const kick = others.filter((c) => c.token !== incoming.token);
      return {
        kick,
        invalidate: { preservedToken: incoming.token, platformID: incoming.platformID },
        // The reference only invalidates P's tokens, so a kicked client on another non-PC platform could log back
        // in and kick in turn (§9.2.11). Their tokens are kicked too.
        kickTokens: unique(kick.filter((c) => c.platformID !== incoming.platformID).map((c) => c.token)),
      };
    }
    default:
      return none;
  }
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}
