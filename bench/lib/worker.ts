// A load-generator process: holds many WebSocket clients and runs what the parent asks over IPC. Several
// workers keep each process under the 20,000 open-file limit.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { MsgDataSchema, PushMessagesSchema } from "../../src/gen/openim/sdkws/sdkws_pb.js";
import { decodeJsonResp, encodeJsonReq } from "../../src/gateway/codec/json.js";
import { handshakeQuery } from "./query.js";

export type WorkerCmd =
  | { cmd: "connect"; url: string; users: { userID: string; platformID: number; token: string }[]; concurrency: number; raw?: boolean; socketio?: boolean; chat?: boolean }
  | { cmd: "chat"; pairs: [string, string][]; ratePerSec: number; durationMs: number }
  | { cmd: "chatClosed"; pairs: [string, string][]; window: number; durationMs: number }
  | { cmd: "churn"; url: string; users: { userID: string; platformID: number; token: string }[]; concurrency: number; durationMs: number }
  | { cmd: "storm"; survivorUrl: string; users: { userID: string; platformID: number; token: string }[]; timeoutMs: number }
  | { cmd: "count" }
  | { cmd: "close" };

const now = () => performance.timeOrigin + performance.now();
const clients = new Map<string, WebSocket>();
/** Socket.IO chat clients: their sends are an event header (text) followed by the binary attachment. */
const socketioClients = new Set<WebSocket>();
let received = 0;
let lastAt = 0;
let firstAt = 0;
const latencies: number[] = [];
/** When each latency sample was sent (ms since the epoch), for latency-over-time plots. */
const latencySentAt: number[] = [];
const replyLatencies: number[] = [];
const pendingReplies = new Map<string, number>();
let sent = 0, errors = 0;

function onFrame(userID: string, data: ArrayBuffer | string, parse: boolean) {
  if (typeof data === "string") return;
  const t = now();
  if (!parse) {
    received++;
    if (!firstAt) firstAt = t;
    lastAt = t;
    return;
  }
  const r = decodeJsonResp(new Uint8Array(data));
  if (r.reqIdentifier === 2001) {
    received++;
    if (!firstAt) firstAt = t;
    lastAt = t;
    const pm = fromBinary(PushMessagesSchema, r.data!);
    const msg = Object.values(pm.msgs)[0]?.Msgs[0];
    const sentAt = msg ? Number(msg.clientMsgID.split("|")[1]) : NaN;
    // Only the recipient's copy counts (the sender's echo carries the same stamp); "*" marks a hub push to all.
    if (msg && sentAt > 0 && (msg.recvID === userID || msg.recvID === "*")) {
      latencies.push(t - sentAt);
      latencySentAt.push(sentAt);
    }
  } else if (r.msgIncr) {
    const s = pendingReplies.get(r.msgIncr);
    if (s !== undefined) {
      pendingReplies.delete(r.msgIncr);
      replyLatencies.push(t - s);
      if (r.errCode !== 0) errors++;
      onReply?.(userID);
    }
  }
}

async function connectAll(c: Extract<WorkerCmd, { cmd: "connect" }>) {
  let i = 0, failed = 0;
  const t0 = now();
  const handshakes: number[] = [];
  const one = () =>
    new Promise<void>((resolve) => {
      const u = c.users[i++]!;
      const start = now();
      const q = c.socketio ? "socket.io/?EIO=4&transport=websocket"
        : c.raw && !c.chat ? "" : handshakeQuery(u);
      const ws = new WebSocket(c.url + q);
      ws.binaryType = "arraybuffer";
      const ready = () => {
        handshakes.push(now() - start);
        clients.set(u.userID, ws);
        resolve();
      };
      if (!c.socketio) ws.onopen = ready;
      else if (c.chat) socketioClients.add(ws);
      ws.onmessage = c.socketio
        ? (e) => {
          // Engine.IO/Socket.IO over WebSocket: "0{…}" open → we join the namespace ("40"); "40…" is the
          // namespace ack (connected); "2" is a ping; an emitted binary message is a text header then a binary frame.
          const d = e.data;
          if (typeof d === "string") {
            if (d.startsWith("0")) ws.send(c.chat ? `40${JSON.stringify({ userID: u.userID })}` : "40");
            else if (d.startsWith("40")) ready();
            else if (d === "2") ws.send("3");
            return;
          }
          onFrame(u.userID, d as ArrayBuffer, !!c.chat);
        }
        : (e) => onFrame(u.userID, e.data as ArrayBuffer, !c.raw || !!c.chat);
      ws.onerror = () => {
        failed++;
        resolve();
      };
    });
  const lanes = Array.from({ length: c.concurrency }, async () => {
    while (i < c.users.length) await one();
  });
  await Promise.all(lanes);
  return { connected: c.users.length - failed, failed, ms: now() - t0, handshakes };
}

