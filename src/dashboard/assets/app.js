// The network page: draws /api/state (pushed by /api/events) and acts through
// /api/send and /api/admin. Plain JS, no dependencies.
"use strict";

const W = 800, H = 500, R = 34;
let state = null;
let selected = null; // {kind: "node"|"edge", id}
let lastUpdate = 0;
let sending = false;

const $ = (id) => document.getElementById(id);
// Redraws an element only when what it shows changed. The last HTML set is
// kept, not read back: the browser's innerHTML serializes entities and
// attributes its own way, and a redraw on every update makes a button stale
// under a user's (or a test's) click.
const drawn = new WeakMap();
function setHtml(el, html) {
  if (drawn.get(el) === html) return;
  el.innerHTML = html;
  drawn.set(el, html);
}
const esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const fmtRate = (r) => (r == null ? "–" : r >= 100 ? Math.round(r).toString() : r >= 10 ? r.toFixed(1) : r.toFixed(2).replace(/\.?0+$/, "") || "0");
const fmtMs = (ms) => (ms == null ? "–" : ms >= 100 ? Math.round(ms) + " ms" : ms.toFixed(ms >= 10 ? 1 : 2) + " ms");
function fmtAge(since) {
  const t = Date.parse(since);
  if (!t) return "";
  let s = Math.max(0, (Date.now() - t) / 1000);
  if (s < 60) return Math.floor(s) + " s";
  if (s < 3600) return Math.floor(s / 60) + " min";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}
