// A request's cancellation (src/gateway/cancel.ts): the AbortSignal is made only when read, carries a cancellation
// that came before it, and a raced call fails with the reason and leaves nothing waiting behind it.
import { expect, test } from "bun:test";
import { RequestCancel } from "../src/gateway/cancel.js";

const fail = (why: Error) => new Error(`cancelled: ${why.message}`);

test("a signal read before or after the cancellation aborts with its reason", () => {
  const early = new RequestCancel();
  const signal = early.signal;
  expect(signal.aborted).toBe(false);
  early.cancel(new Error("deadline exceeded"));
  expect(signal.aborted).toBe(true);
  expect((signal.reason as Error).message).toBe("deadline exceeded");

  const late = new RequestCancel();
  late.cancel(new Error("connection closed"));
  late.cancel(new Error("deadline exceeded")); // the first reason stays
  expect(late.signal.aborted).toBe(true);
  expect((late.signal.reason as Error).message).toBe("connection closed");
  expect(late.reason?.message).toBe("connection closed");
});

test("race: the call's own outcome until a cancellation, then the reason; settled calls leave no waiter", async () => {
  const c = new RequestCancel();
  expect(await c.race(Promise.resolve(7), fail)).toBe(7);
  expect(await c.race(Promise.reject(new Error("store: busy")), fail).catch((e: Error) => e.message)).toBe("store: busy");
  expect((c as unknown as { waiting?: unknown[] }).waiting ?? []).toEqual([]);

  const pending = c.race(new Promise<number>(() => {}), fail);
  c.cancel(new Error("connection closed"));
  expect(await pending.catch((e: Error) => e.message)).toBe("cancelled: connection closed");
  expect(await c.race(Promise.resolve(1), fail).catch((e: Error) => e.message)).toBe("cancelled: connection closed");
});
