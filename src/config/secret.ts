import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
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
  mkdirSync(cfg.dataDir, { recursive: true });
  const secret = randomBytes(32).toString("base64url");
  writeFileSync(file, secret + "\n", { mode: 0o600, flag: "wx" });
  chmodSync(file, 0o600);
  return { secret, source: file, created: true };
}
