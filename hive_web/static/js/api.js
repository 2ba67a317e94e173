// Talking to the dashboard: every write carries the CSRF token; errors come back as {error, problems}.

const csrf = document.querySelector('meta[name="csrf-token"]').content;

export async function getJSON(url) {
  const res = await fetch(url, { headers: { Accept: "application/json" } });
  const data = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw Object.assign(new Error(data.error || res.statusText), { data, status: res.status });
  return data;
}

// Returns {ok, status, data}; never throws on a 4xx so forms can show the problems.
export async function post(url, body = {}) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "application/json" },
    body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  return { ok: res.ok, status: res.status, data };
}
