// The message store on a real SQLite file: seq allocation, rollback of a failed batch, retention.
import { afterAll, describe, expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../src/backend/embedded/db.js";
import { MAX_COMMIT_BATCH, MessageStore } from "../src/backend/embedded/store.js";
import { MsgDataSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { seqRange, storedMsgs } from "./support/pb.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function fresh() {
  const d = mkdtempSync(join(tmpdir(), "imgate-store-"));
  dirs.push(d);
  const db = openDatabase(d);
  return { db, store: new MessageStore(db), dir: d };
}
const msg = (from: string, to: string, i: number) =>
  create(MsgDataSchema, { sendID: from, recvID: to, sessionType: 1, contentType: 101, content: new Uint8Array([i & 255]), clientMsgID: `${from}-${i}` });

describe("message store", () => {
  test("concurrent sends in one tick share a transaction and get consecutive seqs", async () => {
    const { store } = fresh();
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => store.send(msg(i % 2 ? "a" : "b", i % 2 ? "b" : "a", i), i % 2 ? "a" : "b")));
    expect(results.map((r) => Number(r.seq)).sort((x, y) => x - y)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
  });

  test("sends to one conversation in the same millisecond get strictly later sendTimes, in seq order", async () => {
    // OpenIM's SDKs take the latest message by sendTime: with two equal, they kept the older one as the latest.
    const { store } = fresh();
    const t0 = Date.now();
    const sends = Array.from({ length: 100 }, (_, i) => store.send(msg("a", "b", i), "a"));
    // Sent in the same tick after them: another conversation is not pushed ahead by this one.
    const other = store.send(msg("c", "d", 1), "c");
    const times = (await Promise.all(sends)).map((r) => Number(r.sendTime));
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThan(times[i - 1]!);
    expect(times[0]!).toBeGreaterThanOrEqual(t0);
    expect(Number((await other).sendTime)).toBeLessThan(times.at(-1)!);
  });

  test("a failed commit rolls the seqs back: no gap", async () => {
    const { store, db } = fresh();
    await store.send(msg("a", "b", 1), "a");
    db.exec("CREATE TRIGGER fail BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'disk says no'); END");
    await expect(store.send(msg("a", "b", 2), "a")).rejects.toThrow("disk says no");
    db.exec("DROP TRIGGER fail");
    const r = await store.send(msg("a", "b", 3), "a");
    expect(r.seq).toBe(2n);
  });

  test("a seq is visible to reads only once committed, so a failed commit is never seen", async () => {
    const { store, db } = fresh();
    await store.send(msg("a", "b", 1), "a");
    db.exec("CREATE TRIGGER fail BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, 'disk says no'); END");
    const doomed = store.send(msg("a", "b", 2), "a");
    // Allocated, not committed: every read still says 1 (a client pulling now would get a "deleted" seq 2).
    expect(store.bounds("si_a_b")).toEqual({ minSeq: 1, maxSeq: 1 });
    expect(store.maxSeqs("b").max.get("si_a_b")).toBe(1n);
    expect(store.seqInfo("b", "si_a_b").maxSeq).toBe(1);
    expect(store.readRaw("si_a_b", [2])).toEqual([undefined]);
    await expect(doomed).rejects.toThrow("disk says no");
    db.exec("DROP TRIGGER fail");
    const r = await store.send(msg("a", "b", 3), "a");
    expect(r.seq).toBe(2n);
    expect(store.bounds("si_a_b")).toEqual({ minSeq: 1, maxSeq: 2 });
    // A new conversation has no bounds until its first commit.
    const first = store.send(msg("c", "d", 1), "c");
    expect(store.bounds("si_c_d")).toEqual({ minSeq: 0, maxSeq: 0 });
    await first;
    expect(store.bounds("si_c_d")).toEqual({ minSeq: 1, maxSeq: 1 });
  });

  test("a resend of what the previous store committed just before it went away is delivered, once", async () => {
    const { db } = fresh();
    const before = new MessageStore(db);
    // Committed; its answer (and so its delivery) lost with the thread that committed it.
    const first = await before.send(msg("a", "b", 1), "a");
    while (Date.now() <= Number(first.sendTime)) {} // the next store starts after the commit
    const after = new MessageStore(db);
    const resent = await after.send(msg("a", "b", 1), "a");
    expect([resent.duplicate, resent.seq, resent.serverMsgID]).toEqual([false, first.seq, first.serverMsgID]);
    expect([...resent.recipients].sort()).toEqual(["a", "b"]);
    // Once: the next resend is a plain duplicate, delivered nowhere.
    const again = await after.send(msg("a", "b", 1), "a");
    expect([again.duplicate, again.recipients]).toEqual([true, []]);
    // The store that answered it treats a resend as a duplicate, as before.
    expect((await before.send(msg("a", "b", 1), "a")).duplicate).toBe(true);
    expect(after.bounds("si_a_b").maxSeq).toBe(1);
  });

  test("state is reloaded from disk by a new process", async () => {
    const { store, dir, db } = fresh();
    for (let i = 0; i < 3; i++) await store.send(msg("x", "y", i), "x");
    db.close();
    const again = new MessageStore(openDatabase(dir));
    expect((await again.send(msg("x", "y", 9), "x")).seq).toBe(4n);
    expect((await storedMsgs(again, "si_x_y", seqRange(1, 4))).length).toBe(4);
  });

  test("retention by count and by age moves min seq up and keeps the newest message", async () => {
    const { store } = fresh();
    for (let i = 0; i < 10; i++) await store.send(msg("p", "q", i), "p");
    expect(store.prune(0, 4)).toBe(6);
    expect(store.maxSeqs("p").min.get("si_p_q")).toBe(7n);
    expect((await storedMsgs(store, "si_p_q", seqRange(1, 10))).map((m) => Number(m.seq))).toEqual([7, 8, 9, 10]);
    expect(store.bounds("si_p_q")).toEqual({ minSeq: 7, maxSeq: 10 });
    expect(store.prune(1, 0, Date.now() + 10_000)).toBe(3);
    expect(store.last("si_p_q")?.seq).toBe(10n);
  });
});

