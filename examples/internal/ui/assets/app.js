// plumtree node UI: the cluster view and the explanation of a broadcast.
// Plain DOM and SVG; every value from the network goes in as text.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const POLL_MS = 2000;
  const $ = (id) => document.getElementById(id);

  function el(name, attrs, text) {
    const e = document.createElementNS(SVG, name);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text === undefined || text === null ? "" : String(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }
  function status(text) { $("status").textContent = text; }
  async function getJSON(url, opts) {
    const r = await fetch(url, Object.assign({ cache: "no-store" }, opts || {}));
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || r.status + " " + r.statusText);
    return body;
  }

  // ---- cluster view ----
  function layout(names, w, h) {
    const pos = {};
    const cx = w / 2, cy = h / 2, r = Math.min(w, h) / 2 - 90;
    names.forEach((n, i) => {
      const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(names.length, 1);
      pos[n] = { x: cx + r * Math.cos(a), y: cy + r * Math.sin(a), a: a };
    });
    return pos;
  }

  function perSec(n) {
    return n && n.deliveries_per_sec !== null && n.deliveries_per_sec !== undefined ? n.deliveries_per_sec.toFixed(1) : "–";
  }

  function drawCluster(cl) {
    const svg = $("graph");
    const now = Date.parse(cl.time) || Date.now();
    const byName = {};
    cl.nodes.forEach((n) => { byName[n.name] = n; });
    const names = cl.members.slice();
    const pos = layout(names, 1000, 700);
    svg.replaceChildren();
    const links = el("g", { id: "links" });
    cl.links.forEach((l) => {
      const a = pos[l.a], b = pos[l.b];
      if (!a || !b) return;
      let cls = "link " + l.kind;
      if (l.protected) cls += " protected";
      if (l.asymmetric) cls += " asymmetric";
      const line = el("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: cls, "data-a": l.a, "data-b": l.b });
      line.appendChild(el("title", {}, l.a + " — " + l.b + ": " + l.kind + (l.protected ? ", protected" : "") + (l.asymmetric ? " (ends disagree)" : "")));
      links.appendChild(line);
      if (l.protected) {
        // draw the link's own style over the protection halo
        links.appendChild(el("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: "link " + l.kind + " overlay" }));
      }
    });
    svg.appendChild(links);
    names.forEach((name) => {
      const p = pos[name];
      const n = byName[name];
      const health = n && n.health ? n.health : "unknown";
      const g = el("g", { class: "node", "data-name": name, transform: "translate(" + p.x + "," + p.y + ")" });
      g.appendChild(el("circle", { r: 18, class: health }));
      const right = Math.cos(p.a) >= -0.01;
      const dx = right ? 24 : -24, anchor = right ? "start" : "end";
      g.appendChild(el("text", { class: "name", x: dx, y: -4, "text-anchor": anchor }, name));
      let lines = [];
      if (n && !n.error) {
        const c = n.counters;
        lines.push(perSec(n) + " deliv/s · " + c.duplicates + " dup");
        lines.push("graft " + c.graft_sent + "/" + c.graft_success + "/" + c.graft_failed + " · q " + c.ihave_queue + "/" + c.delivery_queue);
      } else {
        lines.push(n ? "admin API: no answer" : "member (admin address unknown)");
      }
      lines.forEach((t, i) => g.appendChild(el("text", { class: "ctr", x: dx, y: 11 + 13 * i, "text-anchor": anchor }, t)));
      g.appendChild(el("title", {}, name + ": " + health + (n && n.health_message ? " — " + n.health_message : "")));
      svg.appendChild(g);
    });
    svg.setAttribute("data-nodes", String(names.length));
    svg.setAttribute("data-links", String(cl.links.length));
    svg.setAttribute("data-ready", "1");

    const tb = $("members").tBodies[0];
    tb.replaceChildren();
    names.forEach((name) => {
      const n = byName[name];
      const tr = document.createElement("tr");
      cell(tr, name);
      if (!n) {
        cell(tr, "unknown", "");
        for (let i = 0; i < 8; i++) cell(tr, "");
        cell(tr, "known from memberlist; admin address unknown");
      } else {
        const c = n.counters;
        cell(tr, n.health || "unknown");
        cell(tr, n.eager.join(" "));
        cell(tr, n.lazy.join(" "));
        cell(tr, n.protected.join(" "));
        cell(tr, n.members.length);
        cell(tr, perSec(n));
        cell(tr, c.duplicates);
        cell(tr, c.graft_sent + " / " + c.graft_success + " / " + c.graft_failed);
        cell(tr, c.ihave_queue + " / " + c.delivery_queue + " / " + c.observer_queue);
        cell(tr, n.error || n.health_message || "");
      }
      tb.appendChild(tr);
    });
    $("updated").textContent = "updated " + new Date(now).toLocaleTimeString() + " · " + names.length + " nodes, " + cl.links.length + " links";
  }

  // The next poll is scheduled when the previous one is done, so a slow
  // gather (a node that does not answer) never piles requests up.
  // gen tells the chain of polls started by the latest visit of the view
  // from an older one still in flight.
  let polling = false;
  let pollTimer = null;
  let gen = 0;
  async function pollCluster(g) {
    pollTimer = null;
    try {
      const cl = await getJSON("../explain/cluster");
      if (g === gen) drawCluster(cl);
    } catch (e) {
      status("cluster: " + e.message);
    }
    if (polling && g === gen) pollTimer = setTimeout(() => pollCluster(g), POLL_MS);
  }

  // ---- explain view ----
  async function loadRecent() {
    try {
      const r = await getJSON("../deliveries/recent?limit=50");
      const sel = $("recent");
      const seen = new Set();
      sel.replaceChildren(new Option("recent deliveries…", ""));
      r.deliveries.slice().reverse().forEach((d) => {
        if (seen.has(d.msg_id)) return;
        seen.add(d.msg_id);
        sel.appendChild(new Option(d.msg_id + "  (" + new Date(d.time).toLocaleTimeString() + ")", d.msg_id));
      });
    } catch (e) {
      status("recent: " + e.message);
    }
  }

  function fmt(ms) { return (Math.round(ms * 10) / 10).toFixed(1); }
  function signed(ms) { return (ms >= 0 ? "+" : "") + fmt(ms); }

  function drawTree(rep) {
    const svg = $("tree");
    svg.replaceChildren();
    const delivered = rep.nodes.filter((n) => n.status === "delivered");
    const others = rep.nodes.filter((n) => n.status !== "delivered");
    const byName = {};
    delivered.forEach((n) => { byName[n.name] = n; });
    // A tidy tree: x by depth, y by the order of a walk from the origin
    // (a parent sits at the middle of its children). Nodes whose chain is
    // broken come after, one column deeper than the tree.
    const pos = {};
    const rowH = 70, colW = 220;
    let slot = 0, maxDepth = 0;
    const place = (n, d, seen) => {
      seen.add(n.name);
      maxDepth = Math.max(maxDepth, d);
      const kids = (n.children || []).map((c) => byName[c]).filter((c) => c && !seen.has(c.name) && c.depth >= 0);
      let y;
      if (kids.length === 0) {
        y = slot++;
      } else {
        const ys = kids.map((c) => place(c, d + 1, seen));
        y = (ys[0] + ys[ys.length - 1]) / 2;
      }
      pos[n.name] = { x: 60 + d * colW, y: y };
      return y;
    };
    const seen = new Set();
    const root = delivered.find((n) => n.via === "origin" && n.depth === 0);
    if (root) place(root, 0, seen);
    let broken = 0;
    delivered.forEach((n) => {
      if (!seen.has(n.name)) {
        seen.add(n.name);
        broken = 1;
        pos[n.name] = { x: 60 + (maxDepth + 1) * colW, y: slot++ };
      }
    });
    const missingCol = maxDepth + 1 + broken;
    const cols = missingCol + (others.length ? 1 : 0);
    const rows = Math.max(slot, others.length, 1);
    const W = Math.max(1000, colW * cols), H = rowH * rows + 50;
    for (const k in pos) pos[k].y = 40 + pos[k].y * rowH;
    svg.setAttribute("viewBox", "0 0 " + W + " " + H);
    const slow = rep.slowest_edge;
    delivered.forEach((n) => {
      const p = pos[n.name], q = n.parent ? pos[n.parent] : null;
      if (!p || !q) return;
      let cls = "tedge";
      if (n.via === "graft") cls += " graft";
      if (slow && slow.from === n.parent && slow.to === n.name) cls += " slowest";
      const mx = (p.x + q.x) / 2;
      svg.appendChild(el("path", { d: "M" + (q.x + 14) + "," + q.y + " C" + mx + "," + q.y + " " + mx + "," + p.y + " " + p.x + "," + p.y, class: cls }));
      svg.appendChild(el("text", { class: "tlabel", x: p.x - 22, y: p.y - 8, "text-anchor": "end" }, signed(n.edge_ms) + " ms"));
    });
    delivered.forEach((n) => {
      const p = pos[n.name];
      const g = el("g", { class: "tnode " + (n.via || "tree"), "data-name": n.name, transform: "translate(" + p.x + "," + p.y + ")" });
      g.appendChild(el("circle", { r: 14 }));
      g.appendChild(el("text", { class: "name", x: 0, y: 30, "text-anchor": "middle" }, n.name));
      g.appendChild(el("text", { class: "tlabel", x: 0, y: 43, "text-anchor": "middle" }, "hop " + n.hops + " · " + fmt(n.since_origin_ms) + " ms" + (n.via === "graft" ? " · graft" : "")));
      svg.appendChild(g);
    });
    if (others.length) {
      const x = 60 + missingCol * colW;
      svg.appendChild(el("text", { class: "tlabel", x: x, y: 16, "text-anchor": "middle" }, "not delivered"));
      others.forEach((n, i) => {
        const g = el("g", { class: "tnode " + n.status, "data-name": n.name, transform: "translate(" + x + "," + (40 + i * rowH) + ")" });
        g.appendChild(el("circle", { r: 14 }));
        g.appendChild(el("text", { class: "name", x: 0, y: 30, "text-anchor": "middle" }, n.name));
        g.appendChild(el("text", { class: "tlabel", x: 0, y: 43, "text-anchor": "middle" }, n.status + (n.maybe_evicted ? " (maybe evicted)" : "")));
        svg.appendChild(g);
      });
    }
    svg.setAttribute("data-nodes", String(delivered.length));
    svg.setAttribute("data-missing", String(others.length));
    svg.setAttribute("data-msgid", rep.msg_id);
    svg.setAttribute("data-ready", "1");
  }

  function summary(rep) {
    const s = $("summary");
    s.replaceChildren();
    const line = (label, text, bad) => {
      const d = document.createElement("div");
      const b = document.createElement("b");
      b.textContent = label + ": ";
      d.appendChild(b);
      const span = document.createElement("span");
      span.textContent = text;
      if (bad) span.className = "bad";
      d.appendChild(span);
      s.appendChild(d);
    };
    line("message", rep.msg_id + " from " + rep.origin + " (time zero: " + (rep.origin_time === "origin" ? "the origin's delivery to itself" : "the earliest delivery; the origin did not answer") + ")");
    line("delivered", rep.delivered + " of " + rep.nodes.length + " nodes, depth " + rep.depth);
    if (rep.slowest_edge) line("slowest edge", rep.slowest_edge.from + " → " + rep.slowest_edge.to + ": " + fmt(rep.slowest_edge.ms) + " ms");
    line("reached by graft (not the tree)", rep.grafted.length ? rep.grafted.join(", ") : "none");
    line("not delivered", rep.missing.length ? rep.missing.join(", ") : "none", rep.missing.length > 0);
    if (rep.unreachable.length) line("admin API did not answer", rep.unreachable.join(", "), true);
    if (rep.unknown.length) line("members without a known admin address", rep.unknown.join(", "));
    if (rep.problems.length) line("problems", rep.problems.join("; "), true);
    $("clocks").textContent = rep.clocks;
  }

  function table(rep) {
    const tb = $("tree-table").tBodies[0];
    tb.replaceChildren();
    rep.nodes.forEach((n) => {
      const tr = document.createElement("tr");
      cell(tr, n.name);
      cell(tr, n.status + (n.maybe_evicted ? " (maybe evicted)" : ""), n.status === "delivered" ? "" : "bad");
      const d = n.status === "delivered";
      cell(tr, d ? (n.parent || "—") : "");
      cell(tr, d ? n.hops : "");
      cell(tr, d ? (n.depth >= 0 ? n.depth : "broken") : "");
      cell(tr, d ? n.via : "");
      cell(tr, d ? fmt(n.since_origin_ms) + " ± " + fmt(n.clock_err_ms) : "");
      cell(tr, d && n.parent ? fmt(n.edge_ms) : "");
      cell(tr, d ? fmt(n.clock_offset_ms) : "");
      cell(tr, d ? (n.chain || []).join(" ← ") : (n.error || ""));
      tb.appendChild(tr);
    });
  }

  async function explain(id) {
    if (!id) return;
    $("msgid").value = id;
    status("explaining " + id + "…");
    try {
      const rep = await getJSON("../explain?id=" + encodeURIComponent(id));
      summary(rep);
      drawTree(rep);
      table(rep);
      status("explained " + id);
    } catch (e) {
      status("explain: " + e.message);
    }
  }

  // ---- navigation ----
  function route() {
    const h = location.hash.replace(/^#/, "");
    const isExplain = h.startsWith("explain");
    $("view-cluster").hidden = isExplain;
    $("view-explain").hidden = !isExplain;
    $("tab-cluster").classList.toggle("active", !isExplain);
    $("tab-explain").classList.toggle("active", isExplain);
    if (isExplain) {
      polling = false;
      if (pollTimer !== null) { clearTimeout(pollTimer); pollTimer = null; }
      loadRecent();
      const m = h.match(/^explain=(.+)$/);
      if (m) explain(decodeURIComponent(m[1]));
    } else if (!polling) {
      polling = true;
      gen++;
      pollCluster(gen);
    }
  }

  $("explain-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const id = $("msgid").value.trim();
    if (id) location.hash = "explain=" + encodeURIComponent(id);
  });
  $("recent").addEventListener("change", () => {
    const id = $("recent").value;
    if (id) location.hash = "explain=" + encodeURIComponent(id);
  });
  $("broadcast").addEventListener("click", async () => {
    try {
      const r = await getJSON("../broadcast", { method: "POST", body: "test broadcast from the UI at " + new Date().toISOString() });
      status("sent " + r.msg_id + "; explaining in 1 s");
      // Let it spread, then explain it; explain again later for stragglers.
      setTimeout(() => { location.hash = "explain=" + encodeURIComponent(r.msg_id); }, 1000);
      setTimeout(() => { if (location.hash === "#explain=" + encodeURIComponent(r.msg_id)) explain(r.msg_id); }, 4000);
    } catch (e) {
      status("broadcast: " + e.message);
    }
  });
  window.addEventListener("hashchange", route);
  route();
})();
