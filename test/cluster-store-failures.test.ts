// Failure paths of the cluster store on a real redis-server. A send stored but answered as failed must be completed by its resend (cluster store, real redis-server): the first
// attempt's script stores the message, then its memberships fail (an ACL that denies SADD, once); the client gets an
// error and resends the same clientMsgID; the resend writes the memberships and delivers, once, with the stored
// message's seq and serverMsgID. A resend of a send that did finish is still only a duplicate.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import Redis from "ioredis";
import { createRedisConversationStore } from "../src/backend/cluster/store.js";
import type { SendResult } from "../src/backend/ports.js";
import { MsgDataSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { type TestRedis, redisCli, startRedis } from "./support/redis.js";

let r: TestRedis;
let admin: Redis;
let limited: Redis;
beforeAll(async () => {
  r = await startRedis();
  admin = new Redis(r.port, "127.0.0.1");
  await admin.call("ACL", "SETUSER", "store", "on", ">pw", "~*", "&*", "+@all");
  limited = new Redis({ port: r.port, host: "127.0.0.1", username: "store", password: "pw", enableOfflineQueue: false });
  await new Promise((ok) => limited.once("ready", ok));
});
afterAll(async () => {
  limited.disconnect();
  admin.disconnect();
  await r.stop();
});

const msg = (i: number) => create(MsgDataSchema, {
  sendID: "rs-a", recvID: "rs-b", sessionType: 1, contentType: 101, content: new Uint8Array([i]), clientMsgID: `rs-${i}`,
});

test("a resend completes what its failed first attempt left undone: memberships and delivery", async () => {
  const store = createRedisConversationStore(limited, { maxPerConversation: 0, idempotencyTtlSeconds: 3600 });
  const delivered: SendResult[] = [];
  store.onSent = (x) => delivered.push(x);
  await admin.call("ACL", "SETUSER", "store", "-sadd");
  const first = await store.send(msg(1), "rs-a", "op1").then(() => undefined, (e: Error) => e);
  expect(first?.message ?? "").toMatch(/NOPERM|no permissions/i);
  // Stored, not finished: no member sees the conversation yet.
  expect(redisCli(r.port, "HLEN", "imgate:c:{si_rs-a_rs-b}:m")).toBe("1");
  expect(await store.userConversationIDs("rs-b")).toEqual([]);
  await admin.call("ACL", "SETUSER", "store", "+sadd");

  const again = await store.send(msg(1), "rs-a", "op2");
  await new Promise((ok) => setImmediate(ok));
  expect(again.duplicate).toBe(false);
  expect(again.seq).toBe(1n);
  expect(again.recipients.sort()).toEqual(["rs-a", "rs-b"]);
  expect(await store.userConversationIDs("rs-b")).toEqual(["si_rs-a_rs-b"]);
  expect(delivered.map((d) => d.clientMsgID)).toEqual(["rs-1"]);
  expect(delivered[0]!.serverMsgID).toBe(again.serverMsgID);
  expect(redisCli(r.port, "HLEN", "imgate:c:{si_rs-a_rs-b}:m")).toBe("1");

  // Finished now: a third attempt is a plain duplicate, delivered nowhere.
  const third = await store.send(msg(1), "rs-a", "op3");
  await new Promise((ok) => setImmediate(ok));
  expect(third.duplicate).toBe(true);
  expect(third.serverMsgID).toBe(again.serverMsgID);
  expect(delivered.length).toBe(1);
  store.close();
});

test("setGroup replaces the members in one transaction: a reader never sees the group empty", async () => {
  const store = createRedisConversationStore(admin, { maxPerConversation: 0, idempotencyTtlSeconds: 3600 });
  const reader = new Redis(r.port, "127.0.0.1");
  await store.setGroup("rs-g", ["u1", "u2"]);
  let writing = true, reads = 0, empty = 0;
  const polling = (async () => {
    while (writing) {
      if ((await reader.scard("imgate:g:{rs-g}")) === 0) empty++;
      reads++;
    }
  })();
  for (let i = 0; i < 300; i++) await store.setGroup("rs-g", i % 2 ? ["u1", "u2"] : ["u2", "u3"]);
  writing = false;
  await polling;
  reader.disconnect();
  expect(reads).toBeGreaterThan(50);
  expect(empty).toBe(0);
  store.close();
});
