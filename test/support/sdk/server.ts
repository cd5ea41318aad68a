// One local HTTP server for the real-SDK tests: the page that runs OpenIM's SDKs in Chromium, the SDKs' files
// (as an app would serve them), and a stand-in for OpenIM's HTTP API (apiAddr). The SDKs call that API during
// login sync; OpenIM's api service cannot run here, so the stand-in answers the routes they call with valid data
// about the test's users and groups, logs every call, and records any route it does not know: a new SDK
// version that calls something new shows up as a test failure, not as silent empty data.
import { PbCoder } from "@openim/protocol";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

const root = join(import.meta.dir, "../../..");
const wasmLib = join(root, "node_modules/@openim/wasm-client-sdk/lib");
const wasmAssets = join(root, "node_modules/@openim/wasm-client-sdk/assets");
// The JS SDK's modern build. Its ES5 builds (index.es.js, the `module` entry bundlers pick; index.js; index.umd.js)
// compile `[...map.entries()]` to `[].concat(map.entries())`, so its reconnect gap fill throws before sending 1002
// (a client bug, docs/compatibility.md); the modern build is the same code compiled correctly.
const jsSdkEntry = join(root, "node_modules/@openim/client-sdk/lib/index.modern.mjs");

export interface ApiCall {
  path: string;
  body: unknown;
  /** The token header the SDK sent (its user token). */
  token: string | null;
}

/** What the stand-in knows of a conversation: its newest stored message (protobuf MsgData) and max seq. */
export type ConversationFacts = (conversationID: string) => Promise<{ last?: Uint8Array; maxSeq: number }>;

export interface SdkServer {
  origin: string;
  /** Every API call, in order. */
  calls: ApiCall[];
  /** API routes the stand-in does not know (should stay empty). */
  unexpected: string[];
  /** Who is in which group, for the group routes (the gateway's own membership is set separately). */
  groups: Map<string, string[]>;
  stop(): void;
}

const now = () => Date.now();
const user = (userID: string) => ({ userID, nickname: userID, faceURL: "", ex: "", createTime: 1_700_000_000_000, appMangerLevel: 1, globalRecvMsgOpt: 0 });

