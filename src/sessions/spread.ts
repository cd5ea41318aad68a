// A drain's closes spread over its window, so the clients reconnect elsewhere as a stream rather than a storm.

/** Closes per second a drain never goes below: spreading a handful of clients over the whole window helps no one. */
export const MIN_DRAIN_RATE = 100;

/** Time as the spread sees it: a clock in ms and a timer (tests give their own and need no sleeps). */
export interface SpreadClock {
  now(): number;
  after(ms: number, f: () => void): void;
}

const realClock: SpreadClock = { now: () => performance.now(), after: (ms, f) => void setTimeout(f, ms) };

/**
 * Closes `items` (oldest first by `connectedAt`) spread evenly over `windowMs`: by time t after the start,
 * floor(n·t/window) + 1 have been closed, the window shortened so at least MIN_DRAIN_RATE close each second
 * (10 clients: 0.1 s; 10,000 over 10 s: the whole window). A late timer catches up at once.
 */
export function closeSpread<T extends { connectedAt: number }>(
  items: T[], windowMs: number, close: (item: T) => void, clock: SpreadClock = realClock,
): Promise<void> {
  items.sort((a, b) => a.connectedAt - b.connectedAt);
  const n = items.length;
  if (n === 0) return Promise.resolve();
  const overMs = Math.min(windowMs, (n * 1000) / MIN_DRAIN_RATE);
  const start = clock.now();
  let next = 0;
  return new Promise((resolve) => {
    const step = () => {
      const due = Math.min(n, Math.floor((n * (clock.now() - start)) / overMs) + 1);
      for (; next < due; next++) close(items[next]!);
      if (next >= n) return resolve();
      clock.after(Math.max(5, Math.min(100, overMs / n)), step);
    };
    step();
  });
}