function fmtUptime(s) {
  if (s == null) return "–";
  if (s < 60) return s.toFixed(0) + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + Math.floor(s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}

// ------------------------------------------------------------------ layout

function layout(nodes, edges) {
  const names = nodes.map((n) => n.name);
  const deg = Object.fromEntries(names.map((n) => [n, 0]));
  const adj = Object.fromEntries(names.map((n) => [n, []]));
  for (const e of edges) {
    if (!(e.a in deg) || !(e.b in deg)) continue;
    deg[e.a]++; deg[e.b]++;
    adj[e.a].push(e.b); adj[e.b].push(e.a);
  }
  const pos = {};
  const n = names.length;
  const cx = W / 2, cy = H / 2;
  if (n === 1) { pos[names[0]] = [cx, cy]; return pos; }
  const ends = names.filter((x) => deg[x] === 1);
  const isPath = n >= 2 && edges.length === n - 1 && ends.length === 2 && names.every((x) => deg[x] <= 2);
  const hub = names.find((x) => deg[x] === n - 1);
  const isStar = n >= 4 && hub && edges.length === n - 1;
  if (isPath) {
    const order = [ends[0]];
    while (order.length < n) {
      const next = adj[order[order.length - 1]].find((x) => !order.includes(x));
      if (!next) break;
      order.push(next);
    }
    const perRow = n <= 6 ? n : Math.ceil(n / Math.ceil(n / 6));
    const rows = Math.ceil(n / perRow);
    order.forEach((name, i) => {
      const row = Math.floor(i / perRow);
      let col = i % perRow;
      if (row % 2 === 1) col = perRow - 1 - col; // snake
      const x = perRow === 1 ? cx : 90 + (col * (W - 180)) / (perRow - 1);
      const y = rows === 1 ? cy : 90 + (row * (H - 180)) / (rows - 1);
      pos[name] = [x, y];
    });
    return pos;
  }
  if (isStar) {
    pos[hub] = [cx, cy];
    const spokes = names.filter((x) => x !== hub);
    spokes.forEach((name, i) => {
      const a = -Math.PI / 2 + (2 * Math.PI * i) / spokes.length;
      pos[name] = [cx + Math.cos(a) * 300, cy + Math.sin(a) * 185];
    });
    return pos;
  }
  names.forEach((name, i) => {
    const a = -Math.PI / 2 - Math.PI / n + (2 * Math.PI * i) / n;
    pos[name] = [cx + Math.cos(a) * 290, cy + Math.sin(a) * 180];
  });
  return pos;
}

// ------------------------------------------------------------------ graph

function drawGraph() {
  const svg = $("graph");
  const { nodes, edges } = state;
  const pos = layout(nodes, edges);
  let out = "";
  for (const e of edges) {
    const p = pos[e.a], q = pos[e.b];
    if (!p || !q) continue;
    const sel = selected && selected.kind === "edge" && selected.id === e.id ? " selected" : "";
    const flowing = e.state !== "down" && e.rate != null && e.rate > 0.05;
    out += `<g class="edge${sel}" data-edge="${esc(e.id)}" data-state="${esc(e.state)}">` +
      `<title>${esc(e.a)} — ${esc(e.b)}: ${esc(e.state)} (${esc(e.reason)})</title>` +
      `<line class="wire" x1="${p[0]}" y1="${p[1]}" x2="${q[0]}" y2="${q[1]}"/>` +
      (flowing ? `<line class="flow" x1="${p[0]}" y1="${p[1]}" x2="${q[0]}" y2="${q[1]}"/>` : "") +
      `<line class="hit" x1="${p[0]}" y1="${p[1]}" x2="${q[0]}" y2="${q[1]}"/></g>`;
  }
  // labels after all wires so none is hidden under another line
  for (const e of edges) {
    const p = pos[e.a], q = pos[e.b];
    if (!p || !q) continue;
    let label = e.state === "down" ? "down" : e.rate != null ? fmtRate(e.rate) + " pkt/s" : null;
    if (e.state === "faulted") label = (label ? label + " · " : "") + "fault";
    if (!label) continue;
    const t = 0.5, mx = p[0] + (q[0] - p[0]) * t, my = p[1] + (q[1] - p[1]) * t;
    const w = 10 + label.length * 6.6;
    out += `<g class="elabel" data-edge="${esc(e.id)}" pointer-events="none"><rect x="${mx - w / 2}" y="${my - 10}" width="${w}" height="20" rx="10"/>` +
      `<text x="${mx}" y="${my + 4}" text-anchor="middle">${esc(label)}</text></g>`;
  }
  for (const n of nodes) {
    const p = pos[n.name];
    if (!p) continue;
    const sel = selected && selected.kind === "node" && selected.id === n.name ? " selected" : "";
    const glyph = { up: "●", down: "✕", unhealthy: "!", unknown: "…" }[n.state] || "?";
    let sub = n.state === "down" ? "not answering" : n.state === "unknown" ? "waiting…" : `in flight ${n.inFlight == null ? "–" : Math.round(n.inFlight)}`;
    if (n.state !== "down" && n.latencyMs != null) sub += ` · ${fmtMs(n.latencyMs)}`;
    out += `<g class="node${sel}" data-node="${esc(n.name)}" data-state="${esc(n.state)}" transform="translate(${p[0]},${p[1]})">` +
      `<title>${esc(n.name)}: ${esc(n.state)}${n.error ? " — " + esc(n.error) : ""}</title>` +
      `<circle class="halo" r="${R + 9}"/><circle class="ring" r="${R}"/>` +
      `<text class="glyph" y="6" text-anchor="middle">${glyph}</text>` +
      `<text class="name" y="${R + 20}" text-anchor="middle">${esc(n.name)}</text>` +
      `<text class="sub" y="${R + 36}" text-anchor="middle">${esc(sub)}</text></g>`;
  }
  svg.innerHTML = out;
}

// ------------------------------------------------------------------ details

const PRESETS = {
  slow: { latency_ms: 200, jitter_ms: 50, loss: 0, loss_mode: "reject" },
  lossy: { latency_ms: 0, jitter_ms: 0, loss: 0.25, loss_mode: "reject" },
  clear: { latency_ms: 0, jitter_ms: 0, loss: 0, loss_mode: "reject" },
};

function adminWhy(node) {
  if (!node) return "node unknown";
  if (node.state === "down") return `${node.name} is not answering`;
  return node.admin.note || "no admin API";
}

function actionButtons(node, link, small) {
  const ok = node && node.admin.available && node.state !== "down";
  const dis = ok ? "" : ` disabled title="${esc(adminWhy(node))}"`;
  const d = `data-node="${esc(node.name)}" data-link="${esc(link)}"`;
  return `<div class="actions${small ? " small" : ""}">` +
    `<button class="danger" data-act="down" ${d}${dis}${ok ? ' title="take the link down and hold it down"' : ""}>Cut</button>` +
    `<button data-act="up" ${d}${dis}${ok ? ' title="bring it back and clear its faults"' : ""}>Restore</button>` +
    `<button data-act="slow" ${d}${dis}${ok ? ' title="+200 ms ±50 ms"' : ""}>Slow</button>` +
    `<button data-act="lossy" ${d}${dis}${ok ? ' title="25% of packets rejected T01"' : ""}>Lossy</button></div>`;
}

function faultText(f) {
  if (!f) return "";
  const parts = [];
  if (f.down) parts.push("held down" + (f.downUntil ? " until " + new Date(f.downUntil).toLocaleTimeString() : ""));
  if (f.latencyMs || f.jitterMs) parts.push(`+${f.latencyMs} ms ±${f.jitterMs} ms`);
  if (f.loss) parts.push(`${Math.round(f.loss * 100)}% loss (${f.lossMode || "reject"})`);
  return parts.join(", ");
}

// ------------------------------------------------------------------ books
// Amounts arrive as decimal strings (i128 on the node): BigInt here, never
// Number, so no amount is rounded.

const big = (s) => (s == null ? null : BigInt(s));
const fmtAmt = (s) => (s == null ? "–" : BigInt(s).toLocaleString("en-US").replace("-", "−"));
const AMOUNT = /^-?\d{1,39}$/;

function linkOf(nodeName, linkId) {
  const n = state.nodes.find((x) => x.name === nodeName);
  return n && n.links.find((l) => l.id === linkId);
}

function limitsText(L) {
  const settle = L.settleThreshold != null ? `settle below ${fmtAmt(L.settleThreshold)} to ${fmtAmt(L.settleTo || "0")}` : "no settlement";
  return `${L.minimum != null ? "min " + fmtAmt(L.minimum) : "no minimum"} · ${settle} · ${L.maximum != null ? "max " + fmtAmt(L.maximum) : "no maximum"}`;
}

// The balance on a gauge from the lowest bound (minimum, else the settle
// threshold) to the maximum; the numbers alone when a side is unbounded.
function balanceGauge(b) {
  const L = b.limits, c = big(b.committed);
  const lo = big(L.minimum) ?? big(L.settleThreshold), hi = big(L.maximum);
  let gauge = "";
  if (lo != null && hi != null && hi > lo) {
    const span = hi - lo;
    const pos = (v) => {
      let p = ((v - lo) * 1000n) / span;
      if (p < 0n) p = 0n;
      if (p > 1000n) p = 1000n;
      return Number(p) / 10; // a share in per mille: small, exact enough to draw
    };
    const z = pos(0n), x = pos(c);
    gauge = `<div class="gauge" title="${esc(limitsText(L))}">` +
      `<span class="fill${c < 0n ? " neg" : ""}" style="left:${Math.min(z, x)}%;width:${Math.abs(x - z)}%"></span>` +
      `<span class="tick zero" style="left:${z}%"></span>` +
      (L.settleThreshold != null ? `<span class="tick thr" style="left:${pos(big(L.settleThreshold))}%"></span>` : "") +
      `<span class="dot" style="left:${x}%"></span></div>`;
  }
  return gauge + `<div class="limits-text">${esc(limitsText(L))}</div>`;
}

function owes(b, node, peer) {
  const c = big(b.committed);
  if (c > 0n) return `${peer} owes ${node} ${fmtAmt(b.committed)}`;
  if (c < 0n) return `${node} owes ${peer} ${fmtAmt((-c).toString())}`;
  return "even";
}

function balanceCell(node, peer, b) {
  const neg = big(b.committed) < 0n;
  return `<td class="bal" data-committed="${esc(b.committed)}" title="${esc(owes(b, node, peer))}">` +
    `<span class="amt num${neg ? " neg" : ""}">${esc(fmtAmt(b.committed))}</span>` + balanceGauge(b) + `</td>`;
}

function pendingText(b) {
  return `in ${fmtAmt(b.pendingIncoming || "0")} · out ${fmtAmt(b.pendingOutgoing || "0")}`;
}

function settlementCell(b) {
  const st = b.settlement || "idle";
  return `<td><span class="settle-state" data-state="${esc(st)}">${esc(st)}</span>` +
    (b.settling != null ? `<div class="counts">sending ${esc(fmtAmt(b.settling))}</div>` : "") + `</td>`;
}

function countsText(b) {
  const c = b.settlements;
  return `${c.sent} sent · ${c.accepted} accepted · ${c.refused} refused · ${c.received} received`;
}

function paidText(b) {
  return `paid ${fmtAmt(b.settledOut || "0")} · got ${fmtAmt(b.settledIn || "0")}`;
}

function bookButtons(node, link) {
  const ok = node && node.admin.available && node.state !== "down";
  const dis = ok ? "" : ` disabled title="${esc(adminWhy(node))}"`;
  const d = `data-node="${esc(node.name)}" data-link="${esc(link)}"`;
  const l = node.links.find((x) => x.id === link);
  const refusing = !!(l && l.fault && l.fault.settlementRefused);
  const tip = (t) => (ok ? ` title="${esc(t)}"` : "");
  return `<div class="actions small books-actions">` +
    `<button data-act="settle" ${d}${dis}${tip(`settle now: ${node.name} pays ${link} up to its settle-to`)}>Settle now</button>` +
    `<button data-act="${refusing ? "refuse-off" : "refuse-on"}" class="${refusing ? "on" : ""}" ${d}${dis}` +
    tip(refusing ? `${node.name} refuses settlements from ${link}; click to accept them again` : `fault: ${node.name} refuses settlements from ${link}, as a stock JS peer`) +
    `>${refusing ? "Refusing settlements" : "Refuse settlements"}</button>` +
    `<button data-act="limits" ${d}${dis}${tip("set this end's limits")}>Limits…</button></div>`;
}

function bookRow(node, peer, link, b, first) {
  return `<tr class="book" data-node="${esc(node.name)}" data-link="${esc(link)}">${first || ""}` +
    `<td class="at"><b>${esc(node.name)}</b><div class="counts">${esc(node.books || "")}</div></td>` +
    balanceCell(node.name, peer, b) +
    `<td class="counts">${esc(pendingText(b))}</td>` + settlementCell(b) +
    `<td class="counts">${esc(countsText(b))}<br>${esc(paidText(b))}</td>` +
    `<td>${bookButtons(node, link)}</td></tr>`;
}

function sumText(e) {
  if (e.balanceSum == null) return "";
  if (e.balanceSum === "0") return `<span class="sum ok" data-sum="0">sum 0 ✓</span>`;
  return `<span class="sum off" data-sum="${esc(e.balanceSum)}">sum ${esc(fmtAmt(e.balanceSum))}${e.quiet ? "" : " (moving)"}</span>`;
}

function drawBooks() {
  const el = $("books");
  const nodeOf = (name) => state.nodes.find((n) => n.name === name);
  const rows = [];
  const onEdge = new Set();
  for (const e of state.edges) {
    if (!e.balances.length) continue;
    const span = e.balances.length;
    const first = `<td class="linkcell" rowspan="${span}" data-edge="${esc(e.id)}"><b>${esc(e.a)} — ${esc(e.b)}</b>${sumText(e)}</td>`;
    e.balances.forEach((end, i) => {
      onEdge.add(end.node + "\n" + end.link);
      const n = nodeOf(end.node);
      const peer = end.node === e.a ? e.b : e.a;
      rows.push(bookRow(n, peer, end.link, end.balance, i === 0 ? first : ""));
    });
  }
  // Links with one end on the page (children, peers the page does not watch).
  for (const n of state.nodes) {
    for (const l of n.links) {
      if (!l.balance || onEdge.has(n.name + "\n" + l.id)) continue;
      const first = `<td class="linkcell"><b>${esc(n.name)} — ${esc(l.id)}</b> <span class="muted">${esc(l.relation)}</span></td>`;
      rows.push(bookRow(n, l.id, l.id, l.balance, first));
    }
  }
  let html;
  if (!rows.length) {
    html = `<div class="empty" id="books-empty">No node reports its books yet: a node that keeps balances shows each link's <span class="mono">balance</span> in /health.</div>`;
  } else {
    html = `<table class="books"><thead><tr><th>link</th><th>at</th><th>balance</th><th>pending</th><th>settlement</th><th>settlements</th><th></th></tr></thead><tbody>` +
      rows.join("") + `</tbody></table>`;
  }
  setHtml(el, html);
  const kept = state.nodes.filter((n) => n.books).map((n) => `${n.name} ${n.books}`);
  $("books-note").textContent = kept.length ? "books: " + kept.join(", ") : "";
}

const KIND_TEXT = {
  paid: (e) => `${e.node} paid ${e.link}`,
  recorded: (e) => `${e.node} recorded a payment to ${e.link}`,
  refused: (e) => `${e.link} refused ${e.node}'s settlement`,
  received: (e) => `${e.node} received from ${e.link}`,
};

function drawSettlements() {
  const el = $("settlements");
  const list = state.settlements || [];
  let html;
  if (!list.length) html = `<div class="empty">No settlement seen since the page's dashboard started.</div>`;
  else {
    html = `<table><thead><tr><th>when</th><th>what</th><th class="num">amount</th></tr></thead><tbody>` +
      list.map((e) => `<tr class="settlement" data-kind="${esc(e.kind)}" data-node="${esc(e.node)}" data-link="${esc(e.link)}" data-amount="${esc(e.amount || "")}">` +
        `<td class="muted">${esc(new Date(e.at).toLocaleTimeString())}</td>` +
        `<td class="kind-${esc(e.kind)}">${esc((KIND_TEXT[e.kind] || ((x) => x.kind))(e))}${e.count > 1 ? ` ×${e.count}` : ""}</td>` +
        `<td class="num">${esc(e.amount != null ? fmtAmt(e.amount) : "–")}</td></tr>`).join("") +
      `</tbody></table>`;
  }
  setHtml(el, html);
}

function openLimits(node, link) {
  const form = $("limits-form");
  const l = linkOf(node, link);
  const L = (l && l.balance && l.balance.limits) || {};
  form.dataset.node = node;
  form.dataset.link = link;
  $("limits-target").textContent = `${node}'s link to ${link}`;
  for (const input of form.querySelectorAll("input[data-key]")) input.value = L[input.dataset.key] ?? "";
  form.hidden = false;
  $("books-result").textContent = "";
  form.querySelector("input").focus();
}

function linkState(l) {
  if (!l.connected) return l.relation === "child" ? "idle" : "down"; // a client not connected now is normal
  return l.fault ? "faulted" : "up";
}

function rejectBars(rejects) {
  const entries = Object.entries(rejects || {}).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return null;
  const max = Math.max(...entries.map((e) => e[1]));
  return `<div class="bars">` + entries.map(([code, n]) =>
    `<div class="bar" data-code="${esc(code)}"><span class="mono">${esc(code)}</span>` +
    `<span class="track"><span class="fill ${esc(code[0])}" style="width:${Math.max(4, (100 * n) / max)}%"></span></span>` +
    `<span class="n num">${n}</span></div>`).join("") + `</div>`;
}

function nodeDetails(n) {
  let h = `<div class="node-head"><h3>${esc(n.name)} <span class="badge ${esc(n.state)}">${esc(n.state)}</span></h3></div>`;
  if (n.error) h += `<p class="err">${esc(n.error)}</p>`;
  h += `<dl class="kv">` +
    `<dt>ILP address</dt><dd class="mono">${esc(n.ilpAddress || "–")}</dd>` +
    `<dt>uptime</dt><dd>${fmtUptime(n.uptimeSeconds)}</dd>` +
    `<dt>in flight</dt><dd>${n.inFlight == null ? "–" : Math.round(n.inFlight)}</dd>` +
    `<dt>latency</dt><dd>${n.latencyMs != null ? fmtMs(n.latencyMs) : `<span class="muted">${n.metrics.available ? "idle" : "needs /metrics"}</span>`}</dd>` +
    `<dt>packets in</dt><dd>${n.packetRate != null ? fmtRate(n.packetRate) + " pkt/s" : `<span class="muted">${n.metrics.available ? "–" : "needs /metrics"}</span>`}</dd>` +
    `<dt>health</dt><dd class="mono">${esc(n.healthAddr)}</dd>` +
    `<dt>BTP</dt><dd class="mono">${esc(n.btpUrl || "–")}</dd>` +
    `<dt>version</dt><dd>${esc(n.version || "–")}</dd></dl>`;
  h += `<div class="section-title">Links</div>`;
  if (!n.links.length) h += `<div class="empty">no links known yet</div>`;
  else {
    const books = n.links.some((l) => l.balance);
    h += `<table><thead><tr><th>peer</th><th>state</th><th>since</th>${books ? `<th class="num">balance</th>` : ""}<th class="num">pkt/s</th></tr></thead><tbody>`;
    for (const l of n.links) {
      const st = linkState(l);
      h += `<tr data-link="${esc(l.id)}"><td><b>${esc(l.id)}</b> <span class="muted">${esc(l.relation)}, ${esc(l.direction)}</span></td>` +
        `<td class="dotcell ${st}" title="${esc(faultText(l.fault))}">${st}${l.fault ? ` <span class="muted">${esc(faultText(l.fault))}</span>` : ""}</td>` +
        `<td class="muted">${esc(fmtAge(l.since))}</td>` +
        (books ? `<td class="num bal-short" data-committed="${esc(l.balance ? l.balance.committed : "")}">${l.balance ? esc(fmtAmt(l.balance.committed)) : "–"}</td>` : "") +
        `<td class="num">${l.rate != null ? fmtRate(l.rate) : "–"}</td></tr>` +
        `<tr><td colspan="${books ? 5 : 4}">${actionButtons(n, l.id, true)}</td></tr>`;
    }
    h += `</tbody></table>`;
  }
  h += `<div class="section-title">Routing table${n.routing && n.routing.epoch != null ? ` · epoch ${n.routing.epoch}` : ""}</div>`;
  if (n.routing && n.routing.routes.length) {
    h += `<table><thead><tr><th>prefix</th><th>next hop</th><th>path</th></tr></thead><tbody>` +
      n.routing.routes.map((r) => `<tr><td class="mono">${esc(r.prefix)}</td><td>${esc(r.nextHop)}</td><td class="muted">${esc((r.path || []).join(" → ") || r.source || "")}</td></tr>`).join("") +
      `</tbody></table>`;
  } else if (n.routing) h += `<div class="empty">empty</div>`;
  else h += `<div class="empty">${esc(n.routes.note || "not shown by this node")}</div>`;
  h += `<div class="section-title">Rejects it answered, last minute</div>`;
  h += rejectBars(n.rejects) || `<div class="empty">${n.metrics.available ? "none" : esc(n.metrics.note || "needs /metrics")}</div>`;
  if (!n.metrics.available && n.metrics.note) h += `<p class="note">metrics: ${esc(n.metrics.note)}</p>`;
  if (!n.admin.available) h += `<p class="note">actions: ${esc(n.admin.note)}</p>`;
  return h;
}

function edgeDetails(e) {
  const nodeOf = (name) => state.nodes.find((n) => n.name === name);
  let h = `<h3>${esc(e.a)} — ${esc(e.b)} <span class="badge ${esc(e.state)}">${esc(e.state)}</span></h3>`;
  h += `<dl class="kv"><dt>why</dt><dd>${esc(e.reason)}</dd>` +
    `<dt>packets</dt><dd>${e.rate != null ? fmtRate(e.rate) + " pkt/s" : '<span class="muted">needs /metrics on an end</span>'}</dd>` +
    (e.fault ? `<dt>fault</dt><dd>${esc(faultText(e.fault))}</dd>` : "") + `</dl>`;
  for (const end of [e.a, e.b]) {
    const n = nodeOf(end);
    const other = end === e.a ? e.b : e.a;
    const link = n && (n.links.find((l) => l.peerNode === other) || {}).id;
    h += `<div class="section-title">at ${esc(end)}</div>`;
    h += link ? actionButtons(n, link, false) : `<div class="empty">${esc(end)} does not list this link</div>`;
    const b = (e.balances.find((x) => x.node === end) || {}).balance;
    if (b) {
      h += `<div class="edge-books" data-node="${esc(end)}"><dl class="kv">` +
        `<dt>balance</dt><dd><span class="num">${esc(fmtAmt(b.committed))}</span> <span class="muted">${esc(owes(b, end, other))}</span>${balanceGauge(b)}</dd>` +
        `<dt>pending</dt><dd class="counts">${esc(pendingText(b))}</dd>` +
        `<dt>settlement</dt><dd><span class="settle-state" data-state="${esc(b.settlement || "idle")}">${esc(b.settlement || "idle")}</span></dd>` +
        `<dt>settlements</dt><dd class="counts">${esc(countsText(b))}</dd></dl>${bookButtons(n, link)}</div>`;
    }
  }
  if (e.balanceSum != null) h += `<p class="note">both ends: ${sumText(e)}</p>`;
  return h;
}

function drawDetails() {
  const body = $("details-body");
  let html = null;
  if (selected && selected.kind === "node") {
    const n = state.nodes.find((x) => x.name === selected.id);
    if (n) html = nodeDetails(n);
  } else if (selected && selected.kind === "edge") {
    const e = state.edges.find((x) => x.id === selected.id);
    if (e) html = edgeDetails(e);
  }
  if (html == null) { html = `<span class="muted">Select a node or a link.</span>`; }
  setHtml(body, html);
}

// ------------------------------------------------------------------ panels

function drawHeader() {
  const up = state.nodes.filter((n) => n.state === "up").length;
  const linksUp = state.edges.filter((e) => e.state !== "down").length;
  const cn = $("chip-nodes"), cl = $("chip-links");
  cn.textContent = `${up}/${state.nodes.length} nodes up`;
  cn.classList.toggle("bad", up < state.nodes.length);
  cl.textContent = `${linksUp}/${state.edges.length} links up`;
  cl.classList.toggle("bad", linksUp < state.edges.length);
  const rates = state.nodes.map((n) => n.packetRate).filter((r) => r != null);
  $("chip-rate").textContent = rates.length ? `${fmtRate(rates.reduce((a, b) => a + b, 0))} pkt/s` : "pkt/s: needs /metrics";
}

function drawSendForm() {
  const names = state.nodes.map((n) => n.name);
  for (const [id, def] of [["send-from", 0], ["send-to", names.length - 1]]) {
    const sel = $(id);
    const have = Array.from(sel.options).map((o) => o.value);
    if (have.join("\n") !== names.join("\n")) {
      const keep = sel.value;
      sel.innerHTML = names.map((n) => `<option value="${esc(n)}">${esc(n)}</option>`).join("");
      sel.value = names.includes(keep) ? keep : names[Math.max(0, def)];
    }
  }
  const btn = $("send-btn");
  btn.disabled = sending || !state.send.available;
  btn.title = state.send.available ? "" : state.send.note;
  $("send-note").textContent = state.send.available ? "" : state.send.note;
}

function summaryHtml(s) {
  const rej = Object.entries(s.rejected || {});
  const rejN = rej.reduce((a, [, n]) => a + n, 0);
  const good = s.fulfilled === s.sent;
  return `<div class="result" data-fulfilled="${s.fulfilled}" data-sent="${s.sent}">` +
    `<div><div class="label">fulfilled</div><div class="big ${good ? "good" : "bad"}"><span class="fulfilled-count">${s.fulfilled}</span>/${s.sent}</div></div>` +
    `<div><div class="label">rejected</div><div>${rejN ? rej.map(([c, n]) => `<span class="mono">${esc(c)}</span>×${n}`).join(" ") : "none"}</div></div>` +
    (s.failed ? `<div><div class="label">no reply</div><div>${s.failed}</div></div>` : "") +
    `<div><div class="label">latency p50 / p99</div><div>${fmtMs(s.latencyMs.p50)} / ${fmtMs(s.latencyMs.p99)}</div></div>` +
    `<div><div class="label">rate</div><div>${fmtRate(s.packetsPerSecond)} pkt/s</div></div></div>`;
}

function drawRejects() {
  const el = $("rejects");
  let html = rejectBars(state.rejects);
  if (!html) {
    html = state.anyMetrics ? `<div class="empty">No rejects in the last minute.</div>`
      : `<div class="empty">Rejects by code need the nodes' /metrics; the payments sent from this page show theirs below.</div>`;
  }
  setHtml(el, html);
}

function drawSends() {
  const el = $("sends");
  let html;
  if (!state.sends.length) html = `<div class="empty">Nothing sent from this page yet.</div>`;
  else {
    html = `<table><thead><tr><th>when</th><th>route</th><th class="num">fulfilled</th><th>rejects</th><th class="num">p50</th></tr></thead><tbody>` +
      state.sends.map((r) => {
        const s = r.summary;
        const rej = s ? Object.entries(s.rejected).map(([c, n]) => `${esc(c)}×${n}`).join(" ") : "";
        return `<tr><td class="muted">${esc(new Date(r.at).toLocaleTimeString())}</td><td>${esc(r.from)} → ${esc(r.to)}</td>` +
          (s ? `<td class="num">${s.fulfilled}/${s.sent}</td><td class="mono">${rej || '<span class="muted">none</span>'}</td><td class="num">${fmtMs(s.latencyMs.p50)}</td>`
            : `<td colspan="3" class="err">${esc(r.error)}</td>`) + `</tr>`;
      }).join("") + `</tbody></table>`;
  }
  setHtml(el, html);
}

function render() {
  if (!state) return;
  drawHeader();
  drawGraph();
  drawDetails();
  drawSendForm();
  drawRejects();
  drawSends();
  drawBooks();
  drawSettlements();
}

// ------------------------------------------------------------------ actions

async function postJson(url, method, body) {
  const r = await fetch(url, {
    method,
    headers: { "content-type": "application/json" },
    body: body == null ? undefined : JSON.stringify(body),
  });
  return r.json();
}

// A fault body: `over` on the link's current fault. A node that keeps books
// takes `settlement_refused`, which a fault body sets every time (absent is
// false), so it is carried along; an older node refuses the field, so it is
// left out there.
function faultBody(node, link, over) {
  const l = linkOf(node, link) || {};
  const f = l.fault || {};
  const body = { latency_ms: f.latencyMs || 0, jitter_ms: f.jitterMs || 0, loss: f.loss || 0, loss_mode: f.lossMode || "reject", ...over };
  if (l.balance || f.settlementRefused) body.settlement_refused = over.settlement_refused ?? !!f.settlementRefused;
  else delete body.settlement_refused;
  return body;
}

const BOOK_ACTS = new Set(["settle", "refuse-on", "refuse-off", "limits"]);

async function adminAction(node, link, act) {
  if (act === "limits") { openLimits(node, link); return; }
  const base = `/api/admin/${encodeURIComponent(node)}/links/${encodeURIComponent(link)}/`;
  let res;
  try {
    if (act === "down") res = await postJson(base + "down", "POST", {});
    else if (act === "up") {
      res = await postJson(base + "up", "POST", {});
      if (res.ok) res = await postJson(base + "fault", "POST", faultBody(node, link, { ...PRESETS.clear, settlement_refused: false }));
    } else if (act === "settle") res = await postJson(base + "settle", "POST", {});
    else if (act === "refuse-on" || act === "refuse-off") {
      res = await postJson(base + "fault", "POST", faultBody(node, link, { settlement_refused: act === "refuse-on" }));
    } else res = await postJson(base + "fault", "POST", faultBody(node, link, PRESETS[act]));
  } catch (e) {
    res = { ok: false, error: String(e) };
  }
  const where = BOOK_ACTS.has(act) ? "books-result" : "send-note";
  if (!res.ok) {
    const why = res.error || (res.body && res.body.error) || `HTTP ${res.status}`;
    flash(`${node}: ${act} on ${link} failed: ${why}`, where);
  } else if (BOOK_ACTS.has(act)) {
    flash(`${node}: ${act === "settle" ? "settlement asked" : act === "refuse-on" ? "refusing settlements" : "accepting settlements"} on ${link}`, where);
  }
}

function flash(text, where) {
  $(where || "send-note").textContent = text;
}

$("limits-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.currentTarget;
  const { node, link } = form.dataset;
  const body = {};
  for (const input of form.querySelectorAll("input[data-key]")) {
    const v = input.value.trim().replace(/[\s,_]/g, "").replace("−", "-");
    if (v !== "" && !AMOUNT.test(v)) {
      flash(`${input.dataset.key}: an integer (digits, an optional -), or empty for no bound`, "books-result");
      input.focus();
      return;
    }
    body[input.dataset.key] = v === "" ? null : v;
  }
  let res;
  try {
    res = await postJson(`/api/admin/${encodeURIComponent(node)}/links/${encodeURIComponent(link)}/limits`, "POST", body);
  } catch (e) {
    res = { ok: false, error: String(e) };
  }
  if (res.ok) {
    form.hidden = true;
    flash(`${node}: limits of ${link} set`, "books-result");
  } else {
    flash(`${node}: limits of ${link} refused: ${res.error || (res.body && res.body.error) || `HTTP ${res.status}`}`, "books-result");
  }
});

