// Hedge console: the pages. Each page is async (ctx) => void; it draws into
// ctx.view, sets ctx.onChange to redraw on a change notice and ctx.stop to
// end its timers.
import { api, el, isAdmin, toast, ApiError } from "./app.js";
import { topology } from "./topology.js";

const pageSize = 50;
const pagerState = new Map(); // table key -> page index

// table draws rows as a paged table: columns are [title, row => cell].
export function table(key, columns, rows, empty = "None.") {
  if (!rows.length) return el("p", { class: "muted" }, empty);
  const pages = Math.ceil(rows.length / pageSize);
  let page = Math.min(pagerState.get(key) || 0, pages - 1);
  const wrap = el("div", { "data-table": key });
  const draw = () => {
    const body = rows.slice(page * pageSize, (page + 1) * pageSize).map(r =>
      el("tr", {}, columns.map(([, f, cls]) => el("td", { class: cls }, f(r)))));
    const t = el("div", { class: "scroll" }, el("table", {},
      el("thead", {}, el("tr", {}, columns.map(([h]) => el("th", { scope: "col" }, h)))), el("tbody", {}, body)));
    const kids = [t];
    if (pages > 1) {
      const go = d => () => { page += d; pagerState.set(key, page); draw(); wrap.querySelector(".pager button:not(:disabled)")?.focus(); };
      kids.push(el("div", { class: "pager" },
        el("button", { type: "button", class: "secondary", disabled: page === 0, onclick: go(-1), "aria-label": "previous page" }, "‹ Prev"),
        el("span", {}, `Page ${page + 1} of ${pages} · ${rows.length} rows`),
        el("button", { type: "button", class: "secondary", disabled: page >= pages - 1, onclick: go(1), "aria-label": "next page" }, "Next ›")));
    }
    wrap.replaceChildren(...kids);
  };
  draw();
  return wrap;
}

export const state = s => el("span", { class: "state " + s }, s || "—");
const when = t => t ? new Date(t).toLocaleString() : "—";
const pct = v => (v || 0).toFixed(0) + " %";
export const bar = (frac, label) => el("span", { title: label }, el("span", { class: "bar", "aria-hidden": "true" },
  el("i", { style: undefined, "data-w": Math.round(Math.min(1, Math.max(0, frac || 0)) * 100) })), " ", label);

// widths are set from data-w after insertion: inline style attributes
// would need 'unsafe-inline' under the page's CSP, the CSSOM does not.
function sizeBars(root) {
  for (const i of root.querySelectorAll("[data-w]")) i.style.width = i.dataset.w + "%";
}

// redraw rebuilds the view with fresh content, keeping what the user typed
// and where the focus was.
function redraw(ctx, nodes) {
  const keep = {};
  for (const i of ctx.view.querySelectorAll("input[id],select[id],textarea[id]")) keep[i.id] = i.value;
  const focus = document.activeElement?.id;
  ctx.view.replaceChildren(...nodes.flat(Infinity).filter(Boolean));
  for (const [id, v] of Object.entries(keep)) { const i = document.getElementById(id); if (i && i.type !== "file") i.value = v; }
  if (focus) document.getElementById(focus)?.focus();
  sizeBars(ctx.view);
}

// live makes draw the page's content and its redraw on each change notice
// (and every `every` ms when given, for figures that change all the time).
async function live(ctx, draw, every) {
  let busy = false;
  const run = async () => {
    if (busy || current(ctx) === false) return;
    busy = true;
    try { const nodes = await draw(); if (ctx.alive) redraw(ctx, nodes); } catch (e) { toast(e.message); } finally { busy = false; }
  };
  ctx.onChange = run;
  if (every) { const t = setInterval(run, every); ctx.stop = () => clearInterval(t); }
  const nodes = await draw();
  if (ctx.alive) redraw(ctx, nodes);
}
const current = ctx => ctx.alive;

async function act(what, fn) {
  try { await fn(); toast(what); } catch (e) { toast(e.message, 6000); }
}

function problems(e) {
  if (!(e instanceof ApiError) || !e.problems.length) return el("p", { class: "error", role: "alert" }, e.message);
  return el("div", { role: "alert" }, el("p", { class: "error" }, e.message),
    el("ul", { class: "problems" }, e.problems.map(p => el("li", {}, el("code", {}, p.location || "body"), ": ", p.message))));
}

function instanceCounts(svcs) {
  const counts = {};
  for (const s of svcs) for (const i of s.instance_list || []) counts[i.status] = (counts[i.status] || 0) + 1;
  return counts;
}

