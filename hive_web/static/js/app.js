// @ts-check
// Boot: paint from the inline snapshot (it carries its seq), then follow the SSE stream.
// Every event lands in the Events flow; the ones that change what a section shows make that
// section re-read its data once (coalesced), so the page never polls.

import { getJSON } from "./api.js";
import { bindApprovals, renderApprovals } from "./approvals.js";
import { startCaps } from "./caps.js";
import { bindCosts, loadCosts } from "./costs.js";
import { bindDesired, desiredMoved, loadDesired } from "./desired.js";
import { addEvent } from "./events.js";
import { bindHistory, loadHistory } from "./history.js";
import { addCall, addDelivery, loadHooks } from "./hooks.js";
import { bindKept, renderKept } from "./kept.js";
import { bindPlan, loadPlan } from "./plan.js";
import { connect } from "./live.js";
import { notify, bindNotifications } from "./notify.js";
import { addFlow, bindMessages, renderMessages } from "./messages.js";
import { bindQuestions, renderQuestions } from "./questions.js";
import { bindReminders, renderReminders } from "./reminders.js";
import { agentActivity, bindSwarm, renderSwarm } from "./swarm.js";
import { short, toast } from "./util.js";
/** @import { Json } from "./api.js" */

/** @type {Json} */
let state = JSON.parse(document.getElementById("snapshot").textContent);
// Events after which the snapshot (desired rows, approvals, status) is re-read once.
const SNAPSHOT_KINDS = new Set([
  "proposal_added", "proposal_resolved", "agent_condition_changed", "agent_spawned", "agent_rebuilt",
  "agent_started", "agent_stopped", "agent_destroyed", "container_crash", "deployed", "deploy_failed",
  "needs_login", "logged_in", "harness_hello", "question_added", "question_resolved",
  "reminder_set", "reminder_fired", "reminder_cancelled", "reminder_retried",
  "budget_paused", "budget_resumed",
]);

function render() {
  document.getElementById("revision").textContent = `main @ ${short(state.revision)}`;
  const insecure = document.getElementById("insecure");
  insecure.hidden = !state.insecure_sandbox;
  insecure.textContent = state.insecure_sandbox
    ? `Agents run WITHOUT their sandbox (hive serve --insecure-sandbox): ${state.insecure_sandbox}`
    : "";
  renderSwarm(state);
  renderApprovals(state);
  const open = renderQuestions(state);
  renderMessages(state);
  renderReminders(state);
  renderKept(state);
  desiredMoved(state.revision);
  const pending = state.approvals.pending.length + open;
  document.getElementById("count-decisions").textContent = pending || "";
  if (currentSection() === "history") loadHistory().catch(() => {});
  if (currentSection() === "plan") loadPlan(state);
}

/** @type {Promise<void> | null} */
let refreshing = null;
let again = false;
async function refresh() {
  if (refreshing) { again = true; return; }
  refreshing = (async () => {
    do {
      again = false;
      state = await getJSON("/api/state");
      render();
      loadCaps();
    } while (again);
  })().finally(() => { refreshing = null; });
}

function currentSection() {
  const id = location.hash.slice(1);
  return document.getElementById(id)?.classList.contains("section") ? id : "swarm";
}

function showSection() {
  const id = currentSection();
  for (const s of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll(".section"))) s.hidden = s.id !== id;
  for (const a of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll("#nav a"))) a.classList.toggle("active", a.dataset.section === id);
  if (id === "history") loadHistory().catch(() => {});
  if (id === "plan") loadPlan(state);
  if (id === "costs") loadCosts().catch((err) => toast(err.message, true));
  if (id === "desired") loadDesired().catch((err) => toast(err.message, true));
}

/** @param {Json} event */
function onEvent(event) {
  addEvent(event);
  if (event.payload?.agent) agentActivity(event.payload.agent);
  if (SNAPSHOT_KINDS.has(event.kind)) refresh();
  if (event.kind === "webhook_received") addDelivery(event);
  if (event.kind === "forge_call_sent" || event.kind === "forge_call_failed") addCall(event);
  if (event.kind === "message_sent") {
    addFlow(event);
    if (event.payload.recipient === "operator") refresh();
  }
  if (event.kind === "proposal_added") notify("Proposal awaiting approval", `#${event.payload.id} ${event.payload.description}`);
  if (event.kind === "question_added") notify(`Question from ${event.payload.asker}`, event.payload.question);
}

/** @param {string} status @param {Json} [hello] */
function onStatus(status, hello) {
  const live = document.getElementById("live");
  live.dataset.state = status;
  live.textContent = status;
  // After a drop, hints may have been missed (events are replayed, hints are not): re-read once.
  if (hello?.reset || hello?.reconnected) refresh();
}

bindSwarm(() => state);
const loadCaps = startCaps();
bindApprovals(() => renderApprovals(state));
bindHistory();
bindCosts();
bindPlan();
bindKept(() => state);
bindQuestions();
bindMessages(() => state);
bindReminders();
bindDesired();
loadHooks().catch(() => {});
bindNotifications();
window.addEventListener("hashchange", showSection);
showSection();
render();
/** @type {Window & {hive?: object}} */ (window).hive = { stream: connect(state.seq, onEvent, onStatus, () => refresh()), state: () => state, refresh };
