// Large pushes are written in slices, so 10k-user fan-outs do not hold every other socket: a push's first slice is
// written in the call's own turn, the rest in later turns, one slice a turn for all pushes together, all delivered.
// A slice ends at ws.pushSliceUsers users or ws.pushSliceMs, whichever comes first.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { create } from "@bufbuild/protobuf";
import { MsgDataSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { type TestNode, startTestNode } from "./support/node.js";
import { type TestClient, connect, until } from "./support/client.js";
import { pushedMsg, text } from "./support/pb.js";
import { createPusher } from "../src/gateway/push.js";
import { createCounters } from "../src/observe/stats.js";

const USERS = 300, SLICE = 100;
let n: TestNode;
let clients: TestClient[];
beforeAll(async () => {
  // The clock out of the way here (a turn's users are counted exactly); the time bound has its own test below.
  n = await startTestNode({ "ws.pushSliceUsers": SLICE, "ws.pushSliceMs": 60_000 });
  clients = [];
  for (let i = 0; i < USERS; i += 50)
    clients.push(...await Promise.all(Array.from({ length: Math.min(50, USERS - i) }, (_, k) =>
      connect({ port: n.wsPort, userID: `s${i + k}`, platformID: 5, token: n.token(`s${i + k}`, 5), sdkType: "js", isMsgResp: true }))));
}, 30_000);
afterAll(async () => {
  for (const c of clients) c.close();
  await n.stop();
});

const msg = (body: string) => create(MsgDataSchema, {
  sendID: "sys", recvID: "", groupID: "big", sessionType: 3, contentType: 101, seq: 1n,
  content: new TextEncoder().encode(JSON.stringify({ content: body })),
});
const delivered = () => n.node.counters.pushes.get(0) ?? 0;

test("the first slice is written in the call's turn, the others later; every user gets the push with an exact result", async () => {
  const ids = Array.from({ length: USERS }, (_, i) => `s${i}`);
  const before = delivered();
  const pending = n.node.dispatch.pushToUsers(msg("sliced"), ids, "slices");
  // Still in the same turn: only the first slice has been written to its sockets.
  expect(delivered() - before).toBe(SLICE);
  const results = await pending;
  expect(delivered() - before).toBe(USERS);
  expect(results.map((r) => r.userID)).toEqual(ids);
  expect(results.every((r) => r.resp.length === 1 && r.resp[0]!.resultCode === 0)).toBe(true);
  await until(() => clients.every((c) => c.frames.some((f) => f.reqIdentifier === 2001 && text(pushedMsg(f.data).msg) === "sliced")), 5000, "every delivery");
});

test("a small push issued while a large one is between slices goes out before the large one ends", async () => {
  const ids = Array.from({ length: USERS }, (_, i) => `s${i}`);
  const big = n.node.dispatch.pushToUsers(msg("big"), ids, "big");
  let bigDone = false;
  void big.then(() => (bigDone = true));
  // Issued after the first slice, to a user of the last slice.
  const small = await n.node.dispatch.pushToUsers(msg("small"), [`s${USERS - 1}`], "small");
  expect(small[0]!.resp[0]!.resultCode).toBe(0);
  expect(bigDone).toBe(false);
  await big;
  // Across different push calls there is no order (OpenIM's gateway gives none either): the last user, in the
  // big push's last slice, gets "small" first. One conversation's pushes keep their order (same member order).
  const last = clients[USERS - 1]!;
  await until(() => last.frames.filter((f) => f.reqIdentifier === 2001).length >= 3, 5000, "both pushes");
  const order = last.frames.filter((f) => f.reqIdentifier === 2001).map((f) => text(pushedMsg(f.data).msg));
  expect(order.slice(-2)).toEqual(["small", "big"]);
});

test("a large push's slice written at once goes after what the same turn queued for that socket", async () => {
  const ids = Array.from({ length: USERS }, (_, i) => `s${i}`);
  const first = clients[0]!;
  const had = first.frames.length;
  // Same turn: a small push queued for s0 (written at the end of the turn), then a large one whose first slice has s0.
  const small = n.node.dispatch.pushToUsers(msg("queued first"), ["s0"], "order-small");
  const big = n.node.dispatch.pushToUsers(msg("written at once"), ids, "order-big");
  await Promise.all([small, big]);
  await until(() => first.frames.length >= had + 2, 5000, "both pushes");
  const order = first.frames.slice(had).filter((f) => f.reqIdentifier === 2001).map((f) => text(pushedMsg(f.data).msg));
  expect(order).toEqual(["queued first", "written at once"]);
});

test("concurrent large pushes share one budget a turn: never more than a slice of users between two turns", async () => {
  // The real pusher over a registry where every user has one connection, counting what it hands to the sockets.
  let queued = 0;
  const conn = { platformID: 5, variant: "json", isBackground: false };
  const pusher = createPusher({
    registry: { userConns: () => [conn] } as never,
    outbound: { encodeOnce: () => () => new Uint8Array(1), queue: () => (queued++, true), write: () => (queued++, true) } as never,
    counters: createCounters(),
    slice: () => SLICE,
    sliceMs: () => 60_000,
  });
  const ids = Array.from({ length: USERS }, (_, i) => `u${i}`);
  const pushes = [1, 2, 3, 4].map((i) => pusher.pushToUsers(msg(`p${i}`), ids, `op${i}`));
  // Each call's first slice goes out in its own turn.
  expect(queued).toBe(4 * SLICE);
  const perTurn: number[] = [];
  let done = false;
  void Promise.all(pushes).then(() => (done = true));
  while (!done) {
    const before = queued;
    await new Promise((r) => setImmediate(r));
    perTurn.push(queued - before);
  }
  expect(queued).toBe(4 * USERS);
  expect(Math.max(...perTurn)).toBeLessThanOrEqual(SLICE);
  // The rest (4 x 200 users) took at least 8 turns, shared in turn rather than one push after another.
  expect(perTurn.filter((x) => x > 0).length).toBeGreaterThanOrEqual(8);
  for (const r of await Promise.all(pushes)) expect(r.map((x) => x.userID)).toEqual(ids);
});

test("a slice also ends at ws.pushSliceMs: slow writes make shorter slices, never a turn held past the budget by more than a chunk", async () => {
  // Every write takes 0.2 ms (a socket under a loaded kernel), so 32 users take 6.4 ms, past a 2 ms budget.
  let queued = 0;
  const conn = { platformID: 5, variant: "json", isBackground: false };
  const slowWrite = () => {
    const until = performance.now() + 0.2;
    while (performance.now() < until);
    return (queued++, true);
  };
  const pusher = createPusher({
    registry: { userConns: () => [conn] } as never,
    outbound: { encodeOnce: () => () => new Uint8Array(1), queue: slowWrite, write: slowWrite } as never,
    counters: createCounters(),
    slice: () => 10_000,
    sliceMs: () => 2,
  });
  const ids = Array.from({ length: 200 }, (_, i) => `u${i}`);
  const push = pusher.pushToUsers(msg("slow"), ids, "slow");
  const perTurn = [queued];
  let done = false;
  void push.then(() => (done = true));
  while (!done) {
    const before = queued;
    await new Promise((r) => setImmediate(r));
    perTurn.push(queued - before);
  }
  expect(queued).toBe(200);
  // The user bound (10,000) never applied: the clock cut every turn after its first chunk of 32.
  expect(Math.max(...perTurn)).toBe(32);
  expect((await push).map((r) => r.userID)).toEqual(ids);
});
