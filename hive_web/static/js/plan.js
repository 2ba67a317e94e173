// @ts-check
// Plan: what the reconciler would do right now (a dry run, with reasons), "reconcile now",
// and the recent reconcile history. Re-read when events say something moved, never on a timer.

import { getJSON, post } from "./api.js";
import { html, short, toast, when } from "./util.js";
/** @import { Json } from "./api.js" */

/** @param {Json} c a field change */
function changeText(c) {
  const fmt = (/** @type {unknown} */ v) => (typeof v === "string" ? v : JSON.stringify(v));
  return `${c.field}: ${fmt(c.old)} → ${fmt(c.new)}`;
}

/** @param {Json} a a planned action */
export function actionRow(a) {
  const cls = a.symbol === "+" ? "add" : a.symbol === "~" ? "hunk" : "del";
  return html`<tr data-plan="${a.agent}"><td class="mono sym ${cls}">${a.symbol}</td><td class="mono"><b>${a.agent}</b></td>
    <td>${a.action}</td><td>${a.reason}${a.changes.length ? html`<div class="mono muted">${a.changes.map(changeText).join("; ")}</div>` : ""}</td></tr>`;
}

/** @param {Json} h a reconcile that ran */
function historyRow(h) {
  const cls = h.result === "ok" ? "ok" : "bad";
  return html`<tr><td class="mono">${when(h.started_at)}</td><td class="mono">${h.name}</td><td>${h.action}</td>
    <td>${h.reason}</td><td class="mono">${short(h.revision)}</td><td class="mono">${h.duration_ms} ms</td>
    <td><span class="pill ${cls}">${h.result}</span>${h.error ? html`<div class="problems"><li>${h.error}</li></div>` : ""}</td></tr>`;
}

/** @param {Json} state */
export async function loadPlan(state) {
  const body = document.getElementById("plan-body");
  if (!state.features?.reconciler) return;
  try {
    const [plan, hist] = await Promise.all([getJSON("/api/plan"), getJSON("/api/reconcile/history")]);
    const s = plan.summary;
    document.getElementById("plan-summary").textContent = plan.refused
      ? `refused: ${plan.refused}`
      : `${s.text} (main @ ${short(plan.revision)})`;
    body.innerHTML = html`
      <table class="grid-table" id="plan-table"><thead><tr><th></th><th>agent</th><th>action</th><th>why</th></tr></thead>
      <tbody>${plan.actions.length ? plan.actions.map(actionRow) : html`<tr><td colspan="4" class="empty">No changes. The swarm matches desired state.</td></tr>`}</tbody></table>
      ${plan.skipped.length ? html`<p class="muted">left alone: ${plan.skipped.map((/** @type {Json} */ x) => `${x.agent} (${x.why})`).join(", ")}</p>` : ""}
      <div class="bar"><h2>Recent reconciles</h2></div>
      <table class="grid-table"><thead><tr><th>started</th><th>agent</th><th>action</th><th>why</th><th>revision</th><th>took</th><th>result</th></tr></thead>
      <tbody>${hist.history.length ? hist.history.map(historyRow) : html`<tr><td colspan="7" class="empty">nothing reconciled yet</td></tr>`}</tbody></table>`.text;
  } catch (/** @type {any} */ err) {
    body.innerHTML = html`<ul class="problems"><li>${err.message}</li></ul>`.text;
  }
}

export function bindPlan() {
  document.getElementById("reconcile-now").addEventListener("click", async () => {
    const res = await post("/api/reconcile");
    if (res.ok) toast(res.data.note || "a reconcile pass is on its way"); else toast(res.data.error, true);
  });
}
