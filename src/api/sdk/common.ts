// What the SDK API's route modules share: who calls, what they reach, and OpenIM's notifications (a tips struct as
// JSON inside a NotificationElem, msgFrom 200), sent as OpenIM's notification sender sends them
// (open-im-server pkg/notification/msg.go): online only, or stored in the n_ conversation.
import { create } from "@bufbuild/protobuf";
import { randomBytes } from "node:crypto";
import { SendMsgReqSchema } from "../../gen/openim/msg/msg_pb.js";
import { type MsgData, MsgDataSchema } from "../../gen/openim/sdkws/sdkws_pb.js";
import { nextServerMsgID } from "../../backend/conversations.js";
import type { Directory, SyncKind } from "../../backend/directory.js";
import type { CallMeta, ConversationStore, MessagePort } from "../../backend/ports.js";
import type { Dispatch } from "../../cluster/dispatch.js";
import type { Logger } from "../../observe/log.js";
import { platformName } from "../../protocol/constants.js";
import { ErrCode, codeError } from "../../protocol/errors.js";

export interface SdkCaller {
  operationID: string;
  userID: string;
  platformID: number;
  admin: boolean;
}

export interface SdkDeps {
  directory: Directory;
  store: ConversationStore;
  messages: MessagePort;
  dispatch: Dispatch;
  log: Logger;
}

/** A JSON route: the request body as text → OpenIM's `data` (undefined: none). */
export type SdkRoute = (body: string, c: SdkCaller) => Promise<unknown>;

/** The metadata a backend call carries for an API caller acting as `opUserID`. */
export function callMeta(c: Pick<SdkCaller, "operationID" | "platformID">, opUserID: string): CallMeta {
  return { operationID: c.operationID, opUserID, platform: platformName(c.platformID), connID: "" };
}

/** A field as OpenIM's requests carry it, plain or wrapped in `{value}` (the Go core's wrapperspb): undefined when
 *  absent, the kind's zero when wrapped without a value, a 1001 naming `label` when of another type. */
export function unwrapped<K extends "string" | "number" | "boolean">(v: unknown, kind: K, label: string):
  (K extends "string" ? string : K extends "number" ? number : boolean) | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "object" && !Array.isArray(v)) v = (v as { value?: unknown }).value ?? (kind === "string" ? "" : kind === "number" ? 0 : false);
  if (typeof v !== kind) throw codeError(ErrCode.Args, `${label} must be a ${kind}`);
  return v as never;
}

/** Each user's online status from imgate's presence: 1 and the platforms online, or 0 and none. */
export async function onlineStatusList(dispatch: Pick<Dispatch, "onlineStatus">, userIDs: string[]) {
  const online = await dispatch.onlineStatus(userIDs);
  return userIDs.map((userID) => {
    const platformIDs = [...new Set((online.get(userID) ?? []).map((d) => d.platformID))].sort((a, b) => a - b);
    return { userID, status: platformIDs.length ? 1 : 0, platformIDs };
  });
}

/** OpenIM's check for routes on a user's own data: the user, or an app manager. */
export function needSelf(c: SdkCaller, userID: string): void {
  if (!userID) throw codeError(ErrCode.Args, "userID is empty");
  if (c.userID !== userID && !c.admin) throw codeError(ErrCode.NoPermission, `${c.userID} may not act for ${userID}`);
}

/** Lists a caller may name in one request (what the answer and the lookups grow with). */
export const MAX_IDS = 1000;
export function capIDs(ids: string[], what: string): string[] {
  if (ids.length > MAX_IDS) throw codeError(ErrCode.Args, `at most ${MAX_IDS} ${what} per call, got ${ids.length}`);
  return [...new Set(ids)];
}

/** OpenIM's pagination (pageNumber from 1, showNumber per page); none asks for everything. */
export function page<T>(all: T[], p: { pageNumber?: number; showNumber?: number } | undefined): T[] {
  const show = p?.showNumber && p.showNumber > 0 ? Math.min(p.showNumber, MAX_IDS) : all.length;
  const n = p?.pageNumber && p.pageNumber > 0 ? p.pageNumber : 1;
  return all.slice((n - 1) * show, n * show);
}

