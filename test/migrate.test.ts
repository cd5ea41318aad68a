// `imgate migrate` of a real data dir (0.1.0's fixture, brought forward by an embedded node first, as an operator's
// would be) into the cluster shape on a real redis-server and a PostgreSQL database of the test's own: every user,
// with the tokens they had, sees on either of two cluster nodes exactly what the embedded node showed (1001, 1002
// byte for byte, 1006); the kicked and logged-out tokens stay refused; a second run writes nothing; an interrupted
// run is run again; new messages go on at max seq + 1 and cross nodes; and what OpenIM's SDKs keep through the API
// (a nickname, a group made there, a pinned chat) reads the same on the cluster nodes.
import { afterAll, describe, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetConversationsHasReadAndMaxSeqReqSchema, GetConversationsHasReadAndMaxSeqRespSchema } from "../src/gen/openim/msg/msg_pb.js";
import { GetMaxSeqReqSchema, GetMaxSeqRespSchema, MsgDataSchema, PullMessageBySeqsReqSchema, PullMessageBySeqsRespSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { type TestClient, connect, until } from "./support/client.js";
import { pushedMsg, text, textMsg } from "./support/pb.js";
import { createTestDatabase, type TestDatabase } from "./support/postgres.js";
import { runCliAsync, serveProcess, type Served } from "./support/proc.js";
import { redisCli, startRedis, type TestRedis } from "./support/redis.js";
import { ensurePostgresSchema } from "../src/backend/cluster/postgres-schema.js";

const FIXTURE = new URL("./fixtures/data-0.1.0/", import.meta.url).pathname;
const expected = JSON.parse(readFileSync(join(FIXTURE, "expect.json"), "utf8")) as { tokens: Record<string, string> };
const SECRET = readFileSync(join(FIXTURE, "secret"), "utf8").trim();
const USERS = [["alice", 5, "aliceWeb"], ["bob", 1, "bobIOS"], ["carol", 5, "carolWebNew"]] as const;

const dirs: string[] = [];
let db: TestDatabase | undefined;
let redis: TestRedis | undefined;
afterAll(async () => {
  await db?.drop();
  await redis?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** What a user's client sees: max seqs, every message's bytes, has-read and max seq per conversation. */
async function view(port: number, userID: string, platformID: number, token: string) {
  const c = await connect({ port, userID, platformID, token, sdkType: "js" });
  try {
    const max = fromBinary(GetMaxSeqRespSchema, (await c.request(1001, toBinary(GetMaxSeqReqSchema, create(GetMaxSeqReqSchema, { userID })))).data!).maxSeqs;
    const ids = Object.keys(max).sort();
    const pulled = fromBinary(PullMessageBySeqsRespSchema, (await c.request(1002, toBinary(PullMessageBySeqsReqSchema, create(PullMessageBySeqsReqSchema, {
      userID, seqRanges: ids.map((conversationID) => ({ conversationID, begin: 1n, end: max[conversationID]!, num: 100n })),
    })))).data!).msgs;
    const seqs = fromBinary(GetConversationsHasReadAndMaxSeqRespSchema, (await c.request(1006, toBinary(GetConversationsHasReadAndMaxSeqReqSchema,
      create(GetConversationsHasReadAndMaxSeqReqSchema, { userID, conversationIDs: ids })))).data!).seqs;
    return {
      max: Object.fromEntries(ids.map((id) => [id, String(max[id])])),
      messages: Object.fromEntries(ids.map((id) => [id, (pulled[id]?.Msgs ?? []).map((m) => Buffer.from(toBinary(MsgDataSchema, m)).toString("hex"))])),
      read: Object.fromEntries(ids.map((id) => [id, `${seqs[id]?.hasReadSeq}/${seqs[id]?.maxSeq}`])),
    };
  } finally {
    c.close();
  }
}

/** A call of OpenIM's API (the SDKs' routes) on a node's admin port, as a user. */
async function sdkApi(port: number, path: string, body: unknown, token: string): Promise<{ errCode: number; data: any }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method: "POST", headers: { operationID: "migrate", token }, body: JSON.stringify(body) });
  return (await r.json()) as { errCode: number; data: any };
}

const refused = (port: number, userID: string, platformID: number, token: string) =>
  connect({ port, userID, platformID, token, sdkType: "js", isMsgResp: true }).then((c) => (c.close(), 0), (e: { body?: { errCode: number } }) => e.body?.errCode ?? -1);

