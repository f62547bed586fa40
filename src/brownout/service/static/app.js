// brownout dashboard: vanilla JS, no dependencies, nothing from other origins.
// Every piece of data is rendered with textContent / createTextNode / setAttribute,
// never innerHTML, so a node named "<script>" is shown as text, not run.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const POLL_MS = 1000;
const GPU = 9;          // GPU cell size in the fleet map (px)
const NODE_LABEL = 46;  // width of the node-name column
const state = { version: null, layout: null, colour: "temp", token: "", last: null, busy: false,
  answerError: null };

// ---------------------------------------------------------------- helpers
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  }
  for (const c of children) e.append(c instanceof Node ? c : String(c ?? ""));
  return e;
}
function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : String(c ?? ""));
  return e;
}
function byId(id) { return document.getElementById(id); }
function fmtTime(t) {
  if (t === null || t === undefined) return "";
  return new Date(t * 1000).toISOString().slice(11, 19);
}
function fmtNum(x, digits) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  return Number(x).toFixed(digits ?? 1);
}
function pct(x) { return x === null || x === undefined ? "–" : (100 * x).toFixed(1) + " %"; }
function hashHue(s) {  // FNV-1a, then spread: neighbouring names get distant hues
  let h = 2166136261;
  for (const ch of s) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return (Math.imul(h, 2654435761) >>> 0) % 360;
}

function tempColour(t) {
  if (t === null || t === undefined) return "#3a424c";
  const stops = [[30, [56, 120, 200]], [55, [63, 185, 80]], [75, [210, 153, 34]], [90, [248, 81, 73]]];
  if (t <= stops[0][0]) return `rgb(${stops[0][1].join(",")})`;
  for (let i = 1; i < stops.length; i++) {
    if (t <= stops[i][0]) {
      const [t0, c0] = stops[i - 1], [t1, c1] = stops[i];
      const f = (t - t0) / (t1 - t0);
      return `rgb(${c0.map((c, j) => Math.round(c + f * (c1[j] - c))).join(",")})`;
    }
  }
  return "rgb(248,81,73)";
}
const HEALTH_COLOURS = ["#3fb950", "#d29922", "#f85149", "#6e7681"];
const HEALTH_NAMES = ["ok", "suspect", "fault", "blind"];

// ---------------------------------------------------------------- API
function headers() {
  const h = { "Accept": "application/json" };
  if (state.token) h["Authorization"] = "Bearer " + state.token;
  return h;
}
async function getJSON(path) {
  const r = await fetch(path, { headers: headers(), cache: "no-store" });
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}
async function answer(key, verb, button) {
  button.disabled = true;
  try {
    const r = await fetch(`/api/approvals/${encodeURIComponent(key)}/${verb}`,
      { method: "POST", headers: headers() });
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      state.answerError = { text: `${verb} failed (HTTP ${r.status}): ${body.error || ""}`,
        until: Date.now() + 8000 };
    } else {
      state.answerError = null;
    }
  } finally {
    state.version = null;  // force a redraw on the next poll
    poll();
  }
}

