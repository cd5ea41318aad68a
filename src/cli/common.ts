import { ConfigError, loadConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { CliError } from "./exit.js";

/** Flag name (commander's camelCase) → config path. */
export const flagPaths: Record<string, string> = {
  wsPort: "ws.port",
  rpcPort: "rpc.port",
  adminPort: "admin.port",
  host: "ws.host",
  rpcHost: "rpc.host",
  adminHost: "admin.host",
  secret: "secret",
  dataDir: "dataDir",
  redis: "redis.url",
  postgres: "postgres.url",
  nodeId: "nodeID",
  multiLoginPolicy: "multiLogin.policy",
  logLevel: "log.level",
  logFormat: "log.format",
  rpcToken: "rpc.token",
  shape: "shape",
};

export function configFrom(opts: Record<string, unknown>): Config {
  try {
    return loadConfigFrom(opts);
  } catch (e) {
    if (e instanceof ConfigError) throw new CliError(`config: ${e.message}`, 2);
    throw e;
  }
}

/** The config the CLI's options and environment name; throws ConfigError (a reload reports it as it is). */
export function loadConfigFrom(opts: Record<string, unknown>): Config {
  const index = opts.index === undefined ? 0 : Number(opts.index);
  if (!Number.isInteger(index) || index < 0) throw new ConfigError(`-i/--index must be a whole number >= 0, got "${opts.index}"`);
  const flags: Record<string, unknown> = {};
  for (const [flag, path] of Object.entries(flagPaths)) if (opts[flag] !== undefined) flags[path] = opts[flag];
  return loadConfig({
    file: (opts.config as string | undefined) ?? process.env.IMGATE_CONFIG,
    env: process.env,
    flags,
    openimDir: opts.openimConfig as string | undefined,
    openimIndex: index,
  });
}