const enc = new TextEncoder();
const body = enc.encode('{"content":"hello from the benchmark"}');
let k = 0;
const SOCKETIO_BINARY_EVENT = '451-["m",{"_placeholder":true,"num":0}]';
/** Sends one 1003 from `from` to `to`, stamped with the send time (in clientMsgID) for latency. */
function sendOne(from: string, to: string): boolean {
  const ws = clients.get(from);
  if (!ws || ws.readyState !== WebSocket.OPEN) return false;
  const t = now();
  const msgIncr = `${from}_${k++}`;
  const data = toBinary(MsgDataSchema, create(MsgDataSchema, {
    sendID: from, recvID: to, clientMsgID: `${msgIncr}|${t}`, sessionType: 1, contentType: 101, msgFrom: 100, content: body,
  }));
  pendingReplies.set(msgIncr, t);
  if (socketioClients.has(ws)) ws.send(SOCKETIO_BINARY_EVENT);
  ws.send(encodeJsonReq({ reqIdentifier: 1003, token: "", sendID: from, operationID: `b${k}`, msgIncr, data }));
  sent++;
  return true;
}

/** Open loop at a fixed rate, spread evenly: a few sends every 2 ms, round-robin over the pairs. */
async function chat(c: Extract<WorkerCmd, { cmd: "chat" }>) {
  const t0 = now();
  const end = t0 + c.durationMs;
  let done = 0, next = 0;
  while (now() < end) {
    const due = Math.floor(((now() - t0) / 1000) * c.ratePerSec);
    for (; done < due; done++) {
      const [from, to] = c.pairs[next++ % c.pairs.length]!;
      sendOne(from, to);
    }
    await Bun.sleep(2);
  }
  await Bun.sleep(500);
  return { sent };
}

/** Closed loop: each sender keeps `window` requests outstanding; throughput is what the gateway sustains. */
async function chatClosed(c: Extract<WorkerCmd, { cmd: "chatClosed" }>) {
  const end = now() + c.durationMs;
  const byFrom = new Map(c.pairs);
  onReply = (from) => {
    if (now() < end) sendOne(from, byFrom.get(from)!);
  };
  for (const [from, to] of c.pairs) for (let w = 0; w < c.window; w++) sendOne(from, to);
  await Bun.sleep(c.durationMs + 500);
  onReply = undefined;
  return { sent };
}

let onReply: ((from: string) => void) | undefined;

/** Connect-then-close loops: every iteration is two status events at the gateway (online, offline). */
async function churn(c: Extract<WorkerCmd, { cmd: "churn" }>) {
  const end = now() + c.durationMs;
  let cycles = 0, failures = 0, i = 0;
  const lane = async () => {
    while (now() < end) {
      const u = c.users[i++ % c.users.length]!;
      const ok = await new Promise<boolean>((resolve) => {
        const ws = new WebSocket(c.url + handshakeQuery(u, "c"));
        ws.onopen = () => ws.close();
        ws.onclose = () => resolve(true);
        ws.onerror = () => resolve(false);
      });
      if (ok) cycles++;
      else failures++;
    }
  };
  await Promise.all(Array.from({ length: c.concurrency }, lane));
  return { cycles, failures };
}

/**
 * The connected clients, as the SDKs behave: when the server closes a socket, reconnect at once (to the survivor:
 * a load balancer's next node) and start the sync with a 1001. Resolves when every client is back, or at the timeout,
 * with when each reconnect finished and how long its handshake took (from the close).
 */
async function storm(c: Extract<WorkerCmd, { cmd: "storm" }>) {
  const backAt: number[] = [], handshakeMs: number[] = [], closedAt: number[] = [];
  let failures = 0, remaining = c.users.length;
  const { promise: allBack, resolve } = Promise.withResolvers<void>();
  const reconnect = (u: (typeof c.users)[number], attempt = 0) => {
    const start = now();
    const ws = new WebSocket(c.survivorUrl + handshakeQuery(u, "storm"));
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      handshakeMs.push(now() - start);
      backAt.push(now());
      clients.set(u.userID, ws);
      // The SDK's first request after a reconnect: its max seqs.
      ws.send(encodeJsonReq({ reqIdentifier: 1001, token: "", sendID: u.userID, operationID: "storm", msgIncr: `${u.userID}_s`, data: new Uint8Array() }));
      if (--remaining === 0) resolve();
    };
    ws.onerror = () => {
      failures++;
      if (attempt < 20) setTimeout(() => reconnect(u, attempt + 1), 100);
    };
  };
  for (const u of c.users) {
    const ws = clients.get(u.userID);
    if (!ws) {
      remaining--;
      continue;
    }
    ws.onclose = () => {
      closedAt.push(now());
      reconnect(u);
    };
  }
  await Promise.race([allBack, Bun.sleep(c.timeoutMs)]);
  return { backAt, handshakeMs, closedAt, failures, missing: remaining };
}

process.on("message", async (m: WorkerCmd) => {
  let out: unknown;
  switch (m.cmd) {
    case "connect": out = await connectAll(m); break;
    case "chat": out = await chat(m); break;
    case "chatClosed": out = await chatClosed(m); break;
    case "churn": out = await churn(m); break;
    case "storm": out = await storm(m); break;
    case "count":
      out = { received, firstAt, lastAt, sent, errors, latencies: latencies.splice(0), latencySentAt: latencySentAt.splice(0), replyLatencies: replyLatencies.splice(0) };
      sent = 0;
      errors = 0;
      break;
    case "close":
      for (const ws of clients.values()) ws.close();
      out = { closed: clients.size };
      setTimeout(() => process.exit(0), 50);
      break;
  }
  process.send!({ id: (m as any).id, out });
});
process.send!({ ready: true });