// ---------------------------------------------------------------- fleet map
function buildFleet(layout) {
  const root = byId("fleet");
  root.replaceChildren();
  const racks = new Map(layout.racks.map(r => [r.name, r]));
  let gpuIndex = 0;
  const cells = [], labels = new Map();
  for (const dom of layout.cooling) {
    const box = el("div", { class: "domain", "data-cooling": dom.name }, el("div", { class: "label" }, `cooling ${dom.name}`));
    const row = el("div", { class: "racks" });
    for (const rackName of dom.racks) {
      const rack = racks.get(rackName);
      const leaves = [...new Set(rack.nodes.map(n => n.leaf))];
      const maxG = Math.max(...rack.nodes.map(n => n.gpus));
      const w = NODE_LABEL + 6 + maxG * GPU, h = rack.nodes.length * (GPU + 3) + 2;
      const pic = svg("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}` });
      rack.nodes.forEach((node, i) => {
        const y = 1 + i * (GPU + 3);
        const name = svg("text", { x: 0, y: y + GPU - 1, class: "node-name" }, node.name);
        labels.set(node.name, name);
        pic.append(name);
        const leafBar = svg("rect", { class: "leaf", x: NODE_LABEL + 1, y: y, width: 2, height: GPU,
          stroke: `hsl(${hashHue(node.leaf)},60%,55%)` }, svg("title", {}, `leaf ${node.leaf}`));
        pic.append(leafBar);
        for (let g = 0; g < node.gpus; g++) {
          const cell = svg("rect", { class: "gpu", x: NODE_LABEL + 6 + g * GPU, y: y, width: GPU - 1,
            height: GPU - 1, "data-gpu": gpuIndex, fill: "#3a424c" });
          const title = svg("title", {}, `${node.name}/gpu${g}`);
          cell.append(title);
          cells.push({ cell, title, name: `${node.name}/gpu${g}` });
          pic.append(cell);
          gpuIndex++;
        }
      });
      row.append(el("div", { class: "rack", "data-rack": rack.name },
        el("div", { class: "label" }, `${rack.name} · ${leaves.join(", ")}`), pic));
    }
    box.append(row);
    root.append(box);
  }
  state.cells = cells;
  state.labels = labels;
  byId("fleet-count").textContent = `${layout.n_nodes} nodes · ${gpuIndex} GPUs`;
}

function paintFleet(fleet) {
  if (!state.cells) return;
  const temps = fleet.gpu_temp_c || [], health = fleet.gpu_health || [];
  state.cells.forEach((c, i) => {
    const t = temps[i], hc = health[i] ?? 0;
    const fill = state.colour === "temp" ? tempColour(t) : HEALTH_COLOURS[hc] || HEALTH_COLOURS[0];
    c.cell.setAttribute("fill", fill);
    c.title.textContent = `${c.name}: ${t === null || t === undefined ? "no data" : t + " °C"}, ${HEALTH_NAMES[hc] || "ok"}`;
  });
  for (const [name, label] of state.labels) {
    const s = fleet.node_state[name];
    label.setAttribute("class", "node-name" + (s === "suspect" || s === "returned" ? " suspect" : s ? " out" : ""));
    label.textContent = name.length > 8 ? name.slice(0, 7) + "…" : name;  // full name in the tooltip
    const t = svg("title", {}, s ? `${name}: ${s}` : name);
    label.append(t);
  }
}

function swatch(colour) {
  const i = el("i", {});
  i.style.background = colour;  // CSSOM, allowed by the CSP (inline style attributes are not)
  return i;
}

function drawLegend() {
  const lg = byId("legend");
  lg.replaceChildren();
  if (state.colour === "temp") {
    for (const t of [30, 55, 75, 90]) lg.append(swatch(tempColour(t)), `${t}°C`);
  } else {
    HEALTH_NAMES.forEach((n, i) => lg.append(swatch(HEALTH_COLOURS[i]), n));
  }
}

// ---------------------------------------------------------------- findings
function sparkline(series, detectedAt) {
  const W = 170, H = 54, P = 4;
  const pic = svg("svg", { class: "spark", width: W, height: H, viewBox: `0 0 ${W} ${H}` });
  if (!series || !series.t_s || series.t_s.length < 2) {
    pic.append(svg("text", { x: 4, y: 30 }, "no series"));
    return pic;
  }
  const pts = series.t_s.map((t, i) => [t, series.value[i]]).filter(p => p[1] !== null);
  if (pts.length < 2) { pic.append(svg("text", { x: 4, y: 30 }, "no data")); return pic; }
  const t0 = series.t_s[0], t1 = series.t_s[series.t_s.length - 1] || t0 + 1;
  let lo = Math.min(...pts.map(p => p[1])), hi = Math.max(...pts.map(p => p[1]));
  if (hi - lo < 1e-9) { hi += 1; lo -= 1; }
  const x = t => P + (W - 2 * P) * (t - t0) / Math.max(1e-9, t1 - t0);
  const y = v => H - 12 - (H - 20) * (v - lo) / (hi - lo);
  let d = "", pen = false, i = 0;
  for (const t of series.t_s) {
    const v = series.value[i++];
    if (v === null) { pen = false; continue; }
    d += `${pen ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)} `;
    pen = true;
  }
  pic.append(svg("path", { d: d.trim() }));
  if (detectedAt >= t0 && detectedAt <= t1) {
    pic.append(svg("line", { x1: x(detectedAt), x2: x(detectedAt), y1: 2, y2: H - 12 }));
  }
  pic.append(svg("text", { x: P, y: H - 2 }, `${series.label} ${fmtNum(lo)}–${fmtNum(hi)} ${series.unit}`));
  return pic;
}

function evidenceText(ev) {
  const keep = Object.entries(ev || {});
  return keep.map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join("\n");
}

function drawFindings(list, total) {
  const root = byId("findings");
  root.replaceChildren();
  byId("findings-count").textContent = `${list.filter(f => f.status === "open").length} open · ${total} total`;
  for (const f of list) {
    const card = el("div", { class: `finding ${f.severity} ${f.status}`, "data-finding": f.id },
      el("div", { class: "title" },
        el("span", { class: "kind" }, f.kind), " ", el("span", { class: "component" }, f.component),
        " ", el("span", { class: "muted" }, `${f.severity} · ${f.status} · detected ${fmtTime(f.detected_at)}` +
          (f.resolved_at ? ` · resolved ${fmtTime(f.resolved_at)}` : "") + ` · conf ${fmtNum(f.confidence, 2)}`)),
      el("div", { class: "summary" }, f.summary),
      sparkline(f.series, f.detected_at),
      el("div", { class: "evidence" }, evidenceText(f.evidence)));
    root.append(card);
  }
  if (!list.length) root.append(el("div", { class: "muted" }, "no findings yet"));
}

// ---------------------------------------------------------------- journal
function drawJournal(actions, total, approvalMode) {
  const body = byId("journal").querySelector("tbody");
  body.replaceChildren();
  byId("actions-count").textContent = `${total} actions`;
  const waiting = actions.filter(a => a.status === "awaiting_approval").length;
  const hint = byId("approval-hint");
  const err = state.answerError && state.answerError.until > Date.now() ? state.answerError.text : "";
  let text = err;
  if (!text && approvalMode && waiting && !state.token) {
    text = `${waiting} action(s) await approval: paste the API token (top right) to answer.`;
  }
  hint.hidden = !text;
  hint.textContent = text;
  for (const a of actions) {
    const buttons = el("td", {});
    if (a.status === "awaiting_approval") {
      const ok = el("button", { class: "approve", type: "button", "data-key": a.key }, "approve");
      const no = el("button", { class: "reject", type: "button", "data-key": a.key }, "reject");
      ok.addEventListener("click", () => answer(a.key, "approve", ok));
      no.addEventListener("click", () => answer(a.key, "reject", no));
      buttons.append(ok, no);
    }
    body.append(el("tr", { "data-key": a.key },
      el("td", {}, fmtTime(a.decided_at_s)), el("td", {}, a.kind),
      el("td", {}, a.node || a.component),
      el("td", { class: `status st-${a.status}` }, a.status),
      el("td", {}, a.reason + (a.last_error ? ` (${a.last_error})` : "")), buttons));
  }
}

// ---------------------------------------------------------------- goodput
function drawGoodput(goodput) {
  const root = byId("goodput-chart");
  root.replaceChildren();
  const hist = goodput.history || [];
  const W = 600, H = 180, L = 34, B = 16;
  const pic = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none" });
  for (const v of [0, 0.5, 1]) {
    const y = H - B - (H - B - 6) * v;
    pic.append(svg("line", { class: "grid", x1: L, x2: W, y1: y, y2: y }), svg("text", { x: 2, y: y + 3 }, `${v * 100}%`));
  }
  if (hist.length >= 2) {
    const t0 = hist[0].t_s, t1 = hist[hist.length - 1].t_s;
    const x = t => L + (W - L - 4) * (t - t0) / Math.max(1e-9, t1 - t0);
    const y = v => H - B - (H - B - 6) * Math.max(0, Math.min(1, v));
    for (const [key, cls] of [["ettr", "ettr"], ["availability", "avail"]]) {
      const d = hist.filter(p => p[key] !== null).map((p, i) => `${i ? "L" : "M"}${x(p.t_s).toFixed(1)},${y(p[key]).toFixed(1)}`).join(" ");
      if (d) pic.append(svg("path", { class: cls, d }));
    }
    pic.append(svg("text", { x: L, y: H - 2 }, fmtTime(t0)), svg("text", { x: W - 50, y: H - 2 }, fmtTime(t1)));
  } else {
    pic.append(svg("text", { x: L + 10, y: H / 2 }, "waiting for step records…"));
  }
  root.append(pic, el("div", { class: "chart-legend" },
    el("span", { class: "ettr" }, "━ goodput (ETTR)"), " ", el("span", { class: "avail" }, "┅ availability")));
  const body = byId("goodput-jobs").querySelector("tbody");
  body.replaceChildren();
  for (const j of Object.values(goodput.jobs || {})) {
    const lost = Object.entries(j.lost_s || {}).sort((a, b) => b[1] - a[1]).slice(0, 3)
      .map(([c, s]) => `${c} ${Math.round(s)} s`).join(", ");
    body.append(el("tr", {}, el("td", {}, j.job), el("td", {}, String(j.steps ?? "")), el("td", {}, pct(j.ettr)), el("td", {}, pct(j.availability)), el("td", {}, lost)));
  }
}

// ---------------------------------------------------------------- jobs
function drawJobs(jobs) {
  byId("jobs-count").textContent = `${jobs.length} followed`;
  const body = byId("jobs").querySelector("tbody");
  body.replaceChildren(...jobs.map(j => el("tr", {},
    el("td", {}, j.job), el("td", {}, String(j.ranks)), el("td", {}, String(j.last_step)),
    el("td", {}, fmtTime(j.last_ts_s)), el("td", {}, `${fmtNum(j.step_s, 2)} s`),
    el("td", {}, String(j.records)))));
  if (!jobs.length) body.append(el("tr", {}, el("td", { colspan: "6", class: "muted" }, "no step records yet")));
}

// ---------------------------------------------------------------- health
function drawHealth(h, notices) {
  byId("cluster").textContent = h.cluster;
  byId("clock").textContent = fmtTime(h.now_s) + " UTC";
  const st = byId("status");
  st.textContent = h.status === "ok" ? "ok" : "degraded";
  st.className = "badge " + (h.status === "ok" ? "ok" : "warn");
  const br = byId("breaker");
  br.textContent = `breaker ${h.breaker.state}`;
  br.className = "badge " + (h.breaker.open ? "bad" : "ok");
  byId("mode").textContent = h.approval_mode ? "approval mode" : h.mode;
  const dl = byId("health");
  dl.replaceChildren();
  const rows = [["source", h.source], ["executor", h.executor], ["ticks", h.ticks],
    ["ingest lag", `${fmtNum(h.ingest_lag_s)} s`], ["detection lag", `${fmtNum(h.detection_lag_s, 3)} s`],
    ["samples", h.samples_total], ["step records", h.steps_total],
    ["ingest rate", `${fmtNum(h.ingest_rate_per_s, 0)} samples/s`], ["finished", h.finished ? "yes" : "no"]];
  for (const [k, v] of rows) dl.append(el("dt", {}, k), el("dd", {}, v));
  byId("breaker-detail").textContent = h.breaker.open ? `breaker open (${h.breaker.rule}): ${h.breaker.reason}` : "";
  const deg = byId("degraded");
  deg.replaceChildren(...[...h.degraded, ...h.errors].map(d => el("li", {}, d)));
  const nl = byId("notices");
  nl.replaceChildren(...notices.map(n => el("li", {}, `${fmtTime(n.detected_at)} ${n.kind}: ${n.summary}`)));
}

// ---------------------------------------------------------------- loop
async function poll() {
  if (state.busy) return;
  state.busy = true;
  try {
    const q = state.version === null ? "" : `?since_version=${state.version}`;
    const d = await getJSON("/api/dashboard" + q);
    if (!d.unchanged) {
      if (!state.layout || state.layout.n_gpus !== d.fleet.gpu_temp_c.length) {
        state.layout = await getJSON("/api/fleet");
        buildFleet(state.layout);
      }
      state.last = d;
      render(d);
      state.version = d.version;
    }
  } catch (err) {
    const st = byId("status");
    st.textContent = "disconnected";
    st.className = "badge bad";
  } finally {
    state.busy = false;
  }
}

function render(d) {
  paintFleet(d.fleet);
  drawFindings(d.findings, d.findings_total);
  drawJournal(d.actions, d.actions_total, d.health.approval_mode);
  drawGoodput(d.goodput);
  drawJobs(d.jobs || []);
  drawHealth(d.health, d.notices);
  document.body.setAttribute("data-version", d.version);
}

function init() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem("brownout-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  state.token = sessionStorage.getItem("brownout-token") || "";
  const input = byId("token");
  input.value = state.token;
  input.addEventListener("change", () => {
    state.token = input.value.trim();
    sessionStorage.setItem("brownout-token", state.token);
    state.version = null;
  });
  for (const r of document.querySelectorAll("input[name=colour]")) {
    r.addEventListener("change", () => {
      state.colour = r.value;
      drawLegend();
      if (state.last) paintFleet(state.last.fleet);
    });
  }
  drawLegend();
  poll();
  setInterval(poll, POLL_MS);
}

document.addEventListener("DOMContentLoaded", init);
