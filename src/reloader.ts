// A reload (SIGHUP, `imgate reload`, Admin/Reload): the config is read again, checked whole, then its live keys are
// written into the running config object, which the parts read at use time. A part that captured a value at start
// registers how to check and how to take the new one (onCheck, onReload) where it is built, so no hand-written list
// of parts lives in node.ts. Anything that fails a check refuses the whole reload before anything is applied.
import { ConfigError } from "./config/errors.js";
import { applyLive, planReload, type ReloadResult } from "./config/reload.js";
import type { Config } from "./config/schema.js";
import type { Logger } from "./observe/log.js";

export interface Reloader {
  /** A check of the next config (throw a ConfigError to refuse the reload); `changed` are the live keys that differ. */
  onCheck(check: (next: Config, changed: string[]) => void): void;
  /** Runs after the live keys are written, in registration order. */
  onReload(apply: (changed: string[]) => void): void;
  reload(): Promise<ReloadResult>;
}

export function createReloader(opts: {
  config: Config;
  /** Reads the config again from where it came from; absent, a reload is refused. */
  source?: () => Config;
  log: Logger;
  notify?: (state: string) => void;
  count: (result: "ok" | "partial" | "invalid") => void;
}): Reloader {
  const { config, log } = opts;
  const checks: ((next: Config, changed: string[]) => void)[] = [];
  const applies: ((changed: string[]) => void)[] = [];
  return {
    onCheck: (c) => void checks.push(c),
    onReload: (a) => void applies.push(a),
    async reload() {
      if (!opts.source) throw new ConfigError("this node has no config source to re-read");
      opts.notify?.(`RELOADING=1\nMONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`);
      let next: Config;
      let plan: ReturnType<typeof planReload>;
      try {
        next = opts.source();
        plan = planReload(config, next);
        for (const check of checks) check(next, plan.live);
      } catch (e) {
        opts.count("invalid");
        log.warn("config reload refused; the running config stays", { err: e });
        opts.notify?.("READY=1\nSTATUS=config reload refused; the running config stays");
        throw e;
      }
      try {
        applyLive(config, next, plan.live);
        for (const apply of applies) apply(plan.live);
      } finally {
        // systemd hears READY=1 after RELOADING=1 whatever happened (it would otherwise wait for the reload forever).
        opts.notify?.("READY=1");
      }
      opts.count(plan.restart.length ? "partial" : "ok");
      log.info("config reloaded", {
        changed: plan.live, ...(plan.restart.length ? { needsRestart: plan.restart.map((r) => `${r.key} (${r.why})`) } : {}),
      });
      return { changed: plan.live, needsRestart: plan.restart };
    },
  };
}
