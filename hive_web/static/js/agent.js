// @ts-check
// One agent's page: badges, the live turn stream (sticky to the bottom unless the reader scrolled
// up, with a "↓ N new" pill), prompt with slash commands, login, inbox, and turn-stats charts.
// Data comes from the agent's harness through the dashboard (/agents/<name>/...), live over SSE.

import { getJSON, post } from "./api.js";
import { durationChart, tokensChart, toolsChart } from "./charts.js";
import { bindEgress, loadEgress } from "./egress.js";
import { ago, html, toast } from "./util.js";
/** @import { Json } from "./api.js" */

/** @typedef {HTMLFormElement & {elements: {text: HTMLTextAreaElement}}} PromptForm */

const NAME = /** @type {HTMLMetaElement} */ (document.querySelector('meta[name="agent"]')).content;
const BASE = `/agents/${encodeURIComponent(NAME)}`;
const KINDS = ["turn_start", "stream", "turn_end", "note", "status_changed", "model_changed",
  "token_usage_changed", "turn_state_changed"];
const MAX_LINES = 3000;
const term = document.getElementById("terminal");
const pill = document.getElementById("new-pill");
let unseen = 0;
let lastSeq = 0;

const HELP = [
  "/model NAME   use NAME for the next turns (runtime override); /model alone clears it",
  "/compact      compact the claude session now",
  "/cancel       stop the running turn (SIGINT)",
  "/new-session  the next turn starts a fresh session",
  "/help         this list; anything else is sent to the agent as a prompt",
];

function atBottom() { return term.scrollTop + term.clientHeight >= term.scrollHeight - 8; }

/** @param {string} cls @param {string} content */
function line(cls, content) {
  const stick = atBottom();
  term.insertAdjacentHTML("beforeend", html`<div class="ln ${cls}">${content}</div>`.text);
  while (term.childElementCount > MAX_LINES) term.firstElementChild.remove();
  if (stick) term.scrollTop = term.scrollHeight;
  else { unseen += 1; pill.hidden = false; pill.textContent = `↓ ${unseen} new`; }
}

/** @param {unknown} text @param {number} [n] */
function clip(text, n = 600) { const s = String(text ?? ""); return s.length > n ? `${s.slice(0, n)}…` : s; }

/** @param {Json} p a `stream` event */
function streamItem(p) {
  if (p.item === "text") line("say", p.text);
  else if (p.item === "thinking") line("think", clip(p.text));
  else if (p.item === "tool_use") line("tool", `⚙ ${p.name} ${clip(JSON.stringify(p.input), 300)}`);
  else if (p.item === "tool_result") line(p.is_error ? "tool err" : "tool res", `↳ ${clip(p.text, 400)}`);
  else if (p.item === "init") line("note", `session: ${p.model}; mcp ${Object.entries(p.mcp_servers || {}).map(([k, v]) => `${k}=${v}`).join(" ")}`);
}

/** @param {string} id @param {string} text @param {string} [cls] */
function badge(id, text, cls = "") {
  const el = document.getElementById(id);
  el.textContent = text;
  el.className = `pill ${cls}`;
}

/** @param {Json} t a turn: the last one in the state, or a `turn_end` event */
function turnText(t) {
  if (!t || !t.result_kind) return "no turn yet";
  const tokens = (t.input_tokens || 0) + (t.output_tokens || 0);
  return `last turn ${t.result_kind}, ${(t.duration_ms / 1000).toFixed(1)} s, ${tokens.toLocaleString()} tok`;
}

/** @type {Record<string, string>} */
const STATE_CLS = { idle: "ok", queued: "warn", "paused: budget": "warn", thinking: "info", compacting: "warn" };

/** @param {{data: string}} e an SSE message, or a history event made into one */
function onEvent(e) {
  const ev = JSON.parse(e.data);
  if (ev.seq <= lastSeq) return;
  lastSeq = ev.seq;
  if (ev.kind === "turn_end" && document.body.dataset.live) loadEgress(NAME); // live turns only, not history
  if (ev.kind === "turn_start") line("start", `▶ turn from ${ev.wake_from} (${ev.model})${ev.new_session ? " — new session" : ""}\n${clip(ev.prompt, 400)}`);
  else if (ev.kind === "stream") streamItem(ev);
  else if (ev.kind === "note") line("note", `· ${ev.text}`);
  else if (ev.kind === "turn_end") { line(`end ${ev.result_kind}`, `■ ${turnText(ev)}${ev.note ? ` — ${ev.note}` : ""}`); badge("turn-badge", turnText(ev)); loadStats(); }
  else if (ev.kind === "turn_state_changed") badge("state-badge", ev.state, STATE_CLS[ev.state] || "");
  else if (ev.kind === "status_changed") status(ev.status, ev.login);
  else if (ev.kind === "model_changed") badge("model-badge", ev.model);
  else if (ev.kind === "token_usage_changed") badge("ctx-badge", `${(ev.context_tokens || 0).toLocaleString()} ctx tok`);
}

/** @param {string} value @param {Json} login */
function status(value, login) {
  const needs = value === "needs_login" || value === "logging_in";
  badge("alive-badge", value, value === "online" || value === "running" ? "ok" : needs ? "bad" : "warn");
  document.getElementById("login").hidden = !needs;
  if (login) {
    document.getElementById("login-url").textContent = login.url || "";
    document.getElementById("login-output").textContent = login.output || login.error || "";
  }
}

