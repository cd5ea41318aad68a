// Node-to-node messages over Redis pub/sub: each node listens on imgate:node:<id>; a request carries an id
// and the sender's node so the answer comes back on the sender's channel. Requests time out (fail fast), so a
// dead node or a dead Redis costs a bounded wait, never a hang.
import type { RedisClient } from "./redis.js";

export const nodeChannel = (nodeID: string) => `imgate:node:${nodeID}`;

export interface Envelope {
  t: string;
  from: string;
  id?: number;
  reply?: boolean;
  [k: string]: unknown;
}

export function createBus(opts: {
  nodeID: string;
  pub: RedisClient;
  sub: RedisClient;
  handle: (m: Envelope) => Promise<unknown> | unknown;
  onError?: (err: unknown) => void;
}) {
  const { nodeID, pub, sub } = opts;
  let nextId = 1;
  const waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }>();

  sub.subscribe(nodeChannel(nodeID)).catch((e) => opts.onError?.(e));
  sub.on("message", async (channel: string, raw: string) => {
    if (channel !== nodeChannel(nodeID)) return;
    let m: Envelope;
    try {
      m = JSON.parse(raw);
    } catch {
      return;
    }
    if (m.reply && m.id !== undefined) {
      const w = waiting.get(m.id);
      if (!w) return;
      waiting.delete(m.id);
      clearTimeout(w.timer);
      w.resolve(m.body);
      return;
    }
    try {
      const body = await opts.handle(m);
      if (m.id !== undefined) await pub.publish(nodeChannel(m.from), JSON.stringify({ t: m.t, from: nodeID, id: m.id, reply: true, body }));
    } catch (err) {
      opts.onError?.(err);
    }
  });

  return {
    /** Fire and forget. */
    async send(to: string, m: Omit<Envelope, "from">): Promise<void> {
      await pub.publish(nodeChannel(to), JSON.stringify({ ...m, from: nodeID }));
    },
    /** A request answered by the other node's handler, or rejected after timeoutMs. */
    request<T>(to: string, m: Omit<Envelope, "from" | "id">, timeoutMs: number): Promise<T> {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`node ${to} did not answer ${m.t} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(id, { resolve, reject, timer });
        pub.publish(nodeChannel(to), JSON.stringify({ ...m, from: nodeID, id })).catch((e: Error) => {
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
      await sub.unsubscribe(nodeChannel(nodeID)).catch(() => {});
    },
  };
}

export type Bus = ReturnType<typeof createBus>;
