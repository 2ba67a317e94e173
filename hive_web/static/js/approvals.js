// @ts-check
// Approvals: pending proposals with their full desired-state diff (approve / deny with a reason)
// and a history tab. The active tab survives reloads. A proposal that adds agents is a draft: its
// card names them and the seed files each starts with, and "drop draft" denies it.

import { getJSON, post } from "./api.js";
import { ago, diffHtml, html, short, toast } from "./util.js";
/** @import { Json } from "./api.js" */

let tab = localStorage.getItem("hive.approvals.tab") || "pending";
/** Proposal id → its Forgejo pull request and checks (GET /api/forge/pulls); empty without a forge. */
/** @type {Record<string, Json>} */
let pulls = {};

/** @param {string} url @returns {string} the URL if it is http(s), else "" (never a javascript: link) */
const safeUrl = (url) => (/^https?:\/\//.test(url || "") ? url : "");

const CHECK_CLASS = { success: "ok", pending: "warn", failure: "bad", error: "bad", warning: "warn" };

/** @param {Json} c one commit status: context, state, description, target_url */
function checkPill(c) {
  const cls = CHECK_CLASS[/** @type {keyof typeof CHECK_CLASS} */ (c.state)] || "info";
  const label = `${c.context.replace("hive/", "")}: ${c.state}`;
  const url = safeUrl(c.target_url);
  return url
    ? html` <a class="pill ${cls}" href="${url}" target="_blank" rel="noopener" title="${c.description}">${label}</a>`
    : html` <span class="pill ${cls}" title="${c.description}">${label}</span>`;
}

/** @param {number} id @returns the proposal's pull request link and its checks, or nothing */
function pullLine(id) {
  const pr = pulls[String(id)];
  if (!pr) return html`<span class="forge-pr" data-pr-for="${id}"></span>`;
  const url = safeUrl(pr.url);
  const link = url ? html`<a href="${url}" target="_blank" rel="noopener">PR #${pr.pr}</a>` : html`PR #${pr.pr}`;
  return html`<span class="forge-pr" data-pr-for="${id}">Forgejo ${link} <span class="muted">(${pr.state})</span>${pr.checks.map(checkPill)}</span>`;
}

async function refreshPulls() {
  try {
    pulls = (await getJSON("/api/forge/pulls")).pulls || {};
  } catch {
    return; // no forge, or the read failed: the cards simply carry no link
  }
  for (const el of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll("[data-pr-for]"))) {
    el.outerHTML = pullLine(Number(el.dataset.prFor)).text;
  }
}

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
    <div class="pr-line">${pullLine(p.id)}</div>
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
    <td>${p.description}${p.resolution?.note ? html`<div class="muted">${p.resolution.note}</div>` : ""}<div>${pullLine(p.id)}</div></td>
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
  refreshPulls();
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
