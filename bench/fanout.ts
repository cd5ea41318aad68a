// Scenario "fanout": SuperGroupOnlineBatchPushOneMsg to N online users, repeated R times, next to the ceiling
// (a bare Bun.serve publishing to the same N clients in the same run). Reports deliveries/s and the ratio.
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { create } from "@bufbuild/protobuf";
import { msgGateway } from "../src/gen/openim/msggateway/msggateway_pb.js";
import { MsgDataSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { encodeResp, resp } from "../src/gateway/codec/envelope.js";
import { pushMessagesPayload } from "../src/gateway/push.js";
import { percentile, progress, round, startImgate, startWorker, users, writeResult, type Worker } from "./lib/harness.js";
import { startNodeWs, startRawBun, startSocketIO } from "./lib/peers.js";
import { startNchan } from "./lib/nchan.js";

const now = () => performance.timeOrigin + performance.now();

async function waitDelivered(ws: Worker[], want: number, timeoutMs: number) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const counts = await Promise.all(ws.map((w) => w.call({ cmd: "count" })));
    const got = counts.reduce((a, c) => a + c.received, 0);
    if (got >= want || Date.now() > end) return { got, lastAt: Math.max(...counts.map((c) => c.lastAt)) };
    await Bun.sleep(20);
  }
}

