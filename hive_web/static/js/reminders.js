// @ts-check
// Reminders: pending ones first (cancel), failed ones with their last error (retry), then history.

import { post } from "./api.js";
import { html, toast, when } from "./util.js";
/** @import { Json } from "./api.js" */

/** @type {Record<string, number>} */
const ORDER = { pending: 0, failed: 1, sent: 2, cancelled: 3 };
/** @type {Record<string, string>} */
const CLS = { pending: "info", failed: "bad", sent: "ok", cancelled: "" };

/** @param {Json} r */
function row(r) {
  /** @type {ReturnType<typeof html>[]} */
  const actions = [];
  if (r.status === "pending") actions.push(html`<button class="small danger" data-cancel="${r.id}">cancel</button>`);
  if (r.status === "failed") actions.push(html`<button class="small" data-retry="${r.id}">retry</button>`);
  return html`<tr data-reminder="${r.id}"><td class="mono">#${r.id}</td><td class="mono">${r.agent}</td>
    <td><span class="pill ${CLS[r.status]}">${r.status}</span></td><td class="mono">${when(r.due_at)}</td>
    <td>${r.message}${r.file_path ? html` <span class="mono muted">+ ${r.file_path}</span>` : ""}
      ${r.last_error ? html`<div class="problems"><li>${r.last_error}</li></div>` : ""}</td>
    <td class="mono">${r.attempts}</td><td class="actions">${actions}</td></tr>`;
}

/** @param {Json} state */
export function renderReminders(state) {
  const rows = [...state.reminders].sort((/** @type {Json} */ a, /** @type {Json} */ b) => ORDER[a.status] - ORDER[b.status] || a.due_at - b.due_at);
  document.querySelector("#reminders-table tbody").innerHTML = rows.length ? rows.map(row).join("")
    : html`<tr><td colspan="7" class="empty">${state.core ? "no reminders" : "the host core is not connected"}</td></tr>`.text;
}

export function bindReminders() {
  document.getElementById("reminders-table").addEventListener("click", async (e) => {
    /** @type {HTMLElement | null} */
    const btn = /** @type {Element} */ (e.target).closest("[data-cancel],[data-retry]");
    if (!btn) return;
    const [verb, id] = btn.dataset.cancel ? ["cancel", btn.dataset.cancel] : ["retry", btn.dataset.retry];
    const res = await post(`/api/reminders/${id}/${verb}`);
    if (res.ok) toast(`reminder #${id}: ${verb === "cancel" ? "cancelled" : "queued again"}`); else toast(res.data.error, true);
  });
}
