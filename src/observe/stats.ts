// Process-wide counters the admin API, CLI and metrics read. Plain numbers on one object: increments on
// the hot path cost a property write.
export interface Counters {
  handshakes: number;
  handshakeFailures: Map<number, number>;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  requests: Map<string, number>;
  pushes: Map<number, number>;
  kicks: Map<string, number>;
  slowConsumerCloses: number;
  protocolCloses: Map<string, number>;
  /** Requests per user since the dashboard sampler last looked (for "busiest users"). */
  userRequests: Map<string, number>;
  /** Store-commit-to-push latencies (ms) since the sampler last looked. */
  deliveryLatencyMs: number[];
  /** Cross-node operations that failed (Redis down, peer timed out). */
  crossNodeFailures: number;
  /** Refusals by operator-set limit (handshake rate, per IP, per user, request rate, byte rate). */
  limitRefusals: Map<string, number>;
  /** Redis subscriptions found lost by their self-probe and made again, by channel kind (bus, presence). */
  resubscribes: Map<string, number>;
}

export function createCounters(): Counters {
  return {
    handshakes: 0,
    handshakeFailures: new Map(),
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    requests: new Map(),
    pushes: new Map(),
    kicks: new Map(),
    slowConsumerCloses: 0,
    protocolCloses: new Map(),
    userRequests: new Map(),
    deliveryLatencyMs: [],
    crossNodeFailures: 0,
    limitRefusals: new Map(),
    resubscribes: new Map(),
  };
}

export function bump<K>(m: Map<K, number>, k: K, by = 1): void {
  m.set(k, (m.get(k) ?? 0) + by);
}

export function sum(m: Map<unknown, number>): number {
  let n = 0;
  for (const v of m.values()) n += v;
  return n;
}
