// OpenIM's afterUserOnline / afterUserOffline / afterUserKickOff callbacks (§6.5): POST <url>/<command> with
// OpenIM's payloads. Fired once per real change (not on renewals), through the shared webhook queue.
import type { WebhookClient } from "../backend/webhook-client.js";
import { platformName } from "../protocol/constants.js";
import { nextOperationID } from "../protocol/operation-id.js";

export const USER_HOOKS = ["afterUserOnline", "afterUserOffline", "afterUserKickOff"] as const;
export type HookKind = (typeof USER_HOOKS)[number];

const commands: Record<HookKind, string> = {
  afterUserOnline: "callbackAfterUserOnlineCommand",
  afterUserOffline: "callbackAfterUserOfflineCommand",
  afterUserKickOff: "callbackAfterUserKickOffCommand",
};

export type UserHooksConfig = Record<HookKind, { enable: boolean; timeout: number }>;

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

export function createWebhooks(client: WebhookClient, hooks: UserHooksConfig) {
  return {
    fire(e: HookEvent) {
      if (!client.url || !hooks[e.kind].enable) return;
      const operationID = nextOperationID();
      client.enqueue({ hook: e.kind, command: commands[e.kind], body: webhookBody(e, operationID, Date.now()), timeoutSeconds: hooks[e.kind].timeout }, operationID);
    },
    stats: () => client.stats(),
    drain: (timeoutMs: number) => client.drain(timeoutMs),
  };
}

export type Webhooks = ReturnType<typeof createWebhooks>;