// --- overview ---
async function overview(ctx) {
  await live(ctx, async () => {
    const [clusters, nodes, svcs, events] = await Promise.all([
      api("GET", "/api/clusters/"), api("GET", "/api/nodes/"), api("GET", "/api/services/"), api("GET", "/api/events")]);
    const counts = instanceCounts(svcs);
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const ready = xs => xs.filter(x => x.state === "READY").length;
    return [
      el("h1", {}, "Overview"),
      el("div", { class: "cards" },
        el("div", { class: "card" }, el("div", { class: "n", "data-testid": "clusters" }, `${ready(clusters)}/${clusters.length}`), "clusters ready"),
        el("div", { class: "card" }, el("div", { class: "n", "data-testid": "nodes" }, `${ready(nodes)}/${nodes.length}`), "nodes ready"),
        el("div", { class: "card" }, el("div", { class: "n", "data-testid": "instances" }, total), "instances",
          el("div", {}, Object.entries(counts).sort().map(([s, n]) => el("div", {}, state(s), " ", n)))),
        el("div", { class: "card" }, el("div", { class: "n" }, svcs.length), "services")),
      el("h2", {}, "Clusters"),
      table("ov-clusters", [["Name", c => c.cluster_name], ["State", c => state(c.state)], ["Nodes", c => c.active_nodes],
        ["Instances", c => c.instances], ["CPU", c => pct(c.aggregated_cpu_percent)], ["Memory", c => pct(c.aggregated_memory_percent)]], clusters),
      el("h2", {}, "Recent events"),
      eventsTable("ov-events", events.slice(-10).reverse()),
    ];
  });
}

function eventsTable(key, events) {
  return table(key, [["When", e => when(e.at)], ["Cluster", e => e.cluster], ["Node", e => e.node],
    ["Level", e => e.from || e.to ? [state(e.from), " → ", state(e.to)] : "—"], ["Action", e => e.action || "—"],
    ["Why", e => e.metric ? `${e.metric} ${(+e.value).toFixed(1)} (threshold ${(+e.threshold).toFixed(1)})` : "", "wrap"],
    ["Instance", e => e.instance || ""], ["Error", e => e.error || ""]], events, "No events yet.");
}

// --- applications ---
async function apps(ctx) {
  await live(ctx, async () => {
    const [list, svcs] = await Promise.all([api("GET", "/api/applications/"), api("GET", "/api/services/")]);
    const byApp = {};
    for (const s of svcs) (byApp[s.applicationID] ||= []).push(s);
    return [
      el("h1", {}, "Applications"),
      el("p", {}, el("a", { href: "#/deploy" }, "Deploy an application…")),
      table("apps", [
        ["Application", a => el("a", { href: "#/app/" + encodeURIComponent(a.applicationID) }, a.application_name)],
        ["Namespace", a => a.application_namespace], ["Owner", a => a.userId],
        ["Services", a => (byApp[a.applicationID] || []).map(s => s.microservice_name || s.spec?.microservice_name).join(", ")],
        ["Instances", a => { const c = instanceCounts(byApp[a.applicationID] || []); return Object.entries(c).map(([s, n]) => [state(s), " ", n, " "]); }],
        ["Created", a => when(a.created_at)]], list, "No applications: deploy one."),
    ];
  });
}

async function app(ctx) {
  const id = ctx.args[0];
  await live(ctx, async () => {
    const [a, svcs] = await Promise.all([api("GET", "/api/application/" + encodeURIComponent(id)), api("GET", "/api/services/" + encodeURIComponent(id))]);
    const del = el("button", { type: "button", class: "danger", onclick: async () => {
      if (!confirm(`Delete application ${a.application_name} and all its instances?`)) return;
      await act("Application deleted", () => api("DELETE", "/api/application/" + encodeURIComponent(id)));
      location.hash = "#/apps";
    } }, "Delete application");
    return [
      el("h1", {}, a.application_name, " ", el("span", { class: "muted" }, a.application_namespace)),
      el("p", {}, a.application_desc || ""), del,
      svcs.map(s => serviceSection(s)),
    ];
  });
}

