// Redis pub/sub as the bus and the status store use it, classic or sharded. On a Redis Cluster, classic PUBLISH is
// copied to every shard of the cluster (each shard's CPU pays for every message); sharded pub/sub (SPUBLISH /
// SSUBSCRIBE, Redis >= 7) sends a channel's messages to the one shard that owns its slot, so node channels spread
// over the shards and the cost scales with them. Classic stays for standalone and Sentinel, and for the channels
// OpenIM's own services read (online_change outside the cluster shape).
//
// A subscription can be lost without an error (a failover or a slot migration that the client library does not
// follow): every channel checks itself by publishing a probe to itself; one that does not come back in time is
// counted and subscribed again.
import { Cluster } from "ioredis";
import type { PubSub } from "../backend/ports.js";
import type { RedisClient } from "./redis.js";

export type { PubSub };

/** A probe frame: never a valid bus frame or online_change message (both start otherwise). */
const PROBE = Buffer.from("\u0000imgate-probe:");

export function isSharded(client: RedisClient): boolean {
  return client instanceof Cluster;
}

export function createPubSub(opts: {
  pub: RedisClient;
  sub: RedisClient;
  /** SPUBLISH/SSUBSCRIBE; needs a Cluster created with shardedSubscribers for `sub`. */
  sharded: boolean;
  /** How often each channel probes itself; 0 = never. */
  probeEveryMs?: number;
  onError?: (err: unknown) => void;
  onResubscribe?: (channel: string) => void;
}): PubSub {
  const { pub, sub, sharded } = opts;
  const handlers = new Map<string, (raw: Buffer) => void>();
  /** Per channel: the probe id awaited, and when it was sent. */
  const awaiting = new Map<string, { id: string; at: number }>();
  let resubscribes = 0;
  let probeSeq = 0;

  const onRaw = (ch: Buffer, raw: Buffer) => {
    const channel = ch.toString();
    const h = handlers.get(channel);
    if (!h) return;
    if (raw.length >= PROBE.length && raw.subarray(0, PROBE.length).equals(PROBE)) {
      if (awaiting.get(channel)?.id === raw.subarray(PROBE.length).toString()) awaiting.delete(channel);
      return;
    }
    h(raw);
  };
  sub.on(sharded ? "smessageBuffer" : "messageBuffer", onRaw);

  const doSubscribe = (channel: string) => (sharded ? (sub as Cluster).ssubscribe(channel) : sub.subscribe(channel));
  const doUnsubscribe = (channel: string) => (sharded ? (sub as Cluster).sunsubscribe(channel) : sub.unsubscribe(channel));
  const publish = (channel: string, message: Buffer | string) =>
    (sharded ? (pub as Cluster).spublish(channel, message) : pub.publish(channel, message)) as Promise<number>;

  const every = opts.probeEveryMs ?? 0;
  const probe = every > 0 ? setInterval(() => {
    const now = Date.now();
    for (const channel of handlers.keys()) {
      const waiting = awaiting.get(channel);
      if (waiting && now - waiting.at >= every) {
        // The last probe never came back: the subscription is gone though no error said so.
        resubscribes++;
        opts.onResubscribe?.(channel);
        awaiting.delete(channel);
        void Promise.resolve(doUnsubscribe(channel)).catch(() => {}).then(() => doSubscribe(channel)).catch((e) => opts.onError?.(e));
        continue;
      }
      // Only while Redis answers: a probe that cannot be sent proves nothing about the subscription.
      if (pub.status !== "ready") continue;
      const id = `${++probeSeq}`;
      awaiting.set(channel, { id, at: now });
      publish(channel, Buffer.concat([PROBE, Buffer.from(id)])).catch(() => awaiting.delete(channel));
    }
  }, every) : undefined;
  probe?.unref?.();

  return {
    sharded,
    publish,
    async subscribe(channel, onMessage) {
      handlers.set(channel, onMessage);
      await doSubscribe(channel);
    },
    async unsubscribe(channel) {
      handlers.delete(channel);
      awaiting.delete(channel);
      await doUnsubscribe(channel);
    },
    resubscribes: () => resubscribes,
    async close() {
      clearInterval(probe);
      sub.off(sharded ? "smessageBuffer" : "messageBuffer", onRaw);
      await Promise.all([...handlers.keys()].map((c) => Promise.resolve(doUnsubscribe(c)).catch(() => {})));
      handlers.clear();
    },
  };
}
