// @ts-check
// The Swarm section: one row per agent, the add/edit forms, row actions, config and file viewers.

import { getJSON, post } from "./api.js";
import { html, raw, short, showProblems, toast } from "./util.js";
/** @import { Json } from "./api.js" */

/** @typedef {ReturnType<typeof html>} Html */
/** @typedef {{model: HTMLInputElement, state: HTMLSelectElement, allowed_recipients: HTMLInputElement, description: HTMLInputElement}} EditFields */
/** @typedef {HTMLFormElement & {elements: EditFields}} EditForm */
/** @typedef {{model: string, state: string, allowed_recipients: string, description: string}} EditValues */

/** @type {Record<string, string>} */
const ACTIONS = {
  start: "start", stop: "stop", suspend: "suspend", resume: "resume",
};

/** @param {Json} agent */
function statusCell(agent) {
  const s = agent.status;
  /** @type {Html[]} */
  const pills = [];
  if (agent.suspended) pills.push(html`<span class="pill warn">suspended</span>`);
  if (agent.paused) pills.push(html`<span class="pill warn" data-paused title="${agent.paused}">paused: budget</span> `);
  if (agent.needs_login) pills.push(html`<a class="pill bad" href="/agents/${agent.name}/" target="_blank" rel="noopener" title="open the agent page to log it in">needs login</a> `);
  if (!s) return pills.length ? pills : html`<span class="muted">—</span>`;
  for (const c of s.conditions || []) {
    if (c.type === "Ready") {
      const cls = c.status ? "ok" : "warn";
      pills.push(html`<span class="pill ${cls}" data-ready="${c.status}" title="${c.message}">${c.status ? "Ready" : "NotReady"}: ${c.reason}</span>`);
    } else if (c.status) {
      const cls = c.type === "Stalled" ? "bad" : "info";
      pills.push(html` <span class="pill ${cls}" title="${c.message}">${c.type}</span>`);
    }
  }
  if (s.runtime) pills.push(html` <span class="muted">${s.runtime}</span>`);
  if (s.pending) pills.push(html`<div class="pending">◐ ${s.pending}</div>`);
  if (s.last_error) pills.push(html`<div class="problems"><li>${s.last_error}</li></div>`);
  return pills;
}

/** @param {Json} agent @param {string} desiredRevision */
function revisionCell(agent, desiredRevision) {
  const applied = agent.status?.applied_revision;
  if (!applied) return html`<span class="mono muted">${short(desiredRevision)}</span>`;
  const same = applied === desiredRevision;
  return html`<span class="mono ${same ? "" : "muted"}" title="applied ${applied}">${short(applied)}</span>`;
}

/** @param {Json} agent */
function actions(agent) {
  /** @type {Html[]} */
  const buttons = [];
  buttons.push(agent.state === "running"
    ? html`<button class="small" data-action="stop">stop</button>`
    : html`<button class="small" data-action="start">start</button>`);
  buttons.push(agent.suspended
    ? html`<button class="small" data-action="resume">resume</button>`
    : html`<button class="small" data-action="suspend">suspend</button>`);
  if (features.lifecycle && agent.state === "running") {
    buttons.push(html`<button class="small" data-action="restart">restart</button>`);
    buttons.push(html`<button class="small" data-action="rebuild">rebuild</button>`);
  }
  buttons.push(html`<button class="small" data-edit>edit</button>`);
  if (features.reconciler) buttons.push(html`<button class="small" data-logs>logs</button>`);
  buttons.push(html`<button class="small" data-config>config</button>`);
  buttons.push(html`<button class="small" data-files>files</button>`);
  if (agent.role !== "manager") buttons.push(html`<button class="small danger" data-action="destroy">destroy</button>`);
  return buttons;
}

/** @type {Json} the snapshot's `features`: which daemon parts this dashboard can ask */
let features = {};

/** @param {Json} state */
export function renderSwarm(state) {
  features = state.features || {};
  const body = document.querySelector("#swarm-table tbody");
  const rows = state.agents.map((/** @type {Json} */ a) => html`<tr data-agent="${a.name}">
    <td class="mono"><a class="agent-link" href="/agents/${a.name}/" target="_blank" rel="noopener" title="the agent's page"><b>${a.name}</b></a>${a.description ? html`<div class="desc">${a.description}</div>` : ""}</td>
    <td>${a.role}</td>
    <td class="mono">${a.effective_model}${a.model ? "" : html` <span class="muted">(default)</span>`}</td>
    <td>${a.state}</td>
    <td>${statusCell(a)}</td>
    <td>${revisionCell(a, state.revision)}</td>
    <td class="mono">${a.allowed_recipients.length ? a.allowed_recipients.join(", ") : html`<span class="muted">anyone</span>`}</td>
    <td class="mono">${a.extra_mcp_servers.join(", ")}</td>
    <td class="mono">${a.cost_usd == null ? "" : `$${a.cost_usd.toFixed(2)}`}</td>
    <td class="actions">${actions(a)}</td>
  </tr>`);
  body.innerHTML = rows.length ? rows.join("") : html`<tr><td colspan="10" class="empty">no agents in desired state</td></tr>`.text;
  const running = state.agents.filter((/** @type {Json} */ a) => a.state === "running").length;
  document.getElementById("swarm-summary").textContent =
    `${state.agents.length} agents, ${running} desired running`;
}

