// Online-status subscriptions (2005, §7). A connection subscribed to user X is subscribed to the Bun topic
// p/X/<variant>; a change of X's platforms is encoded once per variant and published. The subscription
// change is applied only after the lookups succeed (the reference applies it first, §9.2.13).
import { create, toBinary } from "@bufbuild/protobuf";
import { SubUserOnlineStatusTipsSchema } from "../gen/openim/sdkws/sdkws_pb.js";
import { Req } from "../protocol/constants.js";
import { ErrCode, codeError } from "../protocol/errors.js";
import type { Conn } from "../sessions/conn.js";
import { VARIANTS, resp } from "./codec/envelope.js";
import { type Outbound, presenceTopic } from "./outbound.js";

export function createSubscriptions(opts: {
  outbound: Outbound;
  lookup: (userIDs: string[]) => Promise<Map<string, number[]>>;
  maxPerConn: () => number;
}) {
  const { outbound } = opts;

  async function update(conn: Conn, subscribe: string[], unsubscribe: string[]) {
    if (subscribe.length === 0 && unsubscribe.length === 0) return [];
    // The cap is applied before anything is looked up: a request naming a million users costs nothing but this.
    const max = opts.maxPerConn();
    if (max > 0 && subscribe.length > max) throw codeError(ErrCode.Args, `at most ${max} subscriptions per connection`);
    const current = conn.subscriptions ?? new Set<string>();
    const next = new Set(current);
    for (const u of unsubscribe) next.delete(u);
    for (const u of subscribe) next.add(u);
    if (max > 0 && next.size > max) throw codeError(ErrCode.Args, `at most ${max} subscriptions per connection`);
    const status = subscribe.length > 0 ? await opts.lookup([...new Set(subscribe)]) : new Map<string, number[]>();
    if (conn.state === "open" && conn.ws) {
      for (const u of current) if (!next.has(u)) conn.ws.unsubscribe(presenceTopic(u, conn.variant));
      for (const u of next) if (!current.has(u)) conn.ws.subscribe(presenceTopic(u, conn.variant));
    }
    conn.subscriptions = next;
    return subscribe.map((userID) => ({ userID, platformIDs: status.get(userID) ?? [] }));
  }

  /** Tells every subscriber of userID its current platforms (empty = offline). */
  function notify(userID: string, platformIDs: number[]) {
    const server = outbound.server();
    if (!server) return;
    let frame: ((v: (typeof VARIANTS)[number]) => Uint8Array) | undefined;
    for (const v of VARIANTS) {
      const topic = presenceTopic(userID, v);
      if (server.subscriberCount(topic) === 0) continue;
      frame ??= outbound.encodeOnce(
        resp(Req.SubUserOnlineStatus, {
          data: toBinary(SubUserOnlineStatusTipsSchema, create(SubUserOnlineStatusTipsSchema, { subscribers: [{ userID, onlinePlatformIDs: platformIDs }] })),
        }),
      );
      outbound.publish(topic, frame(v));
    }
  }

  return { update, notify };
}

export type Subscriptions = ReturnType<typeof createSubscriptions>;
