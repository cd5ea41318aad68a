// CLI commands that talk to a running gateway through its hub (imgate.admin.v1 over gRPC).
import { type Client, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { readFileSync } from "node:fs";
import { Admin } from "../gen/imgate/admin/v1/admin_pb.js";
import { platformName } from "../protocol/constants.js";
import { ErrCode } from "../protocol/errors.js";
import { openimCodeOf } from "../protocol/grpc-errors.js";
import { ErrorInfoSchema } from "../gen/openim/protobuf/errinfo_pb.js";
import { configFrom } from "./common.js";
import { resolveAdminToken } from "../config/secret.js";
import { CliError } from "./exit.js";

type Opts = Record<string, any>;

function client(opts: Opts): { admin: Client<typeof Admin>; addr: string; headers: Record<string, string> } {
  const cfg = configFrom({ config: opts.config, dataDir: opts.dataDir });
  const addr = (opts.rpc as string | undefined) ?? `${cfg.rpc.host === "0.0.0.0" ? "127.0.0.1" : cfg.rpc.host}:${cfg.rpc.port}`;
  // As the secret: the configured token, else the one `serve` generated in the data dir.
  const token = (opts.rpcToken as string | undefined) ?? resolveAdminToken(cfg, false)?.token ?? "";
  // A hub with TLS: https, trusting the configured certificate (self-signed ones included).
  const tls = cfg.rpc.tlsCert ? { ca: readFileSync(cfg.rpc.tlsCert) } : undefined;
  const transport = createGrpcTransport({ baseUrl: `${tls ? "https" : "http"}://${addr}`, nodeOptions: tls });
  return { admin: createClient(Admin, transport), addr, headers: token ? { authorization: `Bearer ${token}` } : {} };
}

async function call<T>(addr: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof ConnectError) {
      const unreachable = /ECONNREFUSED|EHOSTUNREACH|ENOTFOUND|ETIMEDOUT|connect/i.test(e.rawMessage) && e.code === 14;
      throw new CliError(unreachable ? `gateway not reachable at ${addr} (is \`imgate serve\` running?)` : `${addr}: ${e.rawMessage}`, 1);
    }
    throw e;
  }
}

const json = (v: unknown): void =>
  void process.stdout.write(JSON.stringify(v, (k, x) => (k === "$typeName" ? undefined : typeof x === "bigint" ? Number(x) : x), 2) + "\n");

export async function kick(opts: Opts): Promise<void> {
  const { admin, addr, headers } = client(opts);
  const r = await call(addr, () => admin.kick({ userID: opts.user, platformID: opts.platform ? Number(opts.platform) : 0 }, { headers, timeoutMs: 10_000 }));
  if (opts.json) json({ kicked: r.kicked });
  else process.stdout.write(`kicked ${r.kicked} connection(s) of ${opts.user}\n`);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n") + "\n";
}

export async function stats(opts: Opts): Promise<void> {
  const { admin, addr, headers } = client(opts);
  const once = async () => {
    const s = await call(addr, () => admin.stats({}, { headers, timeoutMs: 10_000 }));
    if (opts.json) return json(s);
    const lines = [
      ["version", s.version], ["node", s.nodeID || "-"], ["shape", s.shape], ["uptime", `${s.uptimeSeconds}s`],
      ["connections", String(s.connections)], ["users", String(s.users)], ["messages in", String(s.messagesIn)],
      ["messages out", String(s.messagesOut)], ["handshakes", String(s.handshakes)], ["handshake failures", String(s.handshakeFailures)],
      ["kicks", String(s.kicks)], ["slow-consumer closes", String(s.slowConsumerCloses)], ["draining", String(s.draining)],
    ];
    const per = s.platforms.filter((p) => p.connections > 0n).map((p) => [`  ${p.platform}`, String(p.connections)]);
    if (opts.watch) process.stdout.write("\x1b[H\x1b[2J");
    process.stdout.write(table([...lines, ...(per.length ? [["per platform", ""], ...per] : [])]));
  };
  await once();
  if (!opts.watch) return;
  const every = typeof opts.watch === "string" ? Math.max(0.5, Number(opts.watch)) : 2;
  for (;;) {
    await Bun.sleep(every * 1000);
    await once();
  }
}

