// OpenIM's group routes for the SDKs (open-im-server internal/api/group.go, internal/rpc/group): groups created,
// changed and left from the SDKs, with OpenIM's group notifications (15xx, tips as OpenIM's JSON) pushed to the
// members online; the SDKs apply them by syncing the group again. Membership is the one sends fan out to.
import { randomInt } from "node:crypto";
import {
  GROUP_ADMIN, GROUP_DISMISSED, GROUP_ORDINARY, GROUP_OWNER, type GroupPatch, type GroupRecord, type MemberRecord, defaultGroup,
} from "../../backend/directory.js";
import { ErrCode, codeError } from "../../protocol/errors.js";
import { decodeBody } from "../envelope.js";
import { NotificationType, VERSION_FIELDS, fullIDsVersion, incrementalAnswer, type Notifier, type SdkCaller, type SdkDeps, type SdkRoute, capIDs, needSelf, page, unwrapped } from "./common.js";

const WORKING_GROUP = 2;
const PATCH_FIELDS: Record<keyof GroupPatch, "string" | "number"> = {
  groupName: "string", notification: "string", introduction: "string", faceURL: "string", ex: "string",
  needVerification: "number", lookMemberInfo: "number", applyMemberFriend: "number",
};

/** A GroupInfoForSet (plain, set_group_info) or SetGroupInfoExReq (each field wrapped in {value}) as a patch.
 *  (set_group_info leaves empty strings as they were; the _ex form sets what it names.) */
function patchOf(raw: Record<string, unknown>): GroupPatch {
  const out: Record<string, unknown> = {};
  for (const [k, kind] of Object.entries(PATCH_FIELDS)) {
    const v = unwrapped(raw[k], kind, k);
    if (v !== undefined) out[k] = v;
  }
  return out as GroupPatch;
}

/** An app manager acting on a group it is not in: described as its owner (OpenIM's admin checks treat it so). */
function asOwner(groupID: string, userID: string): MemberRecord {
  return {
    groupID, userID, roleLevel: GROUP_OWNER, joinTime: 0, nickname: userID, faceURL: "", appMangerLevel: 1, joinSource: 0, operatorUserID: "",
    ex: "", muteEndTime: 0, inviterUserID: "",
  };
}

/** Characters of a group ID a client chooses (it names the group's conversations: sg_<groupID>). */
const MAX_GROUP_ID = 128;