/** The stand-in's answers, by route: OpenIM's response `data` for each (open-im-server internal/api, protocol). */
function routes(groups: Map<string, string[]>): Record<string, (body: any) => unknown> {
  const joined = (userID: string) => [...groups].filter(([, m]) => m.includes(userID)).map(([g]) => g);
  const groupInfo = (groupID: string) => ({
    groupID, groupName: groupID, notification: "", introduction: "", faceURL: "", ownerUserID: groups.get(groupID)?.[0] ?? "",
    createTime: 1_700_000_000_000, memberCount: groups.get(groupID)?.length ?? 0, ex: "", status: 0, creatorUserID: groups.get(groupID)?.[0] ?? "",
    groupType: 2, needVerification: 0, lookMemberInfo: 0, applyMemberFriend: 0, notificationUpdateTime: 0, notificationUserID: "",
  });
  const member = (groupID: string, userID: string) => ({
    groupID, userID, roleLevel: groups.get(groupID)?.[0] === userID ? 100 : 20, joinTime: 1_700_000_000_000, nickname: userID,
    faceURL: "", appMangerLevel: 0, joinSource: 2, operatorUserID: "", ex: "", muteEndTime: 0, inviterUserID: "",
  });
  // A full answer for an incremental sync: version 1, everything inserted.
  const incremental = <T>(items: T[]) => ({ version: 1, versionID: "v1", full: true, delete: [], insert: items, update: [], sortVersion: 0 });
  return {
    "/user/get_users_info": (b) => ({ usersInfo: (b.userIDs ?? []).map(user) }),
    "/user/get_self_user_info": (b) => ({ userInfo: user(b.userID) }),
    "/user/get_subscribe_users_status": () => ({ statusList: [] }),
    "/user/subscribe_users_status": () => ({ statusList: [] }),
    "/user/process_user_command_get_all": () => ({ commandResp: [] }),
    "/user/get_users_online_status": () => ({ statusList: [] }),
    "/friend/get_incremental_friends": () => incremental([]),
    "/friend/get_full_friend_user_ids": () => ({ version: 1, versionID: "v1", equal: false, userIDs: [] }),
    "/friend/get_friend_list": () => ({ total: 0, friendsInfo: [] }),
    "/friend/get_friend_apply_list": () => ({ total: 0, friendRequests: [] }),
    "/friend/get_self_friend_apply_list": () => ({ total: 0, friendRequests: [] }),
    "/friend/get_black_list": () => ({ total: 0, blacks: [] }),
    "/friend/get_incremental_blacks": () => incremental([]),
    "/friend/get_full_black_user_ids": () => ({ version: 1, versionID: "v1", equal: false, userIDs: [] }),
    "/group/get_incremental_join_groups": (b) => incremental(joined(b.userID).map(groupInfo)),
    "/group/get_full_join_group_ids": (b) => ({ version: 1, versionID: "v1", equal: false, groupIDs: joined(b.userID) }),
    "/group/get_joined_group_list": (b) => ({ total: joined(b.fromUserID ?? b.userID).length, groups: joined(b.fromUserID ?? b.userID).map(groupInfo) }),
    "/group/get_groups_info": (b) => ({ groupInfos: (b.groupIDs ?? []).filter((g: string) => groups.has(g)).map(groupInfo) }),
    "/group/get_group_members_info": (b) => ({ members: (b.userIDs ?? []).filter((u: string) => groups.get(b.groupID)?.includes(u)).map((u: string) => member(b.groupID, u)) }),
    "/group/get_group_member_list": (b) => ({ total: groups.get(b.groupID)?.length ?? 0, members: (groups.get(b.groupID) ?? []).map((u) => member(b.groupID, u)) }),
    "/group/get_full_group_member_user_ids": (b) => ({ version: 1, versionID: "v1", equal: false, userIDs: groups.get(b.groupID) ?? [] }),
    "/group/get_incremental_group_members_batch": (b) => ({
      respList: Object.fromEntries((b.reqList ?? []).map((r: { groupID: string }) => [r.groupID, {
        ...incremental((groups.get(r.groupID) ?? []).map((u) => member(r.groupID, u))), group: groupInfo(r.groupID),
      }])),
    }),
    "/group/get_incremental_group_members": (b) => ({
      ...incremental((groups.get(b.groupID) ?? []).map((u) => member(b.groupID, u))), group: groupInfo(b.groupID),
    }),
    "/group/get_group_application_list": () => ({ total: 0, groupRequests: [] }),
    "/group/get_user_req_group_applicationList": () => ({ total: 0, groupRequests: [] }),
    "/group/get_group_application_unhandled_count": () => ({ count: 0 }),
    "/conversation/get_incremental_conversations": () => incremental([]),
    "/conversation/get_full_conversation_ids": () => ({ version: 1, versionID: "v1", equal: false, conversationIDs: [] }),
    "/conversation/get_owner_conversation": () => ({ total: 0, conversations: [] }),
    "/conversation/get_all_conversations": () => ({ conversations: [] }),
    "/conversation/get_conversations": () => ({ conversations: [] }),
    "/conversation/get_not_notify_conversation_ids": () => ({ conversationIDs: [] }),
    "/conversation/get_pinned_conversation_ids": () => ({ conversationIDs: [] }),
    "/conversation/get_conversation_groups": () => ({ conversationGroups: [] }),
    "/conversation/set_conversations": () => ({}),
    "/conversation/get_conversations_has_read_and_max_seq": () => ({ seqs: {} }),
    "/msg/get_server_time": () => ({ serverTime: now() }),
    "/msg/mark_conversation_as_read": () => ({}),
    "/third/fcm_update_token": () => ({}),
    "/third/set_app_badge": () => ({}),
    "/object/part_limit": () => ({ minPartSize: 5242880, maxPartSize: 5368709120, maxNumSize: 10000 }),
  };
}

/**
 * The JS SDK's conversation routes (/jssdk/*) take a protobuf body and answer base64 protobuf in `data`
 * (OpenIM's jssdk.proto). A conversation it asks for is described from its ID and the gateway's store.
 */
