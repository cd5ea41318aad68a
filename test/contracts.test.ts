// Contract suites: the same tests against every implementation of a port, so the shapes cannot drift apart.
// StatusStore: memory (embedded), Redis in OpenIM's layout (cluster), OpenIM's user service (openim). ConversationStore:
// SQLite in this thread, SQLite on the store worker (what the embedded shape runs), Redis and PostgreSQL (cluster). AuthPort: JWT +
// token states on the store thread (embedded), in Redis (cluster), OpenIM's auth service (openim). Real SQLite files,
// a real redis-server, a database of its own on the machine's PostgreSQL; OpenIM's services are stand-ins built from our proto/ (they cannot run here).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import Redis, { Cluster } from "ioredis";
import { createPubSub } from "../src/cluster/pubsub.js";
import { type TestRedisCluster, startRedisCluster } from "./support/redis-cluster.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AuthPort, ConversationStore, StatusStore, TokenIssuer } from "../src/backend/ports.js";
import { createEmbeddedAuth, tokenIssuer } from "../src/backend/embedded/auth.js";
import { embeddedTokenAuth } from "../src/backend/embedded/known-tokens.js";
import { signToken } from "../src/backend/embedded/jwt.js";
import { createRedisAuth, createRedisTokenIssuer } from "../src/backend/cluster/auth.js";
import { createOpenIMBackend, createOpenIMStatusStore } from "../src/backend/openim/index.js";
import { startOpenIMStandins } from "./support/openim-standins.js";
import { createRedisConversationStore } from "../src/backend/cluster/store.js";
import { openDatabase } from "../src/backend/embedded/db.js";
import { MessageStore } from "../src/backend/embedded/store.js";
import { RemoteStore, remoteTokenStates } from "../src/backend/embedded/remote-store.js";
import { type SendWriter, openSendWriter } from "../src/backend/embedded/writer.js";
import { startStoreClient, type StoreClient } from "../src/backend/embedded/store-client.js";
import { createMemoryStatusStore } from "../src/presence/store.js";
import { createRedisStatusStore } from "../src/presence/redis-store.js";
import { MsgDataSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { until } from "./support/client.js";
import { seqRange, storedMsgs, text } from "./support/pb.js";
import { type TestRedis, redisCli, startRedis } from "./support/redis.js";
import { type TestDatabase, createTestDatabase } from "./support/postgres.js";
import { ensurePostgresSchema } from "../src/backend/cluster/postgres-schema.js";
import { createPostgresConversationStore } from "../src/backend/cluster/postgres-store.js";

let redis: TestRedis;
/** A real three-master Redis Cluster: the cluster shape's stores must hold there too (multi-key scripts in one slot). */
let rcluster: TestRedisCluster;
const dirs: string[] = [];
const clients: (Redis | Cluster)[] = [];
const workers: StoreClient[] = [];
const writers: SendWriter[] = [];
const standins: Awaited<ReturnType<typeof startOpenIMStandins>>[] = [];
const databases: TestDatabase[] = [];
beforeAll(async () => {
  [redis, rcluster] = await Promise.all([startRedis(), startRedisCluster({ masters: 3 })]);
}, 60_000);
afterAll(async () => {
  for (const w of writers) w.close();
  for (const w of workers) await w.close();
  for (const o of standins) await o.close();
  for (const c of clients) c.disconnect();
  for (const d of databases) await d.drop();
  await redis.stop();
  await rcluster.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const freshRedis = async () => {
  const c = new Redis(redis.url, { lazyConnect: false });
  clients.push(c);
  await c.flushdb();
  return c;
};
/** A connection to the Redis Cluster, emptied first (FLUSHALL on every master), as freshRedis empties its db. */
const freshCluster = (opts: { sharded?: boolean; keep?: boolean } = {}) => {
  if (!opts.keep) for (const port of rcluster.masters()) redisCli(port, "FLUSHALL");
  const c = new Cluster(rcluster.addresses.map((a) => ({ host: "127.0.0.1", port: Number(a.split(":")[1]) })), { shardedSubscribers: opts.sharded ?? false });
  clients.push(c);
  return c;
};
const freshDir = () => {
  const d = mkdtempSync(join(tmpdir(), "imgate-contract-"));
  dirs.push(d);
  return d;
};

// ---- StatusStore ------------------------------------------------------------------------------------------

/** [name, make, announces its own changes]: OpenIM's user service announces through OpenIM's Redis, not the store. */
const statusStores: [string, () => Promise<StatusStore>, boolean][] = [
  ["memory", async () => createMemoryStatusStore({ ttlSeconds: 60 }), true],
  ["redis", async () => createRedisStatusStore({
    client: await freshRedis(), pubsub: createPubSub({ pub: await freshRedis(), sub: await freshRedis(), sharded: false }), ttlSeconds: 60,
  }), true],
  ["redis cluster (sharded pub/sub)", async () => {
    const s = createRedisStatusStore({
      client: freshCluster(), pubsub: createPubSub({ pub: freshCluster({ keep: true }), sub: freshCluster({ sharded: true, keep: true }), sharded: true }), ttlSeconds: 60,
    });
    await s.listening!(); // one subscriber connection per shard, made on first use
    return s;
  }, true],
  ["OpenIM's user service (stand-in)", async () => {
    const openim = await startOpenIMStandins(AUTH_SECRET);
    standins.push(openim);
    // Cache size 0: its 15-minute read cache is refreshed by OpenIM's online_change, which no stand-in publishes.
    return createOpenIMStatusStore({ callTimeoutMs: 2000, resolve: () => [openim.address] }, undefined, 0);
  }, false],
];

for (const [name, make, announces] of statusStores) {
  describe(`StatusStore contract: ${name}`, () => {
    test("online platforms accumulate per user, offline ones leave, unknown users are []", async () => {
      const s = await make();
      await s.setStatus([{ userID: "u1", online: [1], offline: [] }, { userID: "u2", online: [5], offline: [] }]);
      await s.setStatus([{ userID: "u1", online: [2], offline: [] }]);
      expect(await s.getOnline(["u1", "u2", "nobody"])).toEqual(new Map([["u1", [1, 2]], ["u2", [5]], ["nobody", []]]));
      await s.setStatus([{ userID: "u1", online: [], offline: [1] }, { userID: "u2", online: [], offline: [5] }]);
      expect(await s.getOnline(["u1", "u2"])).toEqual(new Map([["u1", [2]], ["u2", []]]));
      await s.close();
    });

    if (announces) test("a change of a user's platform set is announced once, with the platforms now online; a repeat is not", async () => {
      const s = await make();
      const seen: [string, number[]][] = [];
      s.onChange((u, p) => seen.push([u, p]));
      await s.setStatus([{ userID: "c1", online: [1], offline: [] }]);
      await s.setStatus([{ userID: "c1", online: [1], offline: [] }]); // renewal: no change
      await s.setStatus([{ userID: "c1", online: [], offline: [1] }]);
      await until(() => seen.filter(([u]) => u === "c1").length >= 2, 2000, "both changes");
      // A change of another user after them: announcements come in order, so a third (wrong) one for c1 is in by now.
      await s.setStatus([{ userID: "c-barrier", online: [3], offline: [] }]);
      await until(() => seen.some(([u]) => u === "c-barrier"), 2000, "the barrier's change");
      expect(seen.filter(([u]) => u === "c1")).toEqual([["c1", [1]], ["c1", []]]);
      await s.close();
    });
  });
}

// ---- ConversationStore --------------------------------------------------------------------------------------

const msg = (from: string, to: string, body: string, clientMsgID = `${from}-${to}-${body}`) => create(MsgDataSchema, {
  sendID: from, recvID: to, sessionType: 1, contentType: 101, content: new TextEncoder().encode(JSON.stringify({ content: body })), clientMsgID,
});
const group = (from: string, groupID: string, body: string) => create(MsgDataSchema, {
  sendID: from, groupID, sessionType: 3, contentType: 101, content: new TextEncoder().encode(JSON.stringify({ content: body })), clientMsgID: `${from}-${groupID}-${body}`,
});

/** The embedded shape's two sides on a fresh data dir, as the node runs them: the store thread and the event loop's writer. */
async function embeddedSides() {
  const dir = freshDir();
  const client = await startStoreClient({ dataDir: dir, maxQueue: 1000 });
  workers.push(client);
  const writer = openSendWriter(dir, { maxPending: 1000 });
  writers.push(writer);
  return { client, writer };
}

const conversationStores: [string, () => Promise<ConversationStore>][] = [
  ["sqlite (in thread)", async () => new MessageStore(openDatabase(freshDir()))],
  ["sqlite (sends on the event loop, the rest on the store worker)", async () => {
    const { client, writer } = await embeddedSides();
    return new RemoteStore(client, writer.store);
  }],
  ["redis", async () => createRedisConversationStore(await freshRedis(), { maxPerConversation: 0, idempotencyTtlSeconds: 3600 })],
  ["redis cluster", async () => createRedisConversationStore(freshCluster(), { maxPerConversation: 0, idempotencyTtlSeconds: 3600 })],
  ["postgresql", async () => {
    const db = await createTestDatabase();
    databases.push(db);
    await ensurePostgresSchema(db.sql);
    return createPostgresConversationStore(db.sql);
  }],
];

for (const [name, make] of conversationStores) {
  describe(`ConversationStore contract: ${name}`, () => {
    test("sends get consecutive seqs per conversation, sendTime and a serverMsgID; reads return them in order", async () => {
      const s = await make();
      const r = await Promise.all([1, 2, 3].map((i) => s.send(msg("a", "b", `m${i}`), "a", `op${i}`)));
      expect(r.map((x) => Number(x.seq))).toEqual([1, 2, 3]);
      expect(r.every((x) => x.serverMsgID.length === 32 && x.sendTime > 0n && !x.duplicate)).toBe(true);
      expect(r[0]!.recipients.sort()).toEqual(["a", "b"]);
      const other = await s.send(msg("c", "d", "x"), "c", "op");
      expect(Number(other.seq)).toBe(1);
      expect(await s.bounds("si_a_b")).toEqual({ minSeq: 1, maxSeq: 3 });
      expect((await storedMsgs(s, "si_a_b", seqRange(1, 3))).map(text)).toEqual(["m1", "m2", "m3"]);
      expect((await storedMsgs(s, "si_a_b", [3, 1, 9])).map(text)).toEqual(["m3", "m1"]);
      expect(text((await s.last("si_a_b"))!)).toBe("m3");
      expect(await s.last("si_nobody_here")).toBeUndefined();
    });

    test("a seq the client put in is replaced: the reply and the stored bytes carry the allocated one, once", async () => {
      const s = await make();
      const input = msg("a", "b", "with a seq");
      input.seq = 99n;
      expect((await s.send(input, "a", "op")).seq).toBe(1n);
      const raw = (await s.readRaw("si_a_b", [1]))[0]!;
      // Field 14 (seq) appears once in the stored bytes, with the allocated value.
      const seqs: bigint[] = [];
      const r = new BinaryReader(raw);
      while (r.pos < r.len) {
        const [field, wire] = r.tag();
        if (field === 14) seqs.push(BigInt(r.int64()));
        else r.skip(wire);
      }
      expect(seqs).toEqual([1n]);
    });

    test("sends to one conversation in the same millisecond get strictly later sendTimes in seq order, stored as replied", async () => {
      // OpenIM's SDKs take a conversation's latest message by sendTime: of two equal, they kept the older for good.
      const s = await make();
      const t0 = Date.now();
      const sends = Array.from({ length: 100 }, (_, i) => s.send(msg("a", "b", `t${i}`), "a", `op${i}`));
      // Sent in the same tick after them: another conversation is not pushed ahead by this one's burst.
      const other = s.send(msg("c", "d", "elsewhere"), "c", "op");
      const replies = (await Promise.all(sends)).sort((x, y) => Number(x.seq - y.seq));
      const times = replies.map((r) => Number(r.sendTime));
      for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThan(times[i - 1]!);
      expect(times[0]!).toBeGreaterThanOrEqual(t0);
      expect(Number((await other).sendTime)).toBeLessThan(times.at(-1)!);
      // The stored bytes carry the replied sendTime (field 15) once: a pull shows what the push showed.
      const raws = await s.readRaw("si_a_b", replies.map((r) => Number(r.seq)));
      const stored = raws.map((raw) => {
        const found: bigint[] = [];
        const r = new BinaryReader(raw!);
        while (r.pos < r.len) {
          const [field, wire] = r.tag();
          if (field === 15) found.push(BigInt(r.int64()));
          else r.skip(wire);
        }
        return found;
      });
      expect(stored).toEqual(replies.map((r) => [r.sendTime]));
      // A later send continues the chain even when the clock has not caught up with it.
      expect(Number((await s.send(msg("a", "b", "after"), "a", "op")).sendTime)).toBeGreaterThan(times.at(-1)!);
    });

    test("a resent clientMsgID is answered with the stored message, marked duplicate, and not stored twice", async () => {
      const s = await make();
      const first = await s.send(msg("a", "b", "once", "same-id"), "a", "op1");
      const again = await s.send(msg("a", "b", "once", "same-id"), "a", "op2");
      expect(again.duplicate).toBe(true);
      expect([again.seq, again.serverMsgID]).toEqual([first.seq, first.serverMsgID]);
      expect((await s.bounds("si_a_b")).maxSeq).toBe(1);
    });

    test("membership, max seqs, has-read seqs", async () => {
      const s = await make();
      await s.send(msg("a", "b", "1"), "a", "op");
      await s.send(msg("a", "c", "1"), "a", "op");
      expect(await s.isMember("b", "si_a_b")).toBe(true);
      expect(await s.isMember("c", "si_a_b")).toBe(false);
      expect((await s.userConversationIDs("a")).sort()).toEqual(["si_a_b", "si_a_c"]);
      const { max } = await s.maxSeqs("a");
      expect(new Map([...max].sort())).toEqual(new Map([["si_a_b", 1n], ["si_a_c", 1n]]));
      await s.setHasReadSeq("b", "si_a_b", 1);
      expect(await s.seqInfo("b", "si_a_b")).toMatchObject({ maxSeq: 1, hasReadSeq: 1 });
    });

    test("a sender has read what they send (OpenIM's msgtransfer): their read mark moves to it, nobody else's", async () => {
      const s = await make();
      await s.setGroup("gr", ["a", "b"]);
      for (let i = 0; i < 3; i++) await s.send(group("b", "gr", `b${i}`), "b", "op");
      await s.send(group("a", "gr", "a1"), "a", "op");
      expect(await s.seqInfo("a", "sg_gr")).toMatchObject({ maxSeq: 4, hasReadSeq: 4 });
      expect(await s.seqInfo("b", "sg_gr")).toMatchObject({ maxSeq: 4, hasReadSeq: 3 });
      await s.send(msg("a", "b", "x"), "a", "op");
      expect((await s.seqInfo("a", "si_a_b")).hasReadSeq).toBe(1);
      expect((await s.seqInfo("b", "si_a_b")).hasReadSeq).toBe(0);
    });

    test("groups: members set and listed; a group message reaches the members, from a member only", async () => {
      const s = await make();
      await s.setGroup("g1", ["a", "b", "c"]);
      expect((await s.groupMembers("g1")).sort()).toEqual(["a", "b", "c"]);
      expect((await s.listGroups()).map((g) => ({ ...g, userIDs: [...g.userIDs].sort() }))).toEqual([{ groupID: "g1", userIDs: ["a", "b", "c"] }]);
      const r = await s.send(group("a", "g1", "hello"), "a", "op");
      expect(r.conversationID).toBe("sg_g1");
      expect([...r.recipients].sort()).toEqual(["a", "b", "c"]);
      // (Not expect().rejects: in bun test it waited forever on a rejection coming back from the store worker.)
      const refused = await s.send(group("z", "g1", "intruder"), "z", "op").then(() => undefined, (e: unknown) => e);
      expect(refused).toMatchObject({ code: 1203 });
    });
  });
}

// Retention by age in Redis (the SQLite store prunes by age on its own timer: store.test.ts).
for (const [name, make] of [["redis", async () => freshRedis()], ["redis cluster", async () => freshCluster()]] as const) {
  test(`${name}: messages older than the retention go on the next send and by the sweep; seqs keep counting`, async () => {
    let now = Date.now();
    const s = createRedisConversationStore(await make(), { maxPerConversation: 0, idempotencyTtlSeconds: 3600, maxAgeMs: 600, now: () => now });
    for (const b of ["old1", "old2", "old3"]) await s.send(msg("ra", "rb", b), "ra", "op");
    for (const b of ["idle1", "idle2"]) await s.send(msg("rc", "rd", b), "rc", "op");
    now += 700; // past the retention, on the store's own clock
    const fresh = await s.send(msg("ra", "rb", "fresh"), "ra", "op");
    expect(fresh.seq).toBe(4n);
    expect(await s.bounds("si_ra_rb")).toEqual({ minSeq: 4, maxSeq: 4 });
    expect((await storedMsgs(s, "si_ra_rb", seqRange(1, 4))).map(text)).toEqual(["fresh"]);
    // Nobody writes to rc–rd: the sweep takes its messages, and the next one still gets seq 3.
    expect(await s.pruneByAge()).toBe(2);
    expect(await s.bounds("si_rc_rd")).toEqual({ minSeq: 3, maxSeq: 2 });
    expect((await s.send(msg("rc", "rd", "later"), "rc", "op")).seq).toBe(3n);
    expect((await storedMsgs(s, "si_rc_rd", seqRange(1, 3))).map(text)).toEqual(["later"]);
  });
}

// ---- AuthPort -------------------------------------------------------------------------------------------------

const AUTH_SECRET = "contract-secret";
const meta = { operationID: "op", opUserID: "", platform: "Web", connID: "" };
const authPorts: [string, () => Promise<AuthPort>][] = [
  ["embedded (token states on the store thread)", async () => {
    const c = await startStoreClient({ dataDir: freshDir(), maxQueue: 1000 });
    workers.push(c);
    return createEmbeddedAuth(remoteTokenStates(c), AUTH_SECRET);
  }],
  ["embedded (known tokens read on the event loop, verified ones remembered: as the node runs it)", async () => {
    const { client, writer } = await embeddedSides();
    return embeddedTokenAuth(remoteTokenStates(client, (t) => writer.tokenState(t)), AUTH_SECRET).auth;
  }],
  ["redis", async () => createRedisAuth(await freshRedis(), AUTH_SECRET)],
  ["redis cluster", async () => createRedisAuth(freshCluster(), AUTH_SECRET)],
  ["OpenIM's auth service (stand-in)", async () => {
    const openim = await startOpenIMStandins(AUTH_SECRET);
    standins.push(openim);
    return createOpenIMBackend({ callTimeoutMs: 2000, resolve: () => [openim.address] }).auth;
  }],
];

for (const [name, make] of authPorts) {
  describe(`AuthPort contract: ${name}`, () => {
    const codeOf = (p: Promise<unknown>) => p.then(() => 0, (e: { code?: number }) => e.code ?? -1);

    test("a valid token gives its user, platform and expiry; a forged or expired one is refused with OpenIM's code", async () => {
      const auth = await make();
      const token = signToken(AUTH_SECRET, "au1", 5, 3600);
      const r = await auth.parseToken(token, meta);
      expect([r.userID, r.platformID]).toEqual(["au1", 5]);
      expect(Number(r.expireTimeSeconds)).toBeGreaterThan(Date.now() / 1000);
      expect(await codeOf(auth.parseToken(signToken("another-secret", "au1", 5, 3600), meta))).toBe(1505);
      expect(await codeOf(auth.parseToken(signToken(AUTH_SECRET, "au1", 5, -10), meta))).toBe(1501);
      expect(await codeOf(auth.parseToken("not.a.token", meta))).toBe(1503);
    });

    test("kicked tokens are refused with 1506; invalidateToken kicks the user's other tokens on that platform only", async () => {
      const auth = await make();
      const [t1, t2, keep, otherPlatform] = [signToken(AUTH_SECRET, "au2", 5, 3600), signToken(AUTH_SECRET, "au2", 5, 3601),
        signToken(AUTH_SECRET, "au2", 5, 3602), signToken(AUTH_SECRET, "au2", 2, 3600)];
      for (const t of [t1, t2, keep, otherPlatform]) await auth.parseToken(t, meta);
      await auth.kickTokens([t1], meta);
      expect(await codeOf(auth.parseToken(t1, meta))).toBe(1506);
      await auth.invalidateToken({ preservedToken: keep, userID: "au2", platformID: 5 }, meta);
      expect(await codeOf(auth.parseToken(t2, meta))).toBe(1506);
      expect(await codeOf(auth.parseToken(keep, meta))).toBe(0);
      expect(await codeOf(auth.parseToken(otherPlatform, meta))).toBe(0);
    });
  });
}

// ---- TokenIssuer (where imgate issues tokens: the app-server API's get_user_token and force_logout) ------------

const issuers: [string, () => Promise<{ auth: AuthPort; tokens: TokenIssuer }>][] = [
  ["embedded (token states on the store thread)", async () => {
    const c = await startStoreClient({ dataDir: freshDir(), maxQueue: 1000 });
    workers.push(c);
    return { auth: createEmbeddedAuth(remoteTokenStates(c), AUTH_SECRET), tokens: tokenIssuer(remoteTokenStates(c), AUTH_SECRET) };
  }],
  ["embedded (as the node runs it: verified tokens remembered, kicks logged)", async () => {
    const { client, writer } = await embeddedSides();
    return embeddedTokenAuth(remoteTokenStates(client, (t) => writer.tokenState(t)), AUTH_SECRET);
  }],
  ["redis", async () => {
    const r = await freshRedis();
    return { auth: createRedisAuth(r, AUTH_SECRET), tokens: createRedisTokenIssuer(r, AUTH_SECRET) };
  }],
];

for (const [name, make] of issuers) {
  describe(`TokenIssuer contract: ${name}`, () => {
    const codeOf = (p: Promise<unknown>) => p.then(() => 0, (e: { code?: number }) => e.code ?? -1);
    test("an issued token works at once; kickAll kicks it (even never used) and the user's others on that platform only", async () => {
      const { auth, tokens } = await make();
      const issued = await tokens.issue("ti1", 5, 3600);
      const used = await tokens.issue("ti1", 5, 3601);
      const other = await tokens.issue("ti1", 2, 3600);
      expect((await auth.parseToken(used, meta)).userID).toBe("ti1");
      await tokens.kickAll("ti1", 5);
      expect(await codeOf(auth.parseToken(issued, meta))).toBe(1506);
      expect(await codeOf(auth.parseToken(used, meta))).toBe(1506);
      expect(await codeOf(auth.parseToken(other, meta))).toBe(0);
      // A token issued after the logout is good.
      expect(await codeOf(auth.parseToken(await tokens.issue("ti1", 5, 3602), meta))).toBe(0);
    });
  });
}
