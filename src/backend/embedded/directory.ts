// The directory (users, groups, conversation settings) in the embedded SQLite file, on the store thread beside the
// message store: group membership is the message store's group_members (what sends fan out to), changed only
// through `setMembers`, so a member added here is in the group's conversations at once.
import type { Database } from "bun:sqlite";
import { randomBytes } from "node:crypto";
import { ErrCode, codeError } from "../../protocol/errors.js";
import {
  DIRECTORY_LIMITS, type Directory, GROUP_DISMISSED, GROUP_ORDINARY, GROUP_TEXTS, type GroupRecord, type MemberRecord, SYNC_DELETED as DELETED,
  SYNC_INSERTED as INSERTED, SYNC_UPDATED as UPDATED, type SyncChanges, type SyncKind, type SyncVersion, USER_TEXTS, type UserConversation,
  type UserRecord, answerable, checkGroupSize, checkJoinedCount, checkTexts, defaultUser, groupInfoJson, groupOf, isListedConversation,
  liveGroup, memberOf, mergedSettings,
} from "../directory.js";

/** The directory, and the one way group membership changes on this thread (the CLI's and hub's too): with the
 *  version logs the SDKs' incremental sync reads. */
export interface SqliteDirectory extends Directory {
  replaceMembers(groupID: string, userIDs: string[]): void;
}

