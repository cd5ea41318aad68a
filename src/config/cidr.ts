// Address ranges in configuration (rpc.allowFrom, ws.trustedProxies, ws.limitExempt): IPv4 and IPv6 CIDRs,
// matched against a peer's address as Bun and node report it (IPv4-mapped IPv6 "::ffff:1.2.3.4" reads as IPv4).
import { isIP } from "node:net";

export interface Cidr {
  text: string;
  bytes: Uint8Array;
  bits: number;
}

const v4 = (s: string): Uint8Array | undefined => {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i]!) || Number(parts[i]) > 255) return undefined;
    out[i] = Number(parts[i]);
  }
  return out;
};

const v6 = (s: string): Uint8Array | undefined => {
  if (isIP(s) !== 6) return undefined;
  let text = s.replace(/%.*$/, "");
  // A trailing dotted quad ("::ffff:1.2.3.4") becomes two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const b = v4(dotted[1]!)!;
    text = text.slice(0, -dotted[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") as [string, string] : [text, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  if (groups.length !== 8) return undefined;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  });
  return out;
};

/** An address as bytes: 4 for IPv4 (IPv4-mapped IPv6 included), 16 for IPv6; undefined when not an IP. */
export function addressBytes(ip: string): Uint8Array | undefined {
  const a = v4(ip);
  if (a) return a;
  const b = v6(ip);
  if (!b) return undefined;
  const mapped = b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  return mapped ? b.slice(12) : b;
}

/** Parses "10.0.0.0/8", "fd00::/8" or a bare address (a /32 or /128); throws a readable error. */
export function parseCidr(text: string): Cidr {
  const [addr, len] = text.split("/") as [string, string | undefined];
  const bytes = v4(addr) ?? v6(addr);
  if (!bytes) throw new Error(`"${text}" is not an IP address or CIDR`);
  const max = bytes.length * 8;
  const bits = len === undefined ? max : Number(len);
  if (!Number.isInteger(bits) || bits < 0 || bits > max || (len !== undefined && !/^\d+$/.test(len)))
    throw new Error(`"${text}": the prefix length must be 0..${max}`);
  return { text, bytes, bits };
}

/** The config check for a list of CIDRs. */
export function checkCidrs(list: string[]): string | undefined {
  for (const c of list) {
    try {
      parseCidr(c);
    } catch (e) {
      return (e as Error).message;
    }
  }
  return undefined;
}

export function inCidr(ip: string | Uint8Array | undefined, c: Cidr): boolean {
  const a = typeof ip === "string" ? addressBytes(ip) : ip;
  if (!a || a.length !== c.bytes.length) return false;
  const full = c.bits >> 3, rest = c.bits & 7;
  for (let i = 0; i < full; i++) if (a[i] !== c.bytes[i]) return false;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[full]! & mask) === (c.bytes[full]! & mask);
}

/** A matcher over a list of CIDRs (parsed once). */
export function cidrMatcher(list: string[]): (ip: string | undefined) => boolean {
  const parsed = list.map(parseCidr);
  return (ip) => {
    if (!ip) return false;
    const a = addressBytes(ip);
    return parsed.some((c) => inCidr(a, c));
  };
}

export const LOOPBACK_CIDRS = ["127.0.0.0/8", "::1/128"];
export const PRIVATE_CIDRS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7", "fe80::/10"];

const isLoopbackAddress = cidrMatcher(LOOPBACK_CIDRS);

/** "localhost", 127.x and ::1 (as a name or an address). */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "");
  return h === "localhost" || isLoopbackAddress(h);
}

/**
 * DNS rebinding: a web page can make a browser send requests to a loopback port under a name the attacker controls.
 * A listener bound to loopback therefore answers only requests whose Host names loopback (localhost, 127.x, ::1;
 * any port). A listener on other addresses is not checked (it is reachable anyway; tokens guard it).
 */
export function hostAllowed(listenHost: string, hostHeader: string | null | undefined): boolean {
  if (!isLoopback(listenHost)) return true;
  if (!hostHeader) return true;
  const h = hostHeader.startsWith("[") ? hostHeader.slice(1, hostHeader.indexOf("]")) : hostHeader.replace(/:\d*$/, "");
  return isLoopback(h.toLowerCase().replace(/\.$/, ""));
}
