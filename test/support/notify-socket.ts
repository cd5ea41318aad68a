// A stand-in for systemd's end of the notify protocol: an AF_UNIX datagram socket bound at a path, read without
// blocking (libc through bun:ffi, as the gateway sends).
import { ptr } from "bun:ffi";
import { unlinkSync } from "node:fs";
import { libc, unixAddress } from "../../src/systemd/notify.js";

const MSG_DONTWAIT = 0x40;

export function bindNotifySocket(path: string) {
  const c = libc();
  try {
    unlinkSync(path);
  } catch {}
  const fd = c.socket(1, 2, 0);
  const { addr, len } = unixAddress(path);
  if (c.bind(fd, ptr(addr), len) !== 0) throw new Error(`cannot bind ${path}`);
  const messages: { at: number; text: string }[] = [];
  const buf = new Uint8Array(8192);
  const poll = setInterval(() => {
    for (;;) {
      const n = Number(c.recv(fd, ptr(buf), buf.length, MSG_DONTWAIT));
      if (n <= 0) break;
      messages.push({ at: Date.now(), text: Buffer.from(buf.subarray(0, n)).toString() });
    }
  }, 10);
  return {
    path,
    messages,
    /** Every KEY=VALUE line received, in order. */
    lines: () => messages.flatMap((m) => m.text.split("\n")),
    close() {
      clearInterval(poll);
      c.close(fd);
      try {
        unlinkSync(path);
      } catch {}
    },
  };
}
