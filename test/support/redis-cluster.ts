// A real Redis Cluster for one test file: `masters` redis-server processes in cluster mode (optionally one replica
// each), each on its own free port, no persistence, created with `redis-cli --cluster create`, stopped by PID.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./proc.js";
import { redisCli } from "./redis.js";

export interface ClusterNode {
  port: number;
  proc: ReturnType<typeof Bun.spawn>;
}

export interface TestRedisCluster {
  nodes: ClusterNode[];
  /** host:port of every node, as redis.address takes them. */
  addresses: string[];
  /** Ports of the current masters. */
  masters(): number[];
  /** Starts one more empty node and joins it as a master (no slots yet). */
  addMaster(): Promise<ClusterNode>;
  /** `redis-cli --cluster reshard`: moves `slots` slots from every other master to `toPort`. */
  reshard(toPort: number, slots: number): Promise<void>;
  kill(port: number): Promise<void>;
  waitOk(ms?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedisCluster(opts: { masters?: number; replicas?: 0 | 1 } = {}): Promise<TestRedisCluster> {
  const masters = opts.masters ?? 3, replicas = opts.replicas ?? 0;
  const dir = mkdtempSync(join(tmpdir(), "imgate-rcluster-"));
  const nodes: ClusterNode[] = [];
  const startNode = async (): Promise<ClusterNode> => {
    // The cluster bus port is chosen too (Redis's default, port + 10000, could be a port another test was given).
    const [port, busPort] = [await freePort(), await freePort()];
    const proc = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
      "--cluster-enabled", "yes", "--cluster-port", String(busPort), "--cluster-config-file", join(dir, `nodes-${port}.conf`), "--cluster-node-timeout", "2000",
      "--dir", dir, "--daemonize", "no"], { stdout: "ignore", stderr: "inherit" });
    const end = Date.now() + 10_000;
    while (redisCli(port, "ping") !== "PONG") {
      if (Date.now() > end) throw new Error("redis-server (cluster mode) did not start");
      await Bun.sleep(20);
    }
    const n = { port, proc };
    nodes.push(n);
    return n;
  };
  for (let i = 0; i < masters * (1 + replicas); i++) await startNode();
  const create = Bun.spawnSync(["redis-cli", "--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-replicas", String(replicas), "--cluster-yes"]);
  if (create.exitCode !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
  const alive = () => nodes.filter((n) => n.proc.exitCode === null && !n.proc.killed);
  /** What redis-cli compares between nodes before it moves slots: each master's slots, plus who the node knows. */
  const configSeenBy = (port: number) => redisCli(port, "CLUSTER", "NODES").split("\n").filter(Boolean).map((l) => l.split(" "))
    .map((f) => `${f[0]} ${/master/.test(f[2]!) ? "master" : "replica"} ${f.slice(8).filter((r) => !r.startsWith("[")).sort().join(",")}`)
    .sort().join("\n");
  const waitAgreed = async (ms = 20_000) => {
    const end = Date.now() + ms;
    while (new Set(alive().map((n) => configSeenBy(n.port))).size > 1) {
      if (Date.now() > end) throw new Error("the Redis Cluster's nodes did not agree on one configuration");
      await Bun.sleep(100);
    }
  };
  const c: TestRedisCluster = {
    nodes,
    get addresses() {
      return alive().map((n) => `127.0.0.1:${n.port}`);
    },
    masters() {
      // Masters that serve slots and are not marked failed (a node not yet made a replica also says "master").
      const any = alive()[0]!.port;
      return redisCli(any, "CLUSTER", "NODES").split("\n").map((l) => l.split(" "))
        .filter((f) => /(^|,)master(,|$)/.test(f[2]!) && !/fail/.test(f[2]!) && f.length > 8)
        .map((f) => Number(f[1]!.split("@")[0]!.split(":")[1]));
    },
    async addMaster() {
      const n = await startNode();
      const any = alive()[0]!.port;
      const r = Bun.spawnSync(["redis-cli", "--cluster", "add-node", `127.0.0.1:${n.port}`, `127.0.0.1:${any}`]);
      if (r.exitCode !== 0) throw new Error(`add-node failed: ${r.stdout}`);
      await c.waitOk();
      return n;
    },
    async reshard(toPort, slots) {
      const id = redisCli(toPort, "CLUSTER", "MYID");
      const any = alive().find((n) => n.port !== toPort)!.port;
      // redis-cli refuses to start ("Nodes don't agree about configuration!") while gossip still spreads a node just
      // added: wait until every node sees the same slot map and the same nodes.
      await waitAgreed();
      const p = Bun.spawn(["redis-cli", "--cluster", "reshard", `127.0.0.1:${any}`, "--cluster-from", "all", "--cluster-to", id,
        "--cluster-slots", String(slots), "--cluster-yes", "--cluster-pipeline", "100"], { stdout: "pipe", stderr: "pipe" });
      // Read while it runs: a line per moved slot would fill the pipe otherwise.
      const output = Promise.all([new Response(p.stdout as ReadableStream).text(), new Response(p.stderr as ReadableStream).text()]);
      if ((await p.exited) !== 0) {
        // redis-cli prints its [ERR] lines on stdout.
        const out = (await output).join("");
        throw new Error(`reshard failed: ${out.split("\n").filter((l) => /ERR|WARN|rror/.test(l)).join(" | ") || out.slice(-500)}`);
      }
      await c.waitOk();
    },
    async kill(port) {
      const n = nodes.find((x) => x.port === port)!;
      n.proc.kill("SIGKILL");
      await n.proc.exited;
    },
    async waitOk(ms = 20_000) {
      const end = Date.now() + ms;
      for (;;) {
        const ok = alive().every((n) => redisCli(n.port, "CLUSTER", "INFO").includes("cluster_state:ok"));
        if (ok) return;
        if (Date.now() > end) throw new Error("the Redis Cluster did not reach cluster_state:ok");
        await Bun.sleep(100);
      }
    },
    async stop() {
      for (const n of nodes) n.proc.kill("SIGTERM");
      await Promise.all(nodes.map((n) => n.proc.exited));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await c.waitOk();
  if (replicas > 0) {
    // Every replica attached and in sync, or a master killed now would have no replica able to take over.
    const end = Date.now() + 30_000;
    const synced = () => nodes.filter((n) => redisCli(n.port, "ROLE").startsWith("slave")).filter((n) => redisCli(n.port, "INFO", "replication").includes("master_link_status:up")).length;
    while (synced() < masters * replicas) {
      if (Date.now() > end) throw new Error("the Redis Cluster's replicas did not sync");
      await Bun.sleep(100);
    }
  }
  return c;
}