/** @param {string} name @param {string} action */
async function rowAction(name, action) {
  if (action === "destroy" && !confirm(`Remove ${name} from desired state?\nThe reconciler destroys its container; its state dir is kept (see Kept state).`)) return;
  const res = await post(`/api/agents/${encodeURIComponent(name)}/${action}`);
  if (res.ok) toast(res.data.changed ? `${res.data.summary}` : "no change: desired state already says that");
  else toast(res.data.error, true);
}

/** @param {Json} state @param {string} name */
function openEditor(state, name) {
  const agent = state.agents.find((/** @type {Json} */ a) => a.name === name);
  const form = /** @type {EditForm} */ (document.getElementById("edit-agent-form"));
  form.hidden = false;
  form.dataset.agent = name;
  form.querySelector("[data-agent]").textContent = name;
  form.elements.model.value = agent.model || "";
  form.elements.state.value = agent.state;
  form.elements.allowed_recipients.value = agent.allowed_recipients.join(", ");
  form.elements.description.value = agent.description;
  form.dataset.original = JSON.stringify(formValues(form));
  showProblems(form, null);
  form.scrollIntoView({ block: "nearest" });
  form.elements.model.focus();
}

/** @param {EditForm} form @returns {EditValues} */
function formValues(form) {
  return {
    model: form.elements.model.value.trim(),
    state: form.elements.state.value,
    allowed_recipients: form.elements.allowed_recipients.value.trim(),
    description: form.elements.description.value.trim(),
  };
}

/** @param {EditForm} form */
async function saveEditor(form) {
  const name = form.dataset.agent;
  /** @type {EditValues} */
  const before = JSON.parse(form.dataset.original);
  const now = formValues(form);
  const changed = /** @type {(keyof EditValues)[]} */ (Object.keys(now)).filter((k) => now[k] !== before[k]);
  if (!changed.length) { toast("nothing changed"); return; }
  for (const field of changed) {
    const res = await post(`/api/agents/${encodeURIComponent(name)}/set`, { field, value: now[field] });
    if (!res.ok) { showProblems(form, res.data); return; }
    before[field] = now[field];
    form.dataset.original = JSON.stringify(before);
    toast(res.data.summary);
  }
  showProblems(form, null);
  form.hidden = true;
}

/** @param {HTMLFormElement} form */
async function addAgent(form) {
  const body = Object.fromEntries(new FormData(form).entries());
  const res = await post("/api/agents", body);
  if (!res.ok) { showProblems(form, res.data); return; }
  showProblems(form, null);
  form.reset();
  /** @type {HTMLDetailsElement} */ (document.getElementById("add-agent")).open = false;
  toast(`committed ${short(res.data.revision)}: ${res.data.summary}`);
}

/** @param {string} name */
async function showConfig(name) {
  const viewer = document.getElementById("viewer");
  const cfg = await getJSON(`/api/agents/${encodeURIComponent(name)}/config`);
  viewer.hidden = false;
  viewer.innerHTML = html`<h3>${cfg.file} <button class="small ghost" data-close-viewer>close</button></h3>
    <pre class="text">${JSON.stringify(cfg.desired, null, 2)}</pre>
    ${cfg.agent_nix ? html`<h3>agents/${name}/agent.nix</h3><pre class="text">${cfg.agent_nix}</pre>` : ""}
    ${Object.entries(cfg.rendered || {}).map(([file, text]) => html`<h3>rendered: ${file}</h3><pre class="text">${text}</pre>`)}`.text;
}

/** @type {string | null} the agent whose log the viewer follows */
let follow = null;
/** the log the viewer shows: one of the scopes the runtime offers (the server refuses others) */
let logScope = "harness";
/** @type {string[]} the scopes the runtime last said it has */
let logScopes = [];

/** @type {Record<string, string>} */
const SCOPE_LABELS = {
  harness: "harness", machine: "whole machine (journal)", build: "build (nixos-container)",
};

/** @param {string[]} scopes @param {string} current */
function scopePicker(scopes, current) {
  if (scopes.length < 2) return "";
  const options = scopes.map((s) => html`<option value="${s}" ${s === current ? raw("selected") : ""}>${SCOPE_LABELS[s] || s}</option>`);
  return html`<select class="small" data-log-scope title="which log">${options}</select>`;
}

