// What each shape is, as the parts outside its engine need to know it: the config it requires, where its state
// lives, whether it registers in OpenIM's discovery and calls OpenIM's services. node.ts, doctor, `serve --workers`
// and the config check read these traits instead of comparing shape names; a new shape is its engine
// (src/engines/) and its entry here and in the engines' table.
import { redisConfigured } from "./redis.js";
import type { Config, Shape } from "./schema.js";

export interface ShapeTraits {
  /** What the shape needs from the rest of the config: the error to report, or undefined. */
  requires(cfg: Config): string | undefined;
  /** Where its messages and token states live: the data dir (SQLite), Redis, or OpenIM's services. */
  state: "dataDir" | "redis" | "openim";
  /** Its nodes share state, so several may serve one deployment (`serve --workers`). */
  sharesState: boolean;
  /** It calls OpenIM's services and, with discovery on, registers itself in etcd for them. */
  usesOpenIM: boolean;
}

/** postgres.url is the cluster shape's; elsewhere it would be silently unused. */
const noPostgres = (cfg: Config, shape: Shape) =>
  cfg.postgres.url ? `postgres.url is for the cluster shape (history shared by its nodes), not shape "${shape}"` : undefined;

export const SHAPES: Record<Shape, ShapeTraits> = {
  embedded: { requires: (cfg) => noPostgres(cfg, "embedded"), state: "dataDir", sharesState: false, usesOpenIM: false },
  cluster: {
    requires: (cfg) => (redisConfigured(cfg) ? undefined : `shape "cluster" needs redis.url (or --redis)`),
    state: "redis", sharesState: true, usesOpenIM: false,
  },
  openim: {
    requires: (cfg) => {
      if (cfg.postgres.url) return noPostgres(cfg, "openim");
      if (cfg.discovery.enable === "etcd") return undefined;
      const missing = (["auth", "msg", "push", "user"] as const).find((svc) => !cfg.openim[svc]);
      return missing && `shape "openim" needs openim.${missing} (host:port of OpenIM's ${missing} service) or discovery.enable: etcd (discovery.yml enable: etcd)`;
    },
    state: "openim", sharesState: false, usesOpenIM: true,
  },
};

export const traitsOf = (cfg: Config): ShapeTraits => SHAPES[cfg.shape];

/** Whether this node registers in etcd (a shape that uses OpenIM, with discovery on). */
export const registersInDiscovery = (cfg: Config): boolean => traitsOf(cfg).usesOpenIM && cfg.discovery.enable === "etcd";
