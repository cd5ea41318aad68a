// The internet-facing port against hostile clients, on the default limits, with real sockets and the real store:
// each attack is refused or bounded, and an honest user beside it is unaffected. Conversations: a third user asks
// about alice and bob; made-up IDs by the hundred thousand; one user flooding heavy reads while another chats; one
// token taking every slot; a web page rebinding a loopback port; secrets at rest; store work of a cancelled request.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { heapStats } from "bun:jsc";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  GetConversationsHasReadAndMaxSeqReqSchema, GetConversationsHasReadAndMaxSeqRespSchema, GetLastMessageReqSchema, GetLastMessageRespSchema,
  GetSeqMessageReqSchema,
} from "../src/gen/openim/msg/msg_pb.js";
import { MsgDataSchema, PullMessageBySeqsReqSchema, PullMessageBySeqsRespSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import type { EmbeddedBackend } from "../src/backend/embedded/index.js";
import { type TestNode, startTestNode } from "./support/node.js";
import { type TestClient, connect, until } from "./support/client.js";
import { textMsg } from "./support/pb.js";

let n: TestNode;
beforeAll(async () => {
  // The defaults, except the per-connection request rate for the seeding and flooding clients below (the flood
  // is then bounded by the caps and the store's turns alone, which is what is tested).
  n = await startTestNode({ "multiLogin.policy": 0, "ws.requestsPerSecond": 0, "ws.bytesPerSecond": 0 });
});
afterAll(() => n.stop());

const login = (u: string, p = 5) => connect({ port: n.wsPort, userID: u, platformID: p, token: n.token(u, p), sdkType: "js", isMsgResp: true });
const storeClient = () => (n.node.backend as EmbeddedBackend).storeClient;
const seqsReq = (userID: string, conversationIDs: string[]) =>
  toBinary(GetConversationsHasReadAndMaxSeqReqSchema, create(GetConversationsHasReadAndMaxSeqReqSchema, { userID, conversationIDs }));

describe("reads answer only for the caller's conversations", () => {
  test("a third user learns nothing of alice and bob's conversation (1006, 1007, 1002, 1005)", async () => {
    const [alice, bob, eve] = await Promise.all([login("h-alice"), login("h-bob"), login("h-eve")]);
    expect((await alice.request(1003, textMsg("h-alice", "h-bob", "private"))).errCode).toBe(0);
    const conv = "si_h-alice_h-bob";
    const own = fromBinary(GetConversationsHasReadAndMaxSeqRespSchema, (await bob.request(1006, seqsReq("h-bob", [conv]))).data!);
    expect(own.seqs[conv]?.maxSeq).toBe(1n);

    const r1006 = await eve.request(1006, seqsReq("h-eve", [conv]));
    expect(r1006.errCode).toBe(0);
    expect(fromBinary(GetConversationsHasReadAndMaxSeqRespSchema, r1006.data ?? new Uint8Array()).seqs).toEqual({});
    const r1007 = await eve.request(1007, toBinary(GetLastMessageReqSchema, create(GetLastMessageReqSchema, { userID: "h-eve", conversationIDs: [conv] })));
    expect(fromBinary(GetLastMessageRespSchema, r1007.data ?? new Uint8Array()).msgs).toEqual({});
    const r1002 = await eve.request(1002, toBinary(PullMessageBySeqsReqSchema, create(PullMessageBySeqsReqSchema, {
      userID: "h-eve", seqRanges: [{ conversationID: conv, begin: 1n, end: 10n, num: 10n }],
    })));
    expect(fromBinary(PullMessageBySeqsRespSchema, r1002.data ?? new Uint8Array()).msgs).toEqual({});
    const r1005 = await eve.request(1005, toBinary(GetSeqMessageReqSchema, create(GetSeqMessageReqSchema, {
      userID: "h-eve", conversations: [{ conversationID: conv, seqs: [1n] }],
    })));
    expect(r1005.errCode).toBe(1002);
    // Asking in another user's name is refused outright (OpenIM's CheckAccess).
    expect((await eve.request(1006, seqsReq("h-alice", [conv]))).errCode).toBe(1002);
    for (const c of [alice, bob, eve]) c.close();
  });
});

describe("bounded by construction", () => {
  test("100,000 made-up conversation IDs cost no store memory; more than the cap per request is refused", async () => {
    const c = await login("h-mallory");
    const before = await storeClient().call("cacheStats", {});
    Bun.gc(true);
    const heapBefore = heapStats().heapSize;
    for (let i = 0; i < 100; i++) {
      const ids = Array.from({ length: 1000 }, (_, j) => `si_made_up_${i}_${j}`);
      const r = await c.request(1006, seqsReq("h-mallory", ids));
      expect(r.errCode).toBe(0);
    }
    const after = await storeClient().call("cacheStats", {});
    expect(after.conversations).toBe(before.conversations);
    expect(after.memberships).toBe(before.memberships);
    Bun.gc(true);
    // The bound stated in docs/security.md: unknown IDs keep nothing, on the store thread (counted above) or on the
    // event loop (its live heap after a full collection; RSS is the allocator's business and moves on its own).
    const grown = heapStats().heapSize - heapBefore;
    console.log(`event-loop heap after 100,000 made-up IDs: ${(grown / 1024).toFixed(0)} KB more`);
    expect(grown).toBeLessThan(4 * 1024 * 1024);
    const tooMany = await c.request(1006, seqsReq("h-mallory", Array.from({ length: 1001 }, (_, j) => `x${j}`)));
    expect(tooMany.errCode).toBe(1001);
    expect(tooMany.errMsg).toBe("ArgsError");
    c.close();
  });

  test("a pull asking for more messages than the cap is refused before anything is read", async () => {
    const c = await login("h-greedy");
    const seqRanges = Array.from({ length: 1001 }, (_, i) => ({ conversationID: `si_h-greedy_${i}`, begin: 1n, end: 10_000n, num: 10_000n }));
    // Conversations the caller is not in are left out before the cap counts anything: refused for the count of
    // conversations, not for work done.
    const r = await c.request(1002, toBinary(PullMessageBySeqsReqSchema, create(PullMessageBySeqsReqSchema, { userID: "h-greedy", seqRanges })));
    expect(r.errCode).toBe(1001);
    const r1005 = await c.request(1005, toBinary(GetSeqMessageReqSchema, create(GetSeqMessageReqSchema, {
      userID: "h-greedy", conversations: [{ conversationID: "si_h-greedy_h-greedy", seqs: Array.from({ length: 10_001 }, (_, i) => BigInt(i + 1)) }],
    })));
    expect(r1005.errCode).toBe(1001);
    c.close();
  });

  test("while one user floods heavy reads on every connection it may hold, another user's 1001 and 1003 stay fast", async () => {
    // A conversation of 10,000 messages the flooder may read (written through the store, as 1003s would be).
    const flooder = "h-flood", conv = "si_h-flood_h-flood";
    for (let i = 0; i < 10_000; i += 500)
      await Promise.all(Array.from({ length: 500 }, (_, j) =>
        n.store.send(fromBinary(MsgDataSchema, textMsg(flooder, flooder, `m${i + j}`)), flooder, "seed")));
    const pull = toBinary(PullMessageBySeqsReqSchema, create(PullMessageBySeqsReqSchema, {
      userID: flooder, seqRanges: [{ conversationID: conv, begin: 1n, end: 10_000n, num: 10_000n }],
    }));
    // Every connection the user may hold, eight heavy pulls in flight on each, from a process of its own.
    const honest = await login("h-honest");
    const peer = await login("h-peer");
    const flood = Bun.spawn([process.execPath, new URL("./support/flooder.ts", import.meta.url).pathname], {
      env: { ...process.env, FLOOD: JSON.stringify({
        port: n.wsPort, userID: flooder, token: n.token(flooder, 5), conns: n.config.ws.maxConnsPerUser, inFlight: 8, ms: 4000,
        reqIdentifier: 1002, dataB64: Buffer.from(pull).toString("base64"),
      }) },
      stdout: "pipe", stderr: "inherit",
    });
    await until(() => n.node.registry.userConns(flooder)?.length === n.config.ws.maxConnsPerUser, 10_000, "the flooder's connections");
    await Bun.sleep(300);
    const rtts: number[] = [];
    const stopAt = Date.now() + 3000;
    while (Date.now() < stopAt) {
      for (const [id, data] of [[1001, undefined], [1003, textMsg("h-honest", "h-peer", "hi")]] as const) {
        const t = performance.now();
        expect((await honest.request(id, data)).errCode).toBe(0);
        rtts.push(performance.now() - t);
      }
    }
    const pulled = JSON.parse(await new Response(flood.stdout).text()).replies as number;
    expect(await flood.exited).toBe(0);
    rtts.sort((a, b) => a - b);
    const p90 = rtts[Math.floor(rtts.length * 0.9)]!;
    const p95 = rtts[Math.floor(rtts.length * 0.95)]!;
    console.log(`honest requests during the flood: ${rtts.length}, p50 ${rtts[rtts.length >> 1]!.toFixed(1)} ms, p90 ${p90.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms, max ${rtts.at(-1)!.toFixed(1)} ms; heavy pulls answered: ${pulled}`);
    expect(pulled).toBeGreaterThan(0);
    // Measured in the flood's own unit, so a loaded machine slows both sides alike: one heavy pull's share of the
    // flood's time. An honest request that waited behind the flooder's queue (up to conns x 8 pulls) would take
    // hundreds of those; one served beside it waits for at most the few pulls already running. (Idle: p90 ~35 ms
    // against a pull share of ~25 ms; a fixed 50 ms bound failed under stress-ng with other tests beside it.)
    const pullShare = 4000 / pulled;
    console.log(`one heavy pull's share of the flood: ${pullShare.toFixed(1)} ms; honest p90 = ${(p90 / pullShare).toFixed(1)} of them`);
    expect(p90).toBeLessThan(4 * pullShare);
    // The flood's store work ends with it: nothing of the flooder's is left waiting on the store thread.
    await until(() => storeClient().stats().inFlight === 0, 10_000, "the store to be idle");
    honest.close();
    peer.close();
  }, 60_000);

  test("one token cannot take more than the per-user cap, and another user still gets in", async () => {
    const cap = n.config.ws.maxConnsPerUser;
    const token = n.token("h-hog", 5);
    const results = await Promise.all(Array.from({ length: cap + 8 }, () =>
      connect({ port: n.wsPort, userID: "h-hog", platformID: 5, token, sdkType: "js", isMsgResp: true }).then((c) => c, (e: { body?: { errCode: number } }) => e.body)));
    const open = results.filter((r): r is TestClient => !!r && "ws" in r);
    const refused = results.filter((r) => r && !("ws" in r)) as { errCode: number }[];
    expect(open.length).toBe(cap);
    expect(refused.length).toBe(8);
    for (const r of refused) expect(r.errCode).toBe(1601);
    const other = await login("h-other");
    expect((await other.request(1001)).errCode).toBe(0);
    for (const c of [...open, other]) c.close();
  });
});

describe("loopback ports and secrets at rest", () => {
  test("a foreign Host is refused on the admin port and the hub; loopback names pass", async () => {
    const metrics = (host: string) => fetch(`http://127.0.0.1:${n.adminPort}/metrics`, { headers: { host } });
    expect((await metrics("rebind.example")).status).toBe(421);
    expect((await metrics("rebind.example:12140")).status).toBe(421);
    expect((await metrics(`localhost:${n.adminPort}`)).status).toBe(200);
    const stats = (host: string, headers: Record<string, string> = n.adminHeaders) =>
      fetch(`http://127.0.0.1:${n.rpcPort}/imgate.admin.v1.Admin/Stats`, {
        method: "POST", headers: { host, "content-type": "application/json", ...headers }, body: "{}",
      });
    expect((await stats("rebind.example")).status).toBe(403);
    expect((await stats(`127.0.0.1:${n.rpcPort}`)).status).toBe(200);
    // The admin API needs its token by default.
    expect((await stats(`127.0.0.1:${n.rpcPort}`, {})).status).toBe(401);
    // The dashboard too.
    expect((await fetch(`http://127.0.0.1:${n.adminPort}/`)).status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${n.adminPort}/?token=${n.adminToken}`)).status).toBe(200);
  });

  test("the data dir is this user's alone and holds no bearer token in the clear", async () => {
    const c = await login("h-disk");
    const token = c.opts.token;
    c.close();
    expect(statSync(n.dataDir).mode & 0o777).toBe(0o700);
    for (const f of ["imgate.db", "admin-token", "imgate.db-wal", "imgate.db-shm"]) expect(statSync(join(n.dataDir, f)).mode & 0o777).toBe(0o600);
    const db = new Database(join(n.dataDir, "imgate.db"), { readonly: true });
    expect(db.query<{ n: number }, [string]>("SELECT COUNT(*) AS n FROM token_state WHERE user_id = ?").get("h-disk")!.n).toBe(1);
    db.close();
    for (const f of ["imgate.db", "imgate.db-wal"]) expect(readFileSync(join(n.dataDir, f)).includes(Buffer.from(token))).toBe(false);
  });

  test("a store call whose request was cancelled before its turn is dropped, not run", async () => {
    const abort = new AbortController();
    const dropped = storeClient().call("setGroup", { groupID: "h-never", userIDs: ["x"] }, { lane: "h", signal: abort.signal });
    abort.abort(new Error("connection closed"));
    await expect(dropped).rejects.toMatchObject({ code: 500 });
    expect(await n.store.groupMembers("h-never")).toEqual([]);
  });
});
