// The directory (profiles, group records and roles, conversation settings, version logs) for the cluster shape, in
// Redis beside the conversation store, which may be Redis or PostgreSQL: membership, seqs and read marks are read
// through the ConversationStore port, so the same directory serves both. Keys carry hash tags (one user's, one
// group's, one list's), so each write is on one slot of a Redis Cluster:
//   imgate:u:{<user>}:profile     HASH nickname, faceURL, ex, globalRecvMsgOpt, createTime
//   imgate:u:{<user>}:groups      SET  groups the user may be in (a superset: each is checked against the group)
//   imgate:u:{<user>}:csettings   HASH conversation → the user's settings (JSON)
//   imgate:g:{<group>}:info       HASH info (JSON), owner, createTime, status
//   imgate:g:{<group>}:minfo      HASH member → {roleLevel, joinTime, inviter} (JSON)
//   imgate:sync:{<kind>:<owner>}  HASH #v version, #min oldest answerable, #id versionID, #dead tombstones, i:<item> "<version>:<state>"
import { randomBytes } from "node:crypto";
import type { Cluster, Redis } from "ioredis";
import { ErrCode, codeError } from "../../protocol/errors.js";
import {
  DIRECTORY_LIMITS, type Directory, GROUP_DISMISSED, GROUP_ORDINARY, GROUP_TEXTS, type GroupRecord, type MemberRecord, SYNC_DELETED,
  SYNC_INSERTED, SYNC_UPDATED, type SyncKind, USER_TEXTS, type UserConversation, type UserRecord, answerable, checkGroupSize, checkJoinedCount,
  checkTexts, defaultUser, groupInfoJson, groupOf, isListedConversation, liveGroup, memberOf, mergedSettings,
} from "../directory.js";
import type { ConversationStore } from "../ports.js";

export const profileKey = (u: string) => `imgate:u:{${u}}:profile`;
export const joinedKey = (u: string) => `imgate:u:{${u}}:groups`;
export const settingsKey = (u: string) => `imgate:u:{${u}}:csettings`;
export const infoKey = (g: string) => `imgate:g:{${g}}:info`;
export const roleKey = (g: string) => `imgate:g:{${g}}:minfo`;
const syncKey = (kind: SyncKind, owner: string) => `imgate:sync:{${kind}:${owner}}`;

// One change of a list, atomic on its one key. KEYS: the list's log. ARGV: state, tombstone cap, a versionID for a new
// log, items… Past the cap, tombstones go and the oldest answerable version moves up to this one.
const TOUCH = `
if redis.call("HEXISTS", KEYS[1], "#id") == 0 then redis.call("HSET", KEYS[1], "#id", ARGV[3], "#v", 1, "#min", 1) end
local v = redis.call("HINCRBY", KEYS[1], "#v", 1)
for i = 4, #ARGV do redis.call("HSET", KEYS[1], "i:" .. ARGV[i], v .. ":" .. ARGV[1]) end
if ARGV[1] == "2" and redis.call("HINCRBY", KEYS[1], "#dead", #ARGV - 3) > tonumber(ARGV[2]) then
  local all = redis.call("HGETALL", KEYS[1])
  for j = 1, #all, 2 do
    if string.sub(all[j], 1, 2) == "i:" and string.sub(all[j + 1], -2) == ":2" then redis.call("HDEL", KEYS[1], all[j]) end
  end
  redis.call("HSET", KEYS[1], "#dead", 0, "#min", v)
end
return v
`;

/** The directory, and the cluster's one way to change a group's members (the hub's SetGroup goes through it). */
export interface RedisDirectory extends Directory {
  replaceMembers(groupID: string, userIDs: string[]): Promise<void>;
}

