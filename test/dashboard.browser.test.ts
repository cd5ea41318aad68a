// The dashboard in a real browser (Debian's chromium, driven by playwright-core) while a load runs: the charts
// update, and a screenshot lands in docs/ for the README.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { type TestNode, startTestNode } from "./support/node.js";
import { type TestClient, connect } from "./support/client.js";
import { textMsg } from "./support/pb.js";

const CHROMIUM = "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
// CI installs chromium (.ci/run); there the test must run, never skip.
if (!available && process.env.CI) throw new Error(`${CHROMIUM} is missing on CI`);

let n: TestNode;
let browser: Browser | undefined;
let load: ReturnType<typeof setInterval> | undefined;
const clients: TestClient[] = [];
beforeAll(async () => {
  if (!available) return;
  n = await startTestNode({ "multiLogin.policy": 0 });
  for (const [i, p] of [1, 2, 2, 3, 5, 5, 5, 7].entries())
    clients.push(await connect({ port: n.wsPort, userID: `d${i % 5}`, platformID: p, token: n.token(`d${i % 5}`, p), sdkType: "js" }));
  let k = 0;
  load = setInterval(() => {
    for (let j = 0; j < 20; j++) {
      const from = clients[(k + j) % clients.length]!;
      from.request(1003, textMsg(from.opts.userID, `d${(k + j + 1) % 5}`, `load ${k}`)).catch(() => {});
    }
    k++;
  }, 50);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
});
afterAll(async () => {
  clearInterval(load);
  await browser?.close();
  for (const c of clients) c.close();
  await n?.stop();
});

test.skipIf(!available)("the dashboard shows live numbers and charts", async () => {
  const page = await browser!.newPage({ viewport: { width: 1280, height: 860 } });
  await page.goto(`http://127.0.0.1:${n.adminPort}/?token=${n.adminToken}`);
  await page.waitForSelector("#status.live");
  await page.waitForFunction("Number(document.body.dataset.samples) >= 4", undefined, { timeout: 15_000 });
  const first = await page.textContent("#k-rate");
  const samples1 = Number(await page.getAttribute("body", "data-samples"));
  await page.waitForFunction(`Number(document.body.dataset.samples) > ${samples1 + 1}`, undefined, { timeout: 10_000 });
  expect(Number(await page.getAttribute("body", "data-samples"))).toBeGreaterThan(samples1);
  expect(await page.textContent("#k-conn")).toBe("8");
  expect(await page.textContent("#k-users")).toBe("5");
  expect(first).toMatch(/^\d+(\.\d+k)? \/ \d+(\.\d+k)?$/);
  // The event-loop lag of the last second, p99 and max, from the 10 ms probe.
  expect(await page.textContent("#k-loop")).toMatch(/^\d+(\.\d)? \/ \d+(\.\d)? ms$/);
  // Something was drawn on the message-rate chart: its pixels are not all one colour.
  // (Runs in the page; written as a string because this file is type-checked without the DOM library.)
  const distinct = await page.evaluate<number>(`(() => {
    const cv = document.getElementById("c-rate");
    const d = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
    const seen = new Set();
    for (let i = 0; i < d.length; i += 16) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    return seen.size;
  })()`);
  expect(distinct).toBeGreaterThan(3);
  expect(await page.locator("#t-plat tr").count()).toBe(5);
  expect(await page.locator("#t-busy tbody tr").count()).toBeGreaterThan(0);
  // IMGATE_SCREENSHOT=1 refreshes docs/dashboard.png (after the charts fill); plain test runs leave the tree clean.
  if (process.env.IMGATE_SCREENSHOT === "1") {
    await page.waitForTimeout(3000);
    await page.screenshot({ path: new URL("../docs/dashboard.png", import.meta.url).pathname });
  }
}, 60_000);