// The log viewer: a bounded tail (server caps it); "follow" re-reads it when the agent's events arrive.
// On the nixos runtime the harness's log is its unit's journal; the picker offers the whole machine
// and the build output too (exactly the scopes the runtime answered with).
/** @param {string} name @param {string} [scope] */
async function showLogs(name, scope = follow === name ? logScope : "harness") {
  const viewer = document.getElementById("viewer");
  viewer.hidden = false;
  follow = name;
  logScope = scope;
  try {
    const q = new URLSearchParams({ lines: "500", scope });
    const { lines, scopes } = await getJSON(`/api/agents/${encodeURIComponent(name)}/logs?${q}`);
    logScopes = scopes || [];
    viewer.innerHTML = html`<h3>${name}: log (last ${lines.length} lines)
      ${scopePicker(logScopes, scope)}
      <label class="muted"><input type="checkbox" data-follow checked> follow</label>
      <button class="small ghost" data-close-viewer>close</button></h3>
      <pre class="text log" data-scope="${scope}">${lines.join("\n") || "(empty)"}</pre>`.text;
    const pre = viewer.querySelector("pre");
    pre.scrollTop = pre.scrollHeight;
  } catch (/** @type {any} */ err) {  // keep the picker: a stopped container's journal fails, its build log does not
    viewer.innerHTML = html`<h3>${name} ${scopePicker(logScopes, scope)} <button class="small ghost" data-close-viewer>close</button></h3><ul class="problems"><li>${err.message}</li></ul>`.text;
  }
}

/** @param {string} name */
export function agentActivity(name) {
  /** @type {HTMLInputElement | null} */
  const box = document.querySelector("#viewer [data-follow]");
  if (follow === name && box?.checked && !document.getElementById("viewer").hidden) showLogs(name);
}

/** @param {string} name @param {string} [path] relative to the agent's state dir */
export async function showFile(name, path = "") {
  const viewer = document.getElementById("viewer");
  viewer.hidden = false;
  try {
    const f = await getJSON(`/api/state-file?agent=${encodeURIComponent(name)}&path=${encodeURIComponent(path)}`);
    const head = html`<h3>${name}:/state/${f.path === "." ? "" : f.path} <button class="small ghost" data-close-viewer>close</button></h3>`;
    if (f.kind === "dir") {
      const items = f.entries.map((/** @type {Json} */ e) => e.refused
        ? html`<li class="muted" title="${e.refused}">${e.name}${e.dir ? "/" : ""} (not shown)</li>`
        : html`<li><a href="#" data-file="${(f.path === "." ? "" : f.path + "/") + e.name}" data-agent="${name}">${e.name}${e.dir ? "/" : ""}</a></li>`);
      viewer.innerHTML = html`${head}<ul class="mono">${items.length ? items : raw("<li class='muted'>(empty)</li>")}</ul>`.text;
    } else {
      viewer.innerHTML = html`${head}<div class="muted">${f.size} bytes${f.truncated ? " — showing the first 1 MiB" : ""}</div><pre class="text">${f.text}</pre>`.text;
    }
  } catch (/** @type {any} */ err) {
    viewer.innerHTML = html`<h3>${name} <button class="small ghost" data-close-viewer>close</button></h3><ul class="problems"><li>${err.message}</li></ul>`.text;
  }
}

/** @param {() => Json} getState */
export function bindSwarm(getState) {
  document.getElementById("swarm-table").addEventListener("click", (e) => {
    /** @type {HTMLElement | null} */
    const row = /** @type {Element} */ (e.target).closest("tr[data-agent]");
    if (!row) return;
    const name = row.dataset.agent;
    const btn = /** @type {Element} */ (e.target).closest("button");
    if (!btn) return;
    if (btn.dataset.action) rowAction(name, ACTIONS[btn.dataset.action] || btn.dataset.action);
    else if ("edit" in btn.dataset) openEditor(getState(), name);
    else if ("config" in btn.dataset) showConfig(name).catch((err) => toast(err.message, true));
    else if ("files" in btn.dataset) showFile(name);
    else if ("logs" in btn.dataset) showLogs(name);
  });
  const add = /** @type {HTMLFormElement} */ (document.getElementById("add-agent-form"));
  add.addEventListener("submit", (e) => { e.preventDefault(); addAgent(add); });
  const edit = /** @type {EditForm} */ (document.getElementById("edit-agent-form"));
  edit.addEventListener("submit", (e) => { e.preventDefault(); saveEditor(edit); });
  edit.querySelector("[data-close]").addEventListener("click", () => { edit.hidden = true; });
  document.getElementById("viewer").addEventListener("click", (e) => {
    if (/** @type {Element} */ (e.target).closest("[data-close-viewer]")) { /** @type {HTMLElement} */ (e.currentTarget).hidden = true; follow = null; return; }
    /** @type {HTMLElement | null} */
    const link = /** @type {Element} */ (e.target).closest("a[data-file]");
    if (link) { e.preventDefault(); showFile(link.dataset.agent, link.dataset.file); }
  });
  document.getElementById("viewer").addEventListener("change", (e) => {
    const picker = /** @type {HTMLSelectElement} */ (e.target);
    if (picker.matches("[data-log-scope]") && follow) showLogs(follow, picker.value);
  });
}
