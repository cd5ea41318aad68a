// OpenIM's HTTP API as the SDKs use it, answered from imgate's own data, as conversations over
// plain HTTP and raw protocol clients: users and their profiles, groups made and changed with OpenIM's 15xx
// notifications, incremental sync by versions, conversations with settings and read marks, the JS SDK's /jssdk
// routes (read with OpenIM's own protobuf coder), and the refusals: another user's data, bad input, routes imgate
// does not serve. The same conversations run on the embedded shape (SQLite), the cluster shape on Redis and the
// cluster shape with its history in PostgreSQL (the directory in Redis beside it). The real SDKs drive the same
// routes in openim-sdk.browser.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { PbCoder } from "@openim/protocol";
import { fromBinary } from "@bufbuild/protobuf";
import { MsgDataSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { type TestNode, SECRET, startTestNode } from "./support/node.js";
import { type TestClient, connect } from "./support/client.js";
import { groupMsg, pushWhere, textMsg, tipsOf } from "./support/pb.js";
import { type TestRedis, startRedis } from "./support/redis.js";
import { type TestDatabase, createTestDatabase } from "./support/postgres.js";

/** A node of one shape, and what it needs stopped after it. */
type Shape = { name: string; start(): Promise<{ node: TestNode; stop(): Promise<void> }> };
const SHAPES: Shape[] = [
  { name: "embedded", async start() {
    const node = await startTestNode({ "multiLogin.policy": 0 });
    return { node, stop: () => node.stop() };
  } },
  { name: "cluster on Redis", async start() {
    const redis: TestRedis = await startRedis();
    const node = await startTestNode({ "multiLogin.policy": 0, shape: "cluster", "redis.url": redis.url, nodeID: "sdk-redis" });
    return { node, stop: async () => { await node.stop(); await redis.stop(); } };
  } },
  { name: "cluster with PostgreSQL", async start() {
    const redis: TestRedis = await startRedis();
    const db: TestDatabase = await createTestDatabase();
    const node = await startTestNode({ "multiLogin.policy": 0, shape: "cluster", "redis.url": redis.url, "postgres.url": db.url, nodeID: "sdk-pg" });
    return { node, stop: async () => { await node.stop(); await db.drop(); await redis.stop(); } };
  } },
];

for (const shape of SHAPES) describe(shape.name, () => {
  let n: TestNode;
  let admin: string;
  const tokens = new Map<string, string>();
  const clients: TestClient[] = [];

  let stopShape: () => Promise<void>;
  beforeAll(async () => {
    const started = await shape.start();
    n = started.node;
    stopShape = started.stop;
    admin = (await call("/auth/get_admin_token", { secret: SECRET, userID: "imAdmin" })).data.token;
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await stopShape?.();
  });

  let op = 0;
  async function call(path: string, body: unknown, token?: string, headers: Record<string, string> = {}) {
    const res = await fetch(`http://127.0.0.1:${n.adminPort}${path}`, {
      method: "POST", headers: { "Content-Type": "application/json", operationID: `op-sdk-${++op}`, ...(token ? { token } : {}), ...headers },
      body: body instanceof Uint8Array ? body : JSON.stringify(body),
    });
    return { status: res.status, ...((await res.json()) as { errCode: number; errMsg: string; errDlt: string; data?: any }) };
  }

  /** A user token from imgate's own /auth/get_user_token (platform 5, Web). */
  async function tokenOf(userID: string): Promise<string> {
    if (!tokens.has(userID)) tokens.set(userID, (await call("/auth/get_user_token", { userID, platformID: 5 }, admin)).data.token);
    return tokens.get(userID)!;
  }
  /** Calls as the user. */
  const as = async (userID: string, path: string, body: unknown) => call(path, body, await tokenOf(userID));

  async function device(userID: string, platformID = 1): Promise<TestClient> {
    const c = await connect({ port: n.wsPort, userID, platformID, token: n.token(userID, platformID), sdkType: "js" });
    clients.push(c);
    return c;
  }

  describe("users", () => {
    test("every user has a record (nickname = userID until set); each sets their own, and their devices hear 1303", async () => {
      expect((await as("alice", "/user/get_users_info", { userIDs: ["alice", "bob"] })).data.usersInfo).toMatchObject([
        { userID: "alice", nickname: "alice", faceURL: "", ex: "" }, { userID: "bob", nickname: "bob" },
      ]);
      const phone = await device("alice");
      // The Go core's form (each field wrapped in {value}) and the JS SDK's plain form.
      expect((await as("alice", "/user/update_user_info_ex", { userInfo: { userID: "alice", nickname: { value: "Alice" }, ex: { value: "{\"k\":1}" } } })).errCode).toBe(0);
      const note = await pushWhere(phone, (m) => m.contentType === 1303);
      expect(tipsOf(note)).toEqual({ userID: "alice" });
      expect((await as("alice", "/user/update_user_info_ex", { userInfo: { userID: "alice", faceURL: "https://x/a.png" } })).errCode).toBe(0);
      // update_user_info leaves empty fields as they were.
      expect((await as("alice", "/user/update_user_info", { userInfo: { userID: "alice", nickname: "", faceURL: "" } })).errCode).toBe(0);
      expect((await as("bob", "/user/get_users_info", { userIDs: ["alice"] })).data.usersInfo[0]).toMatchObject(
        { nickname: "Alice", faceURL: "https://x/a.png", ex: "{\"k\":1}" });
    });

    test("nobody else's record, no text past the bound, registration is the app manager's", async () => {
      expect((await as("bob", "/user/update_user_info_ex", { userInfo: { userID: "alice", nickname: "Mallory" } })).errCode).toBe(1002);
      expect((await as("bob", "/user/update_user_info_ex", { userInfo: { userID: "bob", nickname: "x".repeat(5000) } })).errCode).toBe(1001);
      expect((await as("bob", "/user/update_user_info_ex", { userInfo: { userID: "bob", nickname: 7 } })).errCode).toBe(1001);
      expect((await as("bob", "/user/user_register", { users: [{ userID: "eve", nickname: "Eve" }] })).errCode).toBe(1002);
      expect((await call("/user/user_register", { users: [{ userID: "eve", nickname: "Eve" }] }, admin)).errCode).toBe(0);
      expect((await as("bob", "/user/get_users_info", { userIDs: ["alice", "bob", "eve"] })).data.usersInfo.map((u: any) => u.nickname)).toEqual(["Alice", "bob", "Eve"]);
      expect((await as("bob", "/user/get_users_info", { userIDs: Array.from({ length: 1001 }, (_, i) => `u${i}`) })).errCode).toBe(1001);
    });
  });

  describe("groups", () => {
    let groupID = "";

    test("created by a user: owner and members, a generated ID, and 1501 to every member with OpenIM's tips", async () => {
      const bob = await device("bob");
      const r = await as("alice", "/group/create_group", { memberUserIDs: ["bob"], adminUserIDs: [], groupInfo: { groupName: "Team", groupType: 2 } });
      expect(r.errCode).toBe(0);
      groupID = r.data.groupInfo.groupID;
      expect(groupID).toMatch(/^\d{10}$/);
      expect(r.data.groupInfo).toMatchObject({ groupName: "Team", ownerUserID: "alice", creatorUserID: "alice", memberCount: 2, groupType: 2, status: 0 });
      const created = await pushWhere(bob, (m) => m.contentType === 1501);
      expect(created).toMatchObject({ sendID: "alice", groupID, sessionType: 3, msgFrom: 200 });
      const tips = tipsOf(created);
      expect(tips.group).toMatchObject({ groupID, groupName: "Team", memberCount: 2 });
      expect(tips.memberList.map((m: any) => [m.userID, m.roleLevel])).toEqual([["alice", 100], ["bob", 20]]);
      expect(tips.groupOwnerUser.userID).toBe("alice");
      // It carries messages at once, and both list it.
      expect((await bob.request(1003, groupMsg("bob", groupID, "hi team"))).errCode).toBe(0);
      for (const u of ["alice", "bob"])
        expect((await as(u, "/group/get_joined_group_list", { fromUserID: u, pagination: { pageNumber: 1, showNumber: 10 } })).data.groups.map((g: any) => g.groupID)).toContain(groupID);
      expect((await as("alice", "/group/create_group", { memberUserIDs: [], groupInfo: { groupID, groupName: "again", groupType: 2 } })).errCode).toBe(1003);
      expect((await as("alice", "/group/create_group", { memberUserIDs: [], groupInfo: { groupID: "g".repeat(129), groupType: 2 } })).errCode).toBe(1001);
      expect((await as("alice", "/group/create_group", { memberUserIDs: [], groupInfo: { groupName: "x".repeat(5000), groupType: 2 } })).errCode).toBe(1001);
      expect((await as("alice", "/group/create_group", { memberUserIDs: [], ownerUserID: "bob", groupInfo: { groupType: 2 } })).errCode).toBe(1002);
      expect((await as("alice", "/group/set_group_info_ex", null)).errCode).toBe(1001);
    });

    test("invite, kick, quit: who may, who hears (1509, 1508, 1504), and sends follow the membership", async () => {
      const carol = await device("carol");
      expect((await as("bob", "/group/invite_user_to_group", { groupID, invitedUserIDs: ["carol"], reason: "" })).errCode).toBe(0);
      const invited = tipsOf(await pushWhere(carol, (m) => m.contentType === 1509));
      expect(invited.invitedUserList.map((m: any) => m.userID)).toEqual(["carol"]);
      expect(invited.opUser.userID).toBe("bob");
      expect((await as("carol", "/group/get_group_member_list", { groupID, pagination: { pageNumber: 1, showNumber: 100 } })).data.total).toBe(3);
      expect((await carol.request(1003, groupMsg("carol", groupID, "hello"))).errCode).toBe(0);

      // An ordinary member cannot remove anyone; the owner can, and the removed member hears it too.
      expect((await as("bob", "/group/kick_group", { groupID, kickedUserIDs: ["carol"] })).errCode).toBe(1002);
      expect((await as("alice", "/group/kick_group", { groupID, kickedUserIDs: ["carol"] })).errCode).toBe(0);
      expect(tipsOf(await pushWhere(carol, (m) => m.contentType === 1508)).kickedUserList.map((m: any) => m.userID)).toEqual(["carol"]);
      expect((await carol.request(1003, groupMsg("carol", groupID, "still here?"))).errCode).not.toBe(0);
      expect((await as("carol", "/group/get_joined_group_list", { fromUserID: "carol" })).data.groups).toEqual([]);
      expect((await as("carol", "/group/get_group_member_list", { groupID })).errCode).toBe(1002);

      // The owner cannot quit; a member can.
      expect((await as("alice", "/group/quit_group", { groupID, userID: "alice" })).errCode).toBe(1002);
      const alice = await device("alice", 2);
      expect((await as("bob", "/group/quit_group", { groupID, userID: "bob" })).errCode).toBe(0);
      expect(tipsOf(await pushWhere(alice, (m) => m.contentType === 1504)).quitUser.userID).toBe("bob");
      expect(await n.store.groupMembers(groupID)).toEqual(["alice"]);
    });

    test("set info (the owner's) and dismiss: 1502 and 1511, then the group has no members and takes none, its history stays", async () => {
      const alice = await device("alice", 3);
      expect((await as("alice", "/group/invite_user_to_group", { groupID, invitedUserIDs: ["bob"] })).errCode).toBe(0);
      expect((await as("bob", "/group/set_group_info_ex", { groupID, groupName: { value: "Bob's" } })).errCode).toBe(1002);
      expect((await as("alice", "/group/set_group_info_ex", { groupID, groupName: { value: "Team 2" }, notification: { value: "read me" } })).errCode).toBe(0);
      const set = tipsOf(await pushWhere(alice, (m) => m.contentType === 1502));
      expect(set.group).toMatchObject({ groupName: "Team 2", notification: "read me", notificationUserID: "alice" });
      expect((await as("bob", "/group/get_groups_info", { groupIDs: [groupID, "nope"] })).data.groupInfos.map((g: any) => g.groupName)).toEqual(["Team 2"]);

      expect((await as("bob", "/group/dismiss_group", { groupID })).errCode).toBe(1002);
      expect((await as("alice", "/group/dismiss_group", { groupID })).errCode).toBe(0);
      expect(tipsOf(await pushWhere(alice, (m) => m.contentType === 1511)).group.groupID).toBe(groupID);
      // Still described (status 2, dismissed, no members), as OpenIM describes it: the SDKs show it so.
      expect((await as("bob", "/group/get_groups_info", { groupIDs: [groupID] })).data.groupInfos).toMatchObject([{ groupID, status: 2, memberCount: 0 }]);
      expect((await as("alice", "/group/invite_user_to_group", { groupID, invitedUserIDs: ["bob"] })).errCode).toBe(1004);
      expect((await as("bob", "/group/get_joined_group_list", { fromUserID: "bob" })).data.groups).toEqual([]);
      expect((await n.store.bounds(`sg_${groupID}`)).maxSeq).toBe(2);
    });

    test("a group the operator set (imgate group set, the hub) is a group to the SDKs: its ID for a name, no owner", async () => {
      await n.store.setGroup("ops", ["alice", "dave"]);
      const g = (await as("dave", "/group/get_joined_group_list", { fromUserID: "dave" })).data.groups;
      expect(g).toMatchObject([{ groupID: "ops", groupName: "ops", ownerUserID: "", memberCount: 2 }]);
      expect((await as("dave", "/group/get_group_members_info", { groupID: "ops", userIDs: ["alice"] })).data.members).toMatchObject([{ userID: "alice", roleLevel: 20, nickname: "Alice" }]);
      // The operator can bring back a group its owner dismissed by setting members again.
      const made = (await as("dave", "/group/create_group", { memberUserIDs: ["alice"], groupInfo: { groupName: "short-lived", groupType: 2 } })).data.groupInfo.groupID;
      expect((await as("dave", "/group/dismiss_group", { groupID: made })).errCode).toBe(0);
      await n.store.setGroup(made, ["dave", "alice"]);
      expect((await as("dave", "/group/get_joined_group_list", { fromUserID: "dave" })).data.groups.map((g: any) => [g.groupID, g.status])).toContainEqual([made, 0]);
    });
  });

  describe("incremental sync", () => {
    test("a known version gets only what changed since; an unknown one the whole list; the operator's changes count too", async () => {
      const full = await as("frank", "/group/get_incremental_join_groups", { userID: "frank", versionID: "", version: 0 });
      expect(full.data).toMatchObject({ full: true, insert: [] });
      const v0 = { versionID: full.data.versionID, version: full.data.version };
      expect((await as("frank", "/group/get_incremental_join_groups", { userID: "frank", ...v0 })).data).toMatchObject({ full: false, insert: [], update: [], delete: [] });

      const made = (await as("alice", "/group/create_group", { memberUserIDs: ["frank"], groupInfo: { groupName: "F", groupType: 2 } })).data.groupInfo.groupID;
      const r1 = (await as("frank", "/group/get_incremental_join_groups", { userID: "frank", ...v0 })).data;
      expect(r1).toMatchObject({ full: false, versionID: v0.versionID, delete: [] });
      expect(r1.insert.map((g: any) => g.groupName)).toEqual(["F"]);
      expect(r1.version).toBeGreaterThan(v0.version);

      await as("alice", "/group/set_group_info_ex", { groupID: made, groupName: { value: "F2" } });
      const r2 = (await as("frank", "/group/get_incremental_join_groups", { userID: "frank", versionID: r1.versionID, version: r1.version })).data;
      expect(r2.update.map((g: any) => g.groupName)).toEqual(["F2"]);

      await n.store.setGroup(made, ["alice"]); // the operator removes frank
      const r3 = (await as("frank", "/group/get_incremental_join_groups", { userID: "frank", versionID: r2.versionID, version: r2.version })).data;
      expect(r3).toMatchObject({ full: false, delete: [made], insert: [] });

      // Members of a group, in the batch form the SDKs use.
      const m0 = (await as("alice", "/group/get_incremental_group_members_batch", { userID: "alice", reqList: [{ groupID: made, versionID: "", version: 0 }] })).data.respList[made];
      expect(m0.full).toBe(true);
      expect(m0.insert.map((m: any) => m.userID)).toEqual(["alice"]);
      await as("alice", "/group/invite_user_to_group", { groupID: made, invitedUserIDs: ["gina"] });
      const m1 = (await as("alice", "/group/get_incremental_group_members_batch", { userID: "alice", reqList: [{ groupID: made, versionID: m0.versionID, version: m0.version }] })).data.respList[made];
      expect(m1).toMatchObject({ full: false, delete: [] });
      expect(m1.insert.map((m: any) => m.userID)).toEqual(["gina"]);
      expect(m1.group.groupName).toBe("F2");

      // A version from another versionID or from the future is not trusted: a full answer.
      expect((await as("frank", "/group/get_incremental_join_groups", { userID: "frank", versionID: "other", version: 1 })).data.full).toBe(true);
      expect((await as("frank", "/group/get_incremental_join_groups", { userID: "frank", versionID: r3.versionID, version: r3.version + 5 })).data.full).toBe(true);
      expect((await as("frank", "/group/get_incremental_join_groups", { userID: "alice", versionID: "", version: 0 })).errCode).toBe(1002);
    });
  });

  describe("conversations and read marks", () => {
    test("the user's conversations with seqs and read marks (not the n_ ones); a read mark only moves up and tells the peer", async () => {
      const sender = await device("hank");
      for (let i = 1; i <= 3; i++) expect((await sender.request(1003, textMsg("hank", "ivy", `m${i}`))).errCode).toBe(0);
      const cid = "si_hank_ivy";
      const listed = (await as("ivy", "/conversation/get_all_conversations", { ownerUserID: "ivy" })).data.conversations;
      expect(listed).toEqual([expect.objectContaining({ ownerUserID: "ivy", conversationID: cid, conversationType: 1, userID: "hank", groupID: "", maxSeq: 3, isPinned: false })]);
      const seqs = async () => (await as("ivy", "/conversation/get_conversations_has_read_and_max_seq", { userID: "ivy" })).data.seqs;
      expect(await seqs()).toEqual({ [cid]: expect.objectContaining({ maxSeq: 3, hasReadSeq: 0 }) });

      expect((await as("ivy", "/msg/mark_conversation_as_read", { conversationID: cid, userID: "ivy", hasReadSeq: 2, seqs: [1, 2] })).errCode).toBe(0);
      expect(tipsOf(await pushWhere(sender, (m) => m.contentType === 2200))).toEqual({ markAsReadUserID: "ivy", conversationID: cid, seqs: [1, 2], hasReadSeq: 2 });
      expect((await seqs())[cid].hasReadSeq).toBe(2);
      // Lower: kept at 2; past the newest: the newest. The receipt notification is stored (n_), yet not listed.
      await as("ivy", "/msg/mark_conversation_as_read", { conversationID: cid, userID: "ivy", hasReadSeq: 1 });
      expect((await seqs())[cid].hasReadSeq).toBe(2);
      await as("ivy", "/msg/set_conversation_has_read_seq", { conversationID: cid, userID: "ivy", hasReadSeq: 99 });
      expect(Object.keys(await seqs())).toEqual([cid]);
      expect((await seqs())[cid].hasReadSeq).toBe(3);

      // Not a conversation of hers, not her conversations.
      expect((await as("ivy", "/msg/mark_conversation_as_read", { conversationID: "si_alice_bob", userID: "ivy", hasReadSeq: 1 })).errCode).toBe(1004);
      expect((await as("hank", "/conversation/get_all_conversations", { ownerUserID: "ivy" })).errCode).toBe(1002);
      expect((await as("ivy", "/msg/mark_conversation_as_read", { conversationID: cid, userID: "ivy", seqs: ["x"] })).errCode).toBe(1001);
    });

    test("a read receipt names the newest 1000 seqs it passes at most (a first read of a long chat stays a small message)", async () => {
      const sender = await device("long1");
      // (Stored straight through the store: 1,200 sends over one socket would meet its request rate limit.)
      for (let i = 0; i < 1200; i += 100)
        await Promise.all(Array.from({ length: 100 }, (_, k) => n.store.send(fromBinary(MsgDataSchema, textMsg("long1", "long2", `n${i + k}`)), "long1", "op")));
      expect((await as("long2", "/msg/mark_conversation_as_read", { conversationID: "si_long1_long2", userID: "long2", hasReadSeq: 1200 })).errCode).toBe(0);
      const tips = tipsOf(await pushWhere(sender, (m) => m.contentType === 2200));
      expect(tips.hasReadSeq).toBe(1200);
      expect(tips.seqs.length).toBe(1000);
      expect(tips.seqs[0]).toBe(201);
      expect(tips.seqs.at(-1)).toBe(1200);
    });

    test("settings (pinned, recvMsgOpt, ex) in either form, kept per user, told to the user's devices (1300)", async () => {
      const cid = "si_hank_ivy";
      const phone = await device("ivy", 2);
      expect((await as("ivy", "/conversation/set_conversations", { userIDs: ["ivy"], conversation: { conversationID: cid, isPinned: { value: true }, ex: "note" } })).errCode).toBe(0);
      expect(tipsOf(await pushWhere(phone, (m) => m.contentType === 1300))).toEqual({ userID: "ivy", conversationIDList: [cid] });
      await as("ivy", "/conversation/set_conversations", { userIDs: ["ivy"], conversation: { conversationID: cid, recvMsgOpt: 2 } });
      expect((await as("ivy", "/conversation/get_pinned_conversation_ids", { userID: "ivy" })).data.conversationIDs).toEqual([cid]);
      expect((await as("ivy", "/conversation/get_not_notify_conversation_ids", { userID: "ivy" })).data.conversationIDs).toEqual([cid]);
      expect((await as("ivy", "/conversation/get_conversations", { ownerUserID: "ivy", conversationIDs: [cid] })).data.conversations[0]).toMatchObject({ isPinned: true, recvMsgOpt: 2, ex: "note" });
      // Hank's view of the same conversation is his own.
      expect((await as("hank", "/conversation/get_conversations", { ownerUserID: "hank", conversationIDs: [cid] })).data.conversations[0]).toMatchObject({ isPinned: false, recvMsgOpt: 0 });
      expect((await as("ivy", "/conversation/set_conversations", { userIDs: ["hank"], conversation: { conversationID: cid, isPinned: true } })).errCode).toBe(1002);
      expect((await as("ivy", "/conversation/set_conversations", { userIDs: ["ivy"], conversation: { conversationID: cid, isPinned: "yes" } })).errCode).toBe(1001);
      expect((await as("ivy", "/conversation/set_conversations", { userIDs: ["ivy"], conversation: { conversationID: cid, ex: "x".repeat(9000) } })).errCode).toBe(1001);
    });
  });

  describe("/jssdk (the JS SDK's conversation list)", () => {
    test("protobuf in, base64 protobuf out as OpenIM's own coder reads it; JSON in, JSON out; another content type refused", async () => {
      const token = await tokenOf("ivy");
      const proto = { "Content-Type": "application/x-protobuf" };
      const active = await call("/jssdk/get_active_conversations", PbCoder.GetActiveConversationsReq.encode({ ownerUserID: "ivy", count: 10 }).finish(), token, proto);
      expect(active.errCode).toBe(0);
      const resp = PbCoder.GetActiveConversationsResp.decode(Buffer.from(active.data, "base64"));
      expect(Number(resp.unreadCount)).toBe(0);
      expect(resp.conversations.map((c) => [c.conversation?.conversationID, c.conversation?.isPinned, Number(c.maxSeq), Number(c.readSeq), c.user?.userID])).toEqual([["si_hank_ivy", true, 3, 3, "hank"]]);
      expect(new TextDecoder().decode(resp.conversations[0]!.lastMsg!.content)).toContain("m3");

      const json = await call("/jssdk/get_conversations", { ownerUserID: "ivy", conversationIDs: ["si_hank_ivy", "si_x_y"] }, token);
      expect(json.data.conversations.map((c: any) => [c.conversation.conversationID, c.maxSeq, c.lastMsg.seq])).toEqual([["si_hank_ivy", 3, 3]]);
      expect((await call("/jssdk/get_conversations", "x", token, { "Content-Type": "text/plain" })).errCode).toBe(1001);
      expect((await call("/jssdk/get_conversations", new Uint8Array([0xff, 0xff, 0xff]), token, proto)).errCode).toBe(1001);
    });
  });

  describe("what imgate does not keep", () => {
    test("friends and blacklists are empty (truthfully), unchanging; unserved routes say so by name; no object storage", async () => {
      const f = await as("ivy", "/friend/get_incremental_friends", { userID: "ivy", versionID: "", version: 0 });
      expect(f.data).toMatchObject({ full: false, insert: [], delete: [] });
      expect((await as("ivy", "/friend/get_friend_list", { userID: "ivy" })).data).toEqual({ total: 0, friendsInfo: [] });
      expect((await as("ivy", "/friend/get_friend_list", { userID: "hank" })).errCode).toBe(1002);
      const add = await as("ivy", "/friend/add_friend", { fromUserID: "ivy", toUserID: "hank" });
      expect(add).toMatchObject({ status: 404, errCode: 404 });
      expect(add.errMsg + add.errDlt).toContain("/friend/add_friend");
      expect((await as("ivy", "/object/part_limit", {})).errDlt).toContain("no object storage");
      expect((await as("ivy", "/group/not_a_route", {})).status).toBe(404);
    });
  });

  describe("presence through the API (the JS SDK's subscriptions)", () => {
    test("subscribe answers the users' status now; the list is kept per user; cancel takes users out; another's list is refused", async () => {
      const online = await device("olga", 2);
      const r = await as("pat", "/user/subscribe_users_status", { userID: "pat", userIDs: ["olga", "quinn"], genre: 1 });
      expect(r.data.statusList).toEqual([{ userID: "olga", status: 1, platformIDs: [2] }, { userID: "quinn", status: 0, platformIDs: [] }]);
      expect((await as("pat", "/user/get_subscribe_users_status", { userID: "pat" })).data.statusList.map((s: any) => s.userID)).toEqual(["olga", "quinn"]);
      await as("pat", "/user/subscribe_users_status", { userID: "pat", userIDs: ["quinn"], genre: 2 });
      expect((await as("pat", "/user/get_subscribe_users_status", { userID: "pat" })).data.statusList.map((s: any) => s.userID)).toEqual(["olga"]);
      expect((await as("pat", "/user/get_subscribe_users_status", { userID: "olga" })).errCode).toBe(1002);
      expect((await as("pat", "/user/subscribe_users_status", { userID: "pat", userIDs: ["x"], genre: 3 })).errCode).toBe(1001);
      online.close();
    });
  });
});