describe("checkpoints", () => {
  test("the worker thread copies the WAL into the database file (autocheckpoint is off)", async () => {
    const { startCheckpointer } = await import("../src/backend/embedded/checkpointer.js");
    const { store, db, dir } = fresh();
    expect(db.query<{ wal_autocheckpoint: number }, []>("PRAGMA wal_autocheckpoint").get()!.wal_autocheckpoint).toBe(0);
    const { statSync } = await import("node:fs");
    const before = statSync(join(dir, "imgate.db")).size;
    for (let i = 0; i < 2000; i++) store.send(msg(`s${i % 50}`, `r${i % 50}`, i), `s${i % 50}`);
    await new Promise((r) => setImmediate(r));
    expect(statSync(join(dir, "imgate.db")).size).toBe(before); // all of it is still in the WAL
    const cp = startCheckpointer(db.filename, 50);
    const { until } = await import("./support/client.js");
    await until(() => statSync(join(dir, "imgate.db")).size > before, 5000, "a checkpoint");
    expect(cp.stats().errors).toBe(0);
    await cp.close();
  });

  test("under continuous writes the checkpointer starts the WAL over (its frames drop while commits go on); idle, it is truncated", async () => {
    const { startCheckpointer } = await import("../src/backend/embedded/checkpointer.js");
    const { store, db, dir } = fresh();
    const { statSync } = await import("node:fs");
    const wal = () => statSync(join(dir, "imgate.db-wal")).size;
    const cp = startCheckpointer(db.filename, 50, undefined, 64 * 1024);
    // Write without a pause long enough to be idle: the WAL passes the limit and is restarted while writes go on.
    const frames: number[] = [];
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 200; i++) store.send(msg(`s${i % 50}`, `r${i % 50}`, round * 200 + i), `s${i % 50}`);
      await new Promise((r) => setTimeout(r, 20));
      frames.push(cp.stats().lastLogFrames);
    }
    expect(Math.max(...frames) * 4096).toBeGreaterThan(64 * 1024);
    // Restarted mid-run: the frame count fell while commits kept coming (without it, it only grows until idle).
    expect(frames.some((x, i) => i > 0 && x < frames[i - 1]!)).toBe(true);
    const { until } = await import("./support/client.js");
    await until(() => wal() === 0, 5000, "the idle WAL to be truncated");
    expect(cp.stats().errors).toBe(0);
    // Nothing was lost: every message is readable after the truncation.
    expect(store.last("si_r0_s0")?.seq).toBe(160n);
    await cp.close();
  });
});

describe("the written-membership cache", () => {
  test("stays within its bound and membership answers stay right when it starts over", () => {
    const d = mkdtempSync(join(tmpdir(), "imgate-store-"));
    dirs.push(d);
    const store = new MessageStore(openDatabase(d), { membershipCacheMax: 10 });
    for (let i = 0; i < 30; i++) store.send(msg(`m${i}`, `n${i}`, i), `m${i}`);
    store.flush();
    expect(store.cachedMemberships).toBeLessThanOrEqual(10);
    // The first conversations' entries were dropped from the cache, not from the database.
    expect(store.isMember("m0", "si_m0_n0")).toBe(true);
    expect(store.isMember("n0", "si_m0_n0")).toBe(true);
    expect(store.isMember("m0", "si_m1_n1")).toBe(false);
  });
});

