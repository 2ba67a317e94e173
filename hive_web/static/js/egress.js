// @ts-check
// The agent page's Egress section: the agent's allow-list now and the host's record of every
// connection it asked the egress proxy for, newest first, refused ones marked. Read from the
// dashboard (the host's log, which the agent cannot shape), not from the agent's harness, so it
// shows while the agent is stopped. Re-read after each turn and on demand; never polled.

import { getJSON } from "./api.js";
import { ago, html, when } from "./util.js";
/** @import { Json } from "./api.js" */

const LIMIT = 200;

/** @param {number} n */
function size(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** @param {string} host @param {number} port */
function target(host, port) {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** @param {Json} e one connection */
function row(e) {
  const status = e.allowed ? html`<span class="pill">allowed</span>` : html`<span class="pill bad">denied</span>`;
  return html`<tr class="${e.allowed ? "allowed" : "denied"}">
    <td title="${when(e.started)}">${ago(e.started)}</td>
    <td class="mono">${target(e.host, e.port)}<br><span class="muted">${e.method} · ${e.reason}</span></td>
    <td>${status}</td><td class="mono">↑${size(e.bytes_up)}<br>↓${size(e.bytes_down)}</td></tr>`;
}

/** @param {Json} data the dashboard's /api/agents/<name>/egress */
function paint(data) {
  const s = data.summary;
  document.getElementById("egress-allow").textContent = `may reach: ${data.allow.join(", ")}`;
  document.getElementById("egress-summary").textContent =
    `${s.allowed} allowed · ${s.denied} denied · ↑${size(s.bytes_up)} ↓${size(s.bytes_down)} (latest ${data.entries.length})`;
  document.querySelector("#agent-egress tbody").innerHTML = data.entries.map(row).join("")
    || html`<tr><td colspan="4" class="empty">no connections recorded</td></tr>`.text;
}

/** @param {string} name the agent */
export async function loadEgress(name) {
  const denied = /** @type {HTMLInputElement} */ (document.getElementById("egress-denied")).checked;
  const url = `/api/agents/${encodeURIComponent(name)}/egress?limit=${LIMIT}${denied ? "&denied=1" : ""}`;
  try {
    paint(await getJSON(url));
  } catch (/** @type {any} */ err) {
    document.getElementById("egress-summary").textContent = err.message;
  }
}

/** @param {string} name the agent */
export function bindEgress(name) {
  document.getElementById("egress-denied").addEventListener("change", () => loadEgress(name));
  document.getElementById("egress-refresh").addEventListener("click", () => loadEgress(name));
  return loadEgress(name);
}