async function jssdkRoute(path: string, body: Uint8Array, facts: ConversationFacts): Promise<string | undefined> {
  const conversationMsg = async (owner: string, conversationID: string) => {
    const [prefix, ...rest] = conversationID.split("_");
    const group = prefix === "sg" || prefix === "g";
    const peer = group ? "" : rest.find((u) => u !== owner) ?? owner;
    const f = await facts(conversationID);
    // The coders want every field: start from each message's defaults (a decode of nothing).
    const none = new Uint8Array(0);
    return {
      conversation: {
        ...PbCoder.Conversation.decode(none),
        ownerUserID: owner, conversationID, conversationType: group ? 3 : 1, userID: peer, groupID: group ? rest.join("_") : "", maxSeq: f.maxSeq,
      },
      lastMsg: f.last ? PbCoder.MsgData.decode(f.last) : undefined,
      user: group ? undefined : { ...PbCoder.UserInfo.decode(none), userID: peer, nickname: peer },
      friend: undefined, group: undefined, maxSeq: f.maxSeq, readSeq: 0,
    };
  };
  if (path === "/jssdk/get_conversations") {
    const req = PbCoder.GetConversationsReq.decode(body);
    const resp = { unreadCount: 0, conversations: await Promise.all(req.conversationIDs.map((id) => conversationMsg(req.ownerUserID, id))) };
    return Buffer.from(PbCoder.GetConversationsResp.encode(resp as any).finish()).toString("base64");
  }
  if (path === "/jssdk/get_active_conversations") {
    PbCoder.GetActiveConversationsReq.decode(body);
    return Buffer.from(PbCoder.GetActiveConversationsResp.encode({ unreadCount: 0, conversations: [] }).finish()).toString("base64");
  }
  return undefined;
}

async function jsSdkBundle(): Promise<string> {
  const out = await Bun.build({ entrypoints: [jsSdkEntry], target: "browser", format: "esm", minify: false });
  if (!out.success) throw new Error(`bundling @openim/client-sdk failed: ${out.logs.join("\n")}`);
  return out.outputs[0]!.text();
}

const isolation = {
  // The wasm SDK's SQLite worker uses SharedArrayBuffer: the page must be cross-origin isolated.
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
  "cross-origin-resource-policy": "same-origin",
};

export async function startSdkServer(
  groups = new Map<string, string[]>(), facts: ConversationFacts = async () => ({ maxSeq: 0 }),
): Promise<SdkServer> {
  if (!existsSync(wasmLib) || !existsSync(jsSdkEntry)) throw new Error("the OpenIM SDK packages are not installed (npm install)");
  const js = await jsSdkBundle();
  const calls: ApiCall[] = [];
  const unexpected: string[] = [];
  const api = routes(groups);
  const file = (path: string, type?: string) => new Response(Bun.file(path), { headers: { ...isolation, ...(type ? { "content-type": type } : {}) } });
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const { pathname } = new URL(req.url);
      if (req.method === "GET") {
        if (pathname === "/") return file(join(import.meta.dir, "page.html"), "text/html; charset=utf-8");
        if (pathname === "/harness.js") return file(join(import.meta.dir, "harness.js"), "text/javascript");
        if (pathname === "/js-sdk.js") return new Response(js, { headers: { ...isolation, "content-type": "text/javascript" } });
        const m = pathname.match(/^\/wasm\/([\w.-]+)$/);
        if (m) {
          const name = m[1]!;
          const path = existsSync(join(wasmLib, name)) ? join(wasmLib, name) : join(wasmAssets, name);
          if (existsSync(path) && dirname(path).startsWith(join(root, "node_modules")))
            return file(path, name.endsWith(".wasm") ? "application/wasm" : name.endsWith(".js") ? "text/javascript" : undefined);
        }
        return new Response("not found", { status: 404, headers: isolation });
      }
      if (req.method === "OPTIONS") return new Response(null, { headers: isolation });
      if (pathname.startsWith("/jssdk/")) {
        const raw = new Uint8Array(await req.arrayBuffer());
        calls.push({ path: pathname, body: Buffer.from(raw).toString("base64"), token: req.headers.get("token") });
        const data = await jssdkRoute(pathname, raw, facts);
        if (data === undefined) unexpected.push(pathname);
        return Response.json(data === undefined ? { errCode: 404, errMsg: `unknown ${pathname}`, errDlt: "" } : { errCode: 0, errMsg: "", errDlt: "", data }, { headers: isolation });
      }
      const body = await req.json().catch(() => ({}));
      calls.push({ path: pathname, body, token: req.headers.get("token") });
      const answer = api[pathname];
      if (!answer) {
        unexpected.push(pathname);
        return Response.json({ errCode: 404, errMsg: `the test stand-in does not know ${pathname}`, errDlt: "" }, { headers: isolation });
      }
      return Response.json({ errCode: 0, errMsg: "", errDlt: "", data: answer(body) }, { headers: isolation });
    },
  });
  return { origin: `http://127.0.0.1:${server.port}`, calls, unexpected, groups, stop: () => void server.stop(true) };
}