/** OpenIM's answer to an incremental sync (get_incremental_*): what changed since the client's version, or `full`
 *  (the client then reads the whole list) when its version is not one the log can answer from. */
export async function incrementalAnswer<T>(
  directory: Directory, kind: SyncKind, owner: string, req: { versionID: string; version: number },
  find: (ids: string[]) => Promise<T[]>, all: () => Promise<T[]>,
) {
  const ch = await directory.syncChanges(kind, owner, req.versionID, req.version);
  // A full answer carries the whole list in `insert`: the JS SDK fills its caches from it (the Go core reads the
  // list again by its own routes and ignores it).
  return {
    version: ch.version, versionID: ch.versionID, full: ch.full, delete: ch.deleted,
    insert: ch.full ? await all() : ch.inserted.length ? await find(ch.inserted) : [], update: ch.updated.length ? await find(ch.updated) : [], sortVersion: 0,
  };
}

/** The version fields of a get_full_*_ids answer. */
export async function fullIDsVersion(directory: Directory, kind: SyncKind, owner: string) {
  const v = await directory.syncVersion(kind, owner);
  return { version: v.version, versionID: v.versionID, equal: false };
}

/** The client's version in an incremental sync request. */
export const VERSION_FIELDS = { versionID: "string", version: "int64" } as const;

export const NotificationType = {
  GroupCreated: 1501, GroupInfoSet: 1502, MemberQuit: 1504, MemberKicked: 1508, MemberInvited: 1509, GroupDismissed: 1511,
  UserInfoUpdated: 1303, ConversationChanged: 1300, HasReadReceipt: 2200,
} as const;

const SYSTEM_MSG = 200;

/** A message pushed to the users online now and not stored (isOnlineOnly, notifications of reliabilityLevel 1):
 *  stamped as the store would (serverMsgID, sendTime), each user once. */
export async function pushUnstored(dispatch: Pick<Dispatch, "pushToUsers">, msg: MsgData, userIDs: string[], operationID: string): Promise<void> {
  msg.serverMsgID = nextServerMsgID();
  msg.sendTime = BigInt(Date.now());
  await dispatch.pushToUsers(msg, [...new Set(userIDs)], operationID);
}

/** OpenIM's NotificationElem content: the tips struct as a JSON string in `detail`. */
export function notificationContent(tips: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ detail: JSON.stringify(tips) }));
}

export function notifier(deps: SdkDeps) {
  const msgOf = (contentType: number, sessionType: number, sendID: string, recvID: string, tips: unknown, options: Record<string, boolean>) =>
    create(MsgDataSchema, {
      sendID, recvID: sessionType === 3 ? "" : recvID, groupID: sessionType === 3 ? recvID : "", clientMsgID: randomBytes(16).toString("hex"),
      msgFrom: SYSTEM_MSG, contentType, sessionType, content: notificationContent(tips), createTime: BigInt(Date.now()), options,
    });
  return {
    /** OpenIM's reliabilityLevel 1: pushed to the users online now, not stored (a client offline now reads the
     *  state at its next sync). */
    async online(contentType: number, sessionType: number, sendID: string, recvID: string, tips: unknown, userIDs: string[], operationID: string) {
      const msg = msgOf(contentType, sessionType, sendID, recvID, tips, { isNotNotification: false, isHistory: false, isPersistent: false, isUnreadCount: false, isSenderSync: true });
      await pushUnstored(deps.dispatch, msg, userIDs, operationID).catch((err) => deps.log.warn("notification push failed", { contentType, err, operationID }));
    },
    /** OpenIM's reliabilityLevel 2: stored in the pair's n_ conversation (with a seq) and delivered. */
    async stored(contentType: number, sendID: string, recvID: string, tips: unknown, c: SdkCaller) {
      const msg = msgOf(contentType, 1, sendID, recvID, tips, { isNotNotification: false, isHistory: true, isPersistent: true, isUnreadCount: false, isSenderSync: true });
      await deps.messages.sendMsg(create(SendMsgReqSchema, { msgData: msg }), callMeta(c, sendID))
        .catch((err) => deps.log.warn("notification not stored", { contentType, err, operationID: c.operationID }));
    },
  };
}
export type Notifier = ReturnType<typeof notifier>;
