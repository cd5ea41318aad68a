// Scenario "soak": a mixed load for a bounded time (--seconds, default 60): 1:1 chat at a steady rate, a hub
// fan-out every second, and connection churn. Every 5 s it samples the server's RSS and the window's delivery
// latency; the summary reports the drift between the first and the last windows, and every error.
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { create } from "@bufbuild/protobuf";
import { msgGateway } from "../src/gen/openim/msggateway/msggateway_pb.js";
import { MsgDataSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { percentile, progress, round, startImgate, startWorker, users, writeResult } from "./lib/harness.js";

export interface SoakResult {
  seconds: number;
  windows: { t: number; rssMB: number; delivered: number; p50: number; p99: number }[];
  sent: number;
  delivered: number;
  errors: number;
  pushFailures: number;
  churnCycles: number;
  rssDriftMB: number;
  p99DriftMs: number;
}

export async function runSoak(seconds: number, opts: { write: boolean }): Promise<SoakResult> {
  const server = await startImgate();
  const [chatW, churnW] = [await startWorker(), await startWorker()];
  const people = users("sk", 400);
  await chatW.call({ cmd: "connect", url: `ws://127.0.0.1:${server.ws}/`, users: people, concurrency: 50 });
  const pairs = Array.from({ length: 200 }, (_, i) => [people[2 * i]!.userID, people[2 * i + 1]!.userID] as [string, string]);
  const hub = createClient(msgGateway, createGrpcTransport({ baseUrl: `http://127.0.0.1:${server.rpc}` }));
  const durationMs = seconds * 1000;
  const end = Date.now() + durationMs;
  progress(`soak: ${seconds} s of chat (500 msg/s), fan-out to 400 users every second, churn`);
  const chat = chatW.call({ cmd: "chat", pairs, ratePerSec: 500, durationMs });
  const churn = churnW.call({ cmd: "churn", url: `ws://127.0.0.1:${server.ws}/`, users: users("skc", 200), concurrency: 4, durationMs });
  let pushFailures = 0;
  const fan = (async () => {
    const msgData = create(MsgDataSchema, { sendID: "system", groupID: "soak", sessionType: 3, contentType: 101, content: new TextEncoder().encode('{"content":"s"}') });
    for (let i = 0; Date.now() < end; i++) {
      try {
        await hub.superGroupOnlineBatchPushOneMsg({ msgData, pushToUserIDs: people.map((p) => p.userID) }, { headers: { operationid: `soak${i}` } });
      } catch {
        pushFailures++;
      }
      await Bun.sleep(1000);
    }
  })();
  const windows: SoakResult["windows"] = [];
  let sent = 0, delivered = 0, errors = 0;
  const t0 = Date.now();
  while (Date.now() < end) {
    await Bun.sleep(Math.min(5000, Math.max(0, end - Date.now())));
    const c = await chatW.call({ cmd: "count" });
    const lat = c.latencies as number[];
    sent += c.sent;
    errors += c.errors;
    delivered += lat.length;
    windows.push({ t: round((Date.now() - t0) / 1000, 1), rssMB: round(server.rssKB() / 1024, 1), delivered: lat.length, p50: round(percentile(lat, 50)), p99: round(percentile(lat, 99)) });
    progress(`soak: t=${windows.at(-1)!.t}s rss=${windows.at(-1)!.rssMB}MB p99=${windows.at(-1)!.p99}ms`);
  }
  await Promise.all([chat, fan]);
  const churned = await churn;
  const last = await chatW.call({ cmd: "count" });
  sent += last.sent;
  errors += last.errors;
  delivered += (last.latencies as number[]).length;
  await Promise.all([chatW.call({ cmd: "close" }), churnW.call({ cmd: "close" })]);
  await server.stop();
  const first = windows[0], lastW = windows.at(-1);
  const result: SoakResult = {
    seconds, windows, sent, delivered, errors, pushFailures, churnCycles: churned.cycles,
    rssDriftMB: round((lastW?.rssMB ?? 0) - (first?.rssMB ?? 0), 1),
    p99DriftMs: round((lastW?.p99 ?? 0) - (first?.p99 ?? 0)),
  };
  if (opts.write) writeResult("soak", result as unknown as Record<string, unknown>);
  return result;
}

export async function soak(quick: boolean) {
  const i = process.argv.indexOf("--seconds");
  const seconds = i > 0 ? Number(process.argv[i + 1]) : quick ? 15 : 60;
  if (!Number.isFinite(seconds) || seconds < 5) throw new Error("--seconds must be at least 5");
  await runSoak(seconds, { write: true });
}