export function groupRoutes(deps: SdkDeps, notify: Notifier): Record<string, SdkRoute> {
  const { directory } = deps;
  const group = async (groupID: string): Promise<GroupRecord> => {
    if (!groupID) throw codeError(ErrCode.Args, "groupID is empty");
    const [g] = await directory.groups([groupID]);
    if (!g || g.status === GROUP_DISMISSED) throw codeError(ErrCode.RecordNotFound, `group ${groupID} not found`);
    return g;
  };
  const findMember = (members: MemberRecord[], userID: string) => members.find((m) => m.userID === userID);
  /** The caller's member record; app managers act as owners. */
  const actor = async (c: SdkCaller, groupID: string, members: MemberRecord[], what: string, minRole = GROUP_ORDINARY) => {
    const me = findMember(members, c.userID);
    // An app manager acts as the owner of any group, member or not.
    if (c.admin) return me ?? asOwner(groupID, c.userID);
    if (!me) throw codeError(ErrCode.NoPermission, `${c.userID} is not in group ${groupID}`);
    if (me.roleLevel < minRole) throw codeError(ErrCode.NoPermission, `only the group's owner or an admin can ${what}`);
    return me;
  };
  const tell = (contentType: number, groupID: string, c: SdkCaller, tips: Record<string, unknown>, userIDs: string[]) =>
    notify.online(contentType, 3, c.userID, groupID, { ...tips, operationTime: Date.now() }, userIDs, c.operationID);
  const membersOf = async (groupID: string, userIDs: string[]) => {
    const want = new Set(userIDs);
    return (await directory.members(groupID)).filter((m) => want.has(m.userID));
  };
  const incrementalMembers = async (groupID: string, v: { versionID: string; version: number }) => ({
    ...(await incrementalAnswer(directory, "members", groupID, v, (ids) => membersOf(groupID, ids), async () => directory.members(groupID))),
    group: (await directory.groups([groupID]))[0],
  });

  return {
    async "/group/create_group"(body, c) {
      const req = decodeBody(body, "CreateGroupReq", { memberUserIDs: "string[]", adminUserIDs: "string[]", ownerUserID: "string", groupInfo: "object" });
      // OpenIM refuses a group without an owner; the Go core fills in its user, so the caller owns it here.
      req.ownerUserID ||= c.userID;
      needSelf(c, req.ownerUserID);
      const info = (req.groupInfo ?? {}) as Record<string, unknown>;
      if (info.groupType !== undefined && info.groupType !== WORKING_GROUP) throw codeError(ErrCode.Args, "groupType must be 2 (a working group)");
      const groupID = typeof info.groupID === "string" && info.groupID ? info.groupID : String(randomInt(1_000_000_000, 9_999_999_999));
      if (groupID.length > MAX_GROUP_ID) throw codeError(ErrCode.Args, `groupID is longer than ${MAX_GROUP_ID} characters`);
      const admins = new Set(capIDs(req.adminUserIDs, "adminUserIDs"));
      const ids = capIDs([req.ownerUserID, ...req.memberUserIDs, ...admins], "members");
      const now = Date.now();
      const g: GroupRecord = {
        ...defaultGroup(groupID, ids.length), ...patchOf(info), groupID, ownerUserID: req.ownerUserID, creatorUserID: c.userID, createTime: now,
        groupType: WORKING_GROUP, notificationUpdateTime: 0, notificationUserID: "",
      };
      const created = await directory.createGroup(g,
        ids.map((userID) => ({ userID, roleLevel: userID === req.ownerUserID ? GROUP_OWNER : admins.has(userID) ? GROUP_ADMIN : GROUP_ORDINARY })), c.userID);
      const members = await directory.members(groupID);
      const owner = findMember(members, req.ownerUserID);
      await tell(NotificationType.GroupCreated, groupID, c, { group: created, opUser: findMember(members, c.userID) ?? owner, memberList: members, groupOwnerUser: owner }, ids);
      return { groupInfo: created };
    },
    async "/group/get_groups_info"(body) {
      const req = decodeBody(body, "GetGroupsInfoReq", { groupIDs: "string[]" });
      return { groupInfos: await directory.groups(capIDs(req.groupIDs, "groupIDs")) };
    },
    async "/group/get_joined_group_list"(body, c) {
      const req = decodeBody(body, "GetJoinedGroupListReq", { fromUserID: "string", pagination: "object" });
      needSelf(c, req.fromUserID);
      const all = await directory.groups(await directory.joinedGroupIDs(req.fromUserID));
      return { total: all.length, groups: page(all, req.pagination) };
    },
    async "/group/get_full_join_group_ids"(body, c) {
      const req = decodeBody(body, "GetFullJoinGroupIDsReq", { userID: "string" });
      needSelf(c, req.userID);
      return { ...(await fullIDsVersion(directory, "joined", req.userID)), groupIDs: await directory.joinedGroupIDs(req.userID) };
    },
    async "/group/get_incremental_join_groups"(body, c) {
      const req = decodeBody(body, "GetIncrementalJoinGroupReq", { userID: "string", ...VERSION_FIELDS });
      needSelf(c, req.userID);
      // Dismissed groups are left out of `groups` (their members were removed: they come as deleted).
      return incrementalAnswer(directory, "joined", req.userID, req, async (ids) => directory.groups(ids),
        async () => directory.groups(await directory.joinedGroupIDs(req.userID)));
    },
    async "/group/get_group_member_list"(body, c) {
      const req = decodeBody(body, "GetGroupMemberListReq", { groupID: "string", pagination: "object", keyword: "string" });
      const members = await directory.members((await group(req.groupID)).groupID);
      await actor(c, req.groupID, members, "list members");
      const found = req.keyword ? members.filter((m) => m.userID.includes(req.keyword) || m.nickname.includes(req.keyword)) : members;
      return { total: found.length, members: page(found, req.pagination) };
    },
    async "/group/get_group_members_info"(body, c) {
      const req = decodeBody(body, "GetGroupMembersInfoReq", { groupID: "string", userIDs: "string[]" });
      const members = await directory.members((await group(req.groupID)).groupID);
      await actor(c, req.groupID, members, "read members");
      const want = new Set(capIDs(req.userIDs, "userIDs"));
      return { members: members.filter((m) => want.has(m.userID)) };
    },
    async "/group/get_full_group_member_user_ids"(body, c) {
      const req = decodeBody(body, "GetFullGroupMemberUserIDsReq", { groupID: "string" });
      const members = await directory.members((await group(req.groupID)).groupID);
      await actor(c, req.groupID, members, "list members");
      return { ...(await fullIDsVersion(directory, "members", req.groupID)), userIDs: members.map((m) => m.userID) };
    },
    async "/group/get_incremental_group_members"(body, c) {
      const req = decodeBody(body, "GetIncrementalGroupMemberReq", { groupID: "string", ...VERSION_FIELDS });
      await actor(c, req.groupID, await directory.members((await group(req.groupID)).groupID), "list members");
      return incrementalMembers(req.groupID, req);
    },
    async "/group/get_incremental_group_members_batch"(body, c) {
      const req = decodeBody(body, "BatchGetIncrementalGroupMemberReq", { userID: "string", reqList: "any" });
      needSelf(c, req.userID);
      const list = Array.isArray(req.reqList) ? (req.reqList as { groupID?: unknown; versionID?: unknown; version?: unknown }[]) : [];
      capIDs(list.map((r) => String(r?.groupID ?? "")), "groups");
      const joined = new Set(await directory.joinedGroupIDs(req.userID));
      const respList: Record<string, unknown> = {};
      for (const r of list) {
        const id = String(r?.groupID ?? "");
        const v = { versionID: typeof r?.versionID === "string" ? r.versionID : "", version: Number.isSafeInteger(r?.version) ? (r.version as number) : 0 };
        if (joined.has(id)) respList[id] = await incrementalMembers(id, v);
      }
      return { respList };
    },
    async "/group/invite_user_to_group"(body, c) {
      const req = decodeBody(body, "InviteUserToGroupReq", { groupID: "string", invitedUserIDs: "string[]", reason: "string" });
      const g = await group(req.groupID);
      const before = await directory.members(g.groupID);
      await actor(c, g.groupID, before, "invite");
      const invited = capIDs(req.invitedUserIDs, "invitedUserIDs").filter((u) => !findMember(before, u));
      if (invited.length === 0) throw codeError(ErrCode.Args, "every invited user is in the group already");
      await directory.addMembers(g.groupID, invited, c.userID);
      const after = await directory.members(g.groupID);
      await tell(NotificationType.MemberInvited, g.groupID, c, {
        group: (await group(g.groupID)), opUser: findMember(after, c.userID), invitedUserList: after.filter((m) => invited.includes(m.userID)),
      }, after.map((m) => m.userID));
      return {};
    },
    async "/group/kick_group"(body, c) {
      const req = decodeBody(body, "KickGroupMemberReq", { groupID: "string", kickedUserIDs: "string[]", reason: "string" });
      const g = await group(req.groupID);
      const before = await directory.members(g.groupID);
      const me = await actor(c, g.groupID, before, "remove members", GROUP_ADMIN);
      const named = new Set(capIDs(req.kickedUserIDs, "kickedUserIDs"));
      const kicked = before.filter((m) => named.has(m.userID));
      if (kicked.length === 0) throw codeError(ErrCode.Args, "none of kickedUserIDs is in the group");
      for (const k of kicked) if (k.roleLevel >= me.roleLevel) throw codeError(ErrCode.NoPermission, `${c.userID} cannot remove ${k.userID}`);
      await directory.removeMembers(g.groupID, kicked.map((m) => m.userID));
      await tell(NotificationType.MemberKicked, g.groupID, c, { group: await group(g.groupID), opUser: me, kickedUserList: kicked }, before.map((m) => m.userID));
      return {};
    },
    async "/group/quit_group"(body, c) {
      const req = decodeBody(body, "QuitGroupReq", { groupID: "string", userID: "string" });
      const userID = req.userID || c.userID;
      needSelf(c, userID);
      const g = await group(req.groupID);
      const before = await directory.members(g.groupID);
      const me = findMember(before, userID);
      if (!me) throw codeError(ErrCode.Args, `${userID} is not in group ${g.groupID}`);
      if (me.roleLevel === GROUP_OWNER) throw codeError(ErrCode.NoPermission, "the group's owner cannot quit: dismiss the group or transfer it");
      await directory.removeMembers(g.groupID, [userID]);
      await tell(NotificationType.MemberQuit, g.groupID, { ...c, userID }, { group: await group(g.groupID), quitUser: me }, before.map((m) => m.userID));
      return {};
    },
    async "/group/dismiss_group"(body, c) {
      const req = decodeBody(body, "DismissGroupReq", { groupID: "string", deleteMember: "bool" });
      const g = await group(req.groupID);
      const before = await directory.members(g.groupID);
      const me = await actor(c, g.groupID, before, "dismiss the group", GROUP_OWNER);
      await directory.dismissGroup(g.groupID);
      await tell(NotificationType.GroupDismissed, g.groupID, c, { group: { ...g, status: GROUP_DISMISSED }, opUser: me }, before.map((m) => m.userID));
      return {};
    },
    async "/group/set_group_info"(body, c) {
      const req = decodeBody(body, "SetGroupInfoReq", { groupInfoForSet: "object" });
      const raw = (req.groupInfoForSet ?? {}) as Record<string, unknown>;
      const patch = Object.fromEntries(Object.entries(patchOf(raw)).filter(([, v]) => v !== "")) as GroupPatch;
      return setInfo(String(raw.groupID ?? ""), patch, c);
    },
    async "/group/set_group_info_ex"(body, c) {
      const req = decodeBody(body, "SetGroupInfoExReq", { groupID: "string" });
      // decodeBody has checked that the body is a JSON object (or null, or empty: no fields).
      return setInfo(req.groupID, patchOf((body.trim() ? JSON.parse(body) : null) ?? {}), c);
    },
    // imgate has no join requests (members are added by invitation): none to list.
    async "/group/get_group_application_list"() {
      return { total: 0, groupRequests: [] };
    },
    async "/group/get_recv_group_applicationList"() {
      return { total: 0, groupRequests: [] };
    },
    async "/group/get_user_req_group_applicationList"() {
      return { total: 0, groupRequests: [] };
    },
    async "/group/get_group_application_unhandled_count"() {
      return { count: 0 };
    },
    async "/group/get_specified_user_group_request_info"() {
      return { total: 0, groupRequests: [] };
    },
  };

  async function setInfo(groupID: string, patch: GroupPatch, c: SdkCaller) {
    const g = await group(groupID);
    const members = await directory.members(g.groupID);
    const me = await actor(c, g.groupID, members, "change the group's info", GROUP_ADMIN);
    const next = await directory.setGroup(g.groupID, patch, c.userID);
    await tell(NotificationType.GroupInfoSet, g.groupID, c, { group: next, opUser: me }, members.map((m) => m.userID));
    return {};
  }
}
