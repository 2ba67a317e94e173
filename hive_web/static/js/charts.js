// @ts-check
// Turn-stats charts as plain SVG: tokens per turn (stacked bars), duration per turn with p50/p95,
// and tool use (horizontal bars). No chart library: a few rects and lines read fine.

import { html } from "./util.js";
/** @import { Json } from "./api.js" */

/** @typedef {ReturnType<typeof html>} Html */

const W = 360;
/** @type {Record<string, string>} */
const COLORS = { input_tokens: "#5aa9ff", output_tokens: "#3fb950", cache_read_tokens: "#8592a3", cache_creation_tokens: "#d29922" };

/**
 * @param {Json[]} turns
 * @param {number} height
 * @param {(turn: Json) => number} value the bar's full height
 * @param {(turn: Json) => [string, number][]} stack its parts, bottom up
 */
function bars(turns, height, value, stack) {
  const n = Math.max(turns.length, 1);
  const bw = Math.max(2, Math.floor((W - 20) / n) - 1);
  const max = Math.max(1, ...turns.map((t) => value(t)));
  /** @type {Html[]} */
  const rects = [];
  turns.forEach((t, i) => {
    let y = height;
    for (const [key, v] of stack(t)) {
      const h = (v / max) * (height - 16);
      y -= h;
      rects.push(html`<rect x="${10 + i * (bw + 1)}" y="${y.toFixed(1)}" width="${bw}" height="${h.toFixed(1)}" fill="${COLORS[key] || "#5aa9ff"}"><title>${key}: ${v}</title></rect>`);
    }
  });
  return { rects, max };
}

/** @param {Json[]} turns */
export function tokensChart(turns) {
  const keys = Object.keys(COLORS);
  const ordered = [...turns].reverse();
  const { rects, max } = bars(ordered, 90, (t) => keys.reduce((s, k) => s + (t[k] || 0), 0), (t) => keys.map((k) => [k, t[k] || 0]));
  const legend = keys.map((k, i) => html`<tspan x="${10 + i * 88}" fill="${COLORS[k]}">■ ${k.replace("_tokens", "")}</tspan>`);
  return html`<svg class="chart" viewBox="0 0 ${W} 110" role="img" aria-label="tokens per turn">
    ${rects}<text x="${W - 10}" y="10" text-anchor="end" class="axis">${max.toLocaleString()} tok</text>
    <text y="106" class="axis">${legend}</text></svg>`;
}

/** @param {Json[]} turns @param {number | null} p50 @param {number | null} p95 */
export function durationChart(turns, p50, p95) {
  const ordered = [...turns].reverse();
  const { rects, max } = bars(ordered, 80, (t) => t.duration_ms, (t) => [["duration", t.duration_ms]]);
  const line = (/** @type {number | null} */ v, /** @type {string} */ cls) => (v == null ? "" : html`<line x1="8" x2="${W - 8}" y1="${(80 - (v / max) * 64).toFixed(1)}" y2="${(80 - (v / max) * 64).toFixed(1)}" class="${cls}"><title>${cls} ${v} ms</title></line>`);
  return html`<svg class="chart" viewBox="0 0 ${W} 92" role="img" aria-label="turn duration">
    ${rects}${line(p50, "p50")}${line(p95, "p95")}
    <text x="${W - 10}" y="10" text-anchor="end" class="axis">${(max / 1000).toFixed(1)} s</text>
    <text x="10" y="90" class="axis">p50 ${p50 ?? "—"} ms · p95 ${p95 ?? "—"} ms</text></svg>`;
}

/** @param {Record<string, number>} tools calls per tool name */
export function toolsChart(tools) {
  const entries = Object.entries(tools).slice(0, 8);
  if (!entries.length) return html`<p class="muted">no tool calls in this window</p>`;
  const max = Math.max(...entries.map(([, n]) => n));
  const rows = entries.map(([name, n], i) => html`<text x="0" y="${i * 16 + 11}" class="axis">${name.replace(/^mcp__/, "")}</text>
    <rect x="150" y="${i * 16 + 2}" height="11" width="${((n / max) * (W - 190)).toFixed(1)}" fill="#5aa9ff"></rect>
    <text x="${154 + (n / max) * (W - 190)}" y="${i * 16 + 11}" class="axis">${n}</text>`);
  return html`<svg class="chart" viewBox="0 0 ${W} ${entries.length * 16 + 4}" role="img" aria-label="tool use">${rows}</svg>`;
}