export function createSqliteDirectory(db: Database, setMembers: (groupID: string, userIDs: string[]) => void): SqliteDirectory {
  const q = {
    user: db.query<{ user_id: string; nickname: string; face_url: string; ex: string; global_recv_msg_opt: number; create_time: number }, [string]>(
      "SELECT * FROM users WHERE user_id = ?"),
    putUser: db.query(
      `INSERT INTO users (user_id, nickname, face_url, ex, global_recv_msg_opt, create_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
       ON CONFLICT(user_id) DO UPDATE SET nickname = ?2, face_url = ?3, ex = ?4, global_recv_msg_opt = ?5`),
    group: db.query<{ info: string; owner_user_id: string; create_time: number; status: number }, [string]>(
      "SELECT info, owner_user_id, create_time, status FROM groups WHERE group_id = ?"),
    insertGroup: db.query("INSERT INTO groups (group_id, info, owner_user_id, create_time, status) VALUES (?, ?, ?, ?, 0)"),
    setGroupInfo: db.query("UPDATE groups SET info = ? WHERE group_id = ?"),
    setGroupStatus: db.query("UPDATE groups SET status = ? WHERE group_id = ?"),
    memberIDs: db.query<{ user_id: string }, [string]>("SELECT user_id FROM group_members WHERE group_id = ? ORDER BY user_id"),
    memberCount: db.query<{ n: number }, [string]>("SELECT COUNT(*) AS n FROM group_members WHERE group_id = ?"),
    memberInfo: db.query<{ user_id: string; role_level: number; join_time: number; inviter_user_id: string }, [string]>(
      "SELECT user_id, role_level, join_time, inviter_user_id FROM group_member_info WHERE group_id = ?"),
    putMemberInfo: db.query(
      `INSERT INTO group_member_info (group_id, user_id, role_level, join_time, inviter_user_id) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(group_id, user_id) DO UPDATE SET role_level = excluded.role_level`),
    dropMemberInfo: db.query("DELETE FROM group_member_info WHERE group_id = ? AND user_id = ?"),
    joined: db.query<{ group_id: string }, [string]>("SELECT group_id FROM group_members WHERE user_id = ? ORDER BY group_id"),
    conversations: db.query<{ conversation_id: string; has_read_seq: number; settings: string; max_seq: number | null; min_seq: number | null; max_seq_time: number | null }, [string]>(
      `SELECT uc.conversation_id, uc.has_read_seq, uc.settings, c.max_seq, c.min_seq, c.max_seq_time
       FROM user_conversations uc LEFT JOIN conversations c ON c.conversation_id = uc.conversation_id
       WHERE uc.user_id = ? ORDER BY c.max_seq_time DESC, uc.conversation_id`),
    settings: db.query<{ settings: string }, [string, string]>("SELECT settings FROM user_conversations WHERE user_id = ? AND conversation_id = ?"),
    syncVersion: db.query<{ version: number; min_version: number; version_id: string }, [string, string]>(
      "SELECT version, min_version, version_id FROM sync_versions WHERE kind = ? AND owner = ?"),
    putSyncVersion: db.query(
      `INSERT INTO sync_versions (kind, owner, version, min_version, version_id) VALUES (?1, ?2, ?3, ?4, ?5)
       ON CONFLICT(kind, owner) DO UPDATE SET version = ?3, min_version = ?4, version_id = ?5`),
    // The last change wins, as in OpenIM's version logs (an item inserted and then updated reads as updated).
    logItem: db.query(
      `INSERT INTO sync_log (kind, owner, item, version, state) VALUES (?1, ?2, ?3, ?4, ?5)
       ON CONFLICT(kind, owner, item) DO UPDATE SET version = ?4, state = ?5`),
    logSince: db.query<{ item: string; state: number }, [string, string, number]>(
      "SELECT item, state FROM sync_log WHERE kind = ? AND owner = ? AND version > ? ORDER BY version"),
    tombstones: db.query<{ n: number }, [string, string]>("SELECT COUNT(*) AS n FROM sync_log WHERE kind = ? AND owner = ? AND state = 2"),
    dropTombstones: db.query("DELETE FROM sync_log WHERE kind = ? AND owner = ? AND state = 2"),
    putSettings: db.query(
      `INSERT INTO user_conversations (user_id, conversation_id, settings) VALUES (?1, ?2, ?3)
       ON CONFLICT(user_id, conversation_id) DO UPDATE SET settings = ?3`),
  };

  const user = (userID: string): UserRecord => {
    const r = q.user.get(userID);
    if (!r) return defaultUser(userID);
    return { ...defaultUser(userID), nickname: r.nickname, faceURL: r.face_url, ex: r.ex, globalRecvMsgOpt: r.global_recv_msg_opt, createTime: r.create_time };
  };

  const group = (groupID: string): GroupRecord | undefined => {
    const count = q.memberCount.get(groupID)!.n;
    const r = q.group.get(groupID);
    if (!r && count === 0) return undefined;
    return groupOf(groupID, count, r ? { info: r.info, owner: r.owner_user_id, createTime: r.create_time, status: r.status } : undefined);
  };
  const existing = (groupID: string): GroupRecord => liveGroup(groupID, group(groupID));
  const infoOf = groupInfoJson;

  const memberIDs = (groupID: string) => q.memberIDs.all(groupID).map((r) => r.user_id);
  const checkJoinedLimit = (userIDs: string[]) => {
    for (const u of userIDs) checkJoinedCount(u, q.joined.all(u).length);
  };

  const newVersionID = () => randomBytes(8).toString("hex");
  /** The list's version; a list with none yet gets one (version 1), so that a client's next sync can be "no change". */
  const syncVersion = (kind: SyncKind, owner: string): SyncVersion & { minVersion: number } => {
    const r = q.syncVersion.get(kind, owner);
    if (r) return { versionID: r.version_id, version: r.version, minVersion: r.min_version };
    const fresh = { versionID: newVersionID(), version: 1, minVersion: 1 };
    q.putSyncVersion.run(kind, owner, fresh.version, fresh.minVersion, fresh.versionID);
    return fresh;
  };
  /** One change of the list: its version goes up, and each item records it with how it changed. */
  const touch = (kind: SyncKind, owner: string, items: string[], state: typeof INSERTED | typeof DELETED | typeof UPDATED) => {
    if (items.length === 0) return;
    const now = syncVersion(kind, owner);
    const version = now.version + 1;
    let minVersion = now.minVersion;
    for (const item of items) q.logItem.run(kind, owner, item, version, state);
    // Tombstones are bounded: past the cap they go, and a client older than this version gets a full answer.
    if (state === DELETED && q.tombstones.get(kind, owner)!.n > DIRECTORY_LIMITS.maxTombstones) {
      q.dropTombstones.run(kind, owner);
      minVersion = version;
    }
    q.putSyncVersion.run(kind, owner, version, minVersion, now.versionID);
  };

  const replaceMembers = (groupID: string, userIDs: string[]) => {
    const before = new Set(memberIDs(groupID));
    const after = new Set(userIDs);
    const added = [...after].filter((u) => !before.has(u));
    const removed = [...before].filter((u) => !after.has(u));
    db.transaction(() => {
      setMembers(groupID, [...after]);
      // The operator setting members of a dismissed group (the CLI, the hub) brings it back.
      if (after.size > 0) q.setGroupStatus.run(0, groupID);
      touch("members", groupID, added, INSERTED);
      touch("members", groupID, removed, DELETED);
      for (const u of added) touch("joined", u, [groupID], INSERTED);
      for (const u of removed) touch("joined", u, [groupID], DELETED);
    })();
  };

  return {
    replaceMembers,

    syncVersion: (kind, owner) => {
      const { versionID, version } = syncVersion(kind, owner);
      return { versionID, version };
    },

    syncChanges(kind, owner, versionID, version): SyncChanges {
      const now = syncVersion(kind, owner);
      if (!answerable(now, versionID, version)) return { versionID: now.versionID, version: now.version, full: true, inserted: [], updated: [], deleted: [] };
      const rows = q.logSince.all(kind, owner, version);
      const of = (state: number) => rows.filter((r) => r.state === state).map((r) => r.item);
      return { versionID: now.versionID, version: now.version, full: false, inserted: of(INSERTED), updated: of(UPDATED), deleted: of(DELETED) };
    },

    users: (userIDs) => userIDs.map(user),

    setUser(userID, patch) {
      const now = user(userID);
      const next = { ...now, ...patch };
      checkTexts(next, USER_TEXTS);
      db.transaction(() => {
        q.putUser.run(userID, next.nickname, next.faceURL, next.ex, next.globalRecvMsgOpt, now.createTime || Date.now());
        // Member records carry the profile: each of the user's groups has a changed member.
        if (next.nickname !== now.nickname || next.faceURL !== now.faceURL)
          for (const g of q.joined.all(userID)) touch("members", g.group_id, [userID], UPDATED);
      })();
      return user(userID);
    },

    groups: (groupIDs) => groupIDs.map(group).filter((g): g is GroupRecord => g !== undefined),

    joinedGroupIDs: (userID) => q.joined.all(userID).map((r) => r.group_id).filter((g) => group(g)?.status !== GROUP_DISMISSED),

    members(groupID) {
      const g = group(groupID);
      if (!g) return [];
      const info = new Map(q.memberInfo.all(groupID).map((r) => [r.user_id, r]));
      return memberIDs(groupID).map((userID): MemberRecord => {
        const i = info.get(userID);
        return memberOf(g, user(userID), i && { roleLevel: i.role_level, joinTime: i.join_time, inviter: i.inviter_user_id });
      });
    },

    createGroup(g, members, operatorUserID) {
      if (group(g.groupID)) throw codeError(ErrCode.DuplicateKey, `group ${g.groupID} already exists`);
      checkGroupSize(members.length);
      checkTexts(g, GROUP_TEXTS);
      const ids = members.map((m) => m.userID);
      checkJoinedLimit(ids);
      db.transaction(() => {
        q.insertGroup.run(g.groupID, infoOf(g), g.ownerUserID, g.createTime);
        for (const m of members) q.putMemberInfo.run(g.groupID, m.userID, m.roleLevel, g.createTime, m.userID === g.ownerUserID ? "" : operatorUserID);
        replaceMembers(g.groupID, ids);
      })();
      return existing(g.groupID);
    },

    setGroup(groupID, patch, operatorUserID) {
      const g = existing(groupID);
      const next = { ...g, ...patch };
      checkTexts(next, GROUP_TEXTS);
      if (patch.notification !== undefined) Object.assign(next, { notificationUpdateTime: Date.now(), notificationUserID: operatorUserID });
      db.transaction(() => {
        if (!q.group.get(groupID)) q.insertGroup.run(groupID, infoOf(next), "", 0); // a group the CLI made gets a record
        else q.setGroupInfo.run(infoOf(next), groupID);
        for (const u of memberIDs(groupID)) touch("joined", u, [groupID], UPDATED);
      })();
      return existing(groupID);
    },

    addMembers(groupID, userIDs, inviterUserID) {
      existing(groupID);
      const now = memberIDs(groupID);
      const added = userIDs.filter((u) => !now.includes(u));
      checkGroupSize(now.length + added.length);
      checkJoinedLimit(added);
      const t = Date.now();
      db.transaction(() => {
        for (const u of added) q.putMemberInfo.run(groupID, u, GROUP_ORDINARY, t, inviterUserID);
        replaceMembers(groupID, [...now, ...added]);
      })();
    },

    removeMembers(groupID, userIDs) {
      const gone = new Set(userIDs);
      db.transaction(() => {
        for (const u of gone) q.dropMemberInfo.run(groupID, u);
        replaceMembers(groupID, memberIDs(groupID).filter((u) => !gone.has(u)));
      })();
    },

    dismissGroup(groupID) {
      existing(groupID);
      db.transaction(() => {
        if (!q.group.get(groupID)) q.insertGroup.run(groupID, "{}", "", 0);
        q.setGroupStatus.run(GROUP_DISMISSED, groupID);
        for (const u of memberIDs(groupID)) q.dropMemberInfo.run(groupID, u);
        replaceMembers(groupID, []);
      })();
    },

    conversations(userID): UserConversation[] {
      return q.conversations.all(userID).filter((r) => isListedConversation(r.conversation_id)).slice(0, DIRECTORY_LIMITS.maxListedConversations).map((r) => ({
        conversationID: r.conversation_id, hasReadSeq: r.has_read_seq, maxSeq: r.max_seq ?? 0, minSeq: r.min_seq ?? 0, maxSeqTime: r.max_seq_time ?? 0,
        settings: r.settings ? JSON.parse(r.settings) : {},
      }));
    },

    setConversation(userID, conversationID, settings) {
      const now = q.settings.get(userID, conversationID)?.settings;
      const merged = mergedSettings(now, settings);
      db.transaction(() => {
        q.putSettings.run(userID, conversationID, merged);
        touch("conversations", userID, [conversationID], !now ? INSERTED : UPDATED);
      })();
    },
  };
}
