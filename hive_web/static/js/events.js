// @ts-check
// Events: the live event flow, newest first, each seq shown exactly once.

import { html, when } from "./util.js";
/** @import { Json } from "./api.js" */

const MAX_ROWS = 500;
let count = 0;

/** @param {Json} event */
function detail(event) {
  return Object.entries(event.payload || {})
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ");
}

/** @param {Json} event */
export function addEvent(event) {
  const body = /** @type {HTMLTableSectionElement} */ (document.querySelector("#events-table tbody"));
  body.insertAdjacentHTML("afterbegin", html`<tr data-seq="${event.seq}"><td class="mono">${event.seq}</td>
    <td class="mono">${when(event.ts)}</td><td class="mono">${event.kind}</td><td class="mono">${detail(event)}</td></tr>`.text);
  count += 1;
  while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
  document.getElementById("events-summary").textContent = `${count} received since this page opened`;
}
