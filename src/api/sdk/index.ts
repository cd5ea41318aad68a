// OpenIM's HTTP API as the SDKs use it (apiAddr), answered from imgate's own data where imgate keeps the directory
// (the embedded shape): users, conversations and read marks, groups, empty friend lists, the JS SDK's /jssdk
// routes. The route list with each route's status: docs/compatibility.md.
import { conversationRoutes } from "./conversations.js";
import { groupRoutes } from "./groups.js";
import { jssdkRoutes } from "./jssdk.js";
import { relationRoutes } from "./relations.js";
import { createStatusSubscriptions } from "./subscriptions.js";
import { userRoutes } from "./users.js";
import { type SdkDeps, notifier } from "./common.js";

export type { SdkCaller, SdkDeps, SdkRoute } from "./common.js";
export type { JssdkRoute } from "./jssdk.js";

/** OpenIM routes the SDKs may call that imgate does not serve: answered "not found", naming the route. */
export const NOT_SERVED = [
  "/friend/add_friend", "/friend/add_friend_response", "/friend/delete_friend", "/friend/add_black", "/friend/remove_black", "/friend/update_friends",
  "/friend/import_friend", "/friend/set_friend_remark", "/group/join_group", "/group/transfer_group", "/group/mute_group", "/group/cancel_mute_group",
  "/group/mute_group_member", "/group/cancel_mute_group_member", "/group/set_group_member_info", "/group/group_application_response",
  "/msg/revoke_msg", "/msg/delete_msgs", "/msg/clear_conversation_msg", "/msg/user_clear_all_msg",
  "/user/process_user_command_add", "/user/process_user_command_delete", "/user/process_user_command_update",
  "/object/access_url", "/object/auth_sign", "/object/initiate_multipart_upload", "/object/complete_multipart_upload",
];

export function createSdkApi(deps: SdkDeps) {
  const notify = notifier(deps);
  const subscriptions = createStatusSubscriptions();
  return {
    json: { ...userRoutes(deps, notify, subscriptions), ...conversationRoutes(deps, notify), ...groupRoutes(deps, notify), ...relationRoutes() },
    protobuf: jssdkRoutes(deps),
    subscriptions,
  };
}

/** Path prefixes of OpenIM's API beyond the app-server's /auth, /msg and /user. */
export const SDK_PREFIXES = ["/conversation/", "/group/", "/friend/", "/third/", "/object/", "/jssdk/"];
