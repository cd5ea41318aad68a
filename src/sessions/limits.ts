// Operator-set limits at the edge: a token bucket for handshakes (node-wide) and for requests and bytes (per
// connection), and counts of connections per user and per source IP. Zero disables a limit.

/** A token bucket: `rate` tokens per second, holding at most `burst`. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  /** `now`: its clock in ms (performance.now; tests give their own and need no sleeps). */
  constructor(private readonly rate: number, private readonly burst: number, private readonly now: () => number = () => performance.now()) {
    this.last = now();
    this.tokens = burst;
  }
  take(n = 1): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (this.tokens < n) return false;
    this.tokens -= n;
    return true;
  }
}

/** Counts per key (connections per IP), forgetting keys that drop to zero. */
export class KeyedCounter {
  private readonly m = new Map<string, number>();
  get(k: string): number {
    return this.m.get(k) ?? 0;
  }
  add(k: string, d: number): void {
    const v = (this.m.get(k) ?? 0) + d;
    if (v <= 0) this.m.delete(k);
    else this.m.set(k, v);
  }
}

/** imgate's own code for a request refused by the per-connection rate limit (outside OpenIM's ranges). */
export const RATE_LIMITED = { code: 1650, msg: "RequestRateLimitError" } as const;
