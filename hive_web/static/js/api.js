// @ts-check
// Talking to the dashboard: every write carries the CSRF token; errors come back as {error, problems}.

/**
 * JSON the dashboard's API answers and its event streams carry. Its shape belongs to the Python
 * side (hive_web's views, hive_core's events), so it is not restated here: `any`, on purpose.
 * @typedef {any} Json
 */

/** @typedef {{ok: boolean, status: number, data: Json}} Reply */

const csrf = /** @type {HTMLMetaElement} */ (document.querySelector('meta[name="csrf-token"]')).content;

// A 401 means the session ended (logged out, expired, a new token): log in again, then come back.
/** @param {Response} res */
function relogin(res) {
  if (res.status === 401) location.assign(`/login?next=${encodeURIComponent(location.pathname + location.hash)}`);
}

/** @param {string} url @returns {Promise<Json>} */
export async function getJSON(url) {
  const res = await fetch(url, { headers: { Accept: "application/json" } });
  relogin(res);
  const data = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw Object.assign(new Error(data.error || res.statusText), { data, status: res.status });
  return data;
}

// Returns {ok, status, data}; never throws on a 4xx so forms can show the problems.
/** @param {string} url @param {unknown} [body] @returns {Promise<Reply>} */
export async function post(url, body = {}) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, Accept: "application/json" },
    body: JSON.stringify(body),
  });
  relogin(res);
  const data = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  return { ok: res.ok, status: res.status, data };
}