function serviceSection(s) {
  const sid = s.microserviceID;
  const name = s.microservice_name;
  const input = el("input", { id: "scale-" + sid, type: "number", min: 0, max: 1000, value: (s.instance_list || []).length, "aria-label": `instances of ${name}` });
  const scale = el("form", { class: "row", onsubmit: async ev => {
    ev.preventDefault();
    const n = Number(input.value);
    await act(`Scaled ${name} to ${n}`, () => api("PUT", `/api/service/${encodeURIComponent(sid)}/scale`, { instances: n }));
  } }, el("label", {}, "Instances", input), el("button", { type: "submit" }, "Scale"),
    el("button", { type: "button", class: "secondary", onclick: async () => {
      if (!confirm(`Delete service ${name}?`)) return;
      await act("Service deleted", () => api("DELETE", "/api/service/" + encodeURIComponent(sid)));
    } }, "Delete service"));
  return el("section", { "aria-label": "service " + name },
    el("h2", {}, name),
    el("dl", { class: "kv" },
      el("dt", {}, "Runs"), el("dd", {}, `${s.virtualization} ${s.code} ${(s.cmd || []).join(" ")}`),
      el("dt", {}, "Asks for"), el("dd", {}, `${s.vcpus} vCPU, ${s.memory} MB`)),
    scale,
    table("inst-" + sid, [
      ["#", i => i.instance_number], ["State", i => state(i.status)],
      ["Where / why", i => i.node_name ? `on ${i.node_name} of ${i.cluster_name || i.cluster_id}` + (i.reason ? ` · ${i.reason}` : "") : (i.reason || "not placed yet"), "wrap"],
      ["Restarts", i => i.restarts], ["CPU", i => i.cpu_usage ? i.cpu_usage.toFixed(2) : "—"], ["Memory", i => i.memory_usage_mb ? i.memory_usage_mb + " MB" : "—"],
      ["Started", i => when(i.started_at)],
      ["", i => el("a", { href: `#/logs/${encodeURIComponent(sid)}/${i.instance_number}` }, "Logs")]],
      s.instance_list || [], "No instances."));
}

// --- logs ---
async function logs(ctx) {
  const [sid, n] = ctx.args;
  const pre = el("pre", { class: "logs", "aria-live": "off", tabindex: 0 });
  const follow = el("input", { type: "checkbox", id: "follow", checked: true });
  const svc = await api("GET", "/api/service/" + encodeURIComponent(sid));
  ctx.view.replaceChildren(
    el("h1", {}, `Logs of ${svc.microservice_name} #${n}`),
    el("p", {}, el("a", { href: "#/app/" + encodeURIComponent(svc.applicationID) }, "‹ back to " + svc.app_name)),
    el("label", { class: "row" }, el("span", {}, follow, " Follow live")), pre);
  const load = async () => {
    if (!follow.checked && pre.textContent) return;
    const text = await api("GET", `/api/service/${encodeURIComponent(sid)}/instance/${encodeURIComponent(n)}/logs?tail=65536`);
    if (text !== pre.textContent) {
      pre.textContent = text;
      if (follow.checked) pre.scrollTop = pre.scrollHeight;
    }
  };
  await load();
  const t = setInterval(() => load().catch(e => toast(e.message)), 1000);
  ctx.stop = () => clearInterval(t);
}

// --- deploy ---
async function deploy(ctx) {
  const text = el("textarea", { id: "descriptor", spellcheck: "false", "aria-label": "SLA or FogAtlas documents (YAML or JSON)",
    placeholder: "Paste an SLA v2.0 (YAML or JSON) or FogAtlas documents, or choose a file" });
  const file = el("input", { type: "file", accept: ".yaml,.yml,.json", "aria-label": "descriptor file" });
  const status = el("div", { id: "validation", "aria-live": "polite" });
  const go = el("button", { type: "button", disabled: true }, "Deploy");
  let kind = "", timer = 0, seq = 0;
  const validate = async () => {
    const mine = ++seq;
    if (!text.value.trim()) { status.replaceChildren(); go.disabled = true; return; }
    try {
      const v = await api("POST", "/api/validate", text.value, "application/yaml");
      if (mine !== seq) return;
      kind = v.kind;
      status.replaceChildren(el("p", { class: "ok" }, v.kind === "sla"
        ? `Valid SLA: ${v.applications} application(s), ${v.microservices} microservice(s).`
        : `Valid FogAtlas documents: ${v.objects}.`));
      go.disabled = false;
    } catch (e) {
      if (mine !== seq) return;
      status.replaceChildren(problems(e));
      go.disabled = true;
    }
  };
  text.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(validate, 250); });
  file.addEventListener("change", async () => { if (file.files[0]) { text.value = await file.files[0].text(); validate(); } });
  go.addEventListener("click", async () => {
    go.disabled = true;
    try {
      if (kind === "fogatlas") {
        await api("POST", "/api/topology", text.value, "application/yaml");
        toast("Applied"); location.hash = "#/topology";
      } else {
        const res = await api("POST", "/api/application/?deploy=true", text.value, "application/yaml");
        toast("Deployed");
        location.hash = "#/app/" + encodeURIComponent(res.applications[0].applicationID);
      }
    } catch (e) { status.replaceChildren(problems(e)); go.disabled = false; }
  });
  ctx.view.replaceChildren(el("h1", {}, "Deploy"),
    el("p", { class: "muted" }, "An SLA v2.0 (Hedge's ", el("code", {}, "instances"), " starts that many at once) or FogAtlas Region/Link/FADepl documents. It is checked as you type."),
    el("div", { class: "row" }, file), text, status, el("div", { class: "row" }, go));
  text.focus();
}