export async function fanout(quick: boolean) {
  const n = quick ? 2000 : 10_000;
  const rounds = quick ? 5 : 20;
  const perWorker = 5000;
  const msgData = create(MsgDataSchema, {
    sendID: "system", recvID: "", groupID: "bench", sessionType: 3, contentType: 101, msgFrom: 200,
    content: new TextEncoder().encode('{"content":"fan-out benchmark message"}'), seq: 1n, serverMsgID: "s", clientMsgID: "c",
  });
  const frameSize = encodeResp("json", resp(2001, { operationID: "bench-op", data: pushMessagesPayload(msgData) })).length;
  const list = users("f", n);

  const measure = async (name: string, url: string, raw: boolean, publish: () => Promise<void>, socketio = false) => {
    const ws = await Promise.all(Array.from({ length: Math.ceil(n / perWorker) }, startWorker));
    progress(`fanout/${name}: connecting ${n} clients`);
    const conn = await Promise.all(ws.map((w, i) => w.call({ cmd: "connect", url, users: list.slice(i * perWorker, (i + 1) * perWorker), concurrency: 100, raw, socketio })));
    const connected = conn.reduce((a, c) => a + c.connected, 0);
    progress(`fanout/${name}: ${connected} connected; publishing ${rounds} rounds`);
    const t0 = now();
    await publish();
    const { got, lastAt } = await waitDelivered(ws, connected * rounds, 60_000);
    const seconds = (lastAt - t0) / 1000;
    await Promise.all(ws.map((w) => w.call({ cmd: "close" })));
    return { connected, delivered: got, seconds: round(seconds, 3), deliveriesPerSec: round(got / seconds, 0) };
  };

  const ids = list.map((u) => u.userID);
  const rpcMs: number[] = [];
  const hasNginx = Boolean(Bun.which("nginx"));
  // One round of every server on the same client load: the ceiling, the peers, then imgate.
  const oneOfEach = async () => {
    // BENCH_ONLY=imgate measures imgate alone (for profiling it); the result file is left alone then.
    if (process.env.BENCH_ONLY === "imgate") return { rawBun: undefined, nodeWs: undefined, socketIO: undefined, nginxNchan: undefined, imgate: await imgateRun() };
    const raw = await startRawBun();
    const ceiling = await measure("raw-bun", `ws://127.0.0.1:${raw.port}/`, true, () => raw.publish(rounds, frameSize));
    await raw.stop();
    const nodeWs = await startNodeWs();
    const peer = await measure("node-ws", `ws://127.0.0.1:${nodeWs.port}/`, true, () => nodeWs.publish(rounds, frameSize));
    await nodeWs.stop();
    const sio = await startSocketIO();
    const socketio = await measure("socket.io", `ws://127.0.0.1:${sio.port}/`, true, () => sio.publish(rounds, frameSize), true);
    await sio.stop();
    const nchan = hasNginx ? await startNchan().catch((e) => (progress(`nchan unavailable: ${e.message}`), undefined)) : undefined;
    const nchanResult = nchan ? await measure("nginx-nchan", `ws://127.0.0.1:${nchan.port}/sub`, true, () => nchan.publish(rounds, frameSize)) : undefined;
    await nchan?.stop();
    return { rawBun: ceiling, nodeWs: peer, socketIO: socketio, nginxNchan: nchanResult, imgate: await imgateRun() };
  };
  const imgateRun = async () => {
    const server = await startImgate();
    const hub = createClient(msgGateway, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.rpc}` }));
    // A push service keeps several pushes in flight, as OpenIM's does (one call per message, concurrently).
    const imgate = await measure("imgate", `ws://127.0.0.1:${server.ws}/`, false, async () => {
      await Promise.all(Array.from({ length: rounds }, async (_, r) => {
        const t = performance.now();
        const res = await hub.superGroupOnlineBatchPushOneMsg({ msgData, pushToUserIDs: ids }, { headers: { operationid: `fan-${r}` } });
        rpcMs.push(performance.now() - t);
        if (res.singlePushResult.length !== n) throw new Error("short result list");
      }));
    });
    await server.stop();
    return imgate;
  };
  // Runs on this shared machine vary by ±20%: every server is measured `repeats` times, interleaved, and the
  // median run of each is reported (all runs are kept in the result).
  const repeats = quick ? 1 : 3;
  const runs: Awaited<ReturnType<typeof oneOfEach>>[] = [];
  for (let i = 0; i < repeats; i++) {
    progress(`fanout: round ${i + 1} of ${repeats}`);
    runs.push(await oneOfEach());
  }
  const median = <K extends keyof (typeof runs)[0]>(k: K) => {
    const xs = runs.map((r) => r[k]).filter((x): x is NonNullable<typeof x> => x !== undefined).sort((a, b) => a!.deliveriesPerSec - b!.deliveriesPerSec);
    const mid = xs[Math.floor(xs.length / 2)];
    return mid && { ...mid, runs: xs.map((x) => x!.deliveriesPerSec) };
  };
  const mixed = await chatDuringFanout(quick, list, ids, msgData);
  if (process.env.BENCH_ONLY) {
    progress(`BENCH_ONLY: imgate ${JSON.stringify(runs.map((r) => r.imgate))}, rpc ms ${JSON.stringify(rpcMs.map((x) => Math.round(x)))}`);
    return;
  }
  const ceiling = median("rawBun")!, peer = median("nodeWs")!, socketio = median("socketIO")!, nchanResult = median("nginxNchan"), imgate = median("imgate")!;
  writeResult("fanout", {
    quick, users: n, rounds, frameBytes: frameSize, repeats,
    rawBun: ceiling, nodeWs: peer, socketIO: socketio, ...(nchanResult ? { nginxNchan: nchanResult } : {}), imgate: { ...imgate, rpcLatencyMsMean: round(rpcMs.reduce((a, b) => a + b, 0) / rpcMs.length, 1), callsInFlight: rounds },
    ratioToCeiling: round(imgate.deliveriesPerSec / ceiling.deliveriesPerSec, 3),
    ratioToNodeWs: round(imgate.deliveriesPerSec / peer.deliveriesPerSec, 3),
    ratioToSocketIO: round(imgate.deliveriesPerSec / socketio.deliveriesPerSec, 3),
    ...(nchanResult ? { ratioToNginxNchan: round(imgate.deliveriesPerSec / nchanResult.deliveriesPerSec, 3) } : {}),
    chatDuringFanout: { ...mixed, rawBun: await chatDuringRawPublish(quick, list, mixed.pushesDuring, frameSize) },
  });
}