/** @param {Json} s the harness's state */
function paint(s) {
  status(s.status, s.login);
  badge("state-badge", s.turn_state, STATE_CLS[s.turn_state] || "");
  badge("model-badge", s.model + (s.model_override ? " (override)" : ""));
  badge("ctx-badge", `${(s.context_tokens || 0).toLocaleString()} ctx tok`);
  badge("turn-badge", turnText(s.last_turn));
  document.querySelector("#agent-inbox tbody").innerHTML = (s.inbox || []).slice().reverse().map((/** @type {Json} */ m) => html`<tr>
    <td class="mono">${m.sender}</td><td class="body">${clip(m.body, 500)}</td><td>${ago(m.sent_at)}</td></tr>`).join("")
    || html`<tr><td colspan="3" class="empty">no messages</td></tr>`.text;
}

async function loadStats() {
  const win = /** @type {HTMLSelectElement} */ (document.getElementById("stats-window")).value;
  try {
    const s = await getJSON(`${BASE}/api/stats?window=${win}`);
    const tok = Object.values(s.tokens).reduce((/** @type {number} */ a, /** @type {number} */ b) => a + b, 0);
    document.getElementById("stats").innerHTML = html`<p class="mono">${s.turn_count} turns · ${tok.toLocaleString()} tokens · $${s.cost_usd.toFixed(4)}
      · ${Object.entries(s.by_result).map(([k, v]) => `${k} ${v}`).join(", ")}</p>
      <h3>tokens per turn</h3>${tokensChart(s.turns.slice(0, 60))}
      <h3>duration</h3>${durationChart(s.turns.slice(0, 60), s.duration_ms.p50, s.duration_ms.p95)}
      <h3>tool use</h3>${toolsChart(s.tool_calls)}`.text;
  } catch (/** @type {any} */ err) { document.getElementById("stats").textContent = err.message; }
}

/** @param {string} text */
async function command(text) {
  const [cmd, ...rest] = text.trim().split(/\s+/);
  const arg = rest.join(" ");
  /** @type {Record<string, [string, object]>} */
  const calls = { "/model": ["model", { model: arg }], "/compact": ["compact", {}], "/cancel": ["cancel", {}], "/new-session": ["new-session", {}] };
  if (cmd === "/help") { HELP.forEach((h) => line("note", h)); return; }
  const call = calls[cmd];
  if (!call) { toast(`unknown command ${cmd}; /help lists them`, true); return; }
  const res = await post(`${BASE}/api/${call[0]}`, call[1]);
  if (res.ok) line("note", `· ${cmd} ${arg}`.trim() + ` → ${JSON.stringify(res.data)}`); else toast(res.data.error, true);
}

/** @param {PromptForm} form */
async function send(form) {
  const text = form.elements.text.value.trim();
  if (!text) return;
  if (text.startsWith("/")) await command(text);
  else {
    const res = await post(`${BASE}/api/send`, { body: text });
    if (!res.ok) { toast(res.data.error, true); return; }
    toast("queued for the next turn");
  }
  form.elements.text.value = "";
}

function bind() {
  const form = /** @type {PromptForm} */ (document.getElementById("prompt"));
  form.addEventListener("submit", (e) => { e.preventDefault(); send(form); });
  form.elements.text.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(form); } });
  term.addEventListener("scroll", () => { if (atBottom()) { unseen = 0; pill.hidden = true; } });
  pill.addEventListener("click", () => { term.scrollTop = term.scrollHeight; unseen = 0; pill.hidden = true; });
  document.getElementById("stats-window").addEventListener("change", loadStats);
  document.getElementById("login").addEventListener("click", async (e) => {
    /** @type {HTMLElement | null} */
    const b = /** @type {Element} */ (e.target).closest("[data-login]");
    if (!b) return;
    const res = await post(`${BASE}/api/login/${b.dataset.login}`);
    if (res.ok) status("logging_in", res.data.login); else toast(res.data.error, true);
  });
  document.getElementById("login-code").addEventListener("submit", async (e) => {
    e.preventDefault();
    const res = await post(`${BASE}/api/login/code`, { code: /** @type {HTMLFormElement & {elements: {code: HTMLInputElement}}} */ (e.target).elements.code.value.trim() });
    if (!res.ok) toast(res.data.error, true);
  });
}

async function boot() {
  bind();
  bindEgress(NAME);
  let s;
  try { s = await getJSON(`${BASE}/api/state`); } catch (/** @type {any} */ err) { badge("alive-badge", "offline", "bad"); line("err", err.message); return; }
  paint(s);
  const history = await getJSON(`${BASE}/events/history?limit=500`);
  for (const ev of history.events) onEvent({ data: JSON.stringify(ev) });
  lastSeq = Math.max(lastSeq, s.seq, history.seq);
  const source = new EventSource(`${BASE}/events/stream?after=${lastSeq}`);
  for (const kind of KINDS) source.addEventListener(kind, onEvent);
  source.onopen = () => document.body.dataset.live = "1";
  source.onerror = () => { delete document.body.dataset.live; };
  loadStats();
  /** @type {Window & {agentPage?: object}} */ (window).agentPage = { lastSeq: () => lastSeq };
}

boot();
