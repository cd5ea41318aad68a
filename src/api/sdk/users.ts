// OpenIM's user routes for the SDKs (open-im-server internal/api/user.go): profiles from the directory, and the
// subscriptions to other users' online status (the JS SDK's; the Go core subscribes over the socket).
import type { UserPatch } from "../../backend/directory.js";
import { ErrCode, codeError } from "../../protocol/errors.js";
import { decodeBody } from "../envelope.js";
import { NotificationType, type Notifier, type SdkDeps, type SdkRoute, capIDs, needSelf, onlineStatusList, unwrapped } from "./common.js";
import type { StatusSubscriptions } from "./subscriptions.js";

export function userRoutes(deps: SdkDeps, notify: Notifier, subs: StatusSubscriptions): Record<string, SdkRoute> {
  const { directory } = deps;
  /** OpenIM tells the user's own devices (sendID the operator, recvID the user), online only. */
  const updated = async (userID: string, op: string, operationID: string) =>
    notify.online(NotificationType.UserInfoUpdated, 1, op, userID, { userID }, [userID], operationID);
  const setUser = async (userID: string, patch: UserPatch, c: Parameters<SdkRoute>[1]) => {
    needSelf(c, userID);
    await directory.setUser(userID, patch);
    await updated(userID, c.userID, c.operationID);
    return {};
  };
  const statusOf = (userIDs: string[]) => onlineStatusList(deps.dispatch, userIDs);

  return {
    async "/user/get_users_info"(body) {
      const req = decodeBody(body, "GetDesignateUsersReq", { userIDs: "string[]" });
      return { usersInfo: await directory.users(capIDs(req.userIDs, "userIDs")) };
    },
    async "/user/get_self_user_info"(body, c) {
      const req = decodeBody(body, "GetSelfUserInfoReq", { userID: "string" });
      return { userInfo: (await directory.users([req.userID || c.userID]))[0] };
    },
    async "/user/update_user_info"(body, c) {
      const req = decodeBody(body, "UpdateUserInfoReq", { userInfo: "object" });
      const u = (req.userInfo ?? {}) as Record<string, unknown>;
      const patch: UserPatch = {};
      // OpenIM's update_user_info leaves empty strings as they were.
      for (const k of ["nickname", "faceURL", "ex"] as const) if (typeof u[k] === "string" && u[k]) patch[k] = u[k] as string;
      return setUser(String(u.userID ?? ""), patch, c);
    },
    async "/user/update_user_info_ex"(body, c) {
      const req = decodeBody(body, "UpdateUserInfoExReq", { userInfo: "object" });
      const u = (req.userInfo ?? {}) as Record<string, unknown>;
      const patch: UserPatch = {};
      const nickname = unwrapped(u.nickname, "string", "userInfo.nickname");
      const faceURL = unwrapped(u.faceURL, "string", "userInfo.faceURL");
      const ex = unwrapped(u.ex, "string", "userInfo.ex");
      const opt = unwrapped(u.globalRecvMsgOpt, "number", "userInfo.globalRecvMsgOpt");
      if (nickname !== undefined) patch.nickname = nickname;
      if (faceURL !== undefined) patch.faceURL = faceURL;
      if (ex !== undefined) patch.ex = ex;
      if (opt !== undefined && ![0, 1, 2].includes(opt)) throw codeError(ErrCode.Args, "globalRecvMsgOpt is 0, 1 or 2");
      if (opt !== undefined) patch.globalRecvMsgOpt = opt;
      return setUser(String(u.userID ?? ""), patch, c);
    },
    async "/user/set_global_msg_recv_opt"(body, c) {
      const req = decodeBody(body, "SetGlobalRecvMessageOptReq", { userID: "string", globalRecvMsgOpt: "int32" });
      if (![0, 1, 2].includes(req.globalRecvMsgOpt)) throw codeError(ErrCode.Args, "globalRecvMsgOpt is 0, 1 or 2");
      return setUser(req.userID, { globalRecvMsgOpt: req.globalRecvMsgOpt }, c);
    },
    async "/user/user_register"(body, c) {
      const req = decodeBody(body, "UserRegisterReq", { users: "any" });
      if (!c.admin) throw codeError(ErrCode.NoPermission, "only app manager can register users");
      const users = Array.isArray(req.users) ? (req.users as Record<string, unknown>[]) : [];
      if (users.length === 0) throw codeError(ErrCode.Args, "users is empty");
      capIDs(users.map((u) => String(u?.userID ?? "")), "users");
      for (const u of users) {
        if (typeof u?.userID !== "string" || !u.userID) throw codeError(ErrCode.Args, "userID is empty");
        const patch: UserPatch = {};
        for (const k of ["nickname", "faceURL", "ex"] as const) if (typeof u[k] === "string") patch[k] = u[k] as string;
        await directory.setUser(u.userID, patch);
      }
      return {};
    },
    // imgate keeps no user commands (favourites and the like): the truthful answer is none.
    async "/user/process_user_command_get_all"(body, c) {
      needSelf(c, decodeBody(body, "ProcessUserCommandGetAllReq", { userID: "string" }).userID || c.userID);
      return { commandResp: [] };
    },
    async "/user/process_user_command_get"(body, c) {
      needSelf(c, decodeBody(body, "ProcessUserCommandGetReq", { userID: "string" }).userID || c.userID);
      return { commandResp: [] };
    },
    async "/user/subscribe_users_status"(body, c) {
      const req = decodeBody(body, "SubscribeOrCancelUsersStatusReq", { userID: "string", userIDs: "string[]", genre: "int32" });
      needSelf(c, req.userID);
      const ids = capIDs(req.userIDs, "userIDs");
      if (req.genre === 1) {
        subs.subscribe(req.userID, ids);
        return { statusList: await statusOf(ids) };
      }
      if (req.genre === 2) {
        subs.unsubscribe(req.userID, ids);
        return {};
      }
      throw codeError(ErrCode.Args, "genre is 1 (subscribe) or 2 (cancel)");
    },
    async "/user/get_subscribe_users_status"(body, c) {
      const req = decodeBody(body, "GetSubscribeUsersStatusReq", { userID: "string" });
      needSelf(c, req.userID);
      return { statusList: await statusOf(subs.of(req.userID)) };
    },
  };
}
