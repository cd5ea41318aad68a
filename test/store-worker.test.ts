// The embedded store seen from the sockets: another connection holds SQLite's write lock and the event loop keeps
// answering heartbeats and hub pushes; sends (committed by the event loop) wait for the lock on a timer and are
// answered after it, never lost; a full queue answers 500 at once and recovers; a lock held past a second makes the
// node unready; a dead store worker is replaced and the node says so.
import { afterEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { join } from "node:path";
import { msgGateway } from "../src/gen/openim/msggateway/msggateway_pb.js";
import { MsgDataSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import type { EmbeddedBackend } from "../src/backend/embedded/index.js";
import { type TestNode, startTestNode } from "./support/node.js";
import { type TestClient, connect, until } from "./support/client.js";
import { pushedMsg, seqRange, storedMsgs, text, textMsg } from "./support/pb.js";

let n: TestNode | undefined;
afterEach(async () => {
  await n?.stop();
  n = undefined;
});

const login = (node: TestNode, userID: string) => connect({ port: node.wsPort, userID, platformID: 5, token: node.token(userID, 5), sdkType: "js", isMsgResp: true });

/** Another process's connection taking the write lock (BEGIN IMMEDIATE) and holding it. */
function holdWriteLock(dataDir: string) {
  const db = new Database(join(dataDir, "imgate.db"));
  db.exec("BEGIN IMMEDIATE");
  return () => {
    db.exec("COMMIT");
    db.close();
  };
}

/** Heartbeat round trips, one every 20 ms, until stopped: the event loop's responsiveness as a client sees it. */
function heartbeats(c: TestClient) {
  const rtts: number[] = [];
  let sentAt = 0;
  let seen = c.texts.length;
  const timer = setInterval(() => {
    const pong = c.texts.slice(seen).find((t) => t.includes('"pong"'));
    if (sentAt && pong) {
      rtts.push(performance.now() - sentAt);
      sentAt = 0;
    }
    seen = c.texts.length;
    if (!sentAt) {
      sentAt = performance.now();
      c.sendRaw('{"type":"ping"}');
    }
  }, 5);
  return {
    stop() {
      clearInterval(timer);
      return rtts;
    },
  };
}

describe("a database write lock held by another connection", () => {
  test("for 500 ms: heartbeats and hub pushes keep flowing, sends are answered after the lock and none is lost", async () => {
    n = await startTestNode();
    const [a, b, hb] = await Promise.all([login(n, "lock-a"), login(n, "lock-b"), login(n, "lock-hb")]);
    const hub = createClient(msgGateway, createGrpcTransport({ baseUrl: `http://127.0.0.1:${n.rpcPort}` }));
    const beat = heartbeats(hb);
    await Bun.sleep(100);

    const release = holdWriteLock(n.dataDir);
    const lockedAt = performance.now();
    const sends = Array.from({ length: 5 }, (_, i) => a.request(1003, textMsg("lock-a", "lock-b", `during the lock ${i}`)).then((r) => ({ r, at: performance.now() })));
    // Pushes from the hub (OpenIM's push service) reach b while the lock is held.
    const pushLatencies: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await hub.superGroupOnlineBatchPushOneMsg(
        { msgData: create(MsgDataSchema, { sendID: "sys", recvID: "lock-b", sessionType: 1, contentType: 101, content: new TextEncoder().encode(JSON.stringify({ content: `hub ${i}` })), seq: BigInt(1000 + i) }), pushToUserIDs: ["lock-b"] },
        { headers: { operationid: `hub${i}` } },
      );
      await until(() => b.frames.some((f) => f.reqIdentifier === 2001 && text(pushedMsg(f.data).msg) === `hub ${i}`), 1000, `hub push ${i}`);
      pushLatencies.push(performance.now() - t);
      await Bun.sleep(50);
    }
    await Bun.sleep(Math.max(0, 500 - (performance.now() - lockedAt)));
    const releasedAt = performance.now();
    release();

    const replies = await Promise.all(sends);
    const rtts = beat.stop();
    // The loop never waited for the lock: every heartbeat came back within a fifth of it.
    expect(rtts.length).toBeGreaterThan(20);
    expect(Math.max(...rtts)).toBeLessThan(100);
    expect(Math.max(...pushLatencies)).toBeLessThan(100);
    // Sends were answered after the lock, all of them stored and delivered.
    for (const { r, at } of replies) {
      expect(r.errCode).toBe(0);
      expect(at).toBeGreaterThanOrEqual(releasedAt);
    }
    await until(() => b.frames.filter((f) => f.reqIdentifier === 2001 && text(pushedMsg(f.data).msg).startsWith("during the lock")).length === 5, 2000, "deliveries");
    const conv = "si_lock-a_lock-b";
    expect((await storedMsgs(n.store, conv, seqRange(1, 10))).map((m) => text(m))).toEqual([0, 1, 2, 3, 4].map((i) => `during the lock ${i}`));
    for (const c of [a, b, hb]) c.close();
  }, 20_000);

  test("with the queue bound reached: 500 at once for the excess, the rest committed after the lock, then business as usual", async () => {
    n = await startTestNode({ "messages.storeQueueSize": 4 });
    const a = await login(n, "q-a");
    const release = holdWriteLock(n.dataDir);
    const started = performance.now();
    const sends = Array.from({ length: 10 }, (_, i) =>
      a.request(1003, textMsg("q-a", "q-b", `q ${i}`)).then((r) => ({ i, r, after: performance.now() - started })));
    await Bun.sleep(300);
    release();
    const replies = await Promise.all(sends);
    const refused = replies.filter((x) => x.r.errCode !== 0);
    const stored = replies.filter((x) => x.r.errCode === 0);
    expect(stored.map((x) => x.i)).toEqual([0, 1, 2, 3]);
    expect(refused.map((x) => x.r.errCode)).toEqual([500, 500, 500, 500, 500, 500]);
    expect(refused[0]!.r.errMsg).toBe("ServerInternalError");
    // Refused at once, not after the lock.
    for (const x of refused) expect(x.after).toBeLessThan(200);
    // What was acknowledged is stored; what was refused is not (the client resends it).
    expect((await storedMsgs(n.store, "si_q-a_q-b", seqRange(1, 20))).map((m) => text(m))).toEqual(["q 0", "q 1", "q 2", "q 3"]);
    // And the store takes sends again.
    expect((await a.request(1003, textMsg("q-a", "q-b", "after"))).errCode).toBe(0);
    expect((n.node.backend as EmbeddedBackend).writer.store.pending().rejectedFull).toBe(6);
    a.close();
  }, 20_000);
});

describe("a write lock held for longer than a second", () => {
  test("makes the node unready with the reason while sends wait for it; ready again and all stored once it is free", async () => {
    n = await startTestNode();
    const a = await login(n, "long-a");
    const release = holdWriteLock(n.dataDir);
    const sent = a.request(1003, textMsg("long-a", "long-b", "waited"));
    const readyz = () => fetch(`http://127.0.0.1:${n!.adminPort}/readyz`);
    let r = await readyz();
    for (const end = Date.now() + 3000; r.status === 200 && Date.now() < end; r = await readyz()) await Bun.sleep(50);
    expect(r.status).toBe(503);
    expect(await r.text()).toContain("write lock");
    release();
    expect((await sent).errCode).toBe(0);
    expect((await readyz()).status).toBe(200);
    expect((await storedMsgs(n.store, "si_long-a_long-b", seqRange(1, 5))).map((m) => text(m))).toEqual(["waited"]);
    a.close();
  }, 20_000);
});

describe("a store worker that dies", () => {
  test("is replaced: /readyz says why meanwhile, later sends work and earlier messages are all there", async () => {
    const lines: string[] = [];
    const { createLogger } = await import("../src/observe/log.js");
    const log = createLogger({ level: "info", format: "json", write: (l: string) => void lines.push(l) });
    n = await startTestNode({}, { log });
    const a = await login(n, "crash-a");
    expect((await a.request(1003, textMsg("crash-a", "crash-b", "before"))).errCode).toBe(0);
    const backend = n.node.backend as EmbeddedBackend;
    const old = backend.storeClient.worker()!;
    old.terminate();
    // Unready with the reason until the new worker has opened the database.
    await until(() => !backend.ready(), 2000, "the exit noticed");
    const ready = await fetch(`http://127.0.0.1:${n.adminPort}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain("store worker exited");
    await until(() => backend.storeClient.worker() !== undefined && backend.storeClient.worker() !== old && backend.ready(), 5000, "a new worker");
    expect((await fetch(`http://127.0.0.1:${n.adminPort}/readyz`)).status).toBe(200);
    expect(lines.some((l) => l.includes("store worker exited"))).toBe(true);
    expect(lines.some((l) => l.includes("store worker restarted"))).toBe(true);
    expect((await a.request(1003, textMsg("crash-a", "crash-b", "after"))).errCode).toBe(0);
    expect((await storedMsgs(n.store, "si_crash-a_crash-b", seqRange(1, 10))).map((m) => [Number(m.seq), text(m)])).toEqual([[1, "before"], [2, "after"]]);
    a.close();
  }, 20_000);
});

describe("token states", () => {
  test("a token seen before is read on the event loop: only its first use crosses to the store thread", async () => {
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { startStoreClient } = await import("../src/backend/embedded/store-client.js");
    const { openSendWriter } = await import("../src/backend/embedded/writer.js");
    const { remoteTokenStates } = await import("../src/backend/embedded/remote-store.js");
    const dir = mkdtempSync(join(tmpdir(), "imgate-tokens-"));
    const client = await startStoreClient({ dataDir: dir, maxQueue: 100 });
    const writer = openSendWriter(dir, { maxPending: 100 });
    const ops: string[] = [];
    const counted = { ...client, call: ((op, args, ctx) => (ops.push(op), client.call(op, args, ctx))) as typeof client.call };
    const states = remoteTokenStates(counted, (t) => writer.tokenState(t));
    const token = "header.payload.signature-1";
    expect(await states.checkIn(token, "u", 5)).toBeUndefined();
    expect(await states.checkIn(token, "u", 5)).toBe(0);
    expect(await states.checkIn(token, "u", 5)).toBe(0);
    expect(ops).toEqual(["checkInToken"]);
    // A kick (on the store thread) is what the next read sees.
    await states.kick([token]);
    expect(await states.checkIn(token, "u", 5)).toBe(2);
    expect(ops).toEqual(["checkInToken", "kickTokens"]);
    writer.close();
    await client.close();
  });

  test("check-ins of one turn are committed together, before what comes after them: a kick in the same turn finds them", async () => {
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { startStoreClient } = await import("../src/backend/embedded/store-client.js");
    const { remoteTokenStates } = await import("../src/backend/embedded/remote-store.js");
    const client = await startStoreClient({ dataDir: mkdtempSync(join(tmpdir(), "imgate-tokens-")), maxQueue: 1000 });
    const states = remoteTokenStates(client);
    const tokens = Array.from({ length: 50 }, (_, i) => `header.payload.storm-${i}`);
    const other = "header.payload.other-platform";
    // A login storm's check-ins, then in the same turn a kick of every token of the user on platform 5.
    const first = await Promise.all([...tokens.map((t) => states.checkIn(t, "v", 5)), states.checkIn(other, "v", 2), states.kickAll("v", 5)]);
    expect(first).toEqual(Array<number | undefined>(51).fill(undefined).concat([undefined]) as typeof first);
    expect(await Promise.all(tokens.map((t) => states.checkIn(t, "v", 5)))).toEqual(Array(50).fill(2));
    expect(await states.checkIn(other, "v", 2)).toBe(0);
    await client.close();
  });
});