// --- nodes ---
const history = new Map(); // node id -> {cpu: [], mem: []}
// spark draws the last 30 values (0..top) as a line.
function spark(values, label, top = 100) {
  if (values.length === 1) values = [values[0], values[0]];
  top = top || 1;
  const pts = values.map((v, i) => `${(i / 29) * 96},${22 - (Math.min(top, v) / top) * 20}`).join(" ");
  const s = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  s.setAttribute("viewBox", "0 0 96 24"); s.setAttribute("width", "96"); s.setAttribute("height", "24"); s.setAttribute("class", "spark"); s.setAttribute("role", "img"); s.setAttribute("aria-label", label);
  const p = document.createElementNS("http://www.w3.org/2000/svg", "polyline"); p.setAttribute("points", pts); s.append(p);
  return s;
}

async function nodes(ctx) {
  await live(ctx, async () => {
    const list = await api("GET", "/api/nodes/");
    for (const n of list) {
      const h = history.get(n.id) || { cpu: [], mem: [], net: [] };
      h.cpu.push(n.metrics?.cpu_percent || 0); h.mem.push(n.metrics?.memory_percent || 0);
      h.net.push((n.metrics?.net_rx_bytes_per_s || 0) + (n.metrics?.net_tx_bytes_per_s || 0));
      if (h.cpu.length > 30) { h.cpu.shift(); h.mem.shift(); h.net.shift(); }
      history.set(n.id, h);
    }
    const control = (n, op) => el("button", { type: "button", class: op === "uncordon" ? "secondary" : "", "data-op": op,
      onclick: () => act(`${op} ${n.name}: done`, () => api("POST", `/api/nodes/${encodeURIComponent(n.id)}/${op}`)) }, op[0].toUpperCase() + op.slice(1));
    const cols = [
      ["Node", n => n.name], ["Cluster", n => n.cluster_name], ["State", n => state(n.state)],
      ["Scheduling", n => n.cordoned ? "cordoned" : "on"], ["Pressure", n => state(n.pressure || "normal")],
      ["CPU", n => [spark(history.get(n.id).cpu, "cpu history"), " ", pct(n.metrics?.cpu_percent), ` of ${n.metrics?.cpu_cores || n.capacity?.vcpus || "?"} cores`]],
      ["Memory", n => { const m = n.metrics || {}; const used = (m.memory_total_mb || 0) - (m.memory_free_mb || 0);
        return [spark(history.get(n.id).mem, "memory history"), " ", bar(m.memory_total_mb ? used / m.memory_total_mb : 0, `${used} / ${m.memory_total_mb || 0} MB`)]; }],
      ["Network", n => [spark(history.get(n.id).net, "network history", Math.max(...history.get(n.id).net)), " ",
        `↓ ${kb(n.metrics?.net_rx_bytes_per_s)} ↑ ${kb(n.metrics?.net_tx_bytes_per_s)}`]],
      ["Reserved", n => `${(n.reserved?.vcpus || 0).toFixed(1)}/${n.capacity?.vcpus} vCPU, ${n.reserved?.memory_mb || 0}/${n.capacity?.memory_mb} MB`],
      ["Instances", n => n.instances],
    ];
    if (isAdmin()) cols.splice(4, 0, ["Actions", n => el("span", { class: "actions" }, n.cordoned ? control(n, "uncordon") : [control(n, "cordon"), control(n, "drain")])]);
    return [el("h1", {}, "Nodes"), table("nodes", cols, list, "No nodes have joined.")];
  }, 2000);
}
const kb = v => ((v || 0) / 1024).toFixed(1) + " KB/s";

// --- pressure ---
async function pressure(ctx) {
  await live(ctx, async () => {
    const [list, events] = await Promise.all([api("GET", "/api/nodes/"), api("GET", "/api/events")]);
    return [el("h1", {}, "Pressure"),
      el("h2", {}, "Levels"),
      table("pr-nodes", [["Node", n => n.name], ["Cluster", n => n.cluster_name], ["Level", n => state(n.pressure || "normal")],
        ["CPU", n => pct(n.metrics?.cpu_percent)], ["Memory", n => pct(n.metrics?.memory_percent)]], list),
      el("h2", {}, "Events (newest first)"),
      eventsTable("pr-events", events.slice().reverse())];
  }, 5000);
}

