// Structured logs: one JSON object per line (or a readable line on a terminal). Child loggers carry
// bindings such as connID and operationID so every line about a connection names it.
import { writeSync } from "node:fs";
import type { LogLevel } from "../config/schema.js";

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(bindings: Record<string, unknown>): Logger;
  enabled(level: LogLevel): boolean;
  /** Changes level and format for this logger and every child (a config reload). */
  configure(opts: { level: LogLevel; format: "auto" | "json" | "pretty" }): void;
}

/** Keys whose values never reach a log line. */
const redacted = new Set(["token", "secret", "password", "authorization", "rpcToken"]);

export function createLogger(opts: {
  level: LogLevel;
  format: "auto" | "json" | "pretty";
  write?: (line: string) => void;
  bindings?: Record<string, unknown>;
}): Logger {
  const isPretty = (format: string) => format === "pretty" || (format === "auto" && !opts.write && process.stdout.isTTY === true);
  // Shared by the logger and its children, so a reload reaches every line written from then on.
  const state = { min: rank[opts.level], pretty: isPretty(opts.format) };
  const write = opts.write ?? writeStdout;
  const make = (bindings: Record<string, unknown>): Logger => {
    const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
      if (rank[level] < state.min) return;
      const rec: Record<string, unknown> = { time: new Date().toISOString(), level, msg, ...bindings, ...fields };
      for (const k of Object.keys(rec)) if (redacted.has(k)) rec[k] = "[redacted]";
      if (rec.err instanceof Error) rec.err = rec.err.message;
      write(state.pretty ? prettyLine(rec) : JSON.stringify(rec));
    };
    return {
      debug: (m, f) => emit("debug", m, f),
      info: (m, f) => emit("info", m, f),
      warn: (m, f) => emit("warn", m, f),
      error: (m, f) => emit("error", m, f),
      child: (b) => make({ ...bindings, ...b }),
      enabled: (level) => rank[level] >= state.min,
      configure: (o) => {
        state.min = rank[o.level];
        state.pretty = isPretty(o.format);
      },
    };
  };
  return make(opts.bindings ?? {});
}

/** Synchronous, so the last lines before process.exit are not lost; a full pipe falls back to the async path. */
function writeStdout(line: string): void {
  try {
    writeSync(1, line + "\n");
  } catch {
    process.stdout.write(line + "\n");
  }
}

function prettyLine(rec: Record<string, unknown>): string {
  const { time, level, msg, ...rest } = rec;
  const extra = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === "string" ? quoted(v) : JSON.stringify(v)}`)
    .join(" ");
  return `${String(time).slice(11, 23)} ${String(level).toUpperCase().padEnd(5)} ${quoted(String(msg), false)}${extra ? "  " + extra : ""}`;
}

/** A value as it goes into a pretty line: quoted and escaped when it holds a control character (a newline from a
 *  client could otherwise forge a log line), a space or a quote; plain otherwise. */
function quoted(v: string, spaces = true): string {
  // eslint-disable-next-line no-control-regex
  const risky = spaces ? /[\u0000-\u0020"\\\u007f\u2028\u2029]/ : /[\u0000-\u001f\u007f\u2028\u2029]/;
  return risky.test(v) ? JSON.stringify(v) : v;
}

export const silentLogger: Logger = createLogger({ level: "error", format: "json", write: () => {} });

/**
 * A warn logger for events a client can trigger at will (protocol errors): at most `perWindow` lines per key in
 * each window of `windowMs`, then one line saying how many were left out. Counters and metrics still see them all.
 */
export function rateLimitedLog(log: Logger, perWindow: number, windowMs: number, now: () => number = Date.now) {
  const windows = new Map<string, { start: number; count: number }>();
  return (key: string, msg: string, fields: Record<string, unknown>) => {
    const t = now();
    let w = windows.get(key);
    if (!w || t - w.start >= windowMs) {
      if (w && w.count > perWindow) log.warn("log lines left out", { key, count: w.count - perWindow, windowMs });
      windows.set(key, (w = { start: t, count: 0 }));
    }
    if (++w.count <= perWindow) log.warn(msg, { ...fields, key });
  };
}
