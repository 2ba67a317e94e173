// @ts-check
// Forgejo webhook: its setup and the last deliveries. The list is read once (the dashboard keeps the
// last 20 in memory); after that each `webhook_received` event adds its row live. Below it, the calls
// hyperhive made to the Forgejo API (statuses, the plan comment; docs/gitops.md): read once from
// forge.sqlite, then each `forge_call_sent` / `forge_call_failed` event adds its row.

import { getJSON } from "./api.js";
import { html, short, when } from "./util.js";
/** @import { Json } from "./api.js" */

const KEEP = 20;
/** @type {Record<string, string>} */
const CLS = { "fast-forwarded": "ok", "up-to-date": "ok", reconcile: "ok", checked: "ok", duplicate: "", ignored: "", refused: "bad",
  failed: "bad", unauthorized: "bad" };
/** @type {Json[]} */
let rows = [];
/** @type {Json[]} */
let calls = [];

const key = (/** @type {Json} */ d) => `${d.at}|${d.delivery}`;

/** @param {Json} d a delivery */
function row(d) {
  const cls = CLS[d.outcome] ?? (d.status >= 400 ? "bad" : "");
  return html`<tr data-delivery="${d.delivery}"><td class="mono">${when(d.at)}</td><td class="mono" title="${d.delivery}">${d.delivery.slice(0, 13) || "—"}</td>
    <td class="mono">${d.event || "—"}</td><td class="mono">${d.ref.replace("refs/heads/", "") || "—"}</td>
    <td class="mono">${short(d.after)}</td><td class="mono">${d.status}</td>
    <td><span class="pill ${cls}">${d.outcome}</span></td><td>${d.message}</td></tr>`;
}

function render() {
  document.querySelector("#hooks-table tbody").innerHTML = rows.length ? rows.map(row).join("")
    : html`<tr><td colspan="8" class="empty">no deliveries since the dashboard started</td></tr>`.text;
}

/** @param {Json} d a delivery */
function add(d) {
  if (rows.some((r) => key(r) === key(d))) return;
  rows = [d, ...rows].sort((a, b) => b.at - a.at).slice(0, KEEP);
}

/** @param {Json} c an API call */
function callRow(c) {
  return html`<tr data-call="${c.key}"><td class="mono">${when(c.at)}</td><td class="mono">${c.key}</td>
    <td><span class="pill ${c.ok ? "ok" : "bad"}">${c.ok ? "sent" : "failed"}</span></td><td>${c.message}</td></tr>`;
}

function renderCalls() {
  document.querySelector("#forge-calls-table tbody").innerHTML = calls.length ? calls.map(callRow).join("")
    : html`<tr><td colspan="4" class="empty">no calls to Forgejo yet</td></tr>`.text;
}

/** @param {Json} forge the forge part of GET /api/hooks/forgejo */
function forgeSummary(forge) {
  document.getElementById("forge-summary").textContent = forge.connected
    ? `${forge.repo} at ${forge.url} · ${forge.pending} waiting to send`
    : "not connected (`hive forge connect`)";
}

export async function loadHooks() {
  const got = await getJSON("/api/hooks/forgejo");
  document.getElementById("hooks-summary").textContent = `POST ${got.path} · secret ${got.secret_configured
    ? "configured" : "not set (`hive webhook secret`)"} · remote ${got.remote ?? "none (pushes only reconcile)"}`;
  got.deliveries.forEach(add);
  render();
  forgeSummary(got.forge);
  calls = got.forge.calls;
  renderCalls();
}

// One `forge_call_sent` or `forge_call_failed` event from the stream.
/** @param {Json} event */
export function addCall(event) {
  const p = event.payload;
  const ok = event.kind === "forge_call_sent";
  calls = [{ at: event.ts, key: p.key, ok, message: ok ? p.summary : `${p.error} (retry in ${Math.round(p.retry_in)} s)` },
    ...calls].slice(0, KEEP);
  renderCalls();
}

// One `webhook_received` event from the stream.
/** @param {Json} event */
export function addDelivery(event) {
  const p = event.payload;
  add({ at: event.ts, delivery: p.delivery, event: p.event, ref: p.ref, after: p.after, status: p.status,
    outcome: p.outcome, message: p.message });
  render();
}
