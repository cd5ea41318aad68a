import type { ServerWebSocket } from "bun";
import type { CodecName, Variant } from "../protocol/wire.js";
import type { CodeError } from "../protocol/errors.js";
import type { TokenBucket } from "./limits.js";

/** One WebSocket connection: the state kept on ws.data. Identity is `id`, never the remote address. */
export interface Conn {
  id: number;
  /** OpenIM's connID: md5(remoteAddr + "_" + unix ms), reported to the hub and logs. */
  connID: string;
  userID: string;
  platformID: number;
  token: string;
  /** Where the auth backend verified the token (0: it keeps none): handed back at close, for a cheap reconnect. */
  verifiedAt: number;
  operationID: string;
  codec: CodecName;
  gzip: boolean;
  variant: Variant;
  sdkType: "go" | "js";
  sdkVersion: string;
  isMsgResp: boolean;
  isBackground: boolean;
  remoteAddr: string;
  connectedAt: number;
  /** Last time anything arrived (data, ping, pong, text heartbeat): the read deadline counts from here. */
  lastSeen: number;
  lastPing: number;
  inflight: number;
  /** One per request in flight: cancelled at the request's deadline or when the connection closes (allocated on demand). */
  aborts?: Set<{ cancel(why: Error): void }>;
  /** "open" once registered; "closing" after a kick/logout/error until the socket's close handler. */
  state: "handshake" | "open" | "closing" | "closed";
  /** A token failure to report as a text frame after the upgrade (isMsgResp mode). */
  handshakeError?: CodeError;
  /** Users this connection watches (2005); created on first use, most connections never subscribe. */
  subscriptions?: Set<string>;
  /** Client address (without port) counted by the per-address limit; "" when it is exempt (loopback by default). */
  ip: string;
  /** Per-connection rate limits, when configured (made at the first frame after a start or a reload). */
  requestBucket?: TokenBucket;
  byteBucket?: TokenBucket;
  /** Refusals (1650) answered; a client past this bucket is closed instead. */
  refusalBucket?: TokenBucket;
  ws?: ServerWebSocket<Conn>;
  /** Pushes waiting for the end of this event-loop turn (outbound.push); undefined when none. */
  pushQueue?: Uint8Array[];
}
