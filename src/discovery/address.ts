// The address a gateway registers in etcd and the address its hub listens on, with OpenIM's rules
// (tools utils/network): an empty registerIP is this machine's first private IPv4 (else its first public one),
// host:port is joined as net.JoinHostPort does ([v6]:port). A registered address the hub does not listen on
// would leave OpenIM's push and api services dialling a closed port, so that mismatch is refused up front.
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import { ConfigError } from "../config/errors.js";
import type { Config } from "../config/schema.js";
import { isLoopback } from "../config/cidr.js";
import { joinHostPort } from "../config/host-port.js";

export { joinHostPort };

export function isWildcard(host: string): boolean {
  return host === "" || host === "0.0.0.0" || host === "::" || host === "[::]";
}

/** Every address of this machine's interfaces (loopback included). */
export function localAddresses(): { address: string; family: "IPv4" | "IPv6"; internal: boolean }[] {
  return Object.values(networkInterfaces()).flatMap((l) => l ?? []).map((a) => ({ address: a.address, family: a.family as "IPv4" | "IPv6", internal: a.internal }));
}

function isPrivateV4(ip: string): boolean {
  const [a, b] = ip.split(".").map(Number) as [number, number];
  return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}

/** OpenIM's GetLocalIP: the first private non-loopback IPv4, else the first public one; undefined if none. */
export function defaultRegisterIP(addrs = localAddresses()): string | undefined {
  const v4 = addrs.filter((a) => a.family === "IPv4" && !a.internal && !a.address.startsWith("127.") && !/^2(2[4-9]|3\d)\./.test(a.address));
  return (v4.find((a) => isPrivateV4(a.address)) ?? v4[0])?.address;
}

/** An address of this machine: an interface's, or any of 127.0.0.0/8 (all of it routes to lo). */
export function isLocalAddress(ip: string, addrs = localAddresses()): boolean {
  return ip.startsWith("127.") || addrs.some((a) => a.address === ip);
}

/** A loopback address or name: reachable from this machine only. */
export { isLoopback };

/**
 * Why peers could not reach a hub listening on `listenHost` at `registerIP`, or undefined when they can (or we
 * cannot tell: a host name, or an address of another machine such as a NAT's public IP).
 * `dualStack`: the wildcard listener also takes IPv6 (as Go's 0.0.0.0 does).
 */
export function registerProblem(listenHost: string, registerIP: string, dualStack: boolean, addrs = localAddresses()): string | undefined {
  if (isIP(registerIP) === 0) return undefined;
  if (isWildcard(listenHost)) {
    if (isIP(registerIP) === 6 && !dualStack) return "the hub listens on IPv4 only (this machine has no IPv6), so an IPv6 register address cannot reach it";
    return undefined;
  }
  if (registerIP === listenHost) return undefined;
  if (isLoopback(listenHost)) return `a hub bound to the loopback address ${listenHost} is reachable only at ${listenHost}`;
  if (isLocalAddress(registerIP, addrs)) return `${registerIP} is another address of this machine; the hub accepts connections only at ${listenHost}`;
  return undefined;
}

/** OpenIM's services dial the registered address over IPv4 or IPv6; a wildcard listens on both where it can. */
export function listenHost(configured: string): string {
  if (!isWildcard(configured)) return configured;
  return localAddresses().some((a) => a.family === "IPv6") ? "::" : "0.0.0.0";
}

/** The address registered in etcd: rpc.registerIP, else OpenIM's default; a ConfigError if the hub would not answer there. */
export function registerAddress(config: Config): string {
  const ip = config.rpc.registerIP || defaultRegisterIP();
  if (!ip)
    throw new ConfigError("rpc.registerIP (openim-msggateway.yml rpc.registerIP) is empty and this machine has no non-loopback IPv4 address to register; set it");
  const host = listenHost(config.rpc.host);
  const problem = registerProblem(host, ip, host === "::");
  if (problem)
    throw new ConfigError(`the hub would listen on ${config.rpc.host} (openim-msggateway.yml listenIP; imgate's rpc.host) but register ${ip} ` +
      `(openim-msggateway.yml rpc.registerIP) in etcd: ${problem}. ` +
      `Set listenIP to 0.0.0.0 or ${ip}, or registerIP to ${config.rpc.host}`);
  return ip;
}
