// @ts-check
// Kept state: destroyed agents whose state dir is still on disk. Revive proposes adding the agent
// back (the approval gate decides); purge says exactly what is lost and needs the name typed.

import { post } from "./api.js";
import { html, toast } from "./util.js";
/** @import { Json } from "./api.js" */

/** @param {number} bytes */
function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}

/** @param {Json} k a kept state dir */
function row(k) {
  return html`<tr data-kept="${k.name}"><td class="mono"><b>${k.name}</b></td><td class="mono muted">${k.path}</td>
    <td class="mono">${k.files} files, ${size(k.bytes)}</td><td class="mono muted">${k.top.join(" ")}</td>
    <td class="actions"><button class="small" data-revive>revive…</button> <button class="small danger" data-purge>purge…</button></td></tr>`;
}

/** @param {Json} state */
export function renderKept(state) {
  document.querySelector("#kept-table tbody").innerHTML = state.kept.length ? state.kept.map(row).join("")
    : html`<tr><td colspan="5" class="empty">no kept state</td></tr>`.text;
}

/** @param {Json} k */
async function purge(k) {
  const typed = prompt(`Purge ${k.name}? This deletes ${k.path} for good: ${k.files} files (${size(k.bytes)}) — `
    + `its notes, Claude session and credentials, turn history. Nothing can bring them back.\n\nType ${k.name} to confirm:`);
  if (typed === null) return;
  const res = await post(`/api/kept/${encodeURIComponent(k.name)}/purge`, { confirm: typed });
  if (res.ok) toast(`purging ${k.name}: ${res.data.reason}`); else toast(res.data.error, true);
}

/** @param {() => Json} getState */
export function bindKept(getState) {
  document.getElementById("kept-table").addEventListener("click", async (e) => {
    /** @type {HTMLElement | null} */
    const tr = /** @type {Element} */ (e.target).closest("tr[data-kept]");
    if (!tr) return;
    const k = getState().kept.find((/** @type {Json} */ x) => x.name === tr.dataset.kept);
    if (/** @type {Element} */ (e.target).closest("[data-purge]")) { purge(k); return; }
    if (!/** @type {Element} */ (e.target).closest("[data-revive]")) return;
    const res = await post(`/api/kept/${encodeURIComponent(k.name)}/revive`);
    if (res.ok) toast(`proposal #${res.data.id}: revive ${k.name} (approve it under Decisions)`); else toast(res.data.error, true);
  });
}
