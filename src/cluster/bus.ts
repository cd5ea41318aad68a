// Node-to-node messages over Redis pub/sub (sharded on a Redis Cluster: pubsub.ts): each node listens on imgate:node:<id>; a request carries an id
// and the sender's node so the answer comes back on the sender's channel. Requests time out (fail fast), so a
// dead node or a dead Redis costs a bounded wait, never a hang.
// The messages are one discriminated union (BusMessage) with the answer each request gets (BusAnswer). On the
// wire a frame is binary: a 4-byte length, a JSON header, then the payload bytes (a push's MsgData as stored,
// not base64 inside JSON). A frame that is JSON text (what nodes before this format sent) is still read.
import type { PubSub } from "./pubsub.js";

export const nodeChannel = (nodeID: string) => `imgate:node:${nodeID}`;

/** What one node asks or tells another. */
export type BusMessage =
  | { t: "push"; msg: Uint8Array; users: string[]; op: string }
  | { t: "kick"; userID: string; platformID: number }
  | { t: "login"; userID: string; platformID: number; token: string; op: string }
  | { t: "status"; userIDs: string[] };

/** The answer a request of each kind gets; `unknown` for the ones only ever sent one-way. */
export interface BusAnswers {
  push: { userID: string; resp: { resultCode: number; recvPlatformID: number }[]; onlinePush: boolean }[];
  kick: number;
  login: unknown;
  status: [string, { platformID: number; connID: string; isBackground: boolean; token: string }[]][];
}

/** A received message: the sender, and the id to answer when it is a request. */
export type Received = BusMessage & { from: string; id?: number };

interface Header {
  t: BusMessage["t"];
  from: string;
  id?: number;
  reply?: boolean;
  /** Every field of the message but the payload (and, for a reply, the answer as `body`). */
  [k: string]: unknown;
}

/** header length (u32, big-endian) | header JSON | payload. */
export function encodeFrame(header: Header, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const head = Buffer.from(JSON.stringify(header));
  const frame = Buffer.allocUnsafe(4 + head.length + payload.length);
  frame.writeUInt32BE(head.length, 0);
  head.copy(frame, 4);
  frame.set(payload, 4 + head.length);
  return frame;
}

/** The header and payload of a frame; a JSON-text frame (the older format) is read too, its push payload from base64. */
export function decodeFrame(raw: Buffer): { header: Header; payload: Uint8Array } | undefined {
  try {
    if (raw[0] === 0x7b /* { */) {
      const header = JSON.parse(raw.toString("utf8")) as Header;
      const payload = typeof header.msg === "string" ? Buffer.from(header.msg, "base64") : new Uint8Array(0);
      return { header, payload };
    }
    const n = raw.readUInt32BE(0);
    if (4 + n > raw.length) return undefined;
    return { header: JSON.parse(raw.subarray(4, 4 + n).toString("utf8")) as Header, payload: raw.subarray(4 + n) };
  } catch {
    return undefined;
  }
}

function toFrame(m: BusMessage, from: string, id?: number): Buffer {
  if (m.t === "push") {
    const { msg, ...rest } = m;
    return encodeFrame({ ...rest, from, ...(id !== undefined ? { id } : {}) }, msg);
  }
  return encodeFrame({ ...m, from, ...(id !== undefined ? { id } : {}) });
}

function fromFrame(header: Header, payload: Uint8Array): Received | undefined {
  const { t, from, id } = header;
  if (typeof from !== "string") return undefined;
  const base = { from, ...(typeof id === "number" ? { id } : {}) };
  switch (t) {
    case "push":
      return { ...base, t, msg: payload, users: header.users as string[], op: header.op as string };
    case "kick":
      return { ...base, t, userID: header.userID as string, platformID: header.platformID as number };
    case "login":
      return { ...base, t, userID: header.userID as string, platformID: header.platformID as number, token: header.token as string, op: header.op as string };
    case "status":
      return { ...base, t, userIDs: header.userIDs as string[] };
  }
  return undefined;
}

export function createBus(opts: {
  nodeID: string;
  pubsub: PubSub;
  handle: (m: Received) => Promise<unknown> | unknown;
  onError?: (err: unknown) => void;
}) {
  const { nodeID, pubsub } = opts;
  const channel = nodeChannel(nodeID);
  let nextId = 1;
  const waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }>();

  // Settles once this node's channel is subscribed: before that, peers' requests to it would be lost.
  const ready = pubsub.subscribe(channel, async (raw: Buffer) => {
    const frame = decodeFrame(raw);
    if (!frame) return;
    const { header, payload } = frame;
    if (header.reply && header.id !== undefined) {
      const w = waiting.get(header.id);
      if (!w) return;
      waiting.delete(header.id);
      clearTimeout(w.timer);
      w.resolve(header.body);
      return;
    }
    const m = fromFrame(header, payload);
    if (!m) return;
    try {
      const body = await opts.handle(m);
      if (m.id !== undefined) await pubsub.publish(nodeChannel(m.from), encodeFrame({ t: m.t, from: nodeID, id: m.id, reply: true, body }));
    } catch (err) {
      opts.onError?.(err);
    }
  }).catch((e) => opts.onError?.(e));

  return {
    /** Resolves once the node's channel is subscribed (a subscribe that failed resolves too, after onError). */
    ready,
    /** Fire and forget. */
    async send(to: string, m: BusMessage): Promise<void> {
      await pubsub.publish(nodeChannel(to), toFrame(m, nodeID));
    },
    /** A request answered by the other node's handler, or rejected after timeoutMs. */
    request<M extends BusMessage>(to: string, m: M, timeoutMs: number): Promise<BusAnswers[M["t"]]> {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`node ${to} did not answer ${m.t} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(id, { resolve, reject, timer });
        pubsub.publish(nodeChannel(to), toFrame(m, nodeID, id)).catch((e: Error) => {
          clearTimeout(timer);
          waiting.delete(id);
          reject(e);
        });
      });
    },
    async close() {
      for (const w of waiting.values()) {
        clearTimeout(w.timer);
        w.reject(new Error("bus closed"));
      }
      waiting.clear();
      await pubsub.unsubscribe(channel).catch(() => {});
    },
  };
}

export type Bus = ReturnType<typeof createBus>;
