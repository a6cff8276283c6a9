// Hedge console: the topology map. Regions are drawn at their location on a
// graticule (drawn here, offline: no tiles, no internet), links between them
// with latency and bandwidth used / capacity, and inside each region the
// clusters and nodes labelled into it with their instance counts.
import { api, el, svg } from "./app.js";

const W = 960, H = 560, PAD = 90;

const mbit = b => {
  const v = (b || 0) / 1e6;
  return v >= 1000 ? (v / 1000).toFixed(v % 1000 ? 1 : 0) + " Gbit/s" : (v < 10 ? v.toFixed(1) : v.toFixed(0)) + " Mbit/s";
};

// place projects the regions (equirectangular, fitted to their bounding box);
// regions without a location go on a row at the bottom.
function place(regions) {
  const located = regions.filter(r => r.location);
  const lats = located.map(r => r.location.lat), lons = located.map(r => r.location.lon);
  let [la0, la1, lo0, lo1] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  if (!located.length) [la0, la1, lo0, lo1] = [0, 1, 0, 1];
  // a margin of a fifth of the extent (and some room for a lone region)
  const padLa = Math.max(0.005, (la1 - la0) * 0.2), padLo = Math.max(0.005, (lo1 - lo0) * 0.2);
  la0 -= padLa; la1 += padLa; lo0 -= padLo; lo1 += padLo;
  const k = Math.min((W - 2 * PAD) / (lo1 - lo0), (H - 2 * PAD) / (la1 - la0) / 1.0);
  const x = lon => PAD + (lon - lo0) * k + ((W - 2 * PAD) - (lo1 - lo0) * k) / 2;
  const y = lat => H - PAD - (lat - la0) * k - ((H - 2 * PAD) - (la1 - la0) * k) / 2;
  const pos = new Map();
  let spare = 0;
  for (const r of regions) {
    if (r.location) pos.set(r.id, [x(r.location.lon), y(r.location.lat)]);
    else pos.set(r.id, [PAD + (spare++ * 160) % (W - 2 * PAD), H - 30]);
  }
  return { pos, x, y, box: [la0, la1, lo0, lo1] };
}

function graticule({ x, y, box: [la0, la1, lo0, lo1] }) {
  const lines = [];
  const step = Math.pow(10, Math.floor(Math.log10(Math.max(la1 - la0, lo1 - lo0))));
  const digits = Math.max(1, -Math.floor(Math.log10(step)));
  for (let lo = Math.ceil(lo0 / step) * step; lo <= lo1; lo += step)
    lines.push(svg("line", { class: "grid", x1: x(lo), y1: 0, x2: x(lo), y2: H }), svg("text", { class: "small", x: x(lo) + 3, y: H - 4 }, lo.toFixed(digits) + "°"));
  for (let la = Math.ceil(la0 / step) * step; la <= la1; la += step)
    lines.push(svg("line", { class: "grid", x1: 0, y1: y(la), x2: W, y2: y(la) }), svg("text", { class: "small", x: 3, y: y(la) - 3 }, la.toFixed(digits) + "°"));
  return lines;
}

