// @ts-check
// Questions: options as radio buttons (or checkboxes when multi), always a free-text field,
// a TTL countdown ticking locally, answer and cancel. Answered ones show who answered.

import { post } from "./api.js";
import { ago, html, toast } from "./util.js";
/** @import { Json } from "./api.js" */

/** @param {number} deadline seconds since the epoch */
function remaining(deadline) {
  const s = Math.max(0, Math.round(deadline - Date.now() / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** @param {Json} q */
function openCard(q) {
  const type = q.multi ? "checkbox" : "radio";
  const options = q.options.map((/** @type {string} */ o) => html`<label class="opt"><input type="${type}" name="opt" value="${o}"> ${o}</label>`);
  const ttl = q.deadline_at ? html`<span class="pill warn ttl" data-deadline="${q.deadline_at}">expires in ${remaining(q.deadline_at)}</span>` : "";
  return html`<article class="card" data-question="${q.id}">
    <header><b>#${q.id}</b><span class="mono">${q.asker} → ${q.target}</span>${ttl}<span class="spacer"></span>
      <span class="muted">${ago(q.asked_at)}</span></header>
    <form class="qform">
      <p class="qtext">${q.question}</p>
      ${options.length ? html`<div class="options">${options}</div>` : ""}
      <div class="row"><input name="free" placeholder="${options.length ? "or type your own answer…" : "your answer"}" maxlength="10000">
        <button class="primary" type="submit">answer</button>
        <button class="danger" type="button" data-cancel>cancel question</button></div>
    </form>
  </article>`;
}

/** @param {Json} q */
function answeredRow(q) {
  return html`<tr><td class="mono">#${q.id}</td><td class="mono">${q.asker} → ${q.target}</td><td>${q.question}</td>
    <td>${q.answer}</td><td class="mono">${q.answerer}</td><td>${q.answered_at ? ago(q.answered_at) : ""}</td></tr>`;
}

/** @param {Json} state @returns {number} how many are open */
export function renderQuestions(state) {
  const open = state.questions.filter((/** @type {Json} */ q) => q.answered_at == null);
  const done = state.questions.filter((/** @type {Json} */ q) => q.answered_at != null).slice(0, 20);
  document.getElementById("questions-summary").textContent = state.core
    ? `${open.length} open` : "the host core is not connected to this dashboard";
  const body = document.getElementById("questions-body");
  const kept = rememberInputs(body);
  body.innerHTML = html`${open.length ? open.map(openCard) : html`<p class="muted">no open questions</p>`}
    ${done.length ? html`<details class="answered"><summary class="muted">answered (${done.length})</summary>
      <table class="grid-table"><thead><tr><th>id</th><th>from → to</th><th>question</th><th>answer</th><th>answered by</th><th>when</th></tr></thead>
      <tbody>${done.map(answeredRow)}</tbody></table></details>` : ""}`.text;
  restoreInputs(body, kept);
  return open.length;
}

// A re-render (another event arrived) must not wipe what the operator is typing or ticking.
/** @typedef {Record<string, {free: string, ticked: string[]}>} Inputs by question id */

/** @param {HTMLElement} root @returns {Inputs} */
function rememberInputs(root) {
  /** @type {Inputs} */
  const kept = {};
  for (const card of /** @type {NodeListOf<HTMLElement>} */ (root.querySelectorAll("[data-question]"))) {
    kept[card.dataset.question] = {
      free: /** @type {HTMLInputElement} */ (card.querySelector("input[name=free]")).value,
      ticked: [.../** @type {NodeListOf<HTMLInputElement>} */ (card.querySelectorAll("input[name=opt]:checked"))].map((i) => i.value),
    };
  }
  return kept;
}

/** @param {HTMLElement} root @param {Inputs} kept */
function restoreInputs(root, kept) {
  for (const card of /** @type {NodeListOf<HTMLElement>} */ (root.querySelectorAll("[data-question]"))) {
    const k = kept[card.dataset.question];
    if (!k) continue;
    /** @type {HTMLInputElement} */ (card.querySelector("input[name=free]")).value = k.free;
    for (const i of /** @type {NodeListOf<HTMLInputElement>} */ (card.querySelectorAll("input[name=opt]"))) i.checked = k.ticked.includes(i.value);
  }
}

/** @param {HTMLElement} card */
function answerText(card) {
  const ticked = [.../** @type {NodeListOf<HTMLInputElement>} */ (card.querySelectorAll("input[name=opt]:checked"))].map((i) => i.value);
  const free = /** @type {HTMLInputElement} */ (card.querySelector("input[name=free]")).value.trim();
  return [...ticked, ...(free ? [free] : [])].join(", ");
}

export function bindQuestions() {
  const body = document.getElementById("questions-body");
  body.addEventListener("submit", async (e) => {
    e.preventDefault();
    /** @type {HTMLElement | null} */
    const card = /** @type {Element} */ (e.target).closest("[data-question]");
    const answer = answerText(card);
    if (!answer) { toast("pick an option or type an answer", true); return; }
    const res = await post(`/api/questions/${card.dataset.question}/answer`, { answer });
    if (res.ok) toast(`answered #${card.dataset.question}: ${answer}`); else toast(res.data.error, true);
  });
  body.addEventListener("click", async (e) => {
    if (!/** @type {Element} */ (e.target).closest("[data-cancel]")) return;
    /** @type {HTMLElement | null} */
    const card = /** @type {Element} */ (e.target).closest("[data-question]");
    if (!confirm(`Cancel question #${card.dataset.question}? The asker is told it was cancelled by the operator.`)) return;
    const res = await post(`/api/questions/${card.dataset.question}/cancel`);
    if (res.ok) toast(`cancelled #${card.dataset.question}`); else toast(res.data.error, true);
  });
  // The countdown is a local clock: it asks the server nothing.
  setInterval(() => {
    for (const chip of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll(".ttl[data-deadline]"))) chip.textContent = `expires in ${remaining(+chip.dataset.deadline)}`;
  }, 1000);
}
