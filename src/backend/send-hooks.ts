// OpenIM's message webhooks (webhooks.yml, open-im-server internal/rpc/msg/callback.go), where imgate is the message
// service: beforeSendSingleMsg / beforeSendGroupMsg are asked before a message is stored and may refuse it with their
// own code; afterSendSingleMsg / afterSendGroupMsg are told once it is stored (queued, retried). OpenIM's bodies,
// commands and refusal rule ({actionCode: 0, nextCode: 1} refuses with errCode/errMsg/errDlt). Two fixes: an
// unreachable before-hook follows failedContinue (OpenIM reads it and never uses it: every failure refuses), and
// attentionIds of the group hook match the groupID (OpenIM compares the recvID, so a group hook with attentionIds
// never fires).
import type { MsgData } from "../gen/openim/sdkws/sdkws_pb.js";
import { ContentType, SessionType } from "../protocol/constants.js";
import { CodeError, ErrCode } from "../protocol/errors.js";
import { isGroupMessage, validateSend } from "./conversations.js";
import type { CallMeta } from "./ports.js";
import { WebhookErr, type WebhookClient } from "./webhook-client.js";

export const MESSAGE_HOOKS = ["beforeSendSingleMsg", "beforeSendGroupMsg", "afterSendSingleMsg", "afterSendGroupMsg"] as const;

export interface BeforeHook {
  enable: boolean;
  timeout: number;
  /** On an unreachable or garbled hook: true = send anyway (fail open), false = refuse (fail closed). */
  failedContinue: boolean;
  deniedTypes: number[];
}

export interface AfterHook {
  enable: boolean;
  timeout: number;
  attentionIds: string[];
  deniedTypes: number[];
}

export interface SendHooksConfig {
  beforeSendSingleMsg: BeforeHook;
  beforeSendGroupMsg: BeforeHook;
  afterSendSingleMsg: AfterHook;
  afterSendGroupMsg: AfterHook;
}

const COMMANDS = {
  beforeSendSingleMsg: "callbackBeforeSendSingleMsgCommand",
  beforeSendGroupMsg: "callbackBeforeSendGroupMsgCommand",
  afterSendSingleMsg: "callbackAfterSendSingleMsgCommand",
  afterSendGroupMsg: "callbackAfterSendGroupMsgCommand",
} as const;

/** Which hook of a pair a message meets: single chats and groups only (a notification-session message, sessionType
 *  4, has none in OpenIM either). */
function hookFor<K extends "before" | "after">(when: K, m: MsgData): `${K}SendSingleMsg` | `${K}SendGroupMsg` | undefined {
  if (isGroupMessage(m)) return `${when}SendGroupMsg`;
  return m.sessionType === SessionType.Single ? `${when}SendSingleMsg` : undefined;
}

/** OpenIM's defaultDeniedTypes and deniedTypes: typing and notification content types are never sent to hooks. */
function passes(m: MsgData, deniedTypes: number[]): boolean {
  if (m.contentType === ContentType.Typing) return false;
  if (m.contentType >= ContentType.NotificationBegin && m.contentType <= ContentType.NotificationEnd) return false;
  return !deniedTypes.includes(m.contentType);
}

/** CommonCallbackReq plus recvID or groupID, keys in OpenIM's order. */
export function callbackBody(m: MsgData, command: string, operationID: string): string {
  const body: Record<string, unknown> = {
    sendID: m.sendID, callbackCommand: command, serverMsgID: m.serverMsgID, clientMsgID: m.clientMsgID, operationID,
    senderPlatformID: m.senderPlatformID, senderNickname: m.senderNickname, sessionType: m.sessionType, msgFrom: m.msgFrom,
    contentType: m.contentType, status: m.status, sendTime: Number(m.sendTime), createTime: Number(m.createTime),
    content: new TextDecoder().decode(m.content), seq: Number(m.seq),
    atUserList: m.atUserIDList.length ? m.atUserIDList : null, faceURL: m.senderFaceURL, ex: m.ex,
  };
  if (isGroupMessage(m)) body.groupID = m.groupID;
  else body.recvID = m.recvID;
  return JSON.stringify(body);
}

export interface SendHooks {
  /** Asks the before-hook; rejects with the hook's refusal (or, failing closed, with 90004/90007). */
  before(m: MsgData, meta: CallMeta): Promise<void>;
  /** Tells the after-hook about a newly stored message (queued). */
  after(m: MsgData, operationID: string): void;
}

export function createSendHooks(client: WebhookClient, cfg: SendHooksConfig, onFailOpen: (hook: string, err: string) => void = () => {}): SendHooks {
  return {
    async before(m, meta) {
      const name = hookFor("before", m);
      if (!client.url || !name) return;
      const hook = cfg[name];
      if (!hook.enable || !passes(m, hook.deniedTypes)) return;
      // Checked first so a hook never sees a message that would be refused anyway.
      validateSend(m, meta.opUserID);
      let reply: any;
      try {
        reply = await client.post(COMMANDS[name], callbackBody(m, COMMANDS[name], meta.operationID), hook.timeout, meta.operationID);
        client.count(name, true);
      } catch (err) {
        client.count(name, false);
        const e = err as CodeError;
        if (hook.failedContinue && (e.code === WebhookErr.Network || e.code === WebhookErr.Data)) return onFailOpen(name, e.detail);
        throw err;
      }
      const actionCode = Number(reply?.actionCode ?? 0), nextCode = Number(reply?.nextCode ?? 0);
      if (actionCode === 0 && nextCode === 1) {
        // A refusal that says errCode 0 would read as success on the client while nothing is stored.
        const code = Number.isInteger(reply.errCode) && reply.errCode !== 0 ? reply.errCode : ErrCode.NoPermission;
        throw new CodeError(code, String(reply.errMsg ?? "") || "refused by webhook", String(reply.errDlt ?? ""));
      }
    },
    after(m, operationID) {
      const name = hookFor("after", m);
      if (!client.url || !name) return;
      const hook = cfg[name];
      if (!hook.enable || !passes(m, hook.deniedTypes)) return;
      if (hook.attentionIds.length && !hook.attentionIds.includes(isGroupMessage(m) ? m.groupID : m.recvID)) return;
      const key = Buffer.from(JSON.stringify({ sendID: m.sendID, recvID: m.recvID, groupID: m.groupID })).toString("base64");
      client.enqueue({ hook: name, command: COMMANDS[name], body: callbackBody(m, COMMANDS[name], operationID), timeoutSeconds: hook.timeout, query: { key } }, operationID);
    },
  };
}