export async function topology(ctx) {
  const draw = async () => {
    const [regions, links, nodes, fadepls] = await Promise.all([api("GET", "/api/regions"), api("GET", "/api/links"),
      api("GET", "/api/nodes/"), api("GET", "/api/fadepl").catch(() => [])]);
    const byRegion = new Map();
    for (const n of nodes) {
      const r = n.labels?.region;
      if (r) (byRegion.get(r) || byRegion.set(r, []).get(r)).push(n);
    }
    const head = [el("h1", {}, "Topology")];
    if (!regions.length) return [...head, el("p", { class: "muted" }, "No regions yet: apply FogAtlas Region and Link documents on the Deploy page (or hedge apply -f region.yaml -f link.yaml).")];
    const p = place(regions);
    const map = svg("svg", { class: "map", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "map-title" },
      svg("title", { id: "map-title" }, `Map of ${regions.length} regions and ${links.length} links`),
      svg("rect", { class: "land", x: 0, y: 0, width: W, height: H }), graticule(p));
    // links first, under the regions; a pair of links between the same two regions is drawn as two arcs.
    const seen = new Map();
    for (const l of links) {
      const a = p.pos.get(l.endpointa), b = p.pos.get(l.endpointb);
      if (!a || !b) continue;
      const pair = [l.endpointa, l.endpointb].sort().join("|");
      const nth = seen.get(pair) || 0; seen.set(pair, nth + 1);
      const bend = (nth % 2 ? -1 : 1) * (18 + 14 * Math.floor(nth / 2));
      const [mx, my] = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
      const len = Math.hypot(b[0] - a[0], b[1] - a[1]) || 1;
      const [cx, cy] = [mx - (b[1] - a[1]) / len * bend, my + (b[0] - a[0]) / len * bend];
      const used = l.bwallocated || 0, cap = l.bandwidth || 0;
      const width = 1.5 + 5 * (cap ? Math.min(1, used / cap) : 0);
      const label = `${l.latency} ms · ${mbit(used)} / ${mbit(cap)}`;
      const lx = (mx + cx) / 2, ly = (my + cy) / 2;
      map.append(svg("g", { "data-link": l.id },
        svg("title", {}, `${l.id}: ${l.endpointa} → ${l.endpointb}, ${label}`),
        svg("path", { class: "link" + (l.status && l.status !== "up" ? " down" : ""), d: `M${a[0]},${a[1]} Q${cx},${cy} ${b[0]},${b[1]}`, fill: "none", "stroke-width": width }),
        svg("rect", { class: "label-bg", x: lx - 62, y: ly - 10, width: 124, height: 14, rx: 3 }),
        svg("text", { class: "small", x: lx, y: ly, "text-anchor": "middle" }, label)));
    }
    for (const r of regions) {
      const [x, y] = p.pos.get(r.id);
      const members = byRegion.get(r.id) || [];
      const clusters = [...new Set(members.map(n => n.cluster_name))];
      const inst = members.reduce((s, n) => s + (n.instances || 0), 0);
      const g = svg("g", { "data-region": r.id },
        svg("title", {}, `${r.name || r.id} (${r.id}), tier ${r.tier}${r.location ? `, ${r.location.lat}, ${r.location.lon}` : ""}`),
        svg("circle", { class: "region", cx: x, cy: y, r: 10 + Math.min(14, members.length * 3) }),
        svg("text", { x: x + 26, y: y - 4, "font-weight": 600 }, r.name || r.id),
        svg("text", { class: "small", x: x + 26, y: y + 9 }, `${r.id} · tier ${r.tier}`));
      let dy = 22;
      if (clusters.length) { g.append(svg("text", { class: "small", x: x + 26, y: y + dy }, `cluster ${clusters.join(", ")}`)); dy += 12; }
      for (const n of members.slice(0, 4)) { g.append(svg("text", { class: "small", x: x + 26, y: y + dy }, `${n.name}: ${n.instances} inst.`)); dy += 12; }
      if (members.length > 4) g.append(svg("text", { class: "small", x: x + 26, y: y + dy }, `+${members.length - 4} nodes, ${inst} instances`));
      map.append(g);
    }
    const name = id => regions.find(r => r.id === id)?.name || id;
    const rows = links.map(l => el("tr", {}, el("td", {}, l.id), el("td", {}, `${name(l.endpointa)} → ${name(l.endpointb)}`),
      el("td", {}, `${l.latency} ms`), el("td", {}, `${mbit(l.bwallocated)} / ${mbit(l.bandwidth)}`), el("td", {}, l.status || "up")));
    return [...head, map, el("h2", {}, "Links"), el("div", { class: "scroll" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Link", "Between", "Latency", "Used / capacity", "Status"].map(h => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows))),
      el("h2", {}, "Applications placed over the regions (FADepl)"),
      fadepls.length ? el("div", { class: "scroll" }, el("table", {},
        el("thead", {}, el("tr", {}, ["Name", "Owner", "Algorithm", "Status", "Where", "Why"].map(h => el("th", { scope: "col" }, h)))),
        el("tbody", {}, fadepls.map(f => el("tr", {}, el("td", {}, f.name), el("td", {}, f.owner), el("td", {}, f.algorithm),
          el("td", {}, f.status?.status || "—"),
          el("td", { class: "wrap" }, (f.status?.placements || []).map(p => `${p.microservice} → ${p.regions.map(r => `${name(r.region)} ×${r.replicas}`).join(", ")}`).join("; ")),
          el("td", { class: "wrap" }, f.status?.reason || "")))))) : el("p", { class: "muted" }, "None.")];
  };
  const show = async () => { const n = await draw(); if (ctx.alive) ctx.view.replaceChildren(...n); };
  ctx.onChange = () => show().catch(() => {});
  await show();
}
