// The openim shape's clients of OpenIM's services close their HTTP/2 connections when the node stops (they were
// left open: a stopped node kept sockets to every service it had called). Against the stand-ins built from the same
// proto (OpenIM's Go services cannot run here).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createOpenIMBackend, createOpenIMStatusStore } from "../src/backend/openim/index.js";
import { signToken } from "../src/backend/embedded/jwt.js";
import { startOpenIMStandins } from "./support/openim-standins.js";
import { until } from "./support/client.js";

const SECRET = "openim-close-secret";
let openim: Awaited<ReturnType<typeof startOpenIMStandins>>;
beforeAll(async () => {
  openim = await startOpenIMStandins(SECRET);
});
afterAll(() => openim.close());

test("closing the backend and the status store ends their connections to OpenIM's services", async () => {
  const addr = { callTimeoutMs: 2000, resolve: () => [openim.address] };
  const backend = createOpenIMBackend(addr);
  const status = createOpenIMStatusStore(addr);
  const meta = { operationID: "oc", opUserID: "u1", platform: "Web", connID: "" };
  await backend.auth.parseToken(signToken(SECRET, "u1", 5, 3600), meta).catch(() => undefined);
  await status.getOnline(["u1"]);
  await until(() => openim.sessions() >= 1, 2000, "connections to the services");
  await backend.close();
  await status.close();
  await until(() => openim.sessions() === 0, 3000, "every connection closed");
});
