// Everything that writes to a socket goes through here, so every send result is checked: a frame Bun
// reports as dropped, or a socket whose buffer passes the slow-consumer limit, closes that connection
// with a counted reason. Nothing is dropped silently.
import type { Server } from "bun";
import type { Conn } from "../sessions/conn.js";
import type { Counters } from "../observe/stats.js";
import type { Logger } from "../observe/log.js";
import { type Variant, type WireResp, encodeResp } from "./codec/envelope.js";
import { Disconnects } from "../protocol/disconnects.js";

export function presenceTopic(userID: string, variant: Variant): string {
  return `p/${userID}/${variant}`;
}

export interface Outbound {
  sendResp(conn: Conn, resp: WireResp): boolean;
  /** Sends an already-encoded frame of the connection's variant. */
  sendFrame(conn: Conn, frame: Uint8Array): boolean;
  sendText(conn: Conn, text: string): boolean;
  /**
   * Queues a frame (a push, a reply) for the end of this event-loop turn; false when the connection is not
   * open. Every frame queued for one connection in a turn goes out in one corked write, as uWS does for topic
   * publishes: concurrent fan-outs, and a reply with the sender's own echo, cost one syscall per socket. Any
   * direct send or close on the connection writes its queue first, so order is kept.
   */
  queue(conn: Conn, frame: Uint8Array): boolean;
  /** queue() of a response in the connection's codec. */
  queueResp(conn: Conn, resp: WireResp): boolean;
  /**
   * queue() written now instead of at the end of the turn (what it queued for the connection goes first): for
   * large pushes, whose writes must count against their slice of the turn. No per-frame bookkeeping either.
   */
  write(conn: Conn, frame: Uint8Array): boolean;
  /** Graceful close: frames already queued go out first. */
  close(conn: Conn, code: number, reason: string): void;
  /** server.publish with the byte count recorded. */
  publish(topic: string, frame: Uint8Array): number;
  encodeOnce(resp: WireResp): (v: Variant) => Uint8Array;
  server(): Server<Conn> | undefined;
}

export function createOutbound(opts: {
  server: () => Server<Conn> | undefined;
  /** Read on every write, so a config reload applies at once. */
  slowConsumerBytes: () => number;
  counters: Counters;
  log: Logger;
}): Outbound {
  const { counters, log } = opts;

  const closeSlow = (conn: Conn, why: string) => {
    if (conn.state === "closed") return;
    counters.slowConsumerCloses++;
    const d = Disconnects.slowConsumer;
    log.warn("closing slow consumer", { connID: conn.connID, userID: conn.userID, why, buffered: conn.ws?.getBufferedAmount(), code: d.code, reconnect: d.reconnect });
    conn.state = "closing";
    // Its buffer is full, so a close frame would never be read: free the socket now.
    conn.ws?.terminate();
  };

  const check = (conn: Conn, n: number): boolean => {
    if (n === 0) {
      closeSlow(conn, "send dropped by backpressure");
      return false;
    }
    if (n === -1 && conn.ws!.getBufferedAmount() > opts.slowConsumerBytes()) {
      closeSlow(conn, "buffered bytes over the slow-consumer limit");
      return false;
    }
    if (n > 0) counters.bytesOut += n;
    counters.messagesOut++;
    return true;
  };

  /** Before a push is taken: a socket already over the limit is closed now, not reported as taking it. */
  const closedOverLimit = (conn: Conn): boolean => {
    if (conn.ws!.getBufferedAmount() <= opts.slowConsumerBytes()) return false;
    closeSlow(conn, "buffered bytes over the slow-consumer limit");
    return true;
  };

  const live = (conn: Conn) => conn.ws !== undefined && (conn.state === "open" || conn.state === "closing" || conn.state === "handshake");

  let queued: Conn[] = [];
  /** Writes what is queued for one connection, corked into one write when there is more than one frame. */
  const drain = (c: Conn) => {
    const q = c.pushQueue;
    if (!q) return;
    c.pushQueue = undefined;
    if (!live(c)) return;
    if (q.length === 1) check(c, c.ws!.sendBinary(q[0]!));
    else c.ws!.cork(() => {
      for (const f of q) if (!check(c, c.ws!.sendBinary(f))) break;
    });
  };
  const flushQueued = () => {
    const list = queued;
    queued = [];
    for (const c of list) drain(c);
  };

  const out: Outbound = {
    queue(conn, frame) {
      if (conn.state !== "open" || !conn.ws) return false;
      if (conn.pushQueue) conn.pushQueue.push(frame);
      else {
        // Once per connection per turn.
        if (closedOverLimit(conn)) return false;
        conn.pushQueue = [frame];
        if (queued.push(conn) === 1) setImmediate(flushQueued);
      }
      return true;
    },
    write(conn, frame) {
      if (conn.state !== "open" || !conn.ws) return false;
      if (conn.pushQueue) {
        conn.pushQueue.push(frame);
        drain(conn);
        return conn.state === "open";
      }
      if (closedOverLimit(conn)) return false;
      return check(conn, conn.ws.sendBinary(frame));
    },
    queueResp(conn, resp) {
      return out.queue(conn, encodeResp(conn.variant, resp));
    },
    sendResp(conn, resp) {
      return out.sendFrame(conn, encodeResp(conn.variant, resp));
    },
    sendFrame(conn, frame) {
      if (conn.pushQueue) drain(conn);
      if (!live(conn)) return false;
      return check(conn, conn.ws!.sendBinary(frame));
    },
    sendText(conn, text) {
      if (conn.pushQueue) drain(conn);
      if (!live(conn)) return false;
      return check(conn, conn.ws!.sendText(text));
    },
    close(conn, code, reason) {
      if (conn.pushQueue) drain(conn);
      if (conn.state === "closed") return;
      conn.state = "closing";
      conn.ws?.close(code, reason);
    },
    publish(topic, frame) {
      const server = opts.server();
      if (!server) return 0;
      const n = server.publish(topic, frame);
      if (n > 0) counters.bytesOut += n;
      return n;
    },
    encodeOnce(resp) {
      const cache = new Map<Variant, Uint8Array>();
      return (v) => {
        let f = cache.get(v);
        if (!f) cache.set(v, (f = encodeResp(v, resp)));
        return f;
      };
    },
    server: opts.server,
  };
  return out;
}
