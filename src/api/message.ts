// OpenIM's /msg/send_msg and /msg/batch_send_msg request (apistruct.SendMsg, internal/api/msg.go): the JSON an app
// server sends, checked per content type as OpenIM's validator tags do, turned into the MsgData a client's 1003 carries.
import { create } from "@bufbuild/protobuf";
import { type MsgData, MsgDataSchema } from "../gen/openim/sdkws/sdkws_pb.js";
import { ContentType, SessionType } from "../protocol/constants.js";
import { ErrCode, codeError } from "../protocol/errors.js";
import { type FieldKind, decodeBody } from "./envelope.js";

/** OpenIM's constant.SysMsgType: the msgFrom of messages an app server sends. */
const SYS_MSG_TYPE = 200;

export const SEND_MSG_FIELDS = {
  sendID: "string", groupID: "string", senderNickname: "string", senderFaceURL: "string", senderPlatformID: "int32",
  content: "object", contentType: "int32", sessionType: "int32", isOnlineOnly: "bool", notOfflinePush: "bool", sendTime: "int64",
  offlinePushInfo: "object", ex: "string",
  // imgate's addition: a caller-chosen clientMsgID makes a retried call store the message once (OpenIM draws a random one).
  clientMsgID: "string",
} as const satisfies Record<string, FieldKind>;

type Rule = "required" | "min1" | "list";
/** The validate:"required" fields of each content type's element (apistruct/msg.go). */
const CONTENT_RULES: Record<number, Record<string, Rule>> = {
  [ContentType.Text]: { content: "required" },
  [ContentType.Picture]: { sourcePicture: "required", bigPicture: "required", snapshotPicture: "required" },
  [ContentType.Voice]: { sourceUrl: "required", duration: "min1" },
  [ContentType.Video]: {
    videoUrl: "required", videoType: "required", videoSize: "required", duration: "required", snapshotUrl: "required",
    snapshotWidth: "required", snapshotHeight: "required",
  },
  [ContentType.File]: { sourceUrl: "required", fileName: "required", fileSize: "required" },
  [ContentType.AtText]: { atUserList: "list" },
  [ContentType.Custom]: { data: "required" },
  [ContentType.Quote]: {},
  [ContentType.Markdown]: { content: "required" },
  [ContentType.OANotification]: { notificationName: "required", notificationType: "required", text: "required" },
};
const PICTURE_RULES = ["type", "width", "height", "url"];

const isZero = (v: unknown) => v === undefined || v === null || v === "" || v === 0 || v === false;

function checkContent(contentType: number, content: Record<string, unknown>): void {
  const rules = CONTENT_RULES[contentType];
  if (!rules) throw codeError(ErrCode.Args, `unsupported content type ${contentType}`);
  for (const [field, rule] of Object.entries(rules)) {
    const v = content[field];
    if (rule === "list") {
      if (!Array.isArray(v)) throw codeError(ErrCode.Args, `content.${field} is required (a list of userIDs)`);
      if (v.length > 1000) throw codeError(ErrCode.Args, `content.${field} holds more than 1000 userIDs`);
      continue;
    }
    if (isZero(v)) throw codeError(ErrCode.Args, `content.${field} is required for contentType ${contentType}`);
    if (rule === "min1" && !(Number(v) >= 1)) throw codeError(ErrCode.Args, `content.${field} must be at least 1`);
  }
  if (contentType === ContentType.Picture)
    for (const pic of ["sourcePicture", "bigPicture", "snapshotPicture"]) {
      const p = content[pic] as Record<string, unknown>;
      if (typeof p !== "object") throw codeError(ErrCode.Args, `content.${pic} must be an object`);
      for (const f of PICTURE_RULES) if (isZero(p[f])) throw codeError(ErrCode.Args, `content.${pic}.${f} is required`);
    }
  if (contentType === ContentType.OANotification) {
    const mix = Number(content.mixType ?? 0);
    if (!(mix >= 0 && mix <= 5)) throw codeError(ErrCode.Args, "content.mixType must be 0..5");
  }
}

/** JSON as Go writes a map: keys sorted, at every level (OpenIM stores content re-marshalled from a map). */
export function goJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(goJson).join(",")}]`;
  if (v && typeof v === "object")
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${goJson((v as Record<string, unknown>)[k])}`).join(",")}}`;
  return JSON.stringify(v ?? null);
}

export type SendMsgFields = ReturnType<typeof decodeSendMsg>;

/** The shared part of send_msg and batch_send_msg: decoded, with OpenIM's binding rules checked. */
export function decodeSendMsg<E extends Record<string, FieldKind>>(text: string, struct: string, extra: E) {
  const req = decodeBody(text, struct, { ...SEND_MSG_FIELDS, ...extra });
  if (!req.sendID) throw codeError(ErrCode.Args, "sendID is required");
  if (!req.present.has("content")) throw codeError(ErrCode.Args, "content is required");
  if (!req.contentType) throw codeError(ErrCode.Args, "contentType is required");
  if (!req.sessionType) throw codeError(ErrCode.Args, "sessionType is required");
  if ((req.sessionType === SessionType.WriteGroup || req.sessionType === SessionType.ReadGroup) && !req.groupID)
    throw codeError(ErrCode.Args, "groupID is required when sessionType is 2 or 3");
  checkContent(req.contentType, req.content);
  return req;
}

/** The MsgData OpenIM's newUserSendMsgReq builds from the request (recvID set by the caller). */
export function toMsgData(req: SendMsgFields, recvID: string): MsgData {
  const oa = req.contentType === ContentType.OANotification;
  const content = oa ? JSON.stringify({ detail: goJson(req.content) }) : goJson(req.content);
  const options: Record<string, boolean> = {};
  if (req.isOnlineOnly) for (const k of ["history", "persistent", "senderSync", "conversationUpdate"]) options[k] = false;
  if (req.notOfflinePush) options.offlinePush = false;
  const push = req.offlinePushInfo as Record<string, unknown> | undefined;
  return create(MsgDataSchema, {
    sendID: req.sendID, recvID, groupID: req.groupID, clientMsgID: req.clientMsgID, senderPlatformID: req.senderPlatformID,
    senderNickname: req.senderNickname, senderFaceURL: req.senderFaceURL,
    // OpenIM forces an OA notification into the notification session.
    sessionType: oa ? SessionType.Notification : req.sessionType,
    msgFrom: SYS_MSG_TYPE, contentType: req.contentType, createTime: BigInt(Date.now()), sendTime: BigInt(req.sendTime),
    content: new TextEncoder().encode(content), options, ex: req.ex,
    atUserIDList: req.contentType === ContentType.AtText ? (req.content.atUserList as string[]) : [],
    offlinePushInfo: push ? {
      title: String(push.title ?? ""), desc: String(push.desc ?? ""), ex: String(push.ex ?? ""),
      iOSPushSound: String(push.iOSPushSound ?? ""), iOSBadgeCount: Boolean(push.iOSBadgeCount),
    } : undefined,
  });
}
