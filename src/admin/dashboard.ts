// The live dashboard: one self-contained page (no build step, no CDN) served from the binary. It reads the
// sampler's snapshots over Server-Sent Events from /events and draws its own charts on canvas.
// A plain template literal (not String.raw): the transpiler escapes non-ASCII characters, which String.raw
// would then keep as literal backslash sequences. The page itself uses only ASCII and HTML/CSS escapes.
export const dashboardHtml = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>imgate dashboard</title>
<style>
  :root { --bg:#0f1419; --panel:#171e26; --line:#263241; --text:#d6dee8; --dim:#8595a8; --a:#4fb3ff; --b:#ffb454; --c:#7fd962; --d:#f07178; }
  * { box-sizing: border-box; }
  body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--text); }
  header { display:flex; align-items:baseline; gap:16px; padding:14px 20px; border-bottom:1px solid var(--line); }
  header h1 { font-size:18px; margin:0; letter-spacing:.5px; }
  header .meta { color:var(--dim); }
  #status { margin-left:auto; color:var(--dim); }
  #status.live::before { content:"\\25CF"; color:var(--c); margin-right:6px; }
  main { padding:16px 20px; display:grid; gap:16px; grid-template-columns: repeat(12, 1fr); }
  .card { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
  .kpi { grid-column: span 2; }
  .kpi .label { color:var(--dim); font-size:12px; text-transform:uppercase; letter-spacing:.6px; }
  .kpi .value { font-size:28px; font-variant-numeric: tabular-nums; margin-top:2px; }
  .chart { grid-column: span 6; }
  .chart h2, .table h2 { font-size:13px; color:var(--dim); margin:0 0 8px; font-weight:600; text-transform:uppercase; letter-spacing:.6px; }
  canvas { width:100%; height:180px; display:block; }
  .legend { display:flex; gap:14px; color:var(--dim); font-size:12px; margin-top:6px; }
  .legend i { display:inline-block; width:10px; height:3px; margin-right:5px; vertical-align:middle; }
  .table { grid-column: span 6; }
  table { width:100%; border-collapse:collapse; font-variant-numeric: tabular-nums; }
  td, th { text-align:left; padding:4px 6px; border-bottom:1px solid var(--line); }
  th { color:var(--dim); font-weight:500; }
  .bar { height:8px; background:var(--a); border-radius:4px; }
  @media (max-width: 1000px) { .kpi { grid-column: span 4; } .chart, .table { grid-column: span 12; } }
</style>
</head>
<body>
<header><h1>imgate</h1><span class="meta" id="meta"></span><span class="meta" id="ready"></span><span id="status">connecting…</span></header>
<main>
  <div class="card kpi"><div class="label">Connections</div><div class="value" id="k-conn">–</div></div>
  <div class="card kpi"><div class="label">Users online</div><div class="value" id="k-users">–</div></div>
  <div class="card kpi"><div class="label">Frames in / out per s</div><div class="value" id="k-rate">–</div></div>
  <div class="card kpi"><div class="label">Delivery p50 / p99</div><div class="value" id="k-lat">–</div></div>
  <div class="card kpi"><div class="label">Pushes per s</div><div class="value" id="k-push">–</div></div>
  <div class="card kpi"><div class="label">Loop lag p99 / max</div><div class="value" id="k-loop">–</div></div>
  <div class="card chart"><h2>Connections and users</h2><canvas id="c-conn"></canvas>
    <div class="legend"><span><i style="background:var(--a)"></i>connections</span><span><i style="background:var(--b)"></i>users</span></div></div>
  <div class="card chart"><h2>Messages per second</h2><canvas id="c-rate"></canvas>
    <div class="legend"><span><i style="background:var(--a)"></i>frames in</span><span><i style="background:var(--b)"></i>frames out</span><span><i style="background:var(--c)"></i>pushes</span></div></div>
  <div class="card chart"><h2>Delivery latency (ms, store commit &rarr; push)</h2><canvas id="c-lat"></canvas>
    <div class="legend"><span><i style="background:var(--c)"></i>p50</span><span><i style="background:var(--d)"></i>p99</span></div></div>
  <div class="card chart"><h2>Event-loop lag (ms, each second: how late a 10 ms timer fired)</h2><canvas id="c-loop"></canvas>
    <div class="legend"><span><i style="background:var(--c)"></i>p99</span><span><i style="background:var(--d)"></i>max</span></div></div>
  <div class="card chart"><h2>Slow-consumer closes and kicks (total)</h2><canvas id="c-slow"></canvas>
    <div class="legend"><span><i style="background:var(--d)"></i>slow consumers</span><span><i style="background:var(--b)"></i>kicks</span></div></div>
  <div class="card table"><h2>Connections per platform</h2><table id="t-plat"><tbody></tbody></table></div>
  <div class="card table"><h2>Busiest users (requests in the last second)</h2><table id="t-busy"><thead><tr><th>user</th><th>requests</th></tr></thead><tbody></tbody></table></div>
</main>
<script>
const hist = [];
const $ = (id) => document.getElementById(id);
const fmt = (n) => n >= 1e6 ? (n / 1e6).toFixed(1) + "M" : n >= 1e4 ? (n / 1e3).toFixed(1) + "k" : Number.isInteger(n) ? String(n) : n.toFixed(1);
const css = (v) => getComputedStyle(document.documentElement).getPropertyValue(v).trim();

function draw(id, series) {
  const cv = $(id), dpr = window.devicePixelRatio || 1;
  const w = cv.clientWidth, h = cv.clientHeight;
  cv.width = w * dpr; cv.height = h * dpr;
  const g = cv.getContext("2d");
  g.scale(dpr, dpr);
  g.clearRect(0, 0, w, h);
  const pts = hist.slice(-300);
  let max = 1;
  for (const s of series) for (const p of pts) max = Math.max(max, s.get(p));
  max *= 1.1;
  g.strokeStyle = css("--line"); g.fillStyle = css("--dim"); g.font = "11px system-ui"; g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = 8 + (h - 24) * i / 4;
    g.beginPath(); g.moveTo(40, y); g.lineTo(w, y); g.stroke();
    const v = max * (1 - i / 4);
    g.fillText(fmt(max < 10 ? Math.round(v * 10) / 10 : Math.round(v)), 0, y + 4);
  }
  if (pts.length < 2) return;
  const x = (i) => 40 + (w - 40) * i / (pts.length - 1);
  for (const s of series) {
    g.strokeStyle = css(s.color); g.lineWidth = 2; g.beginPath();
    pts.forEach((p, i) => { const y = 8 + (h - 24) * (1 - s.get(p) / max); i ? g.lineTo(x(i), y) : g.moveTo(x(i), y); });
    g.stroke();
  }
}

