// OpenIM's webhook transport (§6.5), shared by every hook (user status, messages): POST <url>/<command>[?query] with
// the operationID header and a JSON body. Synchronous calls (before-hooks) answer with the parsed reply; queued calls
// (after-hooks) go through one bounded queue with a timeout and retries per call, and every outcome is counted by hook.
import { CodeError } from "../protocol/errors.js";
import { readBounded } from "../bounds.js";

/** OpenIM's servererrs for a webhook that could not be asked (90004) or answered nonsense (90007). */
export const WebhookErr = { Network: 90004, Data: 90007 } as const;

export interface WebhookClientConfig {
  url: string;
  queueSize: number;
  retries: number;
}

export interface WebhookStats {
  sent: Record<string, number>;
  failed: Record<string, number>;
  dropped: number;
  queued: number;
}

export interface QueuedCall {
  hook: string;
  command: string;
  body: string;
  timeoutSeconds: number;
  query?: Record<string, string>;
}

const WORKERS = 2;
/** A hook's reply is read up to this size; a larger one is a garbled reply (90007), not memory. */
export const MAX_REPLY_BYTES = 1 << 20;
/** Calls in flight at once (the synchronous before-send hooks and the queue's workers): past it a call fails at
 *  once as unreachable (90004; failedContinue decides), so a slow hook cannot pile up every send's request. */
export const MAX_CALLS_IN_FLIGHT = 256;

export function createWebhookClient(cfg: WebhookClientConfig, hooks: readonly string[], onFailure: (call: QueuedCall, err: string) => void = () => {}) {
  const zero = () => Object.fromEntries(hooks.map((h) => [h, 0]));
  const stats: WebhookStats = { sent: zero(), failed: zero(), dropped: 0, queued: 0 };
  const queue: { call: QueuedCall; operationID: string }[] = [];
  let running = 0;
  let inFlight = 0;
  const count = (hook: string, ok: boolean) => {
    const m = ok ? stats.sent : stats.failed;
    m[hook] = (m[hook] ?? 0) + 1;
  };

  /** One attempt. Resolves with the reply parsed as JSON; rejects with a CodeError 90004 (unreachable, timeout,
   *  HTTP error) or 90007 (not JSON). */
  async function post(command: string, body: string, timeoutSeconds: number, operationID: string, query?: Record<string, string>): Promise<unknown> {
    const qs = query ? "?" + new URLSearchParams(query).toString() : "";
    const url = `${cfg.url.replace(/\/+$/, "")}/${command}${qs}`;
    if (inFlight >= MAX_CALLS_IN_FLIGHT) throw new CodeError(WebhookErr.Network, "NetworkError", `${inFlight} webhook calls in flight, post url ${url}`);
    inFlight++;
    let text: string | undefined;
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: { operationID, "Content-Type": "application/json; charset=utf-8" },
        body,
        signal: AbortSignal.timeout(timeoutSeconds * 1000),
      });
      text = await readBounded(res, MAX_REPLY_BYTES);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    } catch (err) {
      throw new CodeError(WebhookErr.Network, "NetworkError", `${(err as Error).message}, post url ${url}`);
    } finally {
      inFlight--;
    }
    if (text === undefined) throw new CodeError(WebhookErr.Data, "DataError", `reply larger than ${MAX_REPLY_BYTES} bytes, post url ${url}`);
    try {
      return text ? JSON.parse(text) : {};
    } catch (err) {
      throw new CodeError(WebhookErr.Data, "DataError", `${(err as Error).message} response format error`);
    }
  }

  async function deliver({ call, operationID }: { call: QueuedCall; operationID: string }) {
    let lastErr = "";
    for (let attempt = 0; attempt <= cfg.retries; attempt++) {
      try {
        await post(call.command, call.body, call.timeoutSeconds, operationID, call.query);
        count(call.hook, true);
        return;
      } catch (err) {
        lastErr = (err as CodeError).detail ?? String(err);
      }
      if (attempt < cfg.retries) await Bun.sleep(200 * 2 ** attempt);
    }
    count(call.hook, false);
    onFailure(call, lastErr);
  }

  async function pump() {
    running++;
    try {
      for (let c = queue.shift(); c; c = queue.shift()) {
        stats.queued = queue.length;
        await deliver(c);
      }
    } finally {
      running--;
    }
  }

  return {
    get url() {
      return cfg.url;
    },
    post,
    /** Queues a call (dropped, counted and reported when the queue is full). */
    enqueue(call: QueuedCall, operationID: string) {
      if (!cfg.url) return;
      if (queue.length >= cfg.queueSize) {
        stats.dropped++;
        onFailure(call, "webhook queue full");
        return;
      }
      queue.push({ call, operationID });
      stats.queued = queue.length;
      if (running < WORKERS) void pump();
    },
    /** Counts a synchronous call made with post(). */
    count,
    stats: () => stats,
    /** Waits for the queue to empty, at most timeoutMs. */
    async drain(timeoutMs: number) {
      const end = Date.now() + timeoutMs;
      while ((queue.length > 0 || running > 0) && Date.now() < end) await Bun.sleep(10);
    },
  };
}

export type WebhookClient = ReturnType<typeof createWebhookClient>;
