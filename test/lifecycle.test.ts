// A start that fails half-way stops what it had started, in reverse order: no Redis connection, node
// registration, listener or store thread outlives a failed startNode.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/load.js";
import { startNode } from "../src/node.js";
import { silentLogger } from "../src/observe/log.js";
import { until } from "./support/client.js";
import { freePort } from "./support/proc.js";
import { redisCli, startRedis, type TestRedis } from "./support/redis.js";

let redis: TestRedis;
const dir = mkdtempSync(join(tmpdir(), "imgate-lifecycle-"));
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Holds a port, as another process would. */
async function holdPort() {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  return { port: (s.address() as { port: number }).port, close: () => new Promise<void>((r) => s.close(() => r())) };
}

const canBind = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });

test("cluster shape, WebSocket port taken: the start fails and leaves no Redis connection, registration or listener", async () => {
  const held = await holdPort();
  const admin = await freePort();
  const config = loadConfig({
    flags: {
      shape: "cluster", "redis.url": redis.url, nodeID: "doomed", "ws.host": "127.0.0.1", "ws.port": held.port, "rpc.port": 0,
      "admin.port": admin, dataDir: join(dir, "cluster"), secret: "s",
    },
  });
  await expect(startNode(config, silentLogger, "s")).rejects.toThrow();
  // Its two Redis connections are closed, and it no longer counts as a live node.
  await until(() => !redisCli(redis.port, "CLIENT", "LIST").includes("name=imgate:doomed:"), 3000, "the node's Redis connections to close");
  expect(redisCli(redis.port, "ZSCORE", "imgate:nodes", "doomed")).toBe("");
  // The admin listener it had opened is gone.
  expect(await canBind(admin)).toBe(true);
  await held.close();
});

test("embedded shape, WebSocket port taken: the store threads close the database (no file handle left on it)", async () => {
  const { readlinkSync } = await import("node:fs");
  const dbHandles = () => readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).includes(join(dir, "embedded"));
    } catch {
      return false;
    }
  }).length;
  const held = await holdPort();
  const config = loadConfig({
    flags: { shape: "embedded", "ws.host": "127.0.0.1", "ws.port": held.port, "rpc.port": 0, "admin.port": 0, dataDir: join(dir, "embedded"), secret: "s" },
  });
  await expect(startNode(config, silentLogger, "s")).rejects.toThrow();
  // The store worker and the checkpointer had the database open: both closed it.
  await until(() => dbHandles() === 0, 5000, "the database handles to close");
  await held.close();
});
