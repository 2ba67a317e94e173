// @ts-check
// The one SSE stream: starts after the snapshot's seq; the browser's own reconnect sends
// Last-Event-ID, so the server resumes exactly there. Events at or below the last seen seq
// are dropped here too, so a replay can never show twice.

/** @import { Json } from "./api.js" */
import { getJSON } from "./api.js";

// Hints ("event: desired") carry no id: they say "re-read desired state" and nothing else.
/**
 * @param {number} since
 * @param {(event: Json) => void} onEvent
 * @param {(status: string, hello?: Json) => void} onStatus
 * @param {(hint: Json) => void} onHint
 */
export function connect(since, onEvent, onStatus, onHint) {
  let last = since;
  let opened = 0;
  const source = new EventSource(`/api/stream?since=${since}`);
  source.addEventListener("hello", (e) => {
    const hello = JSON.parse(e.data);
    opened += 1;
    onStatus("live", { ...hello, reconnected: opened > 1 });
  });
  source.addEventListener("desired", (e) => onHint(JSON.parse(e.data)));
  source.onmessage = (e) => {
    const event = JSON.parse(e.data);
    if (event.seq <= last) return;
    last = event.seq;
    onEvent(event);
  };
  source.onerror = () => {
    const closed = source.readyState === EventSource.CLOSED;
    onStatus(closed ? "closed" : "reconnecting");
    if (closed) getJSON("/api/state").catch(() => {}); // refused because the session ended? log in again
  };
  return { source, lastSeq: () => last };
}
