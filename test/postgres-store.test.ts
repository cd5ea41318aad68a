// The cluster shape's history in PostgreSQL, on a database of the test's own: what only a store shared by several
// nodes must get right (seqs and idempotency under concurrent sends from many pools, a failed transaction that leaves
// nothing, retention, schema versions), then two real nodes on Redis + PostgreSQL whose history outlives Redis.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetMaxSeqReqSchema, GetMaxSeqRespSchema, MsgDataSchema, PullMessageBySeqsReqSchema, PullMessageBySeqsRespSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { PG_SCHEMA_VERSION, ensurePostgresSchema, pgSchemaVersion } from "../src/backend/cluster/postgres-schema.js";
import { createPostgresConversationStore } from "../src/backend/cluster/postgres-store.js";
import { signToken } from "../src/backend/embedded/jwt.js";
import { connect, until } from "./support/client.js";
import { pushedMsg, seqRange, storedMsgs, text, textMsg } from "./support/pb.js";
import { type TestDatabase, createTestDatabase } from "./support/postgres.js";
import { serveProcess } from "./support/proc.js";
import { redisCli, startRedis } from "./support/redis.js";

const databases: TestDatabase[] = [];
const pools: SQL[] = [];
const dirs: string[] = [];
// Each test's pools and database go at its end: the server's connections are shared by every test file.
afterEach(async () => {
  for (const p of pools.splice(0)) await p.close({ timeout: 1 }).catch(() => {});
  for (const d of databases.splice(0)) await d.drop();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function freshDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  databases.push(db);
  await ensurePostgresSchema(db.sql);
  return db;
}

/** One store per "node": its own pool on the same database, as separate processes would have. */
function nodeStore(url: string, opts: Parameters<typeof createPostgresConversationStore>[1] = {}) {
  const sql = new SQL({ url, max: 4 });
  pools.push(sql);
  return createPostgresConversationStore(sql, opts);
}

const msg = (from: string, to: string, body: string, clientMsgID = `${from}-${to}-${body}`) => create(MsgDataSchema, {
  sendID: from, recvID: to, sessionType: 1, contentType: 101, content: new TextEncoder().encode(JSON.stringify({ content: body })), clientMsgID,
});

describe("PostgreSQL store shared by several nodes", () => {
  test("three nodes sending to the same conversations at once: seqs 1..N in each, no gap, no duplicate", async () => {
    const db = await freshDatabase();
    const nodes = [nodeStore(db.url), nodeStore(db.url), nodeStore(db.url)];
    const convs = [["a", "b"], ["a", "c"], ["d", "e"]] as const;
    const sends = nodes.flatMap((s, n) => Array.from({ length: 150 }, (_, i) => {
      const [x, y] = convs[i % convs.length]!;
      const [from, to] = i % 2 ? [x, y] : [y, x];
      return s.send(msg(from, to, `n${n}-${i}`), from, "op");
    }));
    const results = await Promise.all(sends);
    for (const [x, y] of convs) {
      const conv = `si_${x}_${y}`;
      const seqs = results.filter((r) => r.conversationID === conv).map((r) => Number(r.seq)).sort((p, q) => p - q);
      expect(seqs).toEqual(seqRange(1, seqs.length));
      expect(await nodes[0]!.bounds(conv)).toEqual({ minSeq: 1, maxSeq: seqs.length });
      // What is stored at each seq is the message that was answered with it.
      const stored = await storedMsgs(nodes[1]!, conv, seqs);
      const answered = new Map(results.filter((r) => r.conversationID === conv).map((r) => [Number(r.seq), r.clientMsgID]));
      expect(stored.map((m) => m.clientMsgID)).toEqual(seqs.map((s) => answered.get(s)!));
    }
    expect(results.length).toBe(450);
  });

  test("the same clientMsgID sent through two nodes at once is stored once; both answers name the same seq", async () => {
    const db = await freshDatabase();
    const [one, two] = [nodeStore(db.url), nodeStore(db.url)];
    const pairs = await Promise.all(Array.from({ length: 40 }, (_, i) =>
      Promise.all([one.send(msg("a", "b", `x${i}`, `same-${i}`), "a", "op"), two.send(msg("a", "b", `x${i}`, `same-${i}`), "a", "op")])));
    for (const [p, q] of pairs) {
      expect(p.seq).toBe(q.seq);
      expect(p.serverMsgID).toBe(q.serverMsgID);
      expect([p.duplicate, q.duplicate].filter((d) => !d).length).toBe(1);
    }
    expect((await one.bounds("si_a_b")).maxSeq).toBe(40);
    const [{ n }] = await db.sql`SELECT count(*)::int AS n FROM messages`;
    expect(n).toBe(40);
  });

  test("a failed transaction stores nothing (no message, no membership) and leaves no gap; reads never saw its seq", async () => {
    const db = await freshDatabase();
    const s = nodeStore(db.url);
    await s.send(msg("a", "b", "1"), "a", "op");
    await db.sql.unsafe(`
      CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN
        IF NEW.client_msg_id LIKE 'doomed%' THEN RAISE EXCEPTION 'disk says no'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql;
      CREATE TRIGGER refuse BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse();`);
    const refused = await s.send(msg("a", "b", "2", "doomed-1"), "a", "op").then(() => undefined, (e: { code?: number; message: string }) => e);
    expect(refused).toMatchObject({ code: 500 });
    expect(String(refused?.message)).toContain("disk says no");
    // A first message to a new user: its membership went with the failed transaction.
    await s.send(msg("a", "x", "new", "doomed-2"), "a", "op").catch(() => {});
    expect(await s.isMember("x", "si_a_x")).toBe(false);
    expect(await s.bounds("si_a_b")).toEqual({ minSeq: 1, maxSeq: 1 });
    expect(await s.readRaw("si_a_b", [2])).toEqual([undefined]);
    await db.sql.unsafe("DROP TRIGGER refuse ON messages");
    expect((await s.send(msg("a", "b", "3"), "a", "op")).seq).toBe(2n);
    // The refused clientMsgID was not kept either: its resend is stored now, as new.
    const again = await s.send(msg("a", "b", "2", "doomed-1"), "a", "op");
    expect([again.seq, again.duplicate]).toEqual([3n, false]);
  });

  test("retention: beyond the newest N and older than the age go; the newest always stays; seqs go on", async () => {
    const db = await freshDatabase();
    let now = 1_000_000;
    const s = nodeStore(db.url, { now: () => now });
    for (let i = 1; i <= 5; i++) await s.send(msg("a", "b", `m${i}`), "a", "op");
    await s.send(msg("c", "d", "old"), "c", "op");
    expect(await s.prune(0, 3)).toBe(2);
    expect(await s.bounds("si_a_b")).toEqual({ minSeq: 3, maxSeq: 5 });
    expect((await storedMsgs(s, "si_a_b", seqRange(1, 5))).map(text)).toEqual(["m3", "m4", "m5"]);
    now += 10_000;
    await s.send(msg("a", "b", "m6"), "a", "op");
    // Age 5 s: m3..m5 and c–d's only message are older, but c–d's is its newest and stays.
    expect(await s.prune(5_000, 0)).toBe(3);
    expect(await s.bounds("si_a_b")).toEqual({ minSeq: 6, maxSeq: 6 });
    expect(await s.bounds("si_c_d")).toEqual({ minSeq: 1, maxSeq: 1 });
    expect((await s.send(msg("a", "b", "m7"), "a", "op")).seq).toBe(7n);
  });

  test("schema: nodes starting together migrate once; a database from a newer imgate is refused, untouched", async () => {
    const db = await createTestDatabase();
    databases.push(db);
    const pool = () => {
      const p = new SQL({ url: db.url, max: 2 });
      pools.push(p);
      return p;
    };
    const runs = await Promise.all([ensurePostgresSchema(pool()), ensurePostgresSchema(pool()), ensurePostgresSchema(pool())]);
    expect(runs.filter((r) => r.from === 0).length).toBe(1);
    expect(runs.every((r) => r.to === PG_SCHEMA_VERSION)).toBe(true);
    expect(await pgSchemaVersion(db.sql)).toBe(PG_SCHEMA_VERSION);
    await db.sql`UPDATE imgate_schema SET version = ${PG_SCHEMA_VERSION + 1}`;
    await expect(ensurePostgresSchema(pool())).rejects.toThrow(`version ${PG_SCHEMA_VERSION + 1}, newer than this imgate knows (${PG_SCHEMA_VERSION})`);
    expect(await pgSchemaVersion(db.sql)).toBe(PG_SCHEMA_VERSION + 1);
  });
});

describe("two cluster nodes on Redis + PostgreSQL", () => {
  test("a message crosses nodes; the history is in PostgreSQL and outlives a Redis that lost everything", async () => {
    const db = await createTestDatabase();
    databases.push(db);
    const redis = await startRedis();
    const dir = mkdtempSync(join(tmpdir(), "imgate-pg-nodes-"));
    dirs.push(dir);
    const SECRET = "pg-secret";
    const start = (i: number) => serveProcess(join(dir, `n${i}`), ["--shape", "cluster", "--redis", redis.url, "--postgres", db.url,
      "--node-id", `p${i}`, "--secret", SECRET, "--log-level", "error"]);
    const nodes = await Promise.all([start(1), start(2)]);
    const login = (port: number, u: string) => connect({ port, userID: u, platformID: 5, token: signToken(SECRET, u, 5, 600), sdkType: "js" });
    try {
      const alice = await login(nodes[0]!.ws, "pa");
      const bob = await login(nodes[1]!.ws, "pb");
      // A push finds pb on node 2 once its route is written (a client connecting elsewhere pulls what it missed).
      const routed = () => until(() => redisCli(redis.port, "HEXISTS", "imgate:route:{pb}", "p2") === "1", 10_000, "pb's route");
      await routed();
      for (let i = 1; i <= 3; i++) {
        expect((await alice.request(1003, textMsg("pa", "pb", `hello ${i}`, { clientMsgID: `pg-${i}` }))).errCode).toBe(0);
        const pushed = pushedMsg((await bob.nextPush(2001, 10_000)).data).msg;
        expect([text(pushed), pushed.seq]).toEqual([`hello ${i}`, BigInt(i)]);
      }
      const [{ n }] = await db.sql`SELECT count(*)::int AS n FROM messages WHERE conversation_id = 'si_pa_pb'`;
      expect(n).toBe(3);
      alice.close();
      bob.close();
      // Redis loses everything (a restart without persistence): routes and presence come back from the nodes, the
      // history from PostgreSQL.
      Bun.spawnSync(["redis-cli", "-p", String(redis.port), "FLUSHALL"]);
      const again = await login(nodes[1]!.ws, "pb");
      const max = fromBinary(GetMaxSeqRespSchema, (await again.request(1001, toBinary(GetMaxSeqReqSchema, create(GetMaxSeqReqSchema, { userID: "pb" })))).data!);
      expect(max.maxSeqs["si_pa_pb"]).toBe(3n);
      const pulled = fromBinary(PullMessageBySeqsRespSchema, (await again.request(1002, toBinary(PullMessageBySeqsReqSchema, create(PullMessageBySeqsReqSchema, {
        userID: "pb", seqRanges: [{ conversationID: "si_pa_pb", begin: 1n, end: 3n, num: 100n }],
      })))).data!);
      expect(pulled.msgs["si_pa_pb"]!.Msgs.map(text)).toEqual(["hello 1", "hello 2", "hello 3"]);
      const a2 = await login(nodes[0]!.ws, "pa");
      await routed();
      expect((await a2.request(1003, textMsg("pa", "pb", "after", { clientMsgID: "pg-after" }))).errCode).toBe(0);
      expect(pushedMsg((await again.nextPush(2001, 10_000)).data).msg.seq).toBe(4n);
      a2.close();
      again.close();
    } finally {
      for (const n of nodes) n.proc.kill("SIGTERM");
      await Promise.all(nodes.map((n) => n.proc.exited));
      await redis.stop();
    }
  }, 60_000);
});
