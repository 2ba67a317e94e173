// Boot: paint from the inline snapshot (it carries its seq), then follow the SSE stream.
// Every event lands in the Events flow; the ones that change what a section shows make that
// section re-read its data once (coalesced), so the page never polls.

import { getJSON } from "./api.js";
import { bindApprovals, renderApprovals } from "./approvals.js";
import { addEvent } from "./events.js";
import { bindHistory, loadHistory } from "./history.js";
import { connect } from "./live.js";
import { notify, bindNotifications } from "./notify.js";
import { bindSwarm, renderSwarm } from "./swarm.js";
import { short } from "./util.js";

let state = JSON.parse(document.getElementById("snapshot").textContent);
const SNAPSHOT_KINDS = new Set([
  "desired_changed", "approval_added", "approval_resolved", "approval_deployed", "status_changed",
  "plan_changed", "reconciled", "container_state_changed",
]);

function render() {
  document.getElementById("revision").textContent = `main @ ${short(state.revision)}`;
  renderSwarm(state);
  renderApprovals(state);
  const pending = state.approvals.pending.length;
  document.getElementById("count-decisions").textContent = pending || "";
  if (currentSection() === "history") loadHistory().catch(() => {});
}

let refreshing = null;
let again = false;
async function refresh() {
  if (refreshing) { again = true; return; }
  refreshing = (async () => {
    do {
      again = false;
      state = await getJSON("/api/state");
      render();
    } while (again);
  })().finally(() => { refreshing = null; });
}

function currentSection() {
  const id = location.hash.slice(1);
  return document.getElementById(id)?.classList.contains("section") ? id : "swarm";
}

function showSection() {
  const id = currentSection();
  for (const s of document.querySelectorAll(".section")) s.hidden = s.id !== id;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.section === id);
  if (id === "history") loadHistory().catch(() => {});
}

function onEvent(event) {
  addEvent(event);
  if (SNAPSHOT_KINDS.has(event.kind)) refresh();
  if (event.kind === "approval_added") notify("New proposal awaiting approval", `proposal #${event.payload.id}`);
}

function onStatus(status, hello) {
  const live = document.getElementById("live");
  live.dataset.state = status;
  live.textContent = status;
  if (hello?.reset) refresh();  // the server's log is behind this page: repaint from a fresh snapshot
}

bindSwarm(() => state);
bindApprovals(() => renderApprovals(state));
bindHistory();
bindNotifications();
window.addEventListener("hashchange", showSection);
showSection();
render();
window.hive = { stream: connect(state.seq, onEvent, onStatus), state: () => state, refresh };