describe("imgate migrate: an embedded data dir into two cluster nodes", () => {
  test("every user sees what they saw, with the tokens they had; a second run writes nothing; an interrupted run resumes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "imgate-migrate-"));
    dirs.push(dir);
    const data = join(dir, "embedded");
    cpSync(FIXTURE, data, { recursive: true });
    // The embedded node as the operator ran it: what each user sees there is what the cluster must show.
    const embedded = await serveProcess(data, ["--secret", SECRET, "--log-level", "error"]);
    const before: Record<string, Awaited<ReturnType<typeof view>>> = {};
    let madeGroup = "";
    try {
      for (const [u, p, t] of USERS) before[u] = await view(embedded.ws, u, p, expected.tokens[t]!);
      // What OpenIM's SDKs keep through the API, made on the embedded node: a nickname, a group, a pinned chat.
      const alice = (path: string, body: unknown) => sdkApi(embedded.admin, path, body, expected.tokens.aliceWeb!);
      expect((await alice("/user/update_user_info_ex", { userInfo: { userID: "alice", nickname: "Alice" } })).errCode).toBe(0);
      madeGroup = (await alice("/group/create_group", { memberUserIDs: ["bob"], groupInfo: { groupName: "Moving day", groupType: 2 } })).data.groupInfo.groupID;
      expect((await alice("/conversation/set_conversations", { userIDs: ["alice"], conversation: { conversationID: "si_alice_bob", isPinned: true } })).errCode).toBe(0);
    } finally {
      embedded.proc.kill("SIGTERM");
      await embedded.proc.exited;
    }
    expect(Object.values(before.alice!.messages).flat().length).toBeGreaterThanOrEqual(14);

    [db, redis] = await Promise.all([createTestDatabase(), startRedis()]);
    const args = ["migrate", "--data-dir", data, "--postgres", db.url, "--redis", redis.url];

    // Interrupted: PostgreSQL refuses the group conversation's messages partway; the run fails and says so.
    await db.sql.unsafe(`
      CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN
        IF NEW.conversation_id LIKE 'sg_%' THEN RAISE EXCEPTION 'disk full'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql;`);
    await ensurePostgresSchema(db.sql);
    await db.sql.unsafe("CREATE TRIGGER refuse BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse()");
    const broken = await runCliAsync(args);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain("disk full");
    await db.sql.unsafe("DROP TRIGGER refuse ON messages");

    const first = await runCliAsync([...args, "--json"]);
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    const report = JSON.parse(first.stdout) as { ok: boolean; steps: { what: string; source: number; written: number; verified: number }[] };
    expect(report.ok).toBe(true);
    for (const s of report.steps) expect(s.verified).toBe(s.source);
    const step = (what: string) => report.steps.find((s) => s.what === what)!;
    expect(step("messages").source).toBeGreaterThanOrEqual(15);
    expect(step("token states").source).toBe(5);
    expect(step("group members").source).toBe(7);
    expect([step("profiles").source, step("group records").source, step("member roles").source, step("conversation settings").source]).toEqual([1, 1, 2, 1]);

    const second = await runCliAsync([...args, "--json"]);
    expect(second.code).toBe(0);
    for (const s of JSON.parse(second.stdout).steps) expect([s.what, s.written]).toEqual([s.what, 0]);
    const human = await runCliAsync(args);
    expect(human.stdout).toContain("every count verified");

    const start = (i: number) => serveProcess(join(dir, `n${i}`), ["--shape", "cluster", "--redis", redis!.url, "--postgres", db!.url,
      "--node-id", `m${i}`, "--secret", SECRET, "--log-level", "error"]);
    const nodes: Served[] = await Promise.all([start(1), start(2)]);
    try {
      for (const n of nodes)
        for (const [u, p, t] of USERS) expect(await view(n.ws, u, p, expected.tokens[t]!)).toEqual(before[u]!);
      // The SDKs read on either node what they read on the embedded one: the nickname, bob's groups (0.1.0's g1 and g2
      // by their IDs, the group made before the move by its name and owner), alice's pinned chat.
      for (const n of nodes) {
        const bob = (path: string, body: unknown) => sdkApi(n.admin, path, body, expected.tokens.bobIOS!);
        expect((await bob("/user/get_users_info", { userIDs: ["alice"] })).data.usersInfo[0].nickname).toBe("Alice");
        const joined = (await bob("/group/get_joined_group_list", { fromUserID: "bob" })).data.groups as { groupID: string; groupName: string; ownerUserID: string; memberCount: number }[];
        expect(joined.map((g) => [g.groupID, g.groupName, g.ownerUserID, g.memberCount]).sort()).toEqual(
          [[madeGroup, "Moving day", "alice", 2], ["g1", "g1", "", 3], ["g2", "g2", "", 2]].sort());
        const pinned = await sdkApi(n.admin, "/conversation/get_pinned_conversation_ids", { userID: "alice" }, expected.tokens.aliceWeb!);
        expect(pinned.data.conversationIDs).toEqual(["si_alice_bob"]);
      }
      // The kicked and the logged-out token stay refused, on both nodes.
      for (const n of nodes) {
        expect(await refused(n.ws, "carol", 5, expected.tokens.carolWebOld!)).toBe(1506);
        expect(await refused(n.ws, "dave", 2, expected.tokens.daveLoggedOut!)).toBe(1506);
        expect(await refused(n.ws, "carol", 5, expected.tokens.carolWebNew!)).toBe(0);
      }
      // New messages at max seq + 1, from a user on one node to a user on the other.
      const alice: TestClient = await connect({ port: nodes[0]!.ws, userID: "alice", platformID: 5, token: expected.tokens.aliceWeb!, sdkType: "js" });
      const bob: TestClient = await connect({ port: nodes[1]!.ws, userID: "bob", platformID: 1, token: expected.tokens.bobIOS!, sdkType: "js" });
      // A push finds bob on node 2 once his route is written (a client connecting elsewhere pulls what it missed).
      await until(() => redisCli(redis!.port, "HEXISTS", "imgate:route:{bob}", "m2") === "1", 10_000, "bob's route");
      expect((await alice.request(1003, textMsg("alice", "bob", "after the move", { clientMsgID: "after-move" }))).errCode).toBe(0);
      const pushed = pushedMsg((await bob.nextPush(2001, 10_000)).data).msg;
      expect(text(pushed)).toBe("after the move");
      expect(pushed.seq).toBe(BigInt(before.bob!.max["si_alice_bob"]!) + 1n);
      alice.close();
      bob.close();
    } finally {
      for (const n of nodes) n.proc.kill("SIGTERM");
      await Promise.all(nodes.map((n) => n.proc.exited));
    }
  }, 120_000);
});
