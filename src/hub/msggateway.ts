// openim.msggateway.msgGateway (§5): what OpenIM's push, auth and api services call. Same semantics as the
// reference, with its bugs fixed: platforms 1..11, OnlinePushMsg/OnlineBatchPushOneMsg implemented, results
// in request order and honest.
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  GetUsersOnlineStatusRespSchema, KickUserOfflineRespSchema, MultiTerminalLoginCheckRespSchema, type OnlineBatchPushOneMsgResp,
  OnlinePushMsgRespSchema, type SingleMsgToUserPlatform, SingleMsgToUserPlatformSchema, type SingleMsgToUserResults, msgGateway,
} from "../gen/openim/msggateway/msggateway_pb.js";
import type { MsgData } from "../gen/openim/sdkws/sdkws_pb.js";
import type { PlatformResult, UserPushResult } from "../gateway/push.js";
import { ContentType, SessionType, isValidPlatform, platformName } from "../protocol/constants.js";
import { ErrCode, codeError } from "../protocol/errors.js";
import type { HubDeps } from "./deps.js";
import { callerOf } from "./context.js";

/** MsgData.Check (§5.3). */
function checkMsgData(m: MsgData | undefined): asserts m is MsgData {
  if (!m) throw codeError(ErrCode.Args, "msgData is empty");
  if (!m.sendID) throw codeError(ErrCode.Args, "sendID is empty");
  if (m.content.length === 0) throw codeError(ErrCode.Args, "content is empty");
  if ((m.sessionType === SessionType.Notification) !== (m.contentType === ContentType.OANotification))
    throw codeError(ErrCode.Args, "sessionType 4 goes with contentType 1400 only");
}

/** One entry per (code, platform), shared by every result that has it: a 10k-user push answers with 10k results,
 *  and a message per platform entry (with its BigInt) was most of what building and collecting them cost. */
const platformEntries = new Map<number, SingleMsgToUserPlatform>();
const platformMessage = (p: PlatformResult) =>
  create(SingleMsgToUserPlatformSchema, { ResultCode: BigInt(p.resultCode), RecvPlatFormID: p.recvPlatformID });
function platformEntry(p: PlatformResult): SingleMsgToUserPlatform {
  // Platforms are 1..11 and codes a handful; whatever a result merged from another node says stays outside the cache.
  if (p.recvPlatformID <= 0 || p.recvPlatformID >= 16 || !Number.isSafeInteger(p.resultCode)) return platformMessage(p);
  const key = p.resultCode * 16 + p.recvPlatformID;
  let e = platformEntries.get(key);
  if (!e) {
    e = platformMessage(p);
    if (platformEntries.size < 256) platformEntries.set(key, e);
  }
  return e;
}

/** Built as the message itself, not through create(): create walks every field of every one of 10k results. */
function toPb(r: UserPushResult): SingleMsgToUserResults {
  return { $typeName: "openim.msggateway.SingleMsgToUserResults", userID: r.userID, onlinePush: r.onlinePush, resp: r.resp.map(platformEntry) };
}

export function msgGatewayService(node: HubDeps): ServiceImpl<typeof msgGateway> {
  const batch = async (req: { msgData?: MsgData; pushToUserIDs: string[] }, ctx: Parameters<ServiceImpl<typeof msgGateway>["superGroupOnlineBatchPushOneMsg"]>[1]) => {
    checkMsgData(req.msgData);
    if (req.pushToUserIDs.length === 0) throw codeError(ErrCode.Args, "pushToUserIDs is empty");
    const results = await node.dispatch.pushToUsers(req.msgData, req.pushToUserIDs, callerOf(ctx).operationID);
    return { $typeName: "openim.msggateway.OnlineBatchPushOneMsgResp", singlePushResult: results.map(toPb) } satisfies OnlineBatchPushOneMsgResp;
  };
  return {
    async onlinePushMsg(req, ctx) {
      checkMsgData(req.msgData);
      if (!req.pushToUserID) throw codeError(ErrCode.Args, "pushToUserID is empty");
      const [r] = await node.dispatch.pushToUsers(req.msgData, [req.pushToUserID], callerOf(ctx).operationID);
      return create(OnlinePushMsgRespSchema, { resp: toPb(r!).resp });
    },
    async onlineBatchPushOneMsg(req, ctx) {
      return batch(req, ctx);
    },
    async superGroupOnlineBatchPushOneMsg(req, ctx) {
      return batch(req, ctx);
    },
    async getUsersOnlineStatus(req, ctx) {
      if (req.userIDs.length === 0) throw codeError(ErrCode.Args, "userIDs is empty");
      if (!callerOf(ctx).admin) throw codeError(ErrCode.NoPermission, "only app manager");
      const status = await node.dispatch.onlineStatus(req.userIDs);
      const successResult = req.userIDs.filter((u) => status.has(u)).map((userID) => ({ userID, status: 1, detailPlatformStatus: status.get(userID)! }));
      return create(GetUsersOnlineStatusRespSchema, { successResult });
    },
    async kickUserOffline(req) {
      if (!isValidPlatform(req.platformID)) throw codeError(ErrCode.Args, "platformID is invalid");
      if (req.kickUserIDList.length === 0) throw codeError(ErrCode.Args, "kickUserIDList is empty");
      await Promise.all(req.kickUserIDList.map((u) => node.dispatch.kickUser(u, req.platformID, "hub")));
      return create(KickUserOfflineRespSchema);
    },
    async multiTerminalLoginCheck(req, ctx) {
      if (!isValidPlatform(req.platformID)) throw codeError(ErrCode.Args, "platformID is invalid");
      if (!req.userID || !req.token) throw codeError(ErrCode.Args, "userID and token are required");
      const c = callerOf(ctx);
      node.sessions.applyRemoteLogin(req.userID, req.platformID, req.token, {
        operationID: c.operationID, opUserID: req.userID, platform: platformName(req.platformID), connID: "",
      });
      return create(MultiTerminalLoginCheckRespSchema);
    },
  };
}
