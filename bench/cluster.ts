// Scenario "cluster": two nodes on one redis-server. 1:1 chat with both ends on one node next to chat across
// the nodes, and a hub fan-out to users all on the called node next to users split over both, in one run.
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { create } from "@bufbuild/protobuf";
import { msgGateway } from "../src/gen/openim/msggateway/msggateway_pb.js";
import { MsgDataSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { percentile, startRedis, progress, round, startImgate, startWorker, users, writeResult, type Worker } from "./lib/harness.js";


export async function cluster(quick: boolean) {
  const pairs = quick ? 100 : 250;
  const stageMs = quick ? 3000 : 8000;
  const fanUsers = quick ? 2000 : 6000;
  const rounds = quick ? 5 : 10;
  const redis = await startRedis();
  const [n1, n2] = [await startImgate(["--redis", redis.url, "--node-id", "b1"]), await startImgate(["--redis", redis.url, "--node-id", "b2"])];

  const chat = async (name: string, receiverNode: typeof n1) => {
    const w = await startWorker();
    const senders = users(`${name}s`, pairs), receivers = users(`${name}r`, pairs);
    await w.call({ cmd: "connect", url: `ws://127.0.0.1:${n1.ws}/`, users: senders, concurrency: 50 });
    await w.call({ cmd: "connect", url: `ws://127.0.0.1:${receiverNode.ws}/`, users: receivers, concurrency: 50 });
    await Bun.sleep(300); // routes are written within a tick
    const list = senders.map((s, i) => [s.userID, receivers[i]!.userID] as [string, string]);
    progress(`cluster/chat ${name}: warm-up`);
    await w.call({ cmd: "chat", pairs: list, ratePerSec: 1000, durationMs: 2000 });
    await w.call({ cmd: "count" });
    progress(`cluster/chat ${name}: 1000 msg/s for ${stageMs} ms`);
    await w.call({ cmd: "chat", pairs: list, ratePerSec: 1000, durationMs: stageMs });
    const c = await w.call({ cmd: "count" });
    await w.call({ cmd: "close" });
    const lat = c.latencies as number[];
    return { delivered: lat.length, sent: c.sent, errors: c.errors, pushLatencyMs: { p50: round(percentile(lat, 50)), p99: round(percentile(lat, 99)) } };
  };

  const fanout = async (name: string, split: boolean) => {
    const list = users(`${name}f`, fanUsers);
    const ws: Worker[] = [await startWorker(), await startWorker()];
    const half = Math.ceil(fanUsers / 2);
    await Promise.all([
      ws[0]!.call({ cmd: "connect", url: `ws://127.0.0.1:${n1.ws}/`, users: list.slice(0, half), concurrency: 100 }),
      ws[1]!.call({ cmd: "connect", url: `ws://127.0.0.1:${(split ? n2 : n1).ws}/`, users: list.slice(half), concurrency: 100 }),
    ]);
    await Bun.sleep(500);
    const hub = createClient(msgGateway, createGrpcTransport({ baseUrl: `http://127.0.0.1:${n1.rpc}` }));
    const msgData = create(MsgDataSchema, { sendID: "system", groupID: "g", sessionType: 3, contentType: 101, content: new TextEncoder().encode('{"content":"x"}') });
    progress(`cluster/fanout ${name}: ${fanUsers} users, ${rounds} rounds`);
    const t0 = performance.timeOrigin + performance.now();
    await Promise.all(Array.from({ length: rounds }, (_, r) =>
      hub.superGroupOnlineBatchPushOneMsg({ msgData, pushToUserIDs: list.map((u) => u.userID) }, { headers: { operationid: `c${r}` } })));
    let got = 0, last = 0;
    for (let i = 0; i < 1500 && got < fanUsers * rounds; i++) {
      const cs = await Promise.all(ws.map((w) => w.call({ cmd: "count" })));
      got = cs.reduce((a, c) => a + c.received, 0);
      last = Math.max(...cs.map((c) => c.lastAt));
      if (got < fanUsers * rounds) await Bun.sleep(20);
    }
    await Promise.all(ws.map((w) => w.call({ cmd: "close" })));
    const seconds = (last - t0) / 1000;
    return { delivered: got, seconds: round(seconds, 3), deliveriesPerSec: round(got / seconds, 0) };
  };

  const sameNode = await chat("same", n1);
  const crossNode = await chat("cross", n2);
  const fanLocal = await fanout("local", false);
  const fanSplit = await fanout("split", true);
  await n1.stop();
  await n2.stop();
  await redis.stop();
  writeResult("cluster", {
    quick, pairs, fanUsers, rounds,
    chat: { sameNode, crossNode },
    fanout: { allOnCalledNode: fanLocal, splitOverTwoNodes: fanSplit, ratio: round(fanSplit.deliveriesPerSec / fanLocal.deliveriesPerSec, 3) },
  });
}
