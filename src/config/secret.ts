import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "./schema.js";

export const SECRET_FILE = "secret";

/**
 * The token secret: the configured one, else the one kept in the data dir, else (when `create`) a new random one
 * written there with mode 0600. `token` and `serve` resolve it the same way, so minted tokens work.
 */
export function resolveSecret(cfg: Config, create: boolean): { secret: string; source: string; created: boolean } {
  if (cfg.secret) return { secret: cfg.secret, source: "config", created: false };
  const file = join(cfg.dataDir, SECRET_FILE);
  if (existsSync(file)) {
    const secret = readFileSync(file, "utf8").trim();
    if (!secret) throw new Error(`secret file ${file} is empty`);
    return { secret, source: file, created: false };
  }
  if (!create) throw new Error(`no secret configured and none in ${file}; start \`imgate serve\` once or pass --secret`);
  mkdirSync(cfg.dataDir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(32).toString("base64url");
  writeFileSync(file, secret + "\n", { mode: 0o600, flag: "wx" });
  chmodSync(file, 0o600);
  return { secret, source: file, created: true };
}

export const ADMIN_TOKEN_FILE = "admin-token";

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
  const file = join(dataDir, ADMIN_TOKEN_FILE);
  if (existsSync(file)) {
    const token = readFileSync(file, "utf8").trim();
    if (!token) throw new Error(`admin token file ${file} is empty`);
    return token;
  }
  if (!create) return undefined;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString("base64url");
  // Written whole under another name, then linked into place: a worker of `serve --workers N` starting at the same
  // moment either links first or finds the complete file of the one that did (never an empty one).
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, token + "\n", { mode: 0o600 });
  try {
    linkSync(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return generatedAdminToken(dataDir, false);
    throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
  return token;
}
