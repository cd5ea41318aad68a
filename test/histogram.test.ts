// The hot-path histogram renders what prom-client's own Histogram renders for the same observations.
import { describe, expect, test } from "bun:test";
import client from "prom-client";
import { localHistogram } from "../src/observe/histogram.js";

describe("local histogram", () => {
  test("buckets, +Inf, sum and count per label value match prom-client's Histogram line for line", async () => {
    const ours = new client.Registry();
    const theirs = new client.Registry();
    const buckets = [0.001, 0.01, 0.1, 1];
    const h = localHistogram({ name: "x_seconds", help: "x", labelName: "req", buckets, registry: ours });
    const p = new client.Histogram({ name: "x_seconds", help: "x", labelNames: ["req"], buckets, registers: [theirs] });
    const samples: [number, number][] = [[0.0005, 1003], [0.001, 1003], [0.05, 1003], [3, 1003], [0.2, 1002], [1, 1002]];
    for (const [v, req] of samples) {
      h.observe(v, req);
      p.observe({ req: String(req) }, v);
    }
    const lines = (s: string) => s.split("\n").filter((l) => l && !l.startsWith("#")).sort();
    const mine = lines(await ours.metrics());
    expect(mine).toEqual(lines(await theirs.metrics()));
    expect(mine).toContain('x_seconds_bucket{le="0.001",req="1003"} 2');
    expect(mine).toContain('x_seconds_bucket{le="+Inf",req="1003"} 4');
    expect(mine).toContain('x_seconds_count{req="1002"} 2');
  });

  test("without a label, and label values beyond the bound share one series", async () => {
    const r = new client.Registry();
    const plain = localHistogram({ name: "y", help: "y", buckets: [1, 10], registry: r });
    plain.observe(5);
    plain.observe(50);
    const many = localHistogram({ name: "z", help: "z", labelName: "k", buckets: [1], registry: r });
    for (let i = 0; i < 1000; i++) many.observe(0.5, i);
    const text = await r.metrics();
    expect(text).toContain('y_bucket{le="10"} 1');
    expect(text).toContain("y_count 2");
    expect(text.split("\n").filter((l) => l.startsWith("z_count")).length).toBeLessThanOrEqual(257);
    expect(text).toContain('z_count{k="other"}');
  });
});
