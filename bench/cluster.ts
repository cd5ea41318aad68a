// Scenario "cluster": two nodes on one redis-server, for imgate and, in the same run and with the same clients,
// for Socket.IO with its Redis adapter; then imgate again on a three-master Redis Cluster (sharded pub/sub). 1:1
// chat with both ends on one node next to chat across the nodes (latency at a fixed rate, then a closed loop for
// messages/s), and a fan-out to users all on the called node next to users split over both. Redis CPU per message
// is the CPU time of the redis-server processes over the cross-node closed loop, divided by its messages.
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { create } from "@bufbuild/protobuf";
import { msgGateway } from "../src/gen/openim/msggateway/msggateway_pb.js";
import { MsgDataSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { latencySeries, percentile, procCpu, startRedis, progress, round, startImgate, startWorker, users, writeResult, type Worker } from "./lib/harness.js";
import { startSocketIO } from "./lib/peers.js";
import { startRedisCluster } from "../test/support/redis-cluster.js";
import { encodeResp, resp } from "../src/gateway/codec/envelope.js";
import { pushMessagesPayload } from "../src/gateway/push.js";

const msgData = create(MsgDataSchema, { sendID: "system", groupID: "g", sessionType: 3, contentType: 101, content: new TextEncoder().encode('{"content":"x"}') });
/** The size of imgate's push frame for msgData: Socket.IO broadcasts frames of this size. */
const frameBytes = encodeResp("json", resp(2001, { operationID: "c0", data: pushMessagesPayload(msgData) })).length;

export interface TwoNodes {
  name: string;
  urls: [string, string];
  socketio: boolean;
  /** `rounds` pushes of one message to `userIDs`, through node 1. */
  fanout(userIDs: string[], rounds: number): Promise<void>;
  stop(): Promise<void>;
}

export async function imgateNodes(redis: { args: string[]; env?: Record<string, string> }, name = "imgate"): Promise<TwoNodes> {
  const nodes = [await startImgate([...redis.args, "--node-id", "b1"], redis.env), await startImgate([...redis.args, "--node-id", "b2"], redis.env)];
  const hub = createClient(msgGateway, createGrpcTransport({ baseUrl: `http://127.0.0.1:${nodes[0]!.rpc}` }));
  return {
    name, socketio: false,
    urls: [`ws://127.0.0.1:${nodes[0]!.ws}/`, `ws://127.0.0.1:${nodes[1]!.ws}/`],
    async fanout(userIDs, rounds) {
      await Promise.all(Array.from({ length: rounds }, (_, r) =>
        hub.superGroupOnlineBatchPushOneMsg({ msgData, pushToUserIDs: userIDs }, { headers: { operationid: `c${r}` } })));
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

async function socketIONodes(redisURL: string): Promise<TwoNodes> {
  const nodes = [await startSocketIO(redisURL), await startSocketIO(redisURL)];
  return {
    name: "socket.io", socketio: true,
    urls: [`ws://127.0.0.1:${nodes[0]!.port}/`, `ws://127.0.0.1:${nodes[1]!.port}/`],
    // The Redis adapter carries a room broadcast from node 1 to node 2; the frame is the size of imgate's.
    fanout: (_userIDs, rounds) => nodes[0]!.publish(rounds, frameBytes),
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

/** CPU time (ms) of processes so far, from /proc/<pid>/stat (utime + stime, in clock ticks of 10 ms). */
// A process gone meanwhile (a pooled connection closed) counts nothing.
export const cpuMs = (pids: number[]) => pids.reduce((a, pid) => a + (procCpu(`/proc/${pid}/stat`)?.ms ?? 0), 0);

/**
 * 1:1 chat between `pairs` senders on node 1 and receivers on `receiverNode`: push latency at 1,000 msg/s for
 * `stageMs`, then a closed loop for messages/s; `pids`' CPU per message over the closed loop (the shared state's).
 */
export async function twoNodeChat(
  c: Pick<TwoNodes, "name" | "urls" | "socketio">, o: { pairs: number; stageMs: number; pids: () => number[] | Promise<number[]> }, name: string, receiverNode: 0 | 1,
) {
  const { pairs, stageMs, pids } = o;
  const w = await startWorker();
  const senders = users(`${name}s`, pairs), receivers = users(`${name}r`, pairs);
  await w.call({ cmd: "connect", url: c.urls[0], users: senders, concurrency: 50, chat: true, socketio: c.socketio });
  await w.call({ cmd: "connect", url: c.urls[receiverNode], users: receivers, concurrency: 50, chat: true, socketio: c.socketio });
  await Bun.sleep(300); // routes are written within a tick
  const list = senders.map((s, i) => [s.userID, receivers[i]!.userID] as [string, string]);
  progress(`cluster/${c.name}/chat ${name}: warm-up`);
  await w.call({ cmd: "chat", pairs: list, ratePerSec: 1000, durationMs: 2000 });
  await w.call({ cmd: "count" });
  progress(`cluster/${c.name}/chat ${name}: 1000 msg/s for ${stageMs} ms`);
  await w.call({ cmd: "chat", pairs: list, ratePerSec: 1000, durationMs: stageMs });
  const s = await w.call({ cmd: "count" });
  progress(`cluster/${c.name}/chat ${name}: closed loop for ${stageMs} ms`);
  // Read after the warm-up: pooled connections (PostgreSQL's backends) exist by now.
  const measured = await pids();
  const cpu0 = cpuMs(measured);
  await w.call({ cmd: "chatClosed", pairs: list, window: 2, durationMs: stageMs });
  const m = await w.call({ cmd: "count" });
  const stateCpuMs = cpuMs(measured) - cpu0;
  await w.call({ cmd: "close" });
  const lat = s.latencies as number[];
  return {
    delivered: lat.length, sent: s.sent, errors: s.errors + m.errors,
    pushLatencyMs: { p50: round(percentile(lat, 50)), p99: round(percentile(lat, 99)) },
    series: latencySeries(s.latencySentAt, lat, 500),
    maxMessagesPerSec: round((m.latencies as number[]).length / (stageMs / 1000), 0),
    redisCpuUsPerMessage: measured.length ? round((stateCpuMs * 1000) / Math.max(1, (m.latencies as number[]).length), 1) : undefined,
  };
}

export async function cluster(quick: boolean) {
  const pairs = quick ? 100 : 250;
  const stageMs = quick ? 3000 : 8000;
  const fanUsers = quick ? 2000 : 6000;
  const rounds = quick ? 5 : 10;

  const run = async (c: TwoNodes, redisPids: number[] = []) => {
    const chat = (name: string, receiverNode: 0 | 1) => twoNodeChat(c, { pairs, stageMs, pids: () => redisPids }, name, receiverNode);
    const fanout = async (name: string, split: boolean) => {
      const list = users(`${name}f`, fanUsers);
      const ws: Worker[] = [await startWorker(), await startWorker()];
      const half = Math.ceil(fanUsers / 2);
      await Promise.all([
        ws[0]!.call({ cmd: "connect", url: c.urls[0], users: list.slice(0, half), concurrency: 100, raw: c.socketio, socketio: c.socketio }),
        ws[1]!.call({ cmd: "connect", url: c.urls[split ? 1 : 0], users: list.slice(half), concurrency: 100, raw: c.socketio, socketio: c.socketio }),
      ]);
      await Bun.sleep(500);
      progress(`cluster/${c.name}/fanout ${name}: ${fanUsers} users, ${rounds} rounds`);
      const t0 = performance.timeOrigin + performance.now();
      await c.fanout(list.map((u) => u.userID), rounds);
      let got = 0, last = 0;
      for (let i = 0; i < 1500 && got < fanUsers * rounds; i++) {
        const cs = await Promise.all(ws.map((w) => w.call({ cmd: "count" })));
        got = cs.reduce((a, x) => a + x.received, 0);
        last = Math.max(...cs.map((x) => x.lastAt));
        if (got < fanUsers * rounds) await Bun.sleep(20);
      }
      await Promise.all(ws.map((w) => w.call({ cmd: "close" })));
      const seconds = (last - t0) / 1000;
      return { delivered: got, seconds: round(seconds, 3), deliveriesPerSec: round(got / seconds, 0) };
    };
    const sameNode = await chat("same", 0);
    const crossNode = await chat("cross", 1);
    const allOnCalledNode = await fanout("local", false);
    const splitOverTwoNodes = await fanout("split", true);
    await c.stop();
    return {
      chat: { sameNode, crossNode },
      fanout: { allOnCalledNode, splitOverTwoNodes, ratio: round(splitOverTwoNodes.deliveriesPerSec / allOnCalledNode.deliveriesPerSec, 3) },
    };
  };

  // Each system gets a fresh redis-server, so neither sees the other's keys or channels.
  let redis = await startRedis();
  // BENCH_ONLY=imgate skips the peer (for profiling one system).
  const skip = { chat: { crossNode: { maxMessagesPerSec: NaN } }, fanout: { splitOverTwoNodes: { deliveriesPerSec: NaN } } } as Awaited<ReturnType<typeof run>>;
  const socketIO = process.env.BENCH_ONLY ? skip : await run(await socketIONodes(redis.url));
  await redis.stop();
  redis = await startRedis();
  const imgate = await run(await imgateNodes({ args: ["--redis", redis.url] }), [redis.pid]);
  await redis.stop();
  const rc = await startRedisCluster({ masters: 3 });
  const imgateRedisCluster = await run(await imgateNodes({
    args: ["--shape", "cluster"], env: { IMGATE_REDIS_ADDRESS: rc.addresses.join(","), IMGATE_REDIS_REDIS_MODE: "cluster" },
  }, "imgate on Redis Cluster"), rc.nodes.map((n) => n.proc.pid));
  await rc.stop();
  writeResult("cluster", {
    quick, pairs, fanUsers, rounds, frameBytes, imgate, imgateRedisCluster, socketIO,
    crossNodeMaxRatioToSocketIO: round(imgate.chat.crossNode.maxMessagesPerSec / socketIO.chat.crossNode.maxMessagesPerSec, 3),
    splitFanoutRatioToSocketIO: round(imgate.fanout.splitOverTwoNodes.deliveriesPerSec / socketIO.fanout.splitOverTwoNodes.deliveriesPerSec, 3),
  });
}
