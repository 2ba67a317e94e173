// @ts-check
// History: the desired-state git log of main, newest first; a click shows the commit's diff.

import { getJSON } from "./api.js";
import { diffHtml, html, short, toast, when } from "./util.js";
/** @import { Json } from "./api.js" */

export async function loadHistory() {
  const { commits } = await getJSON("/api/history?limit=100");
  const body = document.querySelector("#history-table tbody");
  body.innerHTML = commits.map((/** @type {Json} */ c) => html`<tr class="clickable" data-rev="${c.revision}">
    <td class="mono">${short(c.revision)}</td><td class="mono">${when(c.when)}</td>
    <td title="${c.email}">${c.author}</td><td>${c.message.split("\n")[0]}</td></tr>`).join("");
}

export function bindHistory() {
  document.querySelector("#history-table tbody").addEventListener("click", async (e) => {
    /** @type {HTMLElement | null} */
    const row = /** @type {Element} */ (e.target).closest("tr[data-rev]");
    if (!row) return;
    const next = row.nextElementSibling;
    if (next?.classList.contains("detail")) { next.remove(); return; }
    try {
      const c = await getJSON(`/api/history/${row.dataset.rev}`);
      row.insertAdjacentHTML("afterend", html`<tr class="detail"><td colspan="4">
        <pre class="text">${c.message}</pre>${diffHtml(c.diff)}</td></tr>`.text);
    } catch (/** @type {any} */ err) { toast(err.message, true); }
  });
}
