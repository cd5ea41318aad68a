// Event-loop lag by timer drift (Bun lacks perf_hooks' monitorEventLoopDelay): a timer every `intervalMs` notes
// how late it fired. One sample every 10 ms costs nothing measurable and catches any stall over ~10 ms. Each
// sample goes to the Prometheus histogram (imgate_event_loop_lag_seconds) and to two windows: since the last
// scrape (the max gauge) and since the last dashboard sample (p50/p99/max per second).

export interface LoopLag {
  /** Called with each sample (seconds), e.g. a histogram's observe. */
  onSample(f: (seconds: number) => void): void;
  /** Largest lag since the previous call (ms); for the scrape's max gauge. */
  takeMaxMs(): number;
  /** p50/p99/max (ms) of the samples since the previous call; for the dashboard's one-second samples. */
  takeWindow(): { p50: number; p99: number; max: number };
  stop(): void;
}

export function startLoopLag(intervalMs = 10): LoopLag {
  let expected = performance.now() + intervalMs;
  let scrapeMax = 0;
  let window: number[] = [];
  const sinks: ((s: number) => void)[] = [];
  const t = setInterval(() => {
    const now = performance.now();
    const lagMs = Math.max(0, now - expected);
    expected = now + intervalMs;
    scrapeMax = Math.max(scrapeMax, lagMs);
    if (window.length < 10_000) window.push(lagMs);
    for (const s of sinks) s(lagMs / 1000);
  }, intervalMs);
  t.unref?.();
  return {
    onSample: (f) => void sinks.push(f),
    takeMaxMs() {
      const m = scrapeMax;
      scrapeMax = 0;
      return m;
    },
    takeWindow() {
      const w = window.sort((a, b) => a - b);
      window = [];
      const at = (p: number) => (w.length ? w[Math.min(w.length - 1, Math.floor(p * w.length))]! : 0);
      return { p50: round(at(0.5)), p99: round(at(0.99)), max: round(w.at(-1) ?? 0) };
    },
    stop: () => clearInterval(t),
  };
}

const round = (ms: number) => Math.round(ms * 10) / 10;
