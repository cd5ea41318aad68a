import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Config } from "./schema.js";

export const SECRET_FILE = "secret";
export const ADMIN_TOKEN_FILE = "admin-token";

/**
 * The token secret: the configured one, else the one kept in the data dir, else (when `create`) a new random one
 * written there with mode 0600. `token` and `serve` resolve it the same way, so minted tokens work.
 */
export function resolveSecret(cfg: Config, create: boolean): { secret: string; source: string; created: boolean } {
  if (cfg.secret) return { secret: cfg.secret, source: "config", created: false };
  const file = join(cfg.dataDir, SECRET_FILE);
  const kept = keptRandom(file, "secret", create);
  if (!kept) throw new Error(`no secret configured and none in ${file}; start \`imgate serve\` once or pass --secret`);
  return { secret: kept.value, source: file, created: kept.created };
}

/**
 * The bearer token of the hub's Admin service and the dashboard: rpc.token when set, else the one kept in the data
 * dir, else (when `create`, i.e. `serve`) a new random one written there with mode 0600. The CLI reads the same
 * file, as it reads the secret, so `imgate kick` works on the machine without copying a token around.
 */
export function resolveAdminToken(cfg: Config, create: boolean): { token: string; source: string } | undefined {
  if (cfg.rpc.token) return { token: cfg.rpc.token, source: "config" };
  const token = generatedAdminToken(cfg.dataDir, create);
  return token === undefined ? undefined : { token, source: join(cfg.dataDir, ADMIN_TOKEN_FILE) };
}

/** The token kept in dataDir/admin-token; made (0600) when absent and `create`. */
export function generatedAdminToken(dataDir: string, create: boolean): string | undefined {
  return keptRandom(join(dataDir, ADMIN_TOKEN_FILE), "admin token", create)?.value;
}

/** A random value kept in `file`: read when there (empty is an error), else when `create` made with mode 0600. */
function keptRandom(file: string, what: string, create: boolean): { value: string; created: boolean } | undefined {
  if (existsSync(file)) {
    const value = readFileSync(file, "utf8").trim();
    if (!value) throw new Error(`${what} file ${file} is empty`);
    return { value, created: false };
  }
  if (!create) return undefined;
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const value = randomBytes(32).toString("base64url");
  // Written whole under another name, then linked into place: a worker of `serve --workers N` starting at the same
  // moment either links first or finds the complete file of the one that did (never an empty one).
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, value + "\n", { mode: 0o600 });
  chmodSync(tmp, 0o600);
  try {
    linkSync(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return keptRandom(file, what, false);
    throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
  return { value, created: true };
}
