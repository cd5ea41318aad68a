// What a start has started, so that stopping is one teardown, newest first, whether the start failed half-way or the
// node shuts down: Redis connections, timers, worker threads and listeners never outlive the node.
import type { Logger } from "./observe/log.js";

export interface Lifecycle {
  /** Records how to stop something just started. */
  add(name: string, stop: () => unknown): void;
  /** Stops everything recorded, newest first; a failing stop is logged and the rest still run. Once. */
  unwind(): Promise<void>;
  names(): string[];
}

export function createLifecycle(log: Logger): Lifecycle {
  const stack: { name: string; stop: () => unknown }[] = [];
  return {
    add: (name, stop) => void stack.push({ name, stop }),
    names: () => stack.map((s) => s.name),
    async unwind() {
      while (stack.length) {
        const { name, stop } = stack.pop()!;
        try {
          await stop();
        } catch (err) {
          log.warn("could not stop a part; stopping the rest", { component: name, err });
        }
      }
    },
  };
}
