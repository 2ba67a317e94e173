// The one SSE stream: starts after the snapshot's seq; the browser's own reconnect sends
// Last-Event-ID, so the server resumes exactly there. Events at or below the last seen seq
// are dropped here too, so a replay can never show twice.

export function connect(since, onEvent, onStatus) {
  let last = since;
  const source = new EventSource(`/api/stream?since=${since}`);
  source.addEventListener("hello", (e) => {
    const hello = JSON.parse(e.data);
    onStatus("live", hello);
  });
  source.onmessage = (e) => {
    const event = JSON.parse(e.data);
    if (event.seq <= last) return;
    last = event.seq;
    onEvent(event);
  };
  source.onerror = () => onStatus(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
  return { source, lastSeq: () => last };
}