export async function online(opts: Opts): Promise<void> {
  const { admin, addr, headers } = client(opts);
  const r = await call(addr, () => admin.online({ userIDs: opts.user ?? [], limit: Number(opts.limit) }, { headers, timeoutMs: 10_000 }));
  if (opts.json) return json(r.connections);
  if (r.connections.length === 0) return void process.stdout.write("no connections\n");
  process.stdout.write(table([
    ["USER", "PLATFORM", "CODEC", "BACKGROUND", "CONNECTED", "CONNID", "REMOTE"],
    ...r.connections.map((c) => [
      c.userID, `${c.platformID} ${platformName(c.platformID)}`, c.codec + (c.compressed ? "+gzip" : ""), String(c.isBackground),
      new Date(Number(c.connectedAtMs)).toISOString(), c.connID, c.remoteAddr,
    ]),
  ]));
}

export async function groupSet(groupID: string, userIDs: string[], opts: Opts): Promise<void> {
  const { admin, addr, headers } = client(opts);
  await call(addr, () => admin.setGroup({ groupID, userIDs }, { headers, timeoutMs: 10_000 }));
  if (opts.json) json({ groupID, userIDs });
  else process.stdout.write(`group ${groupID}: ${userIDs.length} member(s)\n`);
}

export async function groupShow(groupID: string | undefined, opts: Opts): Promise<void> {
  const { admin, addr, headers } = client(opts);
  const groups = groupID
    ? [await call(addr, () => admin.getGroup({ groupID }, { headers, timeoutMs: 10_000 }))]
    : (await call(addr, () => admin.listGroups({}, { headers, timeoutMs: 10_000 }))).groups;
  if (opts.json) return json(groups.map((g) => ({ groupID: g.groupID, userIDs: g.userIDs })));
  for (const g of groups) process.stdout.write(`${g.groupID}: ${g.userIDs.join(" ") || "(no members)"}\n`);
}

/** "30s", "2m", "1h", "90" (seconds) → seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(s|m|h)?$/.exec(text.trim());
  if (!m) throw new CliError(`--over must be a duration like 30s, 2m or 90, got "${text}"`, 2);
  return Number(m[1]) * ({ s: 1, m: 60, h: 3600 } as const)[(m[2] ?? "s") as "s" | "m" | "h"];
}

export async function drain(opts: Opts): Promise<void> {
  const overSeconds = opts.over === undefined ? 0 : parseDuration(String(opts.over));
  const { admin, addr, headers } = client(opts);
  const r = await call(addr, () => admin.drain({ overSeconds }, { headers, timeoutMs: 10_000 }));
  if (opts.json) json({ connections: r.closed, overSeconds });
  else
    process.stdout.write(`draining ${r.closed} connection(s)${overSeconds ? ` over ${overSeconds}s` : ""}; the gateway exits when done\n`);
}

export async function reload(opts: Opts): Promise<void> {
  const { admin, addr, headers } = client(opts);
  let r;
  try {
    r = await admin.reload({ workers: Boolean(opts.workers) }, { headers, timeoutMs: 15_000 });
  } catch (e) {
    // A refused file is a config error (exit 2), with the same text as `config check` (OpenIM's ErrorInfo detail).
    if (e instanceof ConnectError && openimCodeOf(e) === ErrCode.Args)
      throw new CliError(e.findDetails(ErrorInfoSchema)[0]?.cause || e.rawMessage, 2);
    return void (await call(addr, () => Promise.reject(e)));
  }
  if (opts.json) return json({ changed: r.changed, needsRestart: r.needsRestart, workers: r.workers || undefined });
  if (r.workers) return void process.stdout.write(`${r.workers}\n`);
  process.stdout.write(r.changed.length ? `applied: ${r.changed.join(", ")}\n` : "nothing to apply: the running config matches the file\n");
  for (const k of r.needsRestart) process.stdout.write(`needs a restart (kept as it was): ${k}\n`);
}
