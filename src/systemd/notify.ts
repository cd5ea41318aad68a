// systemd's notify protocol (sd_notify(3)): a datagram of "KEY=VALUE" lines to the AF_UNIX socket named by
// $NOTIFY_SOCKET ("@name" is the abstract namespace). Neither node:dgram nor node:net speaks AF_UNIX datagrams, so
// libc is called through bun:ffi (works in the compiled binary too). Without $NOTIFY_SOCKET nothing is sent.
import { dlopen, FFIType, ptr } from "bun:ffi";

const AF_UNIX = 1, SOCK_DGRAM = 2, SOCK_CLOEXEC = 0o2000000, MSG_NOSIGNAL = 0x4000;

/** The libc calls this needs (glibc first, then musl's name). */
export function libc() {
  const symbols = {
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    sendto: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i64 },
    bind: { args: [FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
    recv: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
  } as const;
  let last: unknown;
  for (const name of ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1", "libc.so"]) {
    try {
      return dlopen(name, symbols).symbols;
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

/** struct sockaddr_un for `path` ("@x" = abstract), and its length. */
export function unixAddress(path: string): { addr: Uint8Array; len: number } {
  const abstract = path.startsWith("@");
  const name = Buffer.from(abstract ? path.slice(1) : path);
  if (name.length > 106) throw new Error(`NOTIFY_SOCKET path is too long: ${path}`);
  const addr = new Uint8Array(110);
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, abstract ? 3 : 2);
  return { addr, len: 2 + (abstract ? 1 : 0) + name.length + (abstract ? 0 : 1) };
}

export interface Notifier {
  /** Sends one state message ("READY=1", "STATUS=…"); false if it could not be sent. */
  send(state: string): boolean;
  /** How often to send WATCHDOG=1 (half of WatchdogSec), or undefined without a watchdog. */
  watchdogMs?: number;
  close(): void;
}

/** A notifier for $NOTIFY_SOCKET, or undefined when systemd did not ask for notifications. */
export function createNotifier(env: Record<string, string | undefined> = process.env): Notifier | undefined {
  const path = env.NOTIFY_SOCKET;
  if (!path) return undefined;
  const c = libc();
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return undefined;
  const { addr, len } = unixAddress(path);
  const usec = Number(env.WATCHDOG_USEC ?? 0);
  const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid;
  return {
    send(state) {
      const msg = Buffer.from(state);
      return Number(c.sendto(fd, ptr(msg), msg.length, MSG_NOSIGNAL, ptr(addr), len)) === msg.length;
    },
    watchdogMs: usec > 0 && forUs ? Math.max(100, Math.floor(usec / 2000)) : undefined,
    close: () => void c.close(fd),
  };
}

/** CLOCK_MONOTONIC in µs, as systemd wants with RELOADING=1. */
export function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}
