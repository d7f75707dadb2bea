// StreamGuard live dashboard: follows the worker's server-sent events (/events). No dependencies.
// Alert text comes from producers: it is only ever set with textContent, never as HTML.
"use strict";

(function () {
  const MAX_ROWS = 200;
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const rows = $("alert-rows");
  const seen = new Set();

  const fmt = (x, digits) => (x === null || x === undefined ? "–" : Number(x).toFixed(digits));
  const ms = (x) => (x === null || x === undefined ? "–" : x < 10 ? x.toFixed(1) : x.toFixed(0));
  const pct = (x) => (100 * x).toFixed(x < 0.1 ? 2 : 1) + "%";
  const time = (epochMs) => (epochMs ? new Date(epochMs).toLocaleTimeString() : "–");

  function setConnection(on, text) {
    const pill = $("connection");
    pill.textContent = text;
    pill.className = "pill " + (on ? "pill-on" : "pill-off");
    pill.dataset.state = on ? "live" : "offline";
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function describeEvent(alert) {
    const ev = alert.event || {};
    if (ev.text) return ev.text;
    const parts = [];
    if (ev.amount !== undefined) parts.push(ev.amount + " " + (ev.currency || ""));
    if (ev.merchant) parts.push(ev.merchant);
    if (ev.country) parts.push(ev.country);
    if (ev.channel) parts.push(ev.channel);
    return parts.join(" · ");
  }

  function alertRow(alert) {
    const severity = String(alert.severity || "unknown");
    const tr = el("tr", "alert fresh sev-" + severity.replace(/[^a-z]/g, ""));
    tr.dataset.alertId = alert.alert_id || "";
    tr.dataset.severity = severity;
    tr.appendChild(el("td", "", time(alert.published)));
    tr.appendChild(el("td", "", alert.kind));
    const sev = el("td");
    sev.appendChild(el("span", "sev", severity));
    tr.appendChild(sev);
    tr.appendChild(el("td", "", fmt(alert.score, 3)));
    const event = el("td", "event");
    event.appendChild(el("div", "", alert.event_id || ""));
    event.appendChild(el("div", "muted", describeEvent(alert)));
    tr.appendChild(event);
    const reasons = el("td");
    const list = el("ul", "reasons");
    for (const r of alert.reasons || []) {
      const li = el("li");
      li.appendChild(el("span", "rule", r.rule));
      if (r.detail) li.appendChild(document.createTextNode(": " + r.detail));
      if (r.drivers && r.drivers.length) li.appendChild(el("span", "muted", " (" + r.drivers.join(", ") + ")"));
      list.appendChild(li);
    }
    reasons.appendChild(list);
    tr.appendChild(reasons);
    tr.appendChild(el("td", alert.sla_met === false ? "sev-critical" : "", ms(alert.latency_ms) + " ms"));
    return tr;
  }

  function addAlerts(alerts) {
    // `alerts` arrive newest first; insert oldest first at the top so the newest ends up first.
    // Keyed by alert_id: a replayed event (same alert_id) or a reconnect shows no duplicate row.
    const key = (a) => a.alert_id || "seq-" + a.seq;
    const fresh = alerts.filter((a) => !seen.has(key(a)));
    if (!fresh.length) return;
    const empty = rows.querySelector("tr.empty");
    if (empty) empty.remove();
    for (const a of fresh.slice().reverse()) {
      seen.add(key(a));
      const row = alertRow(a);
      row.dataset.key = key(a);
      rows.insertBefore(row, rows.firstChild);
    }
    while (rows.children.length > MAX_ROWS) rows.lastChild.remove();
    if (seen.size > 10 * MAX_ROWS) {  // keep the set bounded: remember only what is on screen
      seen.clear();
      for (const tr of rows.children) seen.add(tr.dataset.key);
    }
  }

  function line(points, cls) {
    const path = document.createElementNS(SVG, "path");
    let d = "";
    const ok = (p) => p && p[1] !== null && !Number.isNaN(p[1]);
    points.forEach(([x, y], i) => {
      if (!ok(points[i])) return;
      const joined = ok(points[i - 1]);
      d += (joined ? "L" : "M") + x.toFixed(1) + "," + y.toFixed(1);
      // A point with no neighbour (a single busy slot) is drawn as a short dash, not nothing.
      if (!joined && !ok(points[i + 1])) d += "m-3,0l6,0";
    });
    path.setAttribute("d", d);
    path.setAttribute("class", cls);
    return path;
  }

  function drawChart(svg, series, lines, opts) {
    const W = 600, H = 180, L = 36, B = 16, T = 6;
    while (svg.firstChild) svg.firstChild.remove();
    let top = opts.min || 1;
    for (const s of lines) for (const p of series) if (p[s.key] !== null && p[s.key] > top) top = p[s.key];
    top *= 1.1;
    const x = (i) => L + ((W - L) * i) / Math.max(series.length - 1, 1);
    const y = (v) => (v === null || v === undefined ? null : T + (H - B - T) * (1 - Math.min(v, top) / top));
    for (let g = 0; g <= 3; g++) {
      const v = (top * g) / 3;
      const gy = y(v);
      const grid = document.createElementNS(SVG, "line");
      grid.setAttribute("x1", L); grid.setAttribute("x2", W);
      grid.setAttribute("y1", gy); grid.setAttribute("y2", gy);
      grid.setAttribute("class", "grid");
      svg.appendChild(grid);
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", 2); label.setAttribute("y", gy + 3);
      label.setAttribute("class", "axis");
      label.textContent = v < 10 ? v.toFixed(1) : v.toFixed(0);
      svg.appendChild(label);
    }
    if (opts.sla) svg.appendChild(line([[L, y(opts.sla)], [W, y(opts.sla)]], "sla"));
    for (const s of lines) svg.appendChild(line(series.map((p, i) => [x(i), y(p[s.key])]), s.cls));
  }

  function update(payload) {
    const w = payload.worker, st = payload.stats, win = st.window;
    $("worker").textContent = w.app_id + " · " + w.url + " · " + (w.ready ? "ready" : "not ready") + ": " + w.reason;
    $("kpi-throughput").textContent = fmt(st.throughput_per_s, 1);
    $("kpi-latency").textContent = ms(win.p50_ms) + " / " + ms(win.p95_ms) + " / " + ms(win.p99_ms);
    $("kpi-latency-sub").textContent = "ms over " + st.window_s / 60 + " min, SLA " + w.sla_ms + " ms";
    $("kpi-sla").textContent = win.scores ? pct(win.sla_miss_rate) : "–";
    $("kpi-sla-sub").textContent = win.sla_misses + " of " + win.scores + " scores, " + st.totals.sla_misses + " since start";
    $("kpi-alerts").textContent = win.alerts;
    const sev = Object.entries(st.alerts_by_severity).map(([k, v]) => k + " " + v).join(", ");
    $("kpi-alerts-sub").textContent = st.totals.alerts + " since start" + (sev ? " (" + sev + ")" : "");
    $("kpi-dlq").textContent = win.dead_letters;
    const dl = Object.entries(st.dead_letters_by_type).map(([k, v]) => k + " " + v).join(", ");
    $("kpi-dlq-sub").textContent = st.totals.dead_letters + " since start" + (dl ? " (" + dl + ")" : "");
    $("window-label").textContent = "last " + st.window_s / 60 + " min, " + st.bucket_s + " s buckets";
    drawChart($("chart-throughput"), st.series, [{ key: "per_s", cls: "tp" }], { min: 1 });
    drawChart($("chart-latency"), st.series,
      [{ key: "p50_ms", cls: "p50" }, { key: "p95_ms", cls: "p95" }, { key: "p99_ms", cls: "p99" }],
      { min: w.sla_ms * 1.2, sla: w.sla_ms });
    addAlerts(payload.alerts);
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  }

  const source = new EventSource("events");
  source.addEventListener("open", () => setConnection(true, "live"));
  source.addEventListener("error", () => setConnection(false, "reconnecting…"));
  source.addEventListener("update", (msg) => {
    setConnection(true, "live");
    update(JSON.parse(msg.data));
  });
})();
