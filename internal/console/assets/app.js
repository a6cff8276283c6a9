// Hedge console: the shell. It holds the session (in memory only: a reload
// asks for the password again), calls the API with relative URLs, follows
// /api/changes for live updates and routes #/page to the page modules.
import { pages } from "./pages.js";

const session = { token: "", refresh: "", user: "", admin: false, roles: [], timer: 0 };
let liveAbort = null;
let current = null; // { page, args, onChange, stop }

export function isAdmin() { return session.admin; }
export function userName() { return session.user; }

// el builds an element; children are nodes or strings (always text, never HTML).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

export function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, v);
  for (const c of children.flat(Infinity)) if (c !== undefined && c !== null && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

// ApiError carries the RFC 9457 problem the API answered.
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problems = problem?.errors || [];
  }
}

// api calls the REST API. body may be a string (sent with type) or an object (JSON).
export async function api(method, path, body, type) {
  const headers = {};
  if (session.token) headers.Authorization = "Bearer " + session.token;
  let payload;
  if (body !== undefined) {
    if (typeof body === "string") { payload = body; headers["Content-Type"] = type || "application/json"; }
    else { payload = JSON.stringify(body); headers["Content-Type"] = "application/json"; }
  }
  let res = await fetch(path, { method, headers, body: payload, credentials: "omit", cache: "no-store" });
  if (res.status === 401 && session.refresh && !path.startsWith("/api/auth/")) {
    if (await refresh()) return api(method, path, body, type);
  }
  const text = await res.text();
  const ctype = res.headers.get("Content-Type") || "";
  const data = ctype.includes("json") && text ? JSON.parse(text) : text;
  if (!res.ok) {
    if (res.status === 401 && !path.startsWith("/api/auth/")) logout("Your session ended: log in again.");
    throw new ApiError(res.status, typeof data === "object" ? data : { detail: text || res.statusText });
  }
  return data;
}

function claimsOf(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part));
  } catch { return {}; }
}

function keep(pair) {
  session.token = pair.token;
  session.refresh = pair.refresh_token;
  const c = claimsOf(pair.token);
  session.user = c.sub || "";
  session.roles = c.roles || [];
  clearTimeout(session.timer);
  const ms = Math.max(10, (pair.expires_in || 900) * 0.8) * 1000;
  session.timer = setTimeout(refresh, ms);
}

async function refresh() {
  try {
    const res = await fetch("/api/auth/refresh", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: session.refresh }), credentials: "omit" });
    if (!res.ok) return false;
    keep(await res.json());
    return true;
  } catch { return false; }
}

export function toast(msg, ms = 3500) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, ms);
}

function logout(msg) {
  clearTimeout(session.timer);
  Object.assign(session, { token: "", refresh: "", user: "", admin: false, roles: [] });
  if (liveAbort) liveAbort.abort();
  if (current?.stop) current.stop();
  current = null;
  document.getElementById("view").replaceChildren();
  document.getElementById("top").hidden = true;
  const f = document.getElementById("login");
  f.hidden = false;
  document.getElementById("login-error").textContent = msg || "";
  f.username.focus();
}

async function login(ev) {
  ev.preventDefault();
  const f = ev.target;
  const err = document.getElementById("login-error");
  err.textContent = "";
  const body = { username: f.username.value, password: f.password.value };
  if (f.organization_name.value) body.organization_name = f.organization_name.value;
  try {
    keep(await api("POST", "/api/auth/login", body));
  } catch (e) {
    err.textContent = e.status === 401 ? "Wrong user name or password." : e.message;
    return;
  }
  f.password.value = "";
  try {
    const p = await api("GET", "/api/permission/" + encodeURIComponent(session.user));
    session.admin = !!p.admin;
  } catch { session.admin = session.roles.includes("Admin"); }
  f.hidden = true;
  document.getElementById("top").hidden = false;
  document.getElementById("user").textContent = session.user + (session.admin ? " (Admin)" : "");
  for (const a of document.querySelectorAll("[data-admin]")) a.hidden = !session.admin;
  follow();
  route();
}

// follow reads /api/changes (server-sent events) with fetch, which, unlike
// EventSource, can send the bearer token; it reconnects after a failure.
async function follow() {
  if (liveAbort) liveAbort.abort();
  const ctl = new AbortController();
  liveAbort = ctl;
  const badge = document.getElementById("live");
  let lastMark = "";
  while (!ctl.signal.aborted && session.token) {
    try {
      const res = await fetch("/api/changes", { headers: { Authorization: "Bearer " + session.token, Accept: "text/event-stream" },
        signal: ctl.signal, credentials: "omit", cache: "no-store" });
      if (res.status === 401) { if (!(await refresh())) { logout("Your session ended: log in again."); return; } continue; }
      if (!res.ok || !res.body) throw new Error("HTTP " + res.status);
      badge.textContent = "live"; badge.classList.add("on");
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i); buf = buf.slice(i + 2);
          const data = block.split("\n").filter(l => l.startsWith("data:")).map(l => l.slice(5).trim()).join("");
          if (!data) continue;
          const ev = JSON.parse(data);
          if (ev.mark !== lastMark) {
            const first = lastMark === "";
            lastMark = ev.mark;
            if (!first && current?.onChange) current.onChange();
          }
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
    }
    badge.textContent = "reconnecting"; badge.classList.remove("on");
    await new Promise(r => setTimeout(r, 1000));
  }
}

// route shows the page the hash names: #/name/arg1/arg2.
async function route() {
  if (!session.token) return;
  const parts = (location.hash.replace(/^#\/?/, "") || "").split("/").map(decodeURIComponent);
  const name = parts[0] || "overview";
  const page = pages[name] || pages.overview;
  if (current) { current.alive = false; current.stop?.(); }
  for (const a of document.querySelectorAll("#nav a")) {
    const target = a.getAttribute("href").replace(/^#\/?/, "") || "overview";
    const on = target === name || (name === "app" && target === "apps") || (name === "logs" && target === "apps");
    if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  const view = document.getElementById("view");
  const ctx = { args: parts.slice(1), view, onChange: null, stop: null, alive: true };
  current = ctx;
  view.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  try {
    await page(ctx);
  } catch (e) {
    if (current === ctx) view.replaceChildren(el("p", { class: "error", role: "alert" }, e.message));
  }
  document.title = "Hedge · " + (view.querySelector("h1")?.textContent || name);
}

document.getElementById("login").addEventListener("submit", login);
document.getElementById("logout").addEventListener("click", () => logout());
window.addEventListener("hashchange", () => { route(); document.getElementById("main").focus({ preventScroll: true }); });
logout();