// --- Kubernetes ---
function generic(key, rows) {
  if (!Array.isArray(rows)) rows = rows ? [rows] : [];
  const keys = [...new Set(rows.flatMap(r => Object.keys(r).filter(k => r[k] === null || typeof r[k] !== "object")))].slice(0, 10);
  return table(key, keys.map(k => [k, r => r[k] ?? ""]), rows);
}
async function kube(ctx) {
  await live(ctx, async () => {
    const get = p => api("GET", p).catch(e => e);
    const [clusters, repos, enablers] = await Promise.all([get("/api/k8sclusters/"), get("/api/chartrepo"), get("/api/enabler/instanced")]);
    const part = (title, key, v) => [el("h2", {}, title), v instanceof Error ? el("p", { class: "muted" }, v.message) : generic(key, v)];
    return [el("h1", {}, "Kubernetes"), part("Clusters", "k-cl", clusters), part("Chart repositories", "k-repo", repos), part("Enablers", "k-en", enablers)];
  });
}

// --- admin ---
async function admin(ctx) {
  if (!isAdmin()) { ctx.view.replaceChildren(el("h1", {}, "Admin"), el("p", {}, "This page needs the Admin role.")); return; }
  const tokenOut = el("div", { "aria-live": "polite" });
  const tokenForm = el("form", { class: "row", onsubmit: async ev => {
    ev.preventDefault();
    try {
      const t = await api("POST", "/api/tokens/", { kind: ev.target.kind.value, ttl_seconds: Number(ev.target.ttl.value) * 3600 });
      tokenOut.replaceChildren(el("p", {}, `A ${t.kind} join token, shown once, valid until ${when(t.expires_at)}:`), el("pre", { class: "logs" }, t.token));
    } catch (e) { tokenOut.replaceChildren(problems(e)); }
  } }, el("label", {}, "Kind", el("select", { name: "kind", id: "tok-kind" }, el("option", {}, "worker"), el("option", {}, "cluster"))),
    el("label", {}, "Valid for (hours)", el("input", { name: "ttl", id: "tok-ttl", type: "number", min: 1, max: 8760, value: 24 })),
    el("button", { type: "submit" }, "Create join token"));
  const userOut = el("div", { "aria-live": "polite" });
  const userForm = el("form", { class: "row", onsubmit: async ev => {
    ev.preventDefault();
    const f = ev.target;
    try {
      await api("POST", "/api/user/", { username: f.username.value, password: f.password.value, roles: [f.role.value] });
      userOut.replaceChildren(el("p", { class: "ok" }, `User ${f.username.value} created.`));
      f.password.value = "";
      ctx.onChange?.();
    } catch (e) { userOut.replaceChildren(problems(e)); }
  } }, el("label", {}, "User", el("input", { name: "username", id: "nu-name", required: true, autocomplete: "off" })),
    el("label", {}, "Password", el("input", { name: "password", id: "nu-pw", type: "password", required: true, minlength: 8, autocomplete: "new-password" })),
    el("label", {}, "Role", el("select", { name: "role", id: "nu-role" }, ["Application_Provider", "Organization_Admin", "Infrastructure_Provider", "Admin"].map(r => el("option", {}, r)))),
    el("button", { type: "submit" }, "Create user"));
  const users = el("div");
  ctx.view.replaceChildren(el("h1", {}, "Admin"), el("h2", {}, "Users"), users, userForm, userOut, el("h2", {}, "Join tokens"),
    el("p", { class: "muted" }, "A cluster token lets a cluster join this root; a worker token lets a worker join any of its clusters."), tokenForm, tokenOut);
  const load = async () => {
    const list = await api("GET", "/api/users/");
    users.replaceChildren(table("users", [["User", u => u.username], ["Roles", u => (u.roles || []).map(r => r.name || r).join(", ")],
      ["E-mail", u => u.email || ""], ["Created", u => when(u.created_at)],
      ["", u => u.username === "admin" ? "" : el("button", { type: "button", class: "secondary", onclick: async () => {
        if (!confirm(`Delete user ${u.username}?`)) return;
        await act("User deleted", () => api("DELETE", "/api/user/" + encodeURIComponent(u.username))); load();
      } }, "Delete")]], list));
  };
  ctx.onChange = () => load().catch(e => toast(e.message));
  await load();
}

export const pages = { overview, apps, app, logs, deploy, nodes, topology, pressure, kube, admin };