function render() {
  const s = hist[hist.length - 1];
  if (!s) return;
  $("ready").textContent = "· " + s.readiness;
  $("ready").style.color = s.readiness === "ready" ? "" : "var(--d)";
  $("k-conn").textContent = fmt(s.connections);
  $("k-users").textContent = fmt(s.users);
  $("k-rate").textContent = fmt(s.framesInPerSec) + " / " + fmt(s.framesOutPerSec);
  $("k-lat").textContent = s.deliveryMs.count ? s.deliveryMs.p50 + " / " + s.deliveryMs.p99 + " ms" : "–";
  $("k-push").textContent = fmt(s.pushesPerSec);
  $("k-loop").textContent = s.loopLagMs.p99 + " / " + s.loopLagMs.max + " ms";
  draw("c-conn", [{ color: "--a", get: (p) => p.connections }, { color: "--b", get: (p) => p.users }]);
  draw("c-rate", [{ color: "--a", get: (p) => p.framesInPerSec }, { color: "--b", get: (p) => p.framesOutPerSec }, { color: "--c", get: (p) => p.pushesPerSec }]);
  draw("c-lat", [{ color: "--c", get: (p) => p.deliveryMs.p50 }, { color: "--d", get: (p) => p.deliveryMs.p99 }]);
  draw("c-loop", [{ color: "--c", get: (p) => p.loopLagMs.p99 }, { color: "--d", get: (p) => p.loopLagMs.max }]);
  draw("c-slow", [{ color: "--d", get: (p) => p.slowConsumerCloses }, { color: "--b", get: (p) => p.kicks }]);
  const total = Math.max(1, ...s.platforms.map((p) => p.connections));
  $("t-plat").tBodies[0].innerHTML = s.platforms.map((p) =>
    "<tr><td>" + p.platform + "</td><td style='width:60%'><div class='bar' style='width:" + (100 * p.connections / total) + "%'></div></td><td>" + fmt(p.connections) + "</td></tr>").join("") || "<tr><td>no connections</td></tr>";
  $("t-busy").tBodies[0].innerHTML = s.busiest.map((b) => "<tr><td>" + esc(b.userID) + "</td><td>" + b.requests + "</td></tr>").join("") || "<tr><td colspan=2>idle</td></tr>";
  document.body.dataset.samples = String(hist.length);
}
function esc(s) { return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]); }

function connect() {
  const es = new EventSource("events" + location.search);
  es.addEventListener("hello", (e) => {
    const m = JSON.parse(e.data);
    $("meta").textContent = "v" + m.version + " · " + m.shape + (m.nodeID ? " · " + m.nodeID : "");
    hist.splice(0, hist.length, ...m.history);
    $("status").textContent = "live"; $("status").className = "live";
    render();
  });
  es.onmessage = (e) => { hist.push(JSON.parse(e.data)); if (hist.length > 300) hist.shift(); render(); };
  es.onerror = () => { $("status").textContent = "reconnecting…"; $("status").className = ""; };
}
window.addEventListener("resize", render);
connect();
</script>
</body>
</html>
`;
