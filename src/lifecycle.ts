// What a start has started, so a start that fails half-way stops it again, in reverse order: Redis connections,
// timers, worker threads and listeners do not outlive a failed `startNode` (they kept the process alive before).
import type { Logger } from "./observe/log.js";

export interface Lifecycle {
  /** Records how to stop something just started. */
  add(name: string, stop: () => unknown): void;
  /** Stops everything recorded, newest first; a failing stop is logged and the rest still run. */
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
          log.warn("could not stop after a failed start", { component: name, err });
        }
      }
    },
  };
}
