// @ts-check
// Small helpers shared by every section: escaping, time, diffs, toasts.

/** @import { Json } from "./api.js" */

/** @param {unknown} value */
export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => /** @type {Record<string, string>} */ ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// html`<td>${x}</td>` escapes every interpolation unless it is wrapped in raw().
/**
 * @param {TemplateStringsArray} strings
 * @param {...unknown} values a Raw is kept as it is, an array is joined, anything else is escaped
 * @returns {Raw}
 */
export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((v, i) => {
    out += (Array.isArray(v) ? v.map(asHtml).join("") : asHtml(v)) + strings[i + 1];
  });
  return new Raw(out);
}
class Raw { constructor(/** @type {string} */ text) { this.text = text; } toString() { return this.text; } }
export const raw = (/** @type {string} */ text) => new Raw(text);
const asHtml = (/** @type {unknown} */ v) => (v instanceof Raw ? v.text : esc(v));

/** @param {string | null | undefined} rev */
export function short(rev) { return rev ? String(rev).slice(0, 10) : "—"; }

/** @param {number} t unix seconds: every time on the wire is one */
export function when(t) {
  return new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19);
}

/** @param {number} t unix seconds */
export function ago(t) {
  const s = Math.round(Date.now() / 1000 - t);
  if (s < 60) return `${Math.max(s, 0)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** @param {string | null | undefined} text a unified diff */
export function diffHtml(text) {
  if (!text) return html`<pre class="diff"><span class="muted">(no changes)</span></pre>`;
  const lines = text.replace(/\n$/, "").split("\n").map((line) => {
    let cls = "";
    if (/^(\+\+\+|---|diff |index )/.test(line)) cls = "file";
    else if (line.startsWith("+")) cls = "add";
    else if (line.startsWith("-")) cls = "del";
    else if (line.startsWith("@@")) cls = "hunk";
    return html`<span class="${cls}">${line || " "}</span>`;
  });
  return html`<pre class="diff">${lines}</pre>`;
}

/**
 * @param {string} message
 * @param {boolean} [isError]
 */
export function toast(message, isError = false) {
  const box = document.getElementById("toasts");
  const el = document.createElement("div");
  el.className = "toast" + (isError ? " error" : "");
  el.textContent = message;
  box.appendChild(el);
  setTimeout(() => el.remove(), isError ? 9000 : 4000);
}

/**
 * @param {HTMLElement} form
 * @param {Json | null} error the API's refusal ({error, problems}); null clears the list
 */
export function showProblems(form, error) {
  const list = form.querySelector("[data-problems]");
  if (!list) return;
  const items = error ? (error.problems?.length ? error.problems.map((/** @type {Json} */ p) => p.text) : [error.error]) : [];
  list.innerHTML = items.map((/** @type {string} */ t) => html`<li>${t}</li>`).join("");
}