/** 1:1 chat clients (50 pairs) on `url`, and a run of them at 1,000 msg/s: send→push latencies. */
async function chatLoad(url: string, seconds: number) {
  const chatUsers = users("mc", 100);
  const chat = await startWorker();
  await chat.call({ cmd: "connect", url, users: chatUsers, concurrency: 50, chat: true });
  const pairs: [string, string][] = [];
  for (let k = 0; k < chatUsers.length; k += 2) pairs.push([chatUsers[k]!.userID, chatUsers[k + 1]!.userID]);
  const run = async () => {
    await chat.call({ cmd: "chat", pairs, ratePerSec: 1000, durationMs: seconds * 1000 });
    const c = await chat.call({ cmd: "count" });
    return { p50: round(percentile(c.latencies, 50)), p99: round(percentile(c.latencies, 99)), max: round(Math.max(0, ...c.latencies)), samples: c.latencies.length };
  };
  return { worker: chat, run };
}

/** Clients for the 10k-user fan-out on `url` (imgate's handshake, or a plain subscriber when `raw`). */
async function fanClients(url: string, list: ReturnType<typeof users>, raw: boolean) {
  const ws = await Promise.all(Array.from({ length: Math.ceil(list.length / 5000) }, startWorker));
  await Promise.all(ws.map((w, i) => w.call({ cmd: "connect", url, users: list.slice(i * 5000, (i + 1) * 5000), concurrency: 100, raw })));
  return ws;
}

/**
 * A 1:1 chat (50 pairs, 1,000 msg/s) on the same imgate while the push service sends 10k-user pushes back to
 * back: the chat's send→push p99 with and without the fan-outs running (large pushes are written in slices).
 */
async function chatDuringFanout(quick: boolean, list: ReturnType<typeof users>, ids: string[], msgData: ReturnType<typeof create<typeof MsgDataSchema>>) {
  const seconds = quick ? 3 : 6;
  const server = await startImgate();
  const hub = createClient(msgGateway, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.rpc}` }));
  const fanWorkers = await fanClients(`ws://127.0.0.1:${server.ws}/`, list, false);
  const chat = await chatLoad(`ws://127.0.0.1:${server.ws}/`, seconds);
  progress(`fanout: chat at 1,000 msg/s alone, then during back-to-back ${ids.length}-user pushes`);
  await chat.run(); // warm-up
  const alone = await chat.run();
  let pushes = 0, stop = false;
  const pusher = (async () => {
    while (!stop) {
      await hub.superGroupOnlineBatchPushOneMsg({ msgData, pushToUserIDs: ids }, { headers: { operationid: `mix-${pushes}` } });
      pushes++;
    }
  })();
  const during = await chat.run();
  stop = true;
  await pusher;
  await Promise.all([...fanWorkers, chat.worker].map((w) => w.call({ cmd: "close" })));
  await server.stop();
  progress(`fanout: chat p99 alone ${alone.p99} ms, during fan-out ${during.p99} ms (${pushes} pushes)`);
  return { chatRatePerSec: 1000, seconds, fanoutUsers: ids.length, pushesDuring: pushes, alone, during };
}

/**
 * The same chat on the bare Bun relay while it publishes a frame to the same 10k subscribers `pushes` times,
 * evenly over the run (imgate's push count): what the chat gets meanwhile from a server that writes a whole
 * fan-out in one turn (uWS's native topic publish).
 */
async function chatDuringRawPublish(quick: boolean, list: ReturnType<typeof users>, pushes: number, frameSize: number) {
  const seconds = quick ? 3 : 6;
  const raw = await startRawBun();
  const fanWorkers = await fanClients(`ws://127.0.0.1:${raw.port}/`, list, true);
  const chat = await chatLoad(`ws://127.0.0.1:${raw.port}/`, seconds);
  progress(`fanout: the same chat on the bare Bun relay during ${pushes} publishes to ${list.length} subscribers`);
  await chat.run(); // warm-up
  const alone = await chat.run();
  let published = 0;
  const gapMs = (seconds * 1000) / Math.max(1, pushes);
  const publisher = (async () => {
    const t0 = performance.now();
    for (; published < pushes; published++) {
      await Bun.sleep(Math.max(0, t0 + published * gapMs - performance.now()));
      await raw.publish(1, frameSize);
    }
  })();
  const during = await chat.run();
  await publisher;
  await Promise.all([...fanWorkers, chat.worker].map((w) => w.call({ cmd: "close" })));
  await raw.stop();
  progress(`fanout: bare Bun chat p99 alone ${alone.p99} ms, during publishes ${during.p99} ms`);
  return { publishes: published, alone, during };
}
