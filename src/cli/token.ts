import { signToken } from "../backend/embedded/jwt.js";
import { resolveSecret } from "../config/secret.js";
import { isValidPlatform } from "../protocol/constants.js";
import { configFrom } from "./common.js";
import { CliError } from "./exit.js";

export function token(opts: { user: string; platform: string; ttlDays: string } & Record<string, unknown>): void {
  const platform = Number(opts.platform);
  if (!isValidPlatform(platform)) throw new CliError(`--platform must be 1..11, got "${opts.platform}"`, 2);
  const days = Number(opts.ttlDays);
  if (!Number.isFinite(days) || days <= 0) throw new CliError(`--ttl-days must be a positive number, got "${opts.ttlDays}"`, 2);
  if (!opts.user) throw new CliError("--user must not be empty", 2);
  const config = configFrom(opts);
  let secret: string;
  try {
    secret = resolveSecret(config, false).secret;
  } catch (e) {
    throw new CliError((e as Error).message, 1);
  }
  process.stdout.write(signToken(secret, opts.user, platform, Math.round(days * 86400)) + "\n");
}
