// Friends and blacklists: imgate keeps no friend graph (anyone may message anyone), so the truthful answer to every
// read is "none"; the routes that would change the graph are not served (docs/compatibility.md). Also the device
// routes of /third and the upload limits of /object: imgate has no push service or object storage here.
import { decodeBody } from "../envelope.js";
import { ErrCode, codeError } from "../../protocol/errors.js";
import { type SdkRoute, needSelf } from "./common.js";

/** No friend graph: one empty list that never changes (a constant version, so the SDKs' next sync is "no change"). */
const EMPTY_VERSION = { version: 1, versionID: "0000000000000000" };
const NO_CHANGE = { ...EMPTY_VERSION, full: false, delete: [], update: [], sortVersion: 0 };

const none = (data: unknown): SdkRoute => async (body, c) => {
  const req = decodeBody(body, "Req", { userID: "string", ownerUserID: "string", fromUserID: "string" });
  const who = req.userID || req.ownerUserID || req.fromUserID;
  if (who) needSelf(c, who);
  return data;
};
const noIDs = { ...EMPTY_VERSION, equal: false, userIDs: [] };

export function relationRoutes(): Record<string, SdkRoute> {
  return {
    "/friend/get_incremental_friends": none({ ...NO_CHANGE, insert: [] }),
    "/friend/get_full_friend_user_ids": none(noIDs),
    "/friend/get_friend_list": none({ total: 0, friendsInfo: [] }),
    "/friend/get_designated_friends": none({ friendsInfo: [] }),
    "/friend/get_friend_apply_list": none({ total: 0, friendRequests: [] }),
    "/friend/get_self_friend_apply_list": none({ total: 0, friendRequests: [] }),
    "/friend/get_designated_friend_apply": none({ friendRequests: [] }),
    "/friend/get_self_unhandled_apply_count": none({ count: 0 }),
    "/friend/get_black_list": none({ total: 0, blacks: [] }),
    "/friend/get_specified_blacks": none({ total: 0, blacks: [] }),
    "/friend/get_incremental_blacks": none({ ...NO_CHANGE, insert: [] }),
    "/friend/get_full_black_user_ids": none(noIDs),
    "/friend/is_friend": none({ inUser1Friends: false, inUser2Friends: false }),
    // A device's push token and badge: no offline push service here, nothing to keep; accepted as OpenIM accepts them.
    "/third/fcm_update_token": async () => ({}),
    "/third/set_app_badge": async () => ({}),
    "/object/part_limit": async () => {
      throw codeError(ErrCode.RecordNotFound, "imgate has no object storage: files and pictures need OpenIM's third service or URLs of your own");
    },
  };
}
