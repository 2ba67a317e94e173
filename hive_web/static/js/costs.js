// @ts-check
// The Costs section: what the fleet spent, from the host's ledger (/api/costs), which no agent can
// edit. Today and this week per agent and per model, and the last 14 UTC days as stacked bars, one
// colour per agent, drawn as plain SVG. Read when the section opens and on "reload"; never polled.

import { getJSON } from "./api.js";
import { html } from "./util.js";
/** @import { Json } from "./api.js" */

const W = 1100;
const H = 210;
const PALETTE = ["#5aa9ff", "#3fb950", "#d29922", "#f778ba", "#a371f7", "#39c5cf", "#ff7b72", "#8592a3"];

/** @param {number} v USD */
export function usd(v) {
  return v >= 0.01 || v === 0 ? `$${v.toFixed(2)}` : `$${v.toFixed(4)}`;
}

/** @param {Json[]} rows buckets from the ledger @param {string} what "agent" or "model" */
function table(rows, what) {
  if (!rows.length) return html`<tr><td class="empty">no turns recorded</td></tr>`;
  const total = rows.reduce((/** @type {number} */ s, /** @type {Json} */ r) => s + r.cost_usd, 0);
  const turns = rows.reduce((/** @type {number} */ s, /** @type {Json} */ r) => s + r.turns, 0);
  const tokens = (/** @type {Json} */ r) => r.input_tokens + r.output_tokens + r.cache_read_tokens + r.cache_creation_tokens;
  return html`<tr><th>${what}</th><th class="num">turns</th><th class="num">tokens</th><th class="num">cost</th></tr>
    ${rows.map((r) => html`<tr data-key="${r.key}"><td class="mono">${r.key}</td><td class="num">${r.turns}</td>
      <td class="num">${tokens(r).toLocaleString()}</td>
      <td class="num" title="${r.estimated_usd > 0 ? `${usd(r.estimated_usd)} priced from the price table` : "as the CLI reported it"}">${usd(r.cost_usd)}${r.estimated_usd > 0 ? " *" : ""}</td></tr>`)}
    <tr class="total"><td>total</td><td class="num">${what === "model" ? "" : turns}</td><td></td><td class="num">${usd(total)}</td></tr>`;
}

/**
 * Stacked bars: one per day, one segment per agent.
 * @param {string[]} days @param {Record<string, Record<string, number>>} series agent → day → USD
 */
export function costChart(days, series) {
  const agents = Object.keys(series).sort();
  const totals = days.map((d) => agents.reduce((s, a) => s + (series[a][d] || 0), 0));
  const max = Math.max(0.01, ...totals);
  const slot = (W - 60) / days.length;
  const bw = Math.max(4, slot - 6);
  const top = 14;
  const base = H - 30;
  const bars = days.flatMap((d, i) => {
    let y = base;
    return agents.map((a, k) => {
      const v = series[a][d] || 0;
      const h = (v / max) * (base - top);
      y -= h;
      return v ? html`<rect x="${(50 + i * slot).toFixed(1)}" y="${y.toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${PALETTE[k % PALETTE.length]}"><title>${d} ${a}: ${usd(v)}</title></rect>` : "";
    });
  });
  const labels = days.map((d, i) => (i % 2 === days.length % 2 || i === days.length - 1
    ? html`<text x="${(50 + i * slot + bw / 2).toFixed(1)}" y="${base + 12}" text-anchor="middle" class="axis">${d.slice(5)}</text>` : ""));
  const legend = agents.map((a, k) => html`<tspan x="${50 + (k % 6) * 110}" dy="${k && k % 6 === 0 ? 11 : 0}" fill="${PALETTE[k % PALETTE.length]}">■ ${a}</tspan>`);
  return html`<svg class="chart costs" viewBox="0 0 ${W} ${H}" role="img" aria-label="cost per day, per agent">
    <line x1="48" x2="${W - 8}" y1="${base}" y2="${base}" stroke="currentColor" stroke-opacity="0.3"></line>
    <line x1="48" x2="${W - 8}" y1="${top}" y2="${top}" stroke="currentColor" stroke-opacity="0.15" stroke-dasharray="3 2"></line>
    <text x="44" y="${top + 3}" text-anchor="end" class="axis">${usd(max)}</text>
    <text x="44" y="${base + 3}" text-anchor="end" class="axis">$0</text>
    ${bars}${labels}<text y="${H - 4}" class="axis">${legend}</text></svg>`;
}

/** @param {Json} data the dashboard's /api/costs */
function paint(data) {
  const today = data.today_costs;
  const week = data.week_costs;
  document.getElementById("costs-summary").textContent =
    `today (${data.today}, UTC) ${usd(today.total)} · last 7 days ${usd(week.total)}` +
    (week.estimated > 0 ? ` · * ${usd(week.estimated)} priced from the price table` : "");
  document.getElementById("costs-chart").innerHTML = costChart(data.days, data.series).text;
  document.querySelector("#costs-today-agents tbody").innerHTML = table(today.by_agent, "agent").text;
  document.querySelector("#costs-week-agents tbody").innerHTML = table(week.by_agent, "agent").text;
  document.querySelector("#costs-today-models tbody").innerHTML = table(today.by_model, "model").text;
  document.querySelector("#costs-week-models tbody").innerHTML = table(week.by_model, "model").text;
}

export async function loadCosts() {
  paint(await getJSON("/api/costs"));
}

export function bindCosts() {
  document.getElementById("costs-reload").addEventListener("click", () => { loadCosts().catch(() => {}); });
}
