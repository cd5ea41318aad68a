// Read deadlines and pings: one timer for every connection instead of one each. OpenIM pings only Web (platform 5);
// we ping every connection that has been silent for the ping period, because OpenIM's own wasm Go core sends no
// heartbeat on the wire (its socket layer drops ping writes) and would otherwise be cut by the read deadline every
// ~31 s on any other platform. Every WebSocket stack answers control pings (docs/compatibility.md).
import type { Config } from "../config/schema.js";
import type { Conn } from "../sessions/conn.js";
import type { Registry } from "../sessions/registry.js";

export function startSweeper(registry: Registry, ws: Config["ws"], onDeadline: (conn: Conn) => void): { stop(): void } {
  const timer = setInterval(() => {
    // Read at each sweep: pongWaitSeconds and pingPeriodSeconds are bound at start today, but nothing here keeps them.
    const pongWait = ws.pongWaitSeconds * 1000, pingPeriod = ws.pingPeriodSeconds * 1000;
    const now = Date.now();
    for (const conn of registry.allConns()) {
      if (now - conn.lastSeen > pongWait) onDeadline(conn);
      else if (now - conn.lastSeen >= pingPeriod && now - conn.lastPing >= pingPeriod) {
        conn.lastPing = now;
        conn.ws?.ping();
      }
    }
  }, 1000);
  timer.unref?.();
  return { stop: () => clearInterval(timer) };
}
