// What OpenIM's SDKs read about users, groups and a user's conversations besides messages (OpenIM's user, group
// and conversation services), as one port: the embedded shape keeps it in its SQLite file (embedded/directory.ts).
// Records are OpenIM's JSON shapes (sdkws.UserInfo, GroupInfo, GroupMemberFullInfo, conversation.Conversation).
import { ErrCode, codeError } from "../protocol/errors.js";

/** A value now (the embedded store's reads on its own thread) or later (a call to it). */
export type Awaitable<T> = T | Promise<T>;

export interface UserRecord {
  userID: string;
  nickname: string;
  faceURL: string;
  ex: string;
  createTime: number;
  appMangerLevel: number;
  globalRecvMsgOpt: number;
}

/** What a user may set of their own record (OpenIM's update_user_info_ex). */
export type UserPatch = Partial<Pick<UserRecord, "nickname" | "faceURL" | "ex" | "globalRecvMsgOpt">>;

export interface GroupRecord {
  groupID: string;
  groupName: string;
  notification: string;
  introduction: string;
  faceURL: string;
  ownerUserID: string;
  createTime: number;
  memberCount: number;
  ex: string;
  /** 0 ok, 1 banned, 2 dismissed, 3 muted (OpenIM's GroupStatus). */
  status: number;
  creatorUserID: string;
  groupType: number;
  needVerification: number;
  lookMemberInfo: number;
  applyMemberFriend: number;
  notificationUpdateTime: number;
  notificationUserID: string;
}

/** The settable part of a group (OpenIM's GroupInfoForSet). */
export type GroupPatch = Partial<Pick<GroupRecord, "groupName" | "notification" | "introduction" | "faceURL" | "ex" | "needVerification" | "lookMemberInfo" | "applyMemberFriend">>;

export const GROUP_OWNER = 100;
export const GROUP_ADMIN = 60;
export const GROUP_ORDINARY = 20;
export const GROUP_DISMISSED = 2;

export interface MemberRecord {
  groupID: string;
  userID: string;
  roleLevel: number;
  joinTime: number;
  nickname: string;
  faceURL: string;
  appMangerLevel: number;
  joinSource: number;
  operatorUserID: string;
  ex: string;
  muteEndTime: number;
  inviterUserID: string;
}

/** A user's conversation: its seqs and read mark (the message store's) and the user's own settings for it. */
export interface UserConversation {
  conversationID: string;
  hasReadSeq: number;
  maxSeq: number;
  minSeq: number;
  maxSeqTime: number;
  /** What the user set (OpenIM's Conversation fields: isPinned, recvMsgOpt, ex, …), as given. */
  settings: Record<string, unknown>;
}

/** Bounds on what one caller can make the directory keep. */
export const DIRECTORY_LIMITS = {
  /** Characters of any one text field (nickname, group name, ex, …). */
  maxText: 4096,
  /** Members one group may have. */
  maxGroupMembers: 10_000,
  /** Groups one user may be in (created or invited). */
  maxJoinedGroups: 1000,
  /** Bytes of one conversation's settings as stored. */
  maxSettingsBytes: 8192,
  /** Conversations one user's list answers at most (each costs reads of its seqs). */
  maxListedConversations: 1000,
  /** Deleted items one sync list remembers; past it they are dropped and older client versions get a full answer. */
  maxTombstones: 1000,
};

/** The lists the SDKs sync incrementally (OpenIM's version logs): whose, and what their items are. */
export type SyncKind = "joined" | "members" | "conversations";

export interface SyncVersion {
  versionID: string;
  version: number;
}

/** What changed in a list since a client's version; `full` when that version cannot be answered from the log
 *  (unknown, another versionID, older than the log keeps). */
export interface SyncChanges extends SyncVersion {
  full: boolean;
  inserted: string[];
  updated: string[];
  deleted: string[];
}

export interface Directory {
  /** The list's current version. */
  syncVersion(kind: SyncKind, owner: string): Awaitable<SyncVersion>;
  /** The list's changes since the client's version. */
  syncChanges(kind: SyncKind, owner: string, versionID: string, version: number): Awaitable<SyncChanges>;
  /** One record per ID, in the order given: a user who never set anything has the defaults (nickname = userID). */
  users(userIDs: string[]): Awaitable<UserRecord[]>;
  setUser(userID: string, patch: UserPatch): Awaitable<UserRecord>;
  /** The groups that exist (a record, or members set by the CLI or hub), in the order given; unknown IDs left out. */
  groups(groupIDs: string[]): Awaitable<GroupRecord[]>;
  joinedGroupIDs(userID: string): Awaitable<string[]>;
  members(groupID: string): Awaitable<MemberRecord[]>;
  /** Creates the group with its owner and members (the owner among them); fails if the ID is taken. */
  createGroup(group: GroupRecord, members: { userID: string; roleLevel: number }[], operatorUserID: string): Awaitable<GroupRecord>;
  setGroup(groupID: string, patch: GroupPatch, operatorUserID: string): Awaitable<GroupRecord>;
  addMembers(groupID: string, userIDs: string[], inviterUserID: string): Awaitable<void>;
  removeMembers(groupID: string, userIDs: string[]): Awaitable<void>;
  /** Marks the group dismissed and removes every member (history stays). */
  dismissGroup(groupID: string): Awaitable<void>;
  /** The user's conversations (those the message store made them a member of), newest message first. */
  conversations(userID: string): Awaitable<UserConversation[]>;
  /** Merges `settings` into what the user set for the conversation. */
  setConversation(userID: string, conversationID: string, settings: Record<string, unknown>): Awaitable<void>;
}

