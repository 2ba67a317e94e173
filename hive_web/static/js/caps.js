// @ts-check
// The caps on fan-out (hive.json max_agents, max_spawns_per_day, max_concurrent_turns) with their
// use now. Turn slots change without an event, so the line is re-read every few seconds.
import { getJSON } from "./api.js";

const EVERY_MS = 3000;

async function load() {
  const el = /** @type {HTMLElement} */ (document.getElementById("caps"));
  try {
    const caps = await getJSON("/api/caps");
    el.textContent = caps.line;
    el.title = caps.detail;
    el.hidden = false;
  } catch {
    el.hidden = true; // no host core behind this dashboard: nothing to show
  }
}

export function startCaps() {
  load();
  setInterval(load, EVERY_MS);
  return load;
}
