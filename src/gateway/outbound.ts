// Everything that writes to a socket goes through here, so every send result is checked: a frame Bun
// reports as dropped, or a socket whose buffer passes the slow-consumer limit, closes that connection
// with a counted reason. Nothing is dropped silently.
import type { Server } from "bun";
import type { Conn } from "../sessions/conn.js";
import type { Counters } from "../observe/stats.js";
import type { Logger } from "../observe/log.js";
import { type Variant, type WireResp, encodeResp } from "./codec/envelope.js";

export function userTopic(userID: string, variant: Variant): string {
  return `u/${userID}/${variant}`;
}

export function presenceTopic(userID: string, variant: Variant): string {
  return `p/${userID}/${variant}`;
}

export interface Outbound {
  sendResp(conn: Conn, resp: WireResp): boolean;
  /** Sends an already-encoded frame of the connection's variant. */
  sendFrame(conn: Conn, frame: Uint8Array): boolean;
  sendText(conn: Conn, text: string): boolean;
  /** Graceful close: frames already queued go out first. */
  close(conn: Conn, code: number, reason: string): void;
  /** True when the socket is open and under the slow-consumer limit; otherwise closes it as slow. */
  writable(conn: Conn): boolean;
  /** server.publish with the byte count recorded. */
  publish(topic: string, frame: Uint8Array): number;
  setUserDelivery(conn: Conn, on: boolean): void;
  encodeOnce(resp: WireResp): (v: Variant) => Uint8Array;
  server(): Server<Conn> | undefined;
}

export function createOutbound(opts: {
  server: () => Server<Conn> | undefined;
  slowConsumerBytes: number;
  counters: Counters;
  log: Logger;
}): Outbound {
  const { counters, log } = opts;

  const closeSlow = (conn: Conn, why: string) => {
    if (conn.state === "closed") return;
    counters.slowConsumerCloses++;
    log.warn("closing slow consumer", { connID: conn.connID, userID: conn.userID, why, buffered: conn.ws?.getBufferedAmount() });
    conn.state = "closing";
    // Its buffer is full, so a close frame would never be read: free the socket now.
    conn.ws?.terminate();
  };

  const check = (conn: Conn, n: number): boolean => {
    if (n === 0) {
      closeSlow(conn, "send dropped by backpressure");
      return false;
    }
    if (n === -1 && conn.ws!.getBufferedAmount() > opts.slowConsumerBytes) {
      closeSlow(conn, "buffered bytes over the slow-consumer limit");
      return false;
    }
    if (n > 0) counters.bytesOut += n;
    counters.messagesOut++;
    return true;
  };

  const live = (conn: Conn) => conn.ws !== undefined && (conn.state === "open" || conn.state === "closing" || conn.state === "handshake");

  const out: Outbound = {
    sendResp(conn, resp) {
      return out.sendFrame(conn, encodeResp(conn.variant, resp));
    },
    sendFrame(conn, frame) {
      if (!live(conn)) return false;
      return check(conn, conn.ws!.sendBinary(frame));
    },
    sendText(conn, text) {
      if (!live(conn)) return false;
      return check(conn, conn.ws!.sendText(text));
    },
    close(conn, code, reason) {
      if (conn.state === "closed") return;
      conn.state = "closing";
      conn.ws?.close(code, reason);
    },
    writable(conn) {
      if (conn.state !== "open" || !conn.ws) return false;
      if (conn.ws.getBufferedAmount() > opts.slowConsumerBytes) {
        closeSlow(conn, "buffered bytes over the slow-consumer limit");
        return false;
      }
      return true;
    },
    publish(topic, frame) {
      const server = opts.server();
      if (!server) return 0;
      const n = server.publish(topic, frame);
      if (n > 0) counters.bytesOut += n;
      return n;
    },
    setUserDelivery(conn, on) {
      if (!conn.ws || conn.state === "closed") return;
      const topic = userTopic(conn.userID, conn.variant);
      if (on) conn.ws.subscribe(topic);
      else conn.ws.unsubscribe(topic);
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
