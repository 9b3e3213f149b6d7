// The API: fetch with the key's Authorization header, the chosen collection, streamed answers, and the error line.
import { $ } from "./dom.js";
import { session } from "./session.js";

export function headers(extra = {}) {
  return session.key ? { ...extra, Authorization: `Bearer ${session.key}` } : extra;
}

// The response's body (JSON or text); a refusal throws its `detail`, with the status.
export async function api(path, options = {}) {
  const resp = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  const body = resp.headers.get("content-type")?.includes("json") ? await resp.json() : await resp.text();
  if (!resp.ok) throw Object.assign(new Error(body.detail || resp.statusText), { status: resp.status });
  return body;
}

export const post = (path, body) => api(path, { method: "POST", headers: { "Content-Type": "application/json" },
  body: JSON.stringify(body || {}) });

// `path` in the chosen collection (none: the default one).
export function inCollection(path) {
  if (!session.collection) return path;
  return `${path}${path.includes("?") ? "&" : "?"}collection=${encodeURIComponent(session.collection)}`;
}

// The page's error line; null clears it.
export function showError(e) { $("error").textContent = e ? `Error: ${e.message || e}` : ""; }

// Server-sent events over fetch (EventSource cannot send the Authorization header or a POST body); `body` is
// /v1/ask's ({q, collection, conversation, conversation_id}).
export async function askStream(body, onEvent) {
  const resp = await fetch("/v1/ask/stream", { method: "POST", headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify(body) });
  if (!resp.ok) throw new Error((await resp.json()).detail || resp.statusText);
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const data = buffer.slice(0, cut).split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("");
      buffer = buffer.slice(cut + 2);
      if (data) onEvent(JSON.parse(data));
    }
  }
}
