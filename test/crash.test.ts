// kill -9 at random points of a chat load, three times over: after each restart every acknowledged message is
// there, and every conversation's seqs run 1..max with no gap and no duplicate.
import { afterAll, expect, test } from "bun:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SendMsgRespSchema } from "../src/gen/openim/msg/msg_pb.js";
import { GetMaxSeqReqSchema, GetMaxSeqRespSchema, PullMessageBySeqsReqSchema, PullMessageBySeqsRespSchema } from "../src/gen/openim/sdkws/sdkws_pb.js";
import { type TestClient, connect } from "./support/client.js";
import { textMsg } from "./support/pb.js";
import { type Served, runCli, serveProcess } from "./support/proc.js";
import { rng } from "./support/fuzz.js";

const dir = mkdtempSync(join(tmpdir(), "imgate-crash-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("no acknowledged message is lost and seqs stay contiguous across kill -9", async () => {
  const r = rng(Number(process.env.FUZZ_SEED ?? 99));
  const users = ["k1", "k2", "k3", "k4"];
  const acked = new Map<string, string>(); // clientMsgID → conversation
  const tokens = new Map<string, string>();
  let server: Served | undefined;
  for (let round = 0; round < 3; round++) {
    server = await serveProcess(dir, ["--multi-login-policy", "0"]);
    for (const u of users) tokens.set(u, runCli(["token", "-u", u, "-p", "5", "--data-dir", dir]).stdout.trim());
    const clients: TestClient[] = await Promise.all(users.map((u) => connect({ port: server!.ws, userID: u, platformID: 5, token: tokens.get(u)!, sdkType: "js" })));
    const stopAt = Date.now() + 300 + r.int(700);
    const senders = clients.map(async (c, i) => {
      let k = 0;
      while (Date.now() < stopAt) {
        const to = users[(i + 1 + (k % 3)) % users.length]!;
        const clientMsgID = `r${round}-${c.opts.userID}-${k++}`;
        try {
          const reply = await c.request(1003, textMsg(c.opts.userID, to, clientMsgID, { clientMsgID }));
          if (reply.errCode === 0 && fromBinary(SendMsgRespSchema, reply.data!).clientMsgID === clientMsgID)
            acked.set(clientMsgID, `si_${[c.opts.userID, to].sort().join("_")}`);
        } catch {
          return; // the server died under us: unacknowledged, may or may not be stored
        }
      }
    });
    await Bun.sleep(stopAt - Date.now() - 50);
    server.proc.kill("SIGKILL"); // mid-traffic
    await server.proc.exited;
    await Promise.all(senders);
  }
  // Restart once more and read everything back, as the admin user (allowed to read any user's conversations).
  server = await serveProcess(dir);
  const admin = await connect({ port: server.ws, userID: "imAdmin", platformID: 10, token: runCli(["token", "-u", "imAdmin", "-p", "10", "--data-dir", dir]).stdout.trim(), sdkType: "js" });
  const stored = new Set<string>();
  for (const u of users) {
    const seqs = fromBinary(GetMaxSeqRespSchema, (await admin.request(1001, toBinary(GetMaxSeqReqSchema, create(GetMaxSeqReqSchema, { userID: u })))).data!);
    for (const [conv, max] of Object.entries(seqs.maxSeqs)) {
      const got = await admin.request(1002, toBinary(PullMessageBySeqsReqSchema, create(PullMessageBySeqsReqSchema, {
        userID: u, seqRanges: [{ conversationID: conv, begin: 1n, end: max, num: max }],
      })));
      const msgs = fromBinary(PullMessageBySeqsRespSchema, got.data!).msgs[conv]!.Msgs;
      expect(msgs.map((m) => Number(m.seq))).toEqual(Array.from({ length: Number(max) }, (_, i) => i + 1));
      expect(new Set(msgs.map((m) => m.clientMsgID)).size).toBe(msgs.length);
      for (const m of msgs) stored.add(m.clientMsgID);
    }
  }
  expect(acked.size).toBeGreaterThan(20);
  const missing = [...acked.keys()].filter((id) => !stored.has(id));
  expect(missing).toEqual([]);
  console.log(`crash safety: 3 kill -9, ${acked.size} acknowledged messages, ${stored.size} stored, 0 missing`);
  server.proc.kill("SIGTERM");
  await server.proc.exited;
}, 60_000);
