// TLS on the WebSocket and rpc listeners, with a certificate made for the test by openssl.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Admin } from "../src/gen/imgate/admin/v1/admin_pb.js";
import { type TestNode, startTestNode } from "./support/node.js";
import { connect } from "./support/client.js";
import { runCli, runCliAsync } from "./support/proc.js";

const dir = mkdtempSync(join(tmpdir(), "imgate-tls-"));
const cert = join(dir, "cert.pem"), key = join(dir, "key.pem");
let n: TestNode;
beforeAll(async () => {
  const r = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], { stdout: "ignore", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  n = await startTestNode({ "ws.tlsCert": cert, "ws.tlsKey": key, "rpc.tlsCert": cert, "rpc.tlsKey": key });
});
afterAll(async () => {
  await n.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("wss:// serves the protocol; plain ws:// is not answered as WebSocket", async () => {
  const c = await connect({ port: n.wsPort, userID: "t1", platformID: 5, token: n.token("t1", 5), sdkType: "js", isMsgResp: true, tls: { ca: readFileSync(cert, "utf8") } });
  expect((await c.request(1001)).errCode).toBe(0);
  c.close();
  await expect(connect({ port: n.wsPort, userID: "t2", platformID: 5, token: n.token("t2", 5) })).rejects.toThrow();
});

test("gRPC over TLS, and the CLI trusts the configured certificate", async () => {
  const admin = createClient(Admin, createGrpcTransport({ baseUrl: `https://127.0.0.1:${n.rpcPort}`, nodeOptions: { ca: readFileSync(cert) } }));
  expect((await admin.stats({}, { headers: n.adminHeaders })).version).toMatch(/^\d/);
  const cfg = join(dir, "cli.yml");
  await Bun.write(cfg, `rpc:\n  tlsCert: ${cert}\n  tlsKey: ${key}\n`);
  const r = await runCliAsync(["stats", "--json", "--config", cfg, "--rpc", `127.0.0.1:${n.rpcPort}`, "--data-dir", n.dataDir]);
  expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: "" });
  expect(JSON.parse(r.stdout).version).toMatch(/^\d/);
});

test("with TLS, HTTP/1.1 callers (Connect JSON) share the rpc port with gRPC (ALPN decides)", async () => {
  const res = await fetch(`https://127.0.0.1:${n.rpcPort}/imgate.admin.v1.Admin/Stats`, {
    method: "POST", headers: { "content-type": "application/json", ...n.adminHeaders }, body: "{}", tls: { ca: readFileSync(cert, "utf8") },
  } as RequestInit);
  expect(res.status).toBe(200);
  expect(((await res.json()) as any).nodeID).toBe(n.node.nodeID);
});

test("half a TLS configuration is a config error", () => {
  Bun.spawnSync(["sh", "-c", `printf "ws:\\n  tlsCert: ${cert}\\n" > ${join(dir, "half.yml")}`]);
  const r = runCli(["config", "check", join(dir, "half.yml")]);
  expect(r.stderr).toContain("ws.tlsCert and ws.tlsKey go together");
  expect(r.code).toBe(2);
});