export function createRedisDirectory(redis: Redis | Cluster, store: Pick<ConversationStore,
  "groupMembers" | "setGroup" | "userConversationIDs" | "seqInfo" | "bounds" | "isMember">): RedisDirectory {
  redis.defineCommand("imgateSyncTouch", { numberOfKeys: 1, lua: TOUCH });
  const touch = async (kind: SyncKind, owner: string, items: string[], state: number) => {
    if (items.length === 0) return;
    await (redis as any).imgateSyncTouch(syncKey(kind, owner), state, DIRECTORY_LIMITS.maxTombstones, randomBytes(8).toString("hex"), ...items);
  };
  /** The list's version, made (version 1) when it has none, so a client's next sync can be "no change". */
  const version = async (kind: SyncKind, owner: string) => {
    const key = syncKey(kind, owner);
    if ((await redis.hsetnx(key, "#id", randomBytes(8).toString("hex"))) === 1) await redis.hset(key, "#v", 1, "#min", 1);
    const [id, v, min] = await redis.hmget(key, "#id", "#v", "#min");
    return { versionID: id ?? "", version: Number(v ?? 1), minVersion: Number(min ?? 1) };
  };

  const user = async (userID: string): Promise<UserRecord> => {
    const p = await redis.hgetall(profileKey(userID));
    if (!p.createTime) return defaultUser(userID);
    return { ...defaultUser(userID), nickname: p.nickname ?? userID, faceURL: p.faceURL ?? "", ex: p.ex ?? "", globalRecvMsgOpt: Number(p.globalRecvMsgOpt ?? 0), createTime: Number(p.createTime) };
  };
  const group = async (groupID: string): Promise<GroupRecord | undefined> => {
    const [members, row] = await Promise.all([store.groupMembers(groupID), redis.hgetall(infoKey(groupID))]);
    if (!row.info && members.length === 0) return undefined;
    return groupOf(groupID, members.length, row.info ? { info: row.info, owner: row.owner ?? "", createTime: Number(row.createTime ?? 0), status: Number(row.status ?? 0) } : undefined);
  };
  const existing = async (groupID: string) => liveGroup(groupID, await group(groupID));
  const checkJoinedLimit = async (userIDs: string[]) => {
    for (const u of userIDs) checkJoinedCount(u, await redis.scard(joinedKey(u)));
  };

  // Writes in an order that keeps reads right if a node dies between them: a user is added to their joined set
  // before the group, removed after it, and reads check the set against the group's members.
  const replaceMembers = async (groupID: string, userIDs: string[]) => {
    const before = new Set(await store.groupMembers(groupID));
    const after = new Set(userIDs);
    const added = [...after].filter((u) => !before.has(u));
    const removed = [...before].filter((u) => !after.has(u));
    await Promise.all(added.map((u) => redis.sadd(joinedKey(u), groupID)));
    await store.setGroup(groupID, [...after]);
    await Promise.all(removed.map((u) => redis.srem(joinedKey(u), groupID)));
    // The operator setting members of a dismissed group (the CLI, the hub) brings it back.
    if (after.size > 0 && (await redis.hget(infoKey(groupID), "status")) === String(GROUP_DISMISSED)) await redis.hset(infoKey(groupID), "status", 0);
    await touch("members", groupID, added, SYNC_INSERTED);
    await touch("members", groupID, removed, SYNC_DELETED);
    await Promise.all([...added.map((u) => touch("joined", u, [groupID], SYNC_INSERTED)), ...removed.map((u) => touch("joined", u, [groupID], SYNC_DELETED))]);
  };
  const members = async (g: GroupRecord): Promise<MemberRecord[]> => {
    const [ids, roles] = await Promise.all([store.groupMembers(g.groupID), redis.hgetall(roleKey(g.groupID))]);
    return Promise.all(ids.map(async (u) => memberOf(g, await user(u), roles[u] ? JSON.parse(roles[u]!) : undefined)));
  };
  const joinedGroupIDs = async (userID: string) => {
    const ids = (await redis.smembers(joinedKey(userID))).sort();
    // In the group (the set may hold a group left mid-change) and the group not dismissed.
    const checked = await Promise.all(ids.map(async (g) =>
      (await store.groupMembers(g)).includes(userID) && (await redis.hget(infoKey(g), "status")) !== String(GROUP_DISMISSED)));
    return ids.filter((_, i) => checked[i]);
  };

  return {
    replaceMembers,

    syncVersion: async (kind, owner) => {
      const { versionID, version: v } = await version(kind, owner);
      return { versionID, version: v };
    },

    async syncChanges(kind, owner, versionID, clientVersion) {
      const now = await version(kind, owner);
      const known = answerable(now, versionID, clientVersion);
      const answer = { versionID: now.versionID, version: now.version, full: !known, inserted: [] as string[], updated: [] as string[], deleted: [] as string[] };
      if (!known) return answer;
      for (const [field, value] of Object.entries(await redis.hgetall(syncKey(kind, owner)))) {
        if (!field.startsWith("i:")) continue;
        const [v, state] = value.split(":").map(Number);
        if (v! <= clientVersion) continue;
        const list = state === SYNC_INSERTED ? answer.inserted : state === SYNC_DELETED ? answer.deleted : answer.updated;
        list.push(field.slice(2));
      }
      return answer;
    },

    users: (userIDs) => Promise.all(userIDs.map(user)),

    async setUser(userID, patch) {
      const now = await user(userID);
      const next = { ...now, ...patch };
      checkTexts(next, USER_TEXTS);
      await redis.hset(profileKey(userID), "nickname", next.nickname, "faceURL", next.faceURL, "ex", next.ex, "globalRecvMsgOpt", next.globalRecvMsgOpt,
        "createTime", now.createTime || Date.now());
      // Member records carry the profile: each of the user's groups has a changed member.
      if (next.nickname !== now.nickname || next.faceURL !== now.faceURL)
        for (const g of await joinedGroupIDs(userID)) await touch("members", g, [userID], SYNC_UPDATED);
      return user(userID);
    },

    groups: async (groupIDs) => (await Promise.all(groupIDs.map(group))).filter((g): g is GroupRecord => g !== undefined),

    joinedGroupIDs,

    async members(groupID) {
      const g = await group(groupID);
      return g ? members(g) : [];
    },

    async createGroup(g, list, operatorUserID) {
      checkGroupSize(list.length);
      checkTexts(g, GROUP_TEXTS);
      // The record's first field is the claim on the ID: of two creates, one wins.
      if ((await store.groupMembers(g.groupID)).length > 0 || (await redis.hsetnx(infoKey(g.groupID), "info", groupInfoJson(g))) === 0)
        throw codeError(ErrCode.DuplicateKey, `group ${g.groupID} already exists`);
      try {
        await checkJoinedLimit(list.map((m) => m.userID));
      } catch (e) {
        await redis.del(infoKey(g.groupID));
        throw e;
      }
      await redis.hset(infoKey(g.groupID), "owner", g.ownerUserID, "createTime", g.createTime, "status", 0);
      const roles = list.map((m) => [m.userID, JSON.stringify({ roleLevel: m.roleLevel, joinTime: g.createTime, inviter: m.userID === g.ownerUserID ? "" : operatorUserID })]);
      if (roles.length) await redis.hset(roleKey(g.groupID), ...roles.flat());
      await replaceMembers(g.groupID, list.map((m) => m.userID));
      return existing(g.groupID);
    },

    async setGroup(groupID, patch, operatorUserID) {
      const g = await existing(groupID);
      const next = { ...g, ...patch };
      checkTexts(next, GROUP_TEXTS);
      if (patch.notification !== undefined) Object.assign(next, { notificationUpdateTime: Date.now(), notificationUserID: operatorUserID });
      // A group the CLI made gets a record.
      await redis.hset(infoKey(groupID), "info", groupInfoJson(next), "owner", next.ownerUserID, "createTime", next.createTime, "status", next.status);
      for (const u of await store.groupMembers(groupID)) await touch("joined", u, [groupID], SYNC_UPDATED);
      return existing(groupID);
    },

    async addMembers(groupID, userIDs, inviterUserID) {
      await existing(groupID);
      const now = await store.groupMembers(groupID);
      const added = userIDs.filter((u) => !now.includes(u));
      checkGroupSize(now.length + added.length);
      await checkJoinedLimit(added);
      const t = Date.now();
      if (added.length) await redis.hset(roleKey(groupID), ...added.flatMap((u) => [u, JSON.stringify({ roleLevel: GROUP_ORDINARY, joinTime: t, inviter: inviterUserID })]));
      await replaceMembers(groupID, [...now, ...added]);
    },

    async removeMembers(groupID, userIDs) {
      const gone = new Set(userIDs);
      await replaceMembers(groupID, (await store.groupMembers(groupID)).filter((u) => !gone.has(u)));
      if (gone.size) await redis.hdel(roleKey(groupID), ...gone);
    },

    async dismissGroup(groupID) {
      const g = await existing(groupID);
      await redis.hset(infoKey(groupID), "info", groupInfoJson(g), "owner", g.ownerUserID, "createTime", g.createTime, "status", GROUP_DISMISSED);
      await replaceMembers(groupID, []);
      await redis.del(roleKey(groupID));
    },

    async conversations(userID): Promise<UserConversation[]> {
      // Read through the conversation store (Redis or PostgreSQL), for at most maxListedConversations of them.
      const ids = (await store.userConversationIDs(userID)).filter(isListedConversation).slice(0, DIRECTORY_LIMITS.maxListedConversations);
      const settings = ids.length ? await redis.hmget(settingsKey(userID), ...ids) : [];
      const rows = await Promise.all(ids.map(async (id, i) => {
        const [s, b] = await Promise.all([store.seqInfo(userID, id), store.bounds(id)]);
        return { conversationID: id, hasReadSeq: s.hasReadSeq, maxSeq: s.maxSeq, minSeq: b.minSeq, maxSeqTime: s.maxSeqTime, settings: settings[i] ? JSON.parse(settings[i]!) : {} };
      }));
      return rows.sort((a, b) => b.maxSeqTime - a.maxSeqTime || (a.conversationID < b.conversationID ? -1 : 1));
    },

    async setConversation(userID, conversationID, settings) {
      const now = await redis.hget(settingsKey(userID), conversationID);
      const merged = mergedSettings(now, settings);
      await redis.hset(settingsKey(userID), conversationID, merged);
      await touch("conversations", userID, [conversationID], now === null ? SYNC_INSERTED : SYNC_UPDATED);
    },
  };
}
