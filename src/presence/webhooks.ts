// OpenIM's afterUserOnline / afterUserOffline / afterUserKickOff callbacks (§6.5): POST <url>/<command> with
// OpenIM's payloads. Fired once per real change (not on renewals), from a bounded queue with a timeout and
// retries per call; every outcome is counted.
import { platformName } from "../protocol/constants.js";
import { nextOperationID } from "../protocol/operation-id.js";

export type HookKind = "afterUserOnline" | "afterUserOffline" | "afterUserKickOff";

const commands: Record<HookKind, string> = {
  afterUserOnline: "callbackAfterUserOnlineCommand",
  afterUserOffline: "callbackAfterUserOfflineCommand",
  afterUserKickOff: "callbackAfterUserKickOffCommand",
};

export interface WebhookConfig {
  url: string;
  queueSize: number;
  retries: number;
  hooks: Record<HookKind, { enable: boolean; timeout: number }>;
}

export interface WebhookStats {
  sent: Record<HookKind, number>;
  failed: Record<HookKind, number>;
  dropped: number;
  queued: number;
}

export interface HookEvent {
  kind: HookKind;
  userID: string;
  platformID: number;
  connID: string;
  isAppBackground?: boolean;
}


/** The JSON body, keys in OpenIM's order, with its trailing newline. */
export function webhookBody(e: HookEvent, operationID: string, seq: number): string {
  const base = { callbackCommand: commands[e.kind], operationID, platformID: e.platformID, platform: platformName(e.platformID), userID: e.userID, seq };
  const body =
    e.kind === "afterUserOnline" ? { ...base, isAppBackground: e.isAppBackground ?? false, connID: e.connID }
    : e.kind === "afterUserOffline" ? { ...base, connID: e.connID }
    : base;
  return JSON.stringify(body) + "\n";
}

export function createWebhooks(cfg: WebhookConfig, onFailure: (e: HookEvent, err: string) => void = () => {}) {
  const zero = () => ({ afterUserOnline: 0, afterUserOffline: 0, afterUserKickOff: 0 });
  const stats: WebhookStats = { sent: zero(), failed: zero(), dropped: 0, queued: 0 };
  const queue: HookEvent[] = [];
  let running = 0;
  const workers = 2;

  async function deliver(e: HookEvent) {
    const command = commands[e.kind];
    const operationID = nextOperationID();
    const body = webhookBody(e, operationID, Date.now());
    const timeoutMs = cfg.hooks[e.kind].timeout * 1000;
    let lastErr = "";
    for (let attempt = 0; attempt <= cfg.retries; attempt++) {
      try {
        const res = await fetch(`${cfg.url.replace(/\/+$/, "")}/${command}`, {
          method: "POST",
          headers: { operationID, "Content-Type": "application/json; charset=utf-8" },
          body,
          signal: AbortSignal.timeout(timeoutMs),
        });
        await res.arrayBuffer();
        if (res.ok) {
          stats.sent[e.kind]++;
          return;
        }
        lastErr = `HTTP ${res.status}`;
      } catch (err) {
        lastErr = (err as Error).message;
      }
      if (attempt < cfg.retries) await Bun.sleep(200 * 2 ** attempt);
    }
    stats.failed[e.kind]++;
    onFailure(e, lastErr);
  }

  async function pump() {
    running++;
    try {
      for (let e = queue.shift(); e; e = queue.shift()) {
        stats.queued = queue.length;
        await deliver(e);
      }
    } finally {
      running--;
    }
  }

  return {
    fire(e: HookEvent) {
      if (!cfg.url || !cfg.hooks[e.kind].enable) return;
      if (queue.length >= cfg.queueSize) {
        stats.dropped++;
        onFailure(e, "webhook queue full");
        return;
      }
      queue.push(e);
      stats.queued = queue.length;
      if (running < workers) void pump();
    },
    stats: () => stats,
    /** Waits for the queue to empty, at most timeoutMs. */
    async drain(timeoutMs: number) {
      const end = Date.now() + timeoutMs;
      while ((queue.length > 0 || running > 0) && Date.now() < end) await Bun.sleep(10);
    },
  };
}

export type Webhooks = ReturnType<typeof createWebhooks>;
