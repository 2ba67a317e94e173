// @ts-check
// Desired state: the whole swarm as one JSON document (what `hive desired edit` opens), edited in a
// textarea. Preview asks the server to validate it and answer the diff and the reconciler's plan;
// apply commits on exactly the revision the document was read at (or proposes it). Apply stays
// disabled until the text on screen is the text that was previewed: no commit without its diff.

import { getJSON, post } from "./api.js";
import { actionRow } from "./plan.js";
import { diffHtml, html, short, toast } from "./util.js";
/** @import { Json, Reply } from "./api.js" */

/** @typedef {HTMLFormElement & {elements: {message: HTMLInputElement}}} DesiredForm */

/** @type {{revision: string | null, text: string, loaded: boolean}} */
const doc = { revision: null, text: "", loaded: false };
/** @type {{revision: string | null, text: string} | null} */
let previewed = null; // {revision, text} of the last successful preview

const $ = (/** @type {string} */ id) => document.getElementById(id);
const edited = () => /** @type {HTMLTextAreaElement} */ ($("desired-text")).value !== doc.text;

/** @param {string[]} items */
function problems(items) {
  $("desired-problems").innerHTML = items.map((t) => html`<li>${t}</li>`).join("");
  $("desired-text").setAttribute("aria-invalid", items.length ? "true" : "false");
}

/** @param {boolean} on */
function armed(on) {
  for (const id of ["desired-apply", "desired-propose"]) /** @type {HTMLButtonElement} */ ($(id)).disabled = !on;
}

/** @param {boolean} [force] reload even if the text on screen was edited */
export async function loadDesired(force = false) {
  if (doc.loaded && edited() && !force) return;
  const got = await getJSON("/api/desired");
  Object.assign(doc, got, { loaded: true });
  /** @type {HTMLTextAreaElement} */ ($("desired-text")).value = got.text;
  $("desired-revision").textContent = `read at ${short(got.revision)}`;
  $("desired-revision").dataset.revision = got.revision;
  $("desired-moved").hidden = true;
  previewed = null;
  armed(false);
  problems([]);
}

// Called on every snapshot refresh: follow main while untouched, warn once edited.
/** @param {string} revision */
export function desiredMoved(revision) {
  if (!doc.loaded || revision === doc.revision) return;
  if (!edited()) { loadDesired().catch(() => {}); return; }
  const moved = $("desired-moved");
  moved.hidden = false;
  moved.textContent = `main moved to ${short(revision)} since you opened this document (at ${short(doc.revision)}): `
    + "applying will be refused. Reload to start from the current state.";
}

/** @param {Json} data a preview */
function planHtml(data) {
  if (!data.plan) return html`<p class="muted">${data.plan_note}</p>`;
  const s = data.plan.summary;
  const head = data.plan.refused ? `refused: ${data.plan.refused}`
    : s.text;
  const rows = data.plan.actions.length ? data.plan.actions.map(actionRow)
    : html`<tr><td colspan="4" class="empty">No changes. The swarm would match desired state.</td></tr>`;
  return html`<p class="mono" id="desired-plan-summary">${head}</p>
    <table class="grid-table" id="desired-plan"><thead><tr><th></th><th>agent</th><th>action</th><th>why</th></tr></thead>
    <tbody>${rows}</tbody></table>`;
}

/** @param {Json} data */
function showPreview(data) {
  const stale = data.stale ? html`<div class="stale">desired state changed since you opened it (main is now
    ${short(data.main)}): applying will be refused. Reload, or see the History section for what changed.</div>` : "";
  const files = data.changed.length ? data.changed.join(", ") : "nothing";
  $("desired-preview").innerHTML = html`${stale}<h3>Diff against ${short(data.revision)} <span class="muted">(${files})</span></h3>
    ${diffHtml(data.diff)}<h3>What the reconciler would do</h3>${planHtml(data)}`.text;
}

/** @param {Reply} res */
function showRefusal(res) {
  const items = res.data.problems?.length ? res.data.problems.map((/** @type {Json} */ p) => p.text) : [res.data.error];
  problems(items);
  if (res.status === 409 && res.data.stale) {
    $("desired-preview").innerHTML = html`<div class="stale">${res.data.error}</div>
      <p><button type="button" id="desired-reload-stale">reload</button></p>
      <h3>What changed on main since ${short(res.data.revision)}</h3>${diffHtml(res.data.moved)}`.text;
  }
}

async function preview() {
  const body = { revision: doc.revision, text: /** @type {HTMLTextAreaElement} */ ($("desired-text")).value };
  const res = await post("/api/desired/preview", body);
  if (!res.ok) {
    previewed = null;
    armed(false);
    $("desired-preview").innerHTML = html`<p class="muted">Nothing to preview until the problems are fixed; nothing was stored.</p>`.text;
    showRefusal(res);
    return;
  }
  problems([]);
  showPreview(res.data);
  previewed = res.data.changed.length ? body : null;
  armed(Boolean(previewed));
}

/** @param {boolean} propose */
async function apply(propose) {
  if (!previewed || previewed.text !== /** @type {HTMLTextAreaElement} */ ($("desired-text")).value) { armed(false); return; }
  const message = /** @type {DesiredForm} */ ($("desired-form")).elements.message.value;
  const res = await post("/api/desired/apply", { ...previewed, message, propose });
  if (!res.ok) { armed(false); showRefusal(res); return; }
  if (propose) toast(`proposal #${res.data.proposed.id} is waiting for approval`);
  else toast(res.data.changed ? `committed ${short(res.data.revision)} to main` : res.data.summary);
  /** @type {DesiredForm} */ ($("desired-form")).elements.message.value = "";
  $("desired-preview").innerHTML = html`<p class="muted">${propose ? `Proposed as #${res.data.proposed.id}: see Decisions.`
    : `Applied as ${short(res.data.revision)}: the Plan section follows the reconciler.`}</p>`.text;
  await loadDesired(true);
}

export function bindDesired() {
  $("desired-preview-btn").addEventListener("click", () => preview().catch((e) => toast(e.message, true)));
  $("desired-apply").addEventListener("click", () => apply(false).catch((e) => toast(e.message, true)));
  $("desired-propose").addEventListener("click", () => apply(true).catch((e) => toast(e.message, true)));
  $("desired-reload").addEventListener("click", () => loadDesired(true).catch((e) => toast(e.message, true)));
  $("desired-preview").addEventListener("click", (e) => {
    if (/** @type {Element} */ (e.target).id === "desired-reload-stale") loadDesired(true).catch((err) => toast(err.message, true));
  });
  $("desired-text").addEventListener("input", () => {
    if (previewed && previewed.text !== /** @type {HTMLTextAreaElement} */ ($("desired-text")).value) armed(false);
  });
}
