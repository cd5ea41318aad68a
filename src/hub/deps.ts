// What the hub uses of the node, named here so the hub depends on the layers below it and not on node.ts
// (which starts the hub and builds this object from its parts).
import type { Backend } from "../backend/ports.js";
import type { Dispatch } from "../cluster/dispatch.js";
import type { Config } from "../config/schema.js";
import type { Metrics } from "../observe/metrics.js";
import type { Counters } from "../observe/stats.js";
import type { Registry } from "../sessions/registry.js";
import type { Sessions } from "../sessions/sessions.js";
import type { ReloadResult } from "../config/reload.js";

export interface HubDeps {
  readonly config: Config;
  readonly nodeID: string;
  readonly startedAt: number;
  /** Read at call time: true once the node drains. */
  readonly draining: boolean;
  readonly registry: Registry;
  readonly sessions: Sessions;
  readonly dispatch: Dispatch;
  readonly backend: Backend;
  readonly counters: Counters;
  readonly metrics?: Metrics;
  /** rpc.token, or the generated one (dataDir/admin-token): required on the Admin service. */
  adminToken(): string;
  stop(opts?: { reason?: string; overMs?: number }): Promise<void>;
  /** Re-reads the config source and applies what can change live; rejects with a ConfigError for an invalid one. */
  reload(): Promise<ReloadResult>;
}

export type { ReloadResult };
