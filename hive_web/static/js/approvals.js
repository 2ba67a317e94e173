// @ts-check
// Approvals: pending proposals with their full desired-state diff (approve / deny with a reason)
// and a history tab. The active tab survives reloads. A proposal that adds agents is a draft: its
// card names them and the seed files each starts with, and "drop draft" denies it.

import { getJSON, post } from "./api.js";
import { ago, diffHtml, html, short, toast } from "./util.js";
/** @import { Json } from "./api.js" */

let tab = localStorage.getItem("hive.approvals.tab") || "pending";

/** @param {Json} d one drafted agent: its name and the seed files it starts with */
function draftLine(d) {
  const seeds = d.seeds.length
    ? html`starts with ${d.seeds.map((/** @type {string} */ f) => html` <code>/state/${f}</code>`)}`
    : html`<span class="muted">no seed files</span>`;
  return html`<div class="draft-line"><span class="pill info">draft</span> new agent <b>${d.name}</b> · ${seeds}</div>`;
}

/** @param {Json} p a pending proposal */
function pendingCard(p) {
  const drafts = p.drafts || [];
  return html`<article class="card${drafts.length ? " draft" : ""}" data-proposal="${p.id}">
    <header><b>#${p.id}</b><span>${p.description}</span><span class="spacer"></span>
      <span class="muted">${p.author} · ${ago(p.created_at)}</span></header>
    ${drafts.map(draftLine)}
    ${diffHtml(p.diff)}
    <footer>
      <button class="primary" data-approve>${drafts.length ? "approve: create it" : "approve"}</button>
      <input name="note" placeholder="reason for denying (optional, sent to the proposer)" maxlength="4000">
      <button class="danger" data-deny>${drafts.length ? "drop draft" : "deny"}</button>
    </footer>
  </article>`;
}

/** @param {Json} p a resolved proposal */
function historyRow(p) {
  const glyph = p.status === "approved" ? "✓" : "✗";
  const cls = p.status === "approved" ? "ok" : "bad";
  const deploy = p.deploy ? html` <span class="pill ${p.deploy === "deployed" ? "ok" : "bad"}">${p.deploy}</span>` : "";
  return html`<tr class="clickable" data-proposal="${p.id}">
    <td><span class="pill ${cls}">${glyph} ${p.status}</span>${deploy}</td><td class="mono">#${p.id}</td>
    <td>${p.description}${p.resolution?.note ? html`<div class="muted">${p.resolution.note}</div>` : ""}</td>
    <td>${p.author}</td><td>${p.resolution ? p.resolution.by : ""}</td>
    <td class="mono">${short(p.commit)}</td><td>${p.resolution ? ago(p.resolution.at) : ""}</td></tr>`;
}

/** @param {Json} state */
export function renderApprovals(state) {
  const { pending, history } = state.approvals;
  document.getElementById("count-pending").textContent = pending.length || "";
  for (const b of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll("#approval-tabs .tab"))) b.classList.toggle("active", b.dataset.tab === tab);
  const body = document.getElementById("approvals-body");
  if (tab === "pending") {
    body.innerHTML = pending.length ? pending.map(pendingCard).join("") : html`<p class="muted">no pending proposals</p>`.text;
  } else {
    body.innerHTML = html`<table class="grid-table"><thead><tr><th>status</th><th>id</th><th>description</th>
      <th>proposed by</th><th>resolved by</th><th>commit</th><th>when</th></tr></thead>
      <tbody>${history.length ? history.map(historyRow) : html`<tr><td colspan="7" class="empty">nothing resolved yet</td></tr>`}</tbody></table>`.text;
  }
}

/** @param {HTMLElement} card @param {"approve" | "deny"} verb */
async function resolve(card, verb) {
  const id = card.dataset.proposal;
  const note = /** @type {HTMLInputElement} */ (card.querySelector("input[name=note]")).value;
  for (const b of card.querySelectorAll("button")) b.disabled = true;
  const res = await post(`/api/approvals/${id}/${verb}`, { note });
  if (res.ok) toast(`proposal #${id} ${res.data.status}`);
  else { toast(res.data.error, true); for (const b of card.querySelectorAll("button")) b.disabled = false; }
}

/** @param {HTMLElement} row */
async function toggleHistoryDiff(row) {
  const next = row.nextElementSibling;
  if (next?.classList.contains("detail")) { next.remove(); return; }
  const p = await getJSON(`/api/approvals/${row.dataset.proposal}`);
  row.insertAdjacentHTML("afterend", html`<tr class="detail"><td colspan="7">${diffHtml(p.diff)}</td></tr>`.text);
}

/** @param {() => void} rerender */
export function bindApprovals(rerender) {
  document.getElementById("approval-tabs").addEventListener("click", (e) => {
    /** @type {HTMLElement | null} */
    const b = /** @type {Element} */ (e.target).closest(".tab");
    if (!b) return;
    tab = b.dataset.tab;
    localStorage.setItem("hive.approvals.tab", tab);
    rerender();
  });
  document.getElementById("approvals-body").addEventListener("click", (e) => {
    /** @type {HTMLElement | null} */
    const card = /** @type {Element} */ (e.target).closest("[data-proposal]");
    if (!card) return;
    if (/** @type {Element} */ (e.target).closest("[data-approve]")) resolve(card, "approve");
    else if (/** @type {Element} */ (e.target).closest("[data-deny]")) resolve(card, "deny");
    else if (card.tagName === "TR") toggleHistoryDiff(card).catch((err) => toast(err.message, true));
  });
}
