// @ts-check
// Messages: the operator's inbox, the live flow of every message, and compose with @name
// autocomplete (the first @name addresses the message).

import { post } from "./api.js";
import { ago, html, toast, when } from "./util.js";
/** @import { Json } from "./api.js" */

/** @typedef {HTMLFormElement & {elements: {text: HTMLTextAreaElement}}} ComposeForm */

const FLOW_MAX = 300;

/** @param {Json} m */
function inboxRow(m) {
  return html`<tr data-message="${m.id}"><td class="mono">#${m.id}</td><td class="mono">${m.sender}</td>
    <td class="body">${m.body}</td><td>${ago(m.sent_at)}</td>
    <td class="actions"><button class="small" data-reply="${m.sender}" data-id="${m.id}">reply</button></td></tr>`;
}

/** @param {Json} m */
function flowRow(m) {
  return html`<tr data-flow="${m.id}"><td class="mono">${when(m.ts)}</td><td class="mono">${m.sender} → ${m.recipient}</td>
    <td class="body">${m.preview}</td></tr>`;
}

/** @param {Json} state */
export function renderMessages(state) {
  const inbox = document.querySelector("#inbox-table tbody");
  inbox.innerHTML = state.inbox.length ? state.inbox.map(inboxRow).join("")
    : html`<tr><td colspan="5" class="empty">${state.core ? "no messages for the operator" : "the host core is not connected"}</td></tr>`.text;
  const flow = document.querySelector("#flow-table tbody");
  flow.innerHTML = [...state.flow].reverse().map(flowRow).join("");
  const unread = state.inbox.filter((/** @type {Json} */ m) => m.delivered_at == null).length;
  document.getElementById("count-messages").textContent = unread || "";
}

/** @param {Json} event */
export function addFlow(event) {
  const flow = /** @type {HTMLTableSectionElement} */ (document.querySelector("#flow-table tbody"));
  if (flow.querySelector(`tr[data-flow="${event.payload.id}"]`)) return;
  flow.insertAdjacentHTML("afterbegin", flowRow({ ...event.payload, ts: event.ts }).text);
  while (flow.rows.length > FLOW_MAX) flow.deleteRow(flow.rows.length - 1);
}

/** @param {Json} state @returns {string[]} */
function names(state) {
  return ["manager", "*", ...state.agents.map((/** @type {Json} */ a) => a.name).filter((/** @type {string} */ n) => n !== "manager")];
}

/** @param {string} text @param {number} caret */
function mentionAt(text, caret) {
  const m = /@([a-z0-9*-]*)$/.exec(text.slice(0, caret));
  return m ? { start: caret - m[0].length, prefix: m[1] } : null;
}

/** @param {HTMLTextAreaElement} area @param {HTMLElement} list @param {() => Json} getState */
function suggest(area, list, getState) {
  const at = mentionAt(area.value, area.selectionStart);
  const options = at ? names(getState()).filter((n) => n.startsWith(at.prefix)).slice(0, 8) : [];
  list.innerHTML = options.map((n, i) => html`<li data-name="${n}" class="${i === 0 ? "active" : ""}">@${n}</li>`).join("");
  list.hidden = !options.length;
}

/** @param {HTMLTextAreaElement} area @param {HTMLElement} list @param {string} name */
function pick(area, list, name) {
  const at = mentionAt(area.value, area.selectionStart);
  if (!at) return;
  area.value = `${area.value.slice(0, at.start)}@${name} ${area.value.slice(area.selectionStart)}`;
  const caret = at.start + name.length + 2;
  area.setSelectionRange(caret, caret);
  list.hidden = true;
  area.focus();
}

/** @param {string} text */
function parseCompose(text) {
  const m = /^\s*@([a-z0-9*-]+)\s+([\s\S]+)$/.exec(text);
  return m ? { to: m[1], body: m[2].trim() } : null;
}

/** @param {() => Json} getState */
export function bindMessages(getState) {
  const form = /** @type {ComposeForm} */ (document.getElementById("compose"));
  const area = form.elements.text;
  const list = document.getElementById("mentions");
  area.addEventListener("input", () => suggest(area, list, getState));
  area.addEventListener("keydown", (e) => {
    if (list.hidden) return;
    const items = /** @type {HTMLElement[]} */ ([...list.children]);
    const idx = items.findIndex((li) => li.classList.contains("active"));
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const next = (idx + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      items.forEach((li, i) => li.classList.toggle("active", i === next));
    } else if (e.key === "Enter" || e.key === "Tab") {
      e.preventDefault();
      pick(area, list, items[Math.max(idx, 0)].dataset.name);
    } else if (e.key === "Escape") list.hidden = true;
  });
  list.addEventListener("mousedown", (e) => {
    /** @type {HTMLElement | null} */
    const li = /** @type {Element} */ (e.target).closest("li[data-name]");
    if (li) { e.preventDefault(); pick(area, list, li.dataset.name); }
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const msg = parseCompose(area.value);
    if (!msg) { toast("start with @name (who it is for), then the message", true); return; }
    const res = await post("/api/messages", { ...msg, in_reply_to: form.dataset.replyTo ? +form.dataset.replyTo : null });
    if (!res.ok) { toast(res.data.error, true); return; }
    toast(`sent to ${res.data.recipients.join(", ")}`);
    area.value = "";
    delete form.dataset.replyTo;
  });
  document.getElementById("inbox-table").addEventListener("click", (e) => {
    /** @type {HTMLElement | null} */
    const btn = /** @type {Element} */ (e.target).closest("[data-reply]");
    if (!btn) return;
    form.dataset.replyTo = btn.dataset.id;
    area.value = `@${btn.dataset.reply} `;
    area.focus();
  });
}
