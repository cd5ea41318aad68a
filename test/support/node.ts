// Starts a real imgate node in this process on free ports with a temporary data dir.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signToken } from "../../src/backend/embedded/jwt.js";
import { loadConfig } from "../../src/config/load.js";
import type { Config } from "../../src/config/schema.js";
import { startNode, type Node } from "../../src/node.js";
import type { EmbeddedBackend } from "../../src/backend/embedded/index.js";
import type { RemoteStore } from "../../src/backend/embedded/remote-store.js";
import { createLogger, silentLogger, type Logger } from "../../src/observe/log.js";

export const SECRET = "test-secret-0123456789";

export interface TestNode {
  node: Node;
  /** The embedded backend's message store (groups, has-read seqs): calls to the store worker. */
  store: RemoteStore;
  config: Config;
  dataDir: string;
  wsPort: number;
  rpcPort: number;
  adminPort: number;
  token(userID: string, platformID: number, ttlSeconds?: number): string;
  /** The admin token the node generated in its data dir (the hub's Admin service and the dashboard need it). */
  adminToken: string;
  /** { authorization: "Bearer <adminToken>" } */
  adminHeaders: Record<string, string>;
  stop(): Promise<void>;
}

export async function startTestNode(overrides: Record<string, unknown> = {}, opts: { dataDir?: string; log?: Logger } = {}): Promise<TestNode> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "imgate-test-"));
  const config = loadConfig({
    flags: { "ws.host": "127.0.0.1", "ws.port": 0, "rpc.port": 0, "admin.port": 0, dataDir, secret: SECRET, ...overrides },
  });
  const log = opts.log ?? (process.env.IMGATE_TEST_LOG ? createLogger({ level: "debug", format: "pretty" }) : silentLogger);
  const node = await startNode(config, log, SECRET);
  const adminToken = readFileSync(join(dataDir, "admin-token"), "utf8").trim();
  return {
    node, config, dataDir, store: (node.backend as EmbeddedBackend).store, adminToken, adminHeaders: { authorization: `Bearer ${adminToken}` },
    wsPort: node.ports.ws, rpcPort: node.ports.rpc, adminPort: node.ports.admin,
    token: (u, p, ttl = 3600) => signToken(SECRET, u, p, ttl),
    async stop() {
      await node.stop();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