/** Text fields a directory keeps, checked against DIRECTORY_LIMITS.maxText. */
export function checkTexts(o: object, fields: readonly string[]): void {
  for (const k of fields) {
    const v = (o as Record<string, unknown>)[k];
    if (typeof v === "string" && v.length > DIRECTORY_LIMITS.maxText) throw codeError(ErrCode.Args, `${k} is longer than ${DIRECTORY_LIMITS.maxText} characters`);
  }
}
export const USER_TEXTS = ["nickname", "faceURL", "ex"] as const;

// The rules both directories (SQLite, Redis) apply, in one place: what they refuse and how they say it.

/** A group of `members` members is refused past maxGroupMembers. */
export function checkGroupSize(members: number): void {
  if (members > DIRECTORY_LIMITS.maxGroupMembers) throw codeError(ErrCode.Args, `a group has at most ${DIRECTORY_LIMITS.maxGroupMembers} members`);
}

/** A user already in `joined` groups may join no more at maxJoinedGroups. */
export function checkJoinedCount(userID: string, joined: number): void {
  if (joined >= DIRECTORY_LIMITS.maxJoinedGroups)
    throw codeError(ErrCode.Args, `${userID} is in ${DIRECTORY_LIMITS.maxJoinedGroups} groups, the most one user may be in`);
}

/** The group, unless it does not exist or is dismissed (RecordNotFound). */
export function liveGroup(groupID: string, g: GroupRecord | undefined): GroupRecord {
  if (!g || g.status === GROUP_DISMISSED) throw codeError(ErrCode.RecordNotFound, `group ${groupID} not found`);
  return g;
}

/** A conversation's settings as stored (`stored`: what was, if anything) with `settings` merged in, within maxSettingsBytes. */
export function mergedSettings(stored: string | null | undefined, settings: Record<string, unknown>): string {
  const merged = JSON.stringify({ ...(stored ? JSON.parse(stored) : {}), ...settings });
  if (merged.length > DIRECTORY_LIMITS.maxSettingsBytes) throw codeError(ErrCode.Args, `conversation settings are larger than ${DIRECTORY_LIMITS.maxSettingsBytes} bytes`);
  return merged;
}

/** Whether a client's list version can be answered from the log (same versionID, within what the log keeps). */
export const answerable = (now: SyncVersion & { minVersion: number }, versionID: string, version: number) =>
  versionID !== "" && versionID === now.versionID && version >= now.minVersion && version <= now.version;
export const GROUP_TEXTS = ["groupName", "notification", "introduction", "faceURL", "ex"] as const;

/** The group fields a directory keeps as the group's info (the rest: owner, create time, status, member count). */
export const GROUP_INFO_FIELDS = ["groupName", "notification", "introduction", "faceURL", "ex", "creatorUserID", "groupType", "needVerification",
  "lookMemberInfo", "applyMemberFriend", "notificationUpdateTime", "notificationUserID"] as const;

export const groupInfoJson = (g: Partial<GroupRecord>) =>
  JSON.stringify(Object.fromEntries(GROUP_INFO_FIELDS.filter((k) => g[k] !== undefined).map((k) => [k, g[k]])));

/** A group from what a directory stores of it (none: a group the operator made, only members). */
export function groupOf(groupID: string, memberCount: number, row?: { info: string; owner: string; createTime: number; status: number }): GroupRecord {
  if (!row) return defaultGroup(groupID, memberCount);
  const info = JSON.parse(row.info) as Partial<GroupRecord>;
  return { ...defaultGroup(groupID, memberCount), ...info, groupID, ownerUserID: row.owner, createTime: row.createTime, status: row.status, memberCount };
}

/** A member from the group, the member's role row (none: an ordinary member the operator added) and profile. */
export function memberOf(g: GroupRecord, profile: UserRecord, row?: { roleLevel: number; joinTime: number; inviter: string }): MemberRecord {
  return {
    groupID: g.groupID, userID: profile.userID, roleLevel: profile.userID === g.ownerUserID ? GROUP_OWNER : row?.roleLevel ?? GROUP_ORDINARY,
    joinTime: row?.joinTime ?? g.createTime, nickname: profile.nickname, faceURL: profile.faceURL, appMangerLevel: 0, joinSource: 2,
    operatorUserID: row?.inviter ?? "", ex: "", muteEndTime: 0, inviterUserID: row?.inviter ?? "",
  };
}

/** Conversations the SDKs list: 1:1, group and notification chats (the n_ ones carry notifications, not chats). */
export const isListedConversation = (conversationID: string) => /^(si|sg|sn)_/.test(conversationID);

/** How a sync log item changed (OpenIM's VersionState). */
export const SYNC_INSERTED = 1;
export const SYNC_DELETED = 2;
export const SYNC_UPDATED = 3;

export const defaultUser = (userID: string): UserRecord => ({
  userID, nickname: userID, faceURL: "", ex: "", createTime: 0, appMangerLevel: 1, globalRecvMsgOpt: 0,
});

/** A group that only has members (set by `imgate group set` or the hub): its ID for a name, no owner. */
export const defaultGroup = (groupID: string, memberCount: number): GroupRecord => ({
  groupID, groupName: groupID, notification: "", introduction: "", faceURL: "", ownerUserID: "", createTime: 0, memberCount, ex: "",
  status: 0, creatorUserID: "", groupType: 2, needVerification: 0, lookMemberInfo: 0, applyMemberFriend: 0, notificationUpdateTime: 0,
  notificationUserID: "",
});
