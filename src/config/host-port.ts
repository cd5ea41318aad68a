// host:port, as Go's net.SplitHostPort / JoinHostPort write it: an IPv6 host in brackets ([::1]:10002). One place
// for config checks, listeners, Redis addresses and logs.

/** "[::1]:6379" → {host "::1", port 6379}; a missing port is `defaultPort`; undefined when it is not host[:port]. */
export function splitHostPort(addr: string, defaultPort?: number): { host: string; port: number } | undefined {
  const m = /^\[([^\]]*)\](?::(\d+))?$/.exec(addr) ?? /^([^:]*)(?::(\d+))?$/.exec(addr);
  if (!m) return undefined;
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (port === undefined || !Number.isInteger(port) || port < 0 || port > 65535) return undefined;
  return { host: m[1]!, port };
}

export function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
