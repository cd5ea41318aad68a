// Data dirs written by earlier releases opened by this code through a real node and real clients: 0.1.0
// (test/fixtures/data-0.1.0: no schema version, tokens in the clear, 0644 files) and 0.2.0 (data-0.2.0: schema 2,
// hashed tokens). Every message as it was (bytes, seq, serverMsgID, sendTime), read marks, groups and token states
// kept (a logged-out token still refused), no token left in the clear, what OpenIM's SDKs read through the API, new
// messages at max seq + 1; and a file newer than this binary refused with both versions named, nothing touched.
import { afterEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { chmodSync, copyFileSync, cpSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetConversationsHasReadAndMaxSeqReqSchema, GetConversationsHasReadAndMaxSeqRespSchema, SendMsgRespSchema } from "../src/gen/openim/msg/msg_pb.js";
import {
  GetMaxSeqReqSchema, GetMaxSeqRespSchema, MsgDataSchema, PullMessageBySeqsReqSchema, PullMessageBySeqsRespSchema,
} from "../src/gen/openim/sdkws/sdkws_pb.js";
import { loadConfig } from "../src/config/load.js";
import { startNode, type Node } from "../src/node.js";
import { silentLogger } from "../src/observe/log.js";
import { SCHEMA_VERSION } from "../src/backend/embedded/schema.js";
import { connect } from "./support/client.js";
import { textMsg } from "./support/pb.js";

/** A fixture data dir as its release left it, and what that release answered while writing it. */
function fixture(version: string) {
  const dir = new URL(`./fixtures/data-${version}/`, import.meta.url).pathname;
  return {
    version,
    dir,
    expected: JSON.parse(readFileSync(join(dir, "expect.json"), "utf8")) as {
      tokens: Record<string, string>; sent: { clientMsgID: string; serverMsgID: string; sendTime: string }[];
    },
    secret: readFileSync(join(dir, "secret"), "utf8").trim(),
  };
}
type Fixture = ReturnType<typeof fixture>;

/** The fixture as its release left it on disk: a copy, with 0.1.0's looser modes (files 0644, the dir 0755). */
function copyFixture(f: Fixture): string {
  const dir = mkdtempSync(join(tmpdir(), "imgate-upgrade-"));
  cpSync(f.dir, dir, { recursive: true });
  rmSync(join(dir, "expect.json"));
  rmSync(join(dir, "README.md"), { force: true });
  chmodSync(dir, 0o755);
  chmodSync(join(dir, "imgate.db"), 0o644);
  return dir;
}

/** Every stored row of the untouched fixture, read with SQL from a copy (SQLite would leave -wal and -shm files
 *  beside the committed one): what the release wrote. */
function fixtureRows(f: Fixture) {
  const dir = mkdtempSync(join(tmpdir(), "imgate-fixture-"));
  copyFileSync(join(f.dir, "imgate.db"), join(dir, "imgate.db"));
  const db = new Database(join(dir, "imgate.db"), { readonly: true });
  try {
    return {
      messages: db.query<{ conversation_id: string; seq: number; data: Uint8Array }, []>(
        "SELECT conversation_id, seq, data FROM messages ORDER BY conversation_id, seq").all(),
      reads: db.query<{ user_id: string; conversation_id: string; has_read_seq: number }, []>("SELECT * FROM user_conversations").all(),
      groups: db.query<{ group_id: string; user_id: string }, []>("SELECT * FROM group_members ORDER BY group_id, user_id").all(),
      tokens: db.query<{ user_id: string; platform_id: number; state: number }, []>("SELECT user_id, platform_id, state FROM token_state").all(),
    };
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

let node: Node | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await node?.stop();
  node = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(dataDir: string, secret: string) {
  const config = loadConfig({ flags: { "ws.host": "127.0.0.1", "ws.port": 0, "rpc.port": 0, "admin.port": 0, dataDir, secret } });
  node = await startNode(config, silentLogger, secret);
  return node;
}

for (const f of [fixture("0.1.0"), fixture("0.2.0")]) describe(`a ${f.version} data dir`, () => {
  const { expected } = f;
  test("opens with every message, read mark, group and token state as it was", async () => {
    const rows = fixtureRows(f);
    expect(rows.messages.length).toBe(expected.sent.length);
    const dir = copyFixture(f);
    dirs.push(dir);
    const n = await start(dir, f.secret);

    // On disk: the schema carries its version, the dir and files are this user's alone, no token in the clear.
    const db = new Database(join(dir, "imgate.db"), { readonly: true });
    expect(db.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version).toBe(SCHEMA_VERSION);
    const columns = db.query<{ name: string }, []>("PRAGMA table_info(token_state)").all().map((c) => c.name);
    expect(columns).not.toContain("token");
    const states = db.query<{ user_id: string; platform_id: number; state: number; expires_at: number }, []>(
      "SELECT user_id, platform_id, state, expires_at FROM token_state").all();
    const key = (r: { user_id: string; platform_id: number; state: number }) => `${r.user_id}/${r.platform_id}/${r.state}`;
    expect(states.map(key).sort()).toEqual(rows.tokens.map(key).sort());
    for (const s of states) expect(s.expires_at).toBeGreaterThan(Date.now() / 1000);
    db.close();
    const raw = readFileSync(join(dir, "imgate.db"));
    for (const t of Object.values(expected.tokens)) expect(raw.includes(Buffer.from(t))).toBe(false);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "imgate.db")).mode & 0o777).toBe(0o600);

    // Tokens: the ones in use still log in; the kicked and logged-out ones are still refused (1506 at the handshake).
    const alice = await connect({ port: n.ports.ws, userID: "alice", platformID: 5, token: expected.tokens.aliceWeb!, sdkType: "js", isMsgResp: true });
    const bob = await connect({ port: n.ports.ws, userID: "bob", platformID: 1, token: expected.tokens.bobIOS!, sdkType: "js", isMsgResp: true });
    for (const [user, platform, token] of [["carol", 5, expected.tokens.carolWebOld], ["dave", 2, expected.tokens.daveLoggedOut]] as const) {
      const refused = await connect({ port: n.ports.ws, userID: user, platformID: platform, token: token!, sdkType: "js", isMsgResp: true })
        .then(() => undefined, (e: { body?: { errCode: number } }) => e.body);
      expect(refused?.errCode).toBe(1506);
    }
    const carol = await connect({ port: n.ports.ws, userID: "carol", platformID: 5, token: expected.tokens.carolWebNew!, sdkType: "js", isMsgResp: true });
    expect(JSON.parse(carol.texts[0]!).errCode).toBe(0);
    expect(await n.backend.auth.parseToken(expected.tokens.carolWebOld!, { operationID: "t", opUserID: "carol", platform: "Web", connID: "" })
      .then(() => 0, (e: { code: number }) => e.code)).toBe(1506);

    // Messages: every conversation alice and bob are in, pulled back byte for byte.
    const bySent = new Map(expected.sent.map((s) => [s.clientMsgID, s]));
    const pullAll = async (c: typeof alice, userID: string) => {
      const max = fromBinary(GetMaxSeqRespSchema, (await c.request(1001, toBinary(GetMaxSeqReqSchema, create(GetMaxSeqReqSchema, { userID })))).data!).maxSeqs;
      const seqRanges = Object.entries(max).map(([conversationID, m]) => ({ conversationID, begin: 1n, end: m, num: 100n }));
      const r = await c.request(1002, toBinary(PullMessageBySeqsReqSchema, create(PullMessageBySeqsReqSchema, { userID, seqRanges })));
      expect(r.errCode).toBe(0);
      return { max, msgs: fromBinary(PullMessageBySeqsRespSchema, r.data!).msgs };
    };
    let checked = 0;
    for (const [c, userID] of [[alice, "alice"], [bob, "bob"]] as const) {
      const { max, msgs } = await pullAll(c, userID);
      const mine = rows.messages.filter((m) => rows.reads.some((r) => r.user_id === userID && r.conversation_id === m.conversation_id));
      for (const m of mine) {
        expect(max[m.conversation_id]).toBe(BigInt(rows.messages.filter((x) => x.conversation_id === m.conversation_id).length));
        const got = msgs[m.conversation_id]!.Msgs.find((x) => Number(x.seq) === m.seq)!;
        expect(Buffer.from(toBinary(MsgDataSchema, got)).equals(Buffer.from(m.data))).toBe(true);
        const sent = bySent.get(got.clientMsgID)!;
        expect(got.serverMsgID).toBe(sent.serverMsgID);
        expect(String(got.sendTime)).toBe(sent.sendTime);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(14);

    // Read marks and groups as they were.
    const seqs = async (c: typeof alice, userID: string, conversationID: string) =>
      fromBinary(GetConversationsHasReadAndMaxSeqRespSchema, (await c.request(1006, toBinary(GetConversationsHasReadAndMaxSeqReqSchema,
        create(GetConversationsHasReadAndMaxSeqReqSchema, { userID, conversationIDs: [conversationID] })))).data!).seqs[conversationID]!;
    for (const r of rows.reads.filter((r) => r.has_read_seq > 0 && (r.user_id === "alice" || r.user_id === "bob"))) {
      const s = await seqs(r.user_id === "alice" ? alice : bob, r.user_id, r.conversation_id);
      expect(Number(s.hasReadSeq)).toBe(r.has_read_seq);
    }
    const groups = (await n.backend.store!.listGroups()).flatMap((g) => g.userIDs.map((u) => `${g.groupID}/${u}`)).sort();
    expect(groups).toEqual(rows.groups.map((g) => `${g.group_id}/${g.user_id}`));

    // What the old dir holds is what OpenIM's SDKs read through the API (schema 3's tables start empty): alice's
    // conversations with her read marks, her groups (named by their IDs), her profile as the defaults.
    const api = async (path: string, body: unknown) => (await fetch(`http://127.0.0.1:${n.ports.admin}${path}`, {
      method: "POST", headers: { operationID: "upgrade", token: expected.tokens.aliceWeb! }, body: JSON.stringify(body),
    })).json() as Promise<{ errCode: number; data: any }>;
    const listed = (await api("/conversation/get_all_conversations", { ownerUserID: "alice" })).data.conversations as { conversationID: string; maxSeq: number }[];
    const aliceConvs = [...new Set(rows.reads.filter((r) => r.user_id === "alice" && !r.conversation_id.startsWith("n_") && !r.conversation_id.startsWith("g_"))
      .map((r) => r.conversation_id))].sort();
    expect(aliceConvs.length).toBeGreaterThan(1);
    expect(listed.map((x) => x.conversationID).sort()).toEqual(aliceConvs);
    const marks = (await api("/conversation/get_conversations_has_read_and_max_seq", { userID: "alice" })).data.seqs;
    for (const r of rows.reads.filter((r) => r.user_id === "alice" && aliceConvs.includes(r.conversation_id)))
      expect(marks[r.conversation_id].hasReadSeq).toBe(r.has_read_seq);
    const joined = (await api("/group/get_joined_group_list", { fromUserID: "alice" })).data.groups as { groupID: string; groupName: string; memberCount: number }[];
    const aliceGroups = rows.groups.filter((g) => g.user_id === "alice").map((g) => g.group_id);
    expect(aliceGroups.length).toBeGreaterThan(0);
    expect(joined.map((g) => g.groupID).sort()).toEqual(aliceGroups.sort());
    for (const g of joined) expect(g).toMatchObject({ groupName: g.groupID, memberCount: rows.groups.filter((x) => x.group_id === g.groupID).length });
    expect((await api("/user/get_users_info", { userIDs: ["alice"] })).data.usersInfo).toMatchObject([{ userID: "alice", nickname: "alice" }]);

    // New messages go on at max seq + 1.
    const before = rows.messages.filter((m) => m.conversation_id === "si_alice_bob").length;
    const sent = await alice.request(1003, textMsg("alice", "bob", "after the upgrade"));
    expect(sent.errCode).toBe(0);
    expect(fromBinary(SendMsgRespSchema, sent.data!).serverMsgID).toHaveLength(32);
    const after = await pullAll(bob, "bob");
    expect(after.max.si_alice_bob).toBe(BigInt(before + 1));
    for (const c of [alice, bob, carol]) c.close();
  });

  test("a database newer than this binary is refused, naming both versions, and left untouched", async () => {
    const dir = copyFixture(f);
    dirs.push(dir);
    const db = new Database(join(dir, "imgate.db"));
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 7}`);
    db.close();
    const before = readFileSync(join(dir, "imgate.db"));
    const err = await start(dir, f.secret).then(() => undefined, (e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err!.message).toContain(`schema version ${SCHEMA_VERSION + 7}`);
    expect(err!.message).toContain(`(${SCHEMA_VERSION})`);
    expect(readFileSync(join(dir, "imgate.db")).equals(before)).toBe(true);
  });
});
