// Scenario "slow": do clients that stop reading cost the others anything? Hub pushes go to 1,000 fast clients,
// first alone, then together with 50 clients that never read (which also get 256 KB fillers, so their buffers fill). Reports the fast clients' delivery latency in
// both phases and how many slow ones the slow-consumer limit closed.
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { create } from "@bufbuild/protobuf";
import { msgGateway } from "../src/gen/openim/msggateway/msggateway_pb.js";
import { MsgDataSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { rawConnect, type RawWs } from "../test/support/rawws.js";
import { percentile, progress, round, SECRET, startImgate, startWorker, users, writeResult } from "./lib/harness.js";
import { signToken } from "../src/backend/embedded/jwt.js";

export async function slow(quick: boolean) {
  const phaseMs = quick ? 3000 : 8000;
  const server = await startImgate([], { IMGATE_WS_SLOW_CONSUMER_BYTES: String(1 << 20) });
  const fast = users("fast", 1000);
  const w = await startWorker();
  await w.call({ cmd: "connect", url: `ws://127.0.0.1:${server.ws}/`, users: fast, concurrency: 100 });
  const hub = createClient(msgGateway, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.rpc}` }));
  const body = new TextEncoder().encode(JSON.stringify({ content: "x".repeat(16_000) }));

  const filler = create(MsgDataSchema, { sendID: "system", recvID: "filler", sessionType: 1, contentType: 101, content: new Uint8Array(256_000).fill(120) });
  const phase = async (name: string, targets: string[], fillUsers: string[] = []) => {
    progress(`slow: ${name}, pushing 16 KB to ${targets.length} users at 20/s for ${phaseMs} ms`);
    await w.call({ cmd: "count" });
    const end = Date.now() + phaseMs;
    for (let i = 0; Date.now() < end; i++) {
      const t = performance.timeOrigin + performance.now();
      const msgData = create(MsgDataSchema, { sendID: "system", recvID: "*", clientMsgID: `p${i}|${t}`, sessionType: 1, contentType: 101, content: body });
      await hub.superGroupOnlineBatchPushOneMsg({ msgData, pushToUserIDs: targets }, { headers: { operationid: `s${i}` } });
      // Extra bytes for the readers that stopped, so their kernel buffers fill and the limit is reached.
      if (fillUsers.length) await hub.superGroupOnlineBatchPushOneMsg({ msgData: filler, pushToUserIDs: fillUsers }, { headers: { operationid: `f${i}` } });
      await Bun.sleep(50);
    }
    await Bun.sleep(500);
    const lat = (await w.call({ cmd: "count" })).latencies as number[];
    return { deliveries: lat.length, p50: round(percentile(lat, 50)), p99: round(percentile(lat, 99)), max: round(Math.max(...lat)) };
  };

  const alone = await phase("fast clients alone", fast.map((u) => u.userID));
  const slowUsers = Array.from({ length: 50 }, (_, i) => `slow${i}`);
  const raws: RawWs[] = [];
  for (const u of slowUsers) {
    const r = await rawConnect(server.ws, `/?sendID=${u}&token=${signToken(SECRET, u, 2, 3600)}&platformID=2&operationID=o&isBackground=false&sdkType=js`);
    r.pause();
    raws.push(r);
  }
  const withSlow = await phase("with 50 clients that never read", [...fast.map((u) => u.userID), ...slowUsers], slowUsers);
  const metrics = await (await fetch(`http://127.0.0.1:${server.admin}/metrics`)).text();
  const closed = Number(metrics.match(/^imgate_slow_consumer_closes_total (\d+)/m)?.[1] ?? 0);
  for (const r of raws) r.socket.destroy();
  await w.call({ cmd: "close" });
  await server.stop();
  writeResult("slow", {
    quick, fastClients: fast.length, slowClients: slowUsers.length, payloadBytes: body.length, slowConsumerLimitBytes: 1 << 20,
    fastAlone: alone, fastWithSlow: withSlow, slowClosed: closed,
    p99Added: round(withSlow.p99 - alone.p99),
  });
}
