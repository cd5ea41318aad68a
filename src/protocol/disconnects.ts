// Why the gateway closes a connection, as one table: the close frame's code and reason, whether the client should
// reconnect, and the name used as the metric label and in logs. A closed set of names, so a hostile client cannot
// grow the metric's label set or the log with free text (OpenIM closes without a close frame; clients only see
// "closed", the code and reason are for people reading captures and dashboards).
export interface Disconnect {
  code: number;
  reason: string;
  /** Whether reconnecting makes sense (false: the same connection would be closed again, or was told to leave). */
  reconnect: boolean;
}

export const Disconnects = {
  logout: { code: 1000, reason: "logout", reconnect: false },
  undecodable: { code: 1002, reason: "undecodable frame", reconnect: true },
  badGzip: { code: 1002, reason: "bad gzip frame", reconnect: true },
  badText: { code: 1002, reason: "text frames carry only heartbeats", reconnect: true },
  byteRate: { code: 1008, reason: "byte rate limit exceeded", reconnect: true },
  requestRate: { code: 1008, reason: "request rate limit exceeded again and again", reconnect: true },
  sendIDMismatch: { code: 1008, reason: "sendID does not match the connection's user", reconnect: false },
  unknownRequest: { code: 1008, reason: "unknown reqIdentifier", reconnect: true },
  tooManyInFlight: { code: 1008, reason: "too many requests in flight", reconnect: true },
  inflatedTooLarge: { code: 1009, reason: "inflated frame too large", reconnect: true },
  restart: { code: 1012, reason: "server shutting down", reconnect: true },
  kicked: { code: 4001, reason: "kicked", reconnect: false },
  authFailed: { code: 4003, reason: "authentication failed", reconnect: false },
  /** No close frame is sent: the socket is terminated (its buffer is full, a frame would never be read). */
  slowConsumer: { code: 4008, reason: "slow consumer", reconnect: true },
  readDeadline: { code: 4009, reason: "read deadline passed", reconnect: true },
} as const satisfies Record<string, Disconnect>;

export type DisconnectKind = keyof typeof Disconnects;
