import { resolveSecret } from "../config/secret.js";
import { startNode } from "../node.js";
import { createLogger } from "../observe/log.js";
import { configFrom } from "./common.js";
import { CliError } from "./exit.js";

export async function serve(opts: Record<string, unknown>): Promise<void> {
  const config = configFrom(opts);
  const log = createLogger({ level: config.log.level, format: config.log.format, bindings: config.nodeID ? { node: config.nodeID } : {} });
  let secret: string;
  try {
    const s = resolveSecret(config, true);
    secret = s.secret;
    if (s.created) log.info("generated a token secret", { file: s.source });
  } catch (e) {
    throw new CliError(`secret: ${(e as Error).message}`, 1);
  }
  let node;
  try {
    node = await startNode(config, log, secret);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === "EADDRINUSE") throw new CliError(`cannot listen: address in use (${err.message})`, 1);
    throw new CliError(`cannot start: ${err.message}`, 1);
  }
  const shutdown = (signal: string) => {
    const force = setTimeout(() => {
      log.error("shutdown took too long; exiting", { graceSeconds: config.shutdown.graceSeconds });
      process.exit(1);
    }, config.shutdown.graceSeconds * 1000);
    force.unref();
    node.stop({ reason: signal }).then(
      () => {
        log.info("stopped", { signal });
        process.exit(0);
      },
      (e) => {
        log.error("error while stopping", { err: e });
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}