// The embedded shape's split: one instance commits the sends (the event loop's, busy_timeout 0), another on its own
// connection reads, prunes and changes groups (the store thread's, readsFromDisk).
describe("a sending store beside a reading one, each on its own connection", () => {
  function pair() {
    const { dir, store: writer, db } = fresh();
    db.exec("PRAGMA busy_timeout = 0");
    const reader = new MessageStore(openDatabase(dir), { readsFromDisk: true });
    return { dir, writer, reader };
  }

  test("a backlog commits over several turns; the reader never sees a seq that is not committed yet", async () => {
    const { writer, reader } = pair();
    const seen: number[] = [];
    const missing: number[] = [];
    const watch = setInterval(() => {
      const { maxSeq } = reader.bounds("si_a_b");
      seen.push(maxSeq);
      // The message at the max seq is always there to read.
      if (maxSeq > 0 && !reader.readRaw("si_a_b", [maxSeq])[0]) missing.push(maxSeq);
    }, 0);
    const sends = Array.from({ length: 1000 }, (_, i) => writer.send(msg("a", "b", i), "a"));
    // All allocated in this tick; each turn commits MAX_COMMIT_BATCH of them.
    expect(writer.pending().waiting).toBe(1000);
    const results = await Promise.all(sends);
    clearInterval(watch);
    expect(results.map((r) => Number(r.seq))).toEqual(seqRange(1, 1000));
    expect(reader.bounds("si_a_b")).toEqual({ minSeq: 1, maxSeq: 1000 });
    // Only the ends of turns were ever visible (and 0 before the first), several of them.
    expect(seen.every((s) => s % MAX_COMMIT_BATCH === 0 || s === 1000)).toBe(true);
    expect(new Set(seen).size).toBeGreaterThan(2);
    expect(missing).toEqual([]);
    expect((await storedMsgs(reader, "si_a_b", seqRange(1, 1000))).length).toBe(1000);
  });

  test("a write lock held elsewhere: sends wait for it on a timer (the thread stays free), then commit", async () => {
    const { dir, writer, reader } = pair();
    const other = openDatabase(dir);
    other.exec("BEGIN IMMEDIATE");
    let answered = false;
    const sent = writer.send(msg("a", "b", 1), "a").then((r) => ((answered = true), r));
    // Timers keep running while the send waits: this thread is not inside SQLite's busy handler.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    await Bun.sleep(200);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(10);
    expect(answered).toBe(false);
    expect(writer.pending()).toMatchObject({ waiting: 1 });
    expect(writer.pending().lockWaitMs).toBeGreaterThan(100);
    other.exec("COMMIT");
    expect(Number((await sent).seq)).toBe(1);
    expect(writer.pending()).toEqual({ waiting: 0, rejectedFull: 0, lockWaitMs: 0 });
    expect(reader.bounds("si_a_b")).toEqual({ minSeq: 1, maxSeq: 1 });
    other.close();
  });

  test("a lock held past lockWaitMs fails the waiting sends with 500 and leaves no gap", async () => {
    const { dir } = fresh();
    const db = openDatabase(dir);
    db.exec("PRAGMA busy_timeout = 0");
    const writer = new MessageStore(db, { lockWaitMs: 100 });
    await writer.send(msg("a", "b", 1), "a");
    const other = openDatabase(dir);
    other.exec("BEGIN IMMEDIATE");
    const err = await writer.send(msg("a", "b", 2), "a").then(() => undefined, (e) => e);
    expect(err).toMatchObject({ code: 500, msg: "ServerInternalError" });
    expect(String(err.detail)).toContain("locked");
    other.exec("COMMIT");
    other.close();
    expect((await writer.send(msg("a", "b", 3), "a")).seq).toBe(2n);
  });

  test("waiting sends are bounded: past maxPending a send fails at once with 500", async () => {
    const { dir } = fresh();
    const writer = new MessageStore(openDatabase(dir), { maxPending: 3 });
    const r = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => writer.send(msg("a", "b", i), "a")));
    expect(r.map((x) => x.status)).toEqual(["fulfilled", "fulfilled", "fulfilled", "rejected", "rejected"]);
    expect(writer.pending().rejectedFull).toBe(2);
  });

  test("a prune on the reading side stays: later sends do not move min seq back", async () => {
    const { writer, reader } = pair();
    for (let i = 0; i < 5; i++) await writer.send(msg("a", "b", i), "a");
    expect(reader.prune(0, 2)).toBe(3);
    expect(reader.bounds("si_a_b")).toEqual({ minSeq: 4, maxSeq: 5 });
    await writer.send(msg("a", "b", 5), "a");
    expect(reader.bounds("si_a_b")).toEqual({ minSeq: 4, maxSeq: 6 });
    expect(reader.seqInfo("b", "si_a_b").maxSeq).toBe(6);
  });
});