$("limits-cancel").addEventListener("click", () => { $("limits-form").hidden = true; });

document.addEventListener("click", (ev) => {
  const btn = ev.target.closest("button[data-act]");
  if (btn) {
    if (!btn.disabled) adminAction(btn.dataset.node, btn.dataset.link, btn.dataset.act);
    return;
  }
  const node = ev.target.closest("#graph .node");
  const edge = ev.target.closest("#graph .edge");
  if (node) selected = { kind: "node", id: node.dataset.node };
  else if (edge) selected = { kind: "edge", id: edge.dataset.edge };
  else return;
  render();
});

$("send-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (sending || !state) return;
  const count = Math.max(1, Math.min(10000, parseInt($("send-count").value, 10) || 1));
  const body = { from: $("send-from").value, to: $("send-to").value, count };
  sending = true;
  drawSendForm();
  const out = $("send-result");
  out.innerHTML = `<div class="empty">sending ${count} from ${esc(body.from)} to ${esc(body.to)}…</div>`;
  try {
    const res = await postJson("/api/send", "POST", body);
    out.innerHTML = res.ok ? summaryHtml(res.summary) : `<div class="result err" data-error="1">${esc(res.error)}</div>`;
  } catch (e) {
    out.innerHTML = `<div class="result err" data-error="1">${esc(String(e))}</div>`;
  } finally {
    sending = false;
    drawSendForm();
  }
});

// ------------------------------------------------------------------ live

function setLive(on, text) {
  const el = $("live");
  el.classList.toggle("on", on);
  el.classList.toggle("off", !on);
  $("live-text").textContent = text;
}

function onState(json) {
  try {
    state = JSON.parse(json);
  } catch (e) {
    return;
  }
  lastUpdate = Date.now();
  render();
}

function connect() {
  const es = new EventSource("/api/events");
  es.addEventListener("state", (ev) => onState(ev.data));
  es.onopen = () => setLive(true, "live");
  es.onerror = () => setLive(false, "reconnecting…");
}

setInterval(() => {
  if (!lastUpdate) return;
  const age = (Date.now() - lastUpdate) / 1000;
  if (age > 3) setLive(false, `no update for ${Math.floor(age)} s`);
  else setLive(true, "live");
  if (selected && selected.kind === "node") drawDetails(); // ages in "since"
}, 1000);

connect();
