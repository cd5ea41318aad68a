// One teardown: a node stops every part it started, newest first, whatever one of them throws, and `stopped`
// settles; the same teardown serves a shutdown and a start that fails half-way.
import { expect, test } from "bun:test";
import { type TestNode, startTestNode } from "./support/node.js";

test("a part that throws while stopping does not leave the rest open or `stopped` unsettled", async () => {
  const n: TestNode = await startTestNode();
  const failing = n.node.backend;
  const closeStore = failing.close.bind(failing);
  let storeClosed = false;
  // The backend's close throws after doing its work (a closed store thread), as a broken part would.
  failing.close = async () => {
    await closeStore();
    storeClosed = true;
    throw new Error("backend close failed");
  };
  const hub = n.node.hub;
  let hubClosed = false;
  const closeHub = hub.close.bind(hub);
  hub.close = async () => {
    await closeHub();
    hubClosed = true;
  };
  await n.node.stop();
  await n.node.stopped;
  expect([storeClosed, hubClosed]).toEqual([true, true]);
  // Every listener is closed: nothing answers on the node's ports any more.
  for (const port of [n.wsPort, n.adminPort, n.rpcPort])
    expect(await fetch(`http://127.0.0.1:${port}/healthz`).then(() => "open", () => "closed")).toBe("closed");
});
