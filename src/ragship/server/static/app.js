// The web UI: ask (streamed answer, citations opening the passage inside its document, feedback and a comment; the
// conversation around it is chat.js's), documents (upload with progress, job status, delete), versions, monitoring
// and incidents (timeline, acknowledge, resolve with a note, the postmortem rendered); the review queue, the key's
// own questions and the questions the documents fail to answer are in learning.js. Times are UTC everywhere. No
// framework, no CDN, every asset local.
"use strict";
const $ = (id) => document.getElementById(id);
// The key lives in sessionStorage: it ends with the tab, where localStorage would keep it for every script of the
// origin forever. Older versions kept it there: drop that copy.
localStorage.removeItem("ragship-key");
const state = { key: sessionStorage.getItem("ragship-key") || "" };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

// thumbs up/down from Material Design Icons (Apache-2.0), inline SVG: no emoji font needed
const ICONS = {
  up: "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z",
  down: "M15 3H6c-.83 0-1.54.5-1.84 1.22l-3.02 7.05c-.09.23-.14.47-.14.73v2c0 1.1.9 2 2 2h6.31l-.95 4.57-.03.32c0 .41.17.79.44 1.06L9.83 23l6.59-6.59c.36-.36.58-.86.58-1.41V5c0-1.1-.9-2-2-2zm4 0v12h4V3h-4z",
};
function icon(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24"); svg.setAttribute("class", "icon"); svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(svg.namespaceURI, "path");
  path.setAttribute("d", ICONS[name]); path.setAttribute("fill", "currentColor");
  svg.append(path);
  return svg;
}

function headers(extra = {}) {
  return state.key ? { ...extra, Authorization: `Bearer ${state.key}` } : extra;
}

async function api(path, options = {}) {
  const resp = await fetch(path, { ...options, headers: headers(options.headers || {}) });
  const body = resp.headers.get("content-type")?.includes("json") ? await resp.json() : await resp.text();
  if (!resp.ok) throw Object.assign(new Error(body.detail || resp.statusText), { status: resp.status });
  return body;
}

function showError(e) { $("error").textContent = e ? `Error: ${e.message || e}` : ""; }

// -- the collection every page reads (the picker shows when the home has more than one) ---------------------------
state.collection = sessionStorage.getItem("ragship-collection") || "";
function inCollection(path) {
  if (!state.collection) return path;
  return `${path}${path.includes("?") ? "&" : "?"}collection=${encodeURIComponent(state.collection)}`;
}
// Without a key it is asked for once a page that reads the API is opened (a server that needs a key would refuse
// it on the Ask page, where nothing else is asked yet).
async function loadCollections() {
  let names = [];
  try { names = (await api("/v1/collections")).collections.map((c) => c.name); } catch (e) { return; }
  state.collections = names;
  if (!names.includes(state.collection || "default")) state.collection = "";
  $("collection").replaceChildren(...names.map((n) => el("option", { value: n === "default" ? "" : n }, n)));
  $("collection").value = state.collection;
  document.querySelector("label.picker").hidden = names.length < 2;
}
$("collection").addEventListener("change", () => {
  state.collection = $("collection").value;
  sessionStorage.setItem("ragship-collection", state.collection);
  newConversation();
  route();
});

// One time zone everywhere: UTC, as incidents, postmortems and the CLI write it.
const utc = (t) => (t ? new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) : "—");

// -- the key's role (GET /v1/me): what it cannot use is not shown ([data-role] elements, Delete buttons, the pages
// an editor needs); the server refuses it anyway. Without a key everything shows: a server with no keys serves its
// local user as admin, and one that needs a key says so at the first request.
const ROLES = ["reader", "editor", "admin"];
const can = (role) => state.role != null && ROLES.indexOf(state.role) >= ROLES.indexOf(role);
async function loadRole() {
  try { state.role = state.key ? (await api("/v1/me")).role : "admin"; } catch (e) { state.role = null; }
  for (const node of document.querySelectorAll("[data-role]")) node.hidden = !can(node.dataset.role);
}

// -- pages ------------------------------------------------------------------------------------------------------
// review, history and gaps are learning.js's, the Ask page's conversations chat.js's (loaded after this file)
const pages = { ask: () => loadConversations(), documents: loadDocuments, versions: loadVersions, metrics: loadMetrics,
  review: () => loadReview(), history: () => loadHistory(), gaps: () => loadGaps(), incidents: loadIncidents };
function route() {
  let name = (location.hash.slice(1).split("/")[0]) || "ask";
  if (!pages[name] || document.querySelector(`nav a[data-page=${name}]`).hidden) name = "ask";
  for (const p of Object.keys(pages)) {
    $(`page-${p}`).hidden = p !== name;
    document.querySelector(`nav a[data-page=${p}]`).toggleAttribute("aria-current", p === name);
    if (p === name) document.querySelector(`nav a[data-page=${p}]`).setAttribute("aria-current", "page");
  }
  showError(null);
  if (!state.collections && name !== "ask") loadCollections();
  (pages[name] || pages.ask)();
}
window.addEventListener("hashchange", route);

$("key-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.key = $("api-key").value.trim();
  sessionStorage.setItem("ragship-key", state.key);
  loadRole().then(() => state.key && loadCollections()).then(route);
});

// -- ask ----------------------------------------------------------------------------------------------------------
// An answer's text, its [n] markers as links to the cited passages: all of them, or the numbers `links` holds (a
// Set: a past turn's, whose sources the caller may no longer all read); plain text where there is none to open.
function citedText(text, links = true) {
  const p = el("p", { class: "answer-text" });
  for (const part of text.split(/(\[\d+\])/)) {
    const m = part.match(/^\[(\d+)\]$/);
    const linked = m && (links === true || (links && links.has(Number(m[1]))));
    p.append(linked ? el("a", { href: `#ask/source-${m[1]}`, class: "cite", "data-n": m[1] }, part) : part);
  }
  return p;
}

// One answer as a card: a question back (outcome "clarify") is shown as such, with the readings it names cited.
function renderAnswer(a) {
  const clarify = a.outcome === "clarify";
  const card = el("div", { class: "answer" + (clarify ? " clarify" : a.abstained ? " abstain" : ""),
    "data-answer-id": a.id, "data-outcome": a.outcome || "" });
  if (clarify) {
    card.append(el("p", { class: "asked-back" }, "Asked back"), citedText(a.answer),
      el("p", { class: "meta" }, "Say which you mean: your reply is asked in this conversation."));
  } else if (a.abstained) {
    card.append(el("p", {}, "The documents do not answer this confidently. Closest sources:"));
  } else {
    card.append(citedText(a.answer));
  }
  if (a.warning) card.append(el("p", { class: "meta" }, a.warning));
  const names = { qa_model: "QA model", question: "question prior" };
  const parts = Object.entries(a.confidence_breakdown || {})
    .map(([k, v]) => `${names[k] || k} ${v >= 0 ? "+" : ""}${v.toFixed(2)}`).join(", ");
  if (!clarify) {  // a question back answers nothing: no confidence to show
    card.append(el("p", { class: "meta", title: "the confidence's logit by part" },
      `confidence ${a.confidence.toFixed(2)}${parts ? ` (logit: ${parts})` : ""}`));
  }
  card.append(sourcesList(a));
  const fb = el("div", { class: "feedback" }, el("span", { class: "meta" }, "Was this helpful?"),
    el("button", { type: "button", class: "secondary", "data-rating": "up", "aria-label": "Helpful",
      "aria-pressed": "false" }, icon("up"), "Yes"),
    el("button", { type: "button", class: "secondary", "data-rating": "down", "aria-label": "Not helpful",
      "aria-pressed": "false" }, icon("down"), "No"),
    el("span", { class: "meta feedback-status", "aria-live": "polite" }));
  const comment = el("form", { class: "comment row" },
    el("input", { type: "text", name: "comment", maxlength: "2000", autocomplete: "off",
      "aria-label": "Comment on this answer", placeholder: "What was missing or wrong? (optional, read by the editors)" }),
    el("button", { type: "submit", class: "secondary" }, "Send comment"),
    el("span", { class: "meta comment-status", "aria-live": "polite" }));
  card.append(fb, comment);
  card.citations = a.citations;
  return card;
}

// An answer's sources (a live answer's, or a past turn's: chat.js), one entry per cited document (a.documents, or
// its citations grouped by document), each of its citation numbers opening its passage (the card's `citations`).
function sourcesList(a) {
  const docs = a.documents && a.documents.length ? a.documents : [];
  if (!docs.length) {
    for (const c of a.citations || []) {
      const d = docs.find((x) => x.doc_id === c.doc_id);
      if (d) d.citations.push(c.n);
      else docs.push({ doc_id: c.doc_id, title: c.title, citations: [c.n] });
    }
  }
  const list = el("ul", { class: "sources" });
  for (const d of docs) {
    const links = d.citations.map((n) => el("a", { href: `#ask/source-${n}`, class: "open", "data-n": String(n) },
      `[${n}]`));
    list.append(el("li", {}, ...links, ` ${d.title || d.doc_id}`, el("span", { class: "meta" }, ` ${d.doc_id}`)));
  }
  return list;
}

// The cited passage, highlighted inside its whole document.
async function openCitation(c) {
  const doc = await api(inCollection(`/v1/documents/${c.doc_id.split("/").map(encodeURIComponent).join("/")}`));
  const body = $("viewer-body");
  const marks = [[c.start, c.end, "cited"], ...(c.quotes || []).map(([s, e]) => [s, e, "quote"])]
    .filter(([s, e]) => s >= c.start && e <= c.end);
  body.replaceChildren(doc.text.slice(0, c.start));
  let pos = c.start;
  const cited = el("mark", { class: "cited", id: "cited-passage" });
  for (const [s, e] of marks.slice(1).sort((a, b) => a[0] - b[0])) {
    if (s < pos) continue;
    cited.append(doc.text.slice(pos, s), el("mark", {}, doc.text.slice(s, e)));
    pos = e;
  }
  cited.append(doc.text.slice(pos, c.end));
  body.append(cited, doc.text.slice(c.end));
  $("viewer-title").textContent = `[${c.n}] ${doc.title || doc.doc_id}`;
  $("viewer").hidden = false;
  cited.scrollIntoView({ block: "center" });
  body.focus();
}

$("result").addEventListener("click", async (ev) => {
  const card = ev.target.closest(".answer");
  const link = ev.target.closest("a[data-n]");
  const vote = ev.target.closest("button[data-rating]");
  try {
    if (link) {
      ev.preventDefault();
      await openCitation(card.citations.find((c) => String(c.n) === link.dataset.n));
    } else if (vote && vote.getAttribute("aria-pressed") !== "true") {
      // the latest vote counts: the chosen thumb shows as pressed, the other stays there to change it
      const changed = card.querySelector("button[data-rating][aria-pressed=true]");
      await post("/v1/feedback", { answer_id: card.dataset.answerId, rating: vote.dataset.rating });
      card.querySelector(".feedback-status").textContent = changed
        ? "Vote changed: your latest vote counts." : "Thanks for the feedback.";
      card.querySelectorAll("button[data-rating]").forEach((b) => b.setAttribute("aria-pressed", String(b === vote)));
    }
  } catch (e) { showError(e); }
});
// a comment alone: it changes no vote (POST /v1/feedback with `comment`)
$("result").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target.closest("form.comment"), card = form.closest(".answer");
  const text = form.elements.comment.value.trim();
  if (!text) return;
  try {
    await post("/v1/feedback", { answer_id: card.dataset.answerId, comment: text });
    form.querySelector(".comment-status").textContent = "Comment sent.";
    form.elements.comment.disabled = true;
    form.querySelector("button").disabled = true;
  } catch (e) { form.querySelector(".comment-status").textContent = `Not sent: ${e.message}`; }
});
$("viewer-close").addEventListener("click", () => { $("viewer").hidden = true; });

// Server-sent events over fetch (EventSource cannot send the Authorization header or a POST body); `body` is
// /v1/ask's ({q, collection, conversation, conversation_id}).
async function askStream(body, onEvent) {
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

// -- documents ----------------------------------------------------------------------------------------------------
const DOC_PAGE = 50;
const docView = { offset: 0, q: "" };
async function loadDocuments() {
  try {
    const params = new URLSearchParams({ limit: DOC_PAGE, offset: docView.offset });
    if (docView.q) params.set("q", docView.q);
    const { documents, total } = await api(inCollection(`/v1/documents?${params}`));
    $("doc-table").tBodies[0].replaceChildren(...documents.map((d) => el("tr", { "data-doc": d.doc_id },
      el("td", {}, d.doc_id), el("td", {}, d.title || ""), el("td", {}, d.groups.join(", ") || "everyone"),
      el("td", {}, String(d.chunks)),
      el("td", {}, can("editor") ? el("button", { type: "button", class: "link", "data-delete": d.doc_id,
        "aria-label": `Delete ${d.doc_id}` }, "Delete") : ""))));
    const last = Math.min(docView.offset + DOC_PAGE, total);
    $("doc-count").textContent = total ? `${docView.offset + 1}–${last} of ${total} document(s)` : "No documents match.";
    $("doc-prev").disabled = docView.offset === 0;
    $("doc-next").disabled = last >= total;
  } catch (e) { showError(e); }
}
let docSearchTimer;
$("doc-search").addEventListener("input", () => {
  clearTimeout(docSearchTimer);
  docSearchTimer = setTimeout(() => { docView.q = $("doc-search").value.trim(); docView.offset = 0; loadDocuments(); }, 250);
});
$("doc-prev").addEventListener("click", () => { docView.offset = Math.max(0, docView.offset - DOC_PAGE); loadDocuments(); });
$("doc-next").addEventListener("click", () => { docView.offset += DOC_PAGE; loadDocuments(); });

function upload(form) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/documents");
    if (state.key) xhr.setRequestHeader("Authorization", `Bearer ${state.key}`);
    const bar = $("upload-progress");
    bar.hidden = false;
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total); };
    xhr.onload = () => {
      const body = JSON.parse(xhr.responseText || "{}");
      xhr.status < 300 ? resolve(body) : reject(new Error(body.detail || xhr.statusText));
    };
    xhr.onerror = () => reject(new Error("upload failed: network error"));
    xhr.send(form);
  });
}

async function watchJob(id) {
  for (;;) {
    const job = await api(`/v1/jobs/${id}`);
    const p = job.progress;
    $("job-status").textContent = `Job ${job.id}: ${job.status}` + (p.total ? ` · ${p.stage} ${p.done}/${p.total}` : "");
    if (job.status === "done" || job.status === "failed") {
      const failures = job.failures.map((f) => `${f.file}: ${f.reason}`).join("; ");
      $("job-status").textContent = `Job ${job.id}: ${job.status}` + (failures ? ` — failed: ${failures}` : "")
        + (job.error ? ` — ${job.error}` : "");
      $("job-status").dataset.status = job.status;
      return job;
    }
    await new Promise((r) => setTimeout(r, 400));
  }
}

$("upload-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  showError(null);
  const form = new FormData();
  for (const f of $("files").files) form.append("files", f);
  form.append("groups", $("groups").value);
  if (state.collection) form.append("collection", state.collection);
  try {
    const job = await upload(form);
    await watchJob(job.id);
    loadDocuments();
  } catch (e) { showError(e); }
});

$("doc-table").addEventListener("click", async (ev) => {
  const button = ev.target.closest("button[data-delete]");
  if (!button || !confirm(`Delete ${button.dataset.delete}?`)) return;
  try {
    await api(inCollection(`/v1/documents/${button.dataset.delete.split("/").map(encodeURIComponent).join("/")}`), { method: "DELETE" });
    loadDocuments();
  } catch (e) { showError(e); }
});

// -- versions: the table, gate reports, promote and roll back (admins) -------------------------------------------
const built = (v) => v.created_at.slice(0, 16).replace("T", " ");

async function loadVersions() {
  try {
    const { live, versions, rollback_target: target } = await api(inCollection("/v1/versions"));
    state.admin = can("admin");
    state.versions = Object.fromEntries(versions.map((v) => [v.id, v]));
    state.live = state.versions[live];
    $("versions-live").textContent = live ? `Live: ${live}. Every server follows a switch at its next request.` : "No live version yet.";
    $("foot").textContent = $("foot").textContent.replace(/live index \S+$/, `live index ${live || "none"}`);
    // the server's rollback target: the most recently live older version no rollback left, never a newer one
    const to = state.versions[target];
    $("rollback").hidden = !state.admin || !to;
    $("rollback").dataset.to = to ? to.id : "";
    $("rollback").textContent = to ? `Roll back to ${to.id} (built ${built(to)}, ${count(to, "documents")} documents)` : "";
    const older = (v) => state.live && versions.indexOf(v) > versions.indexOf(state.live);  // newest first
    $("version-table").tBodies[0].replaceChildren(...versions.map((v) => versionRow(v, older(v))));
  } catch (e) { showError(e); }
}

// An admin's action on a version: "Promote" runs the gate; "Make live" (no gate) only for an older version that was
// live and no rollback left; a refused version only "Promote anyway", which skips the gate.
function versionAction(v, older) {
  if (!state.admin || v.status === "live" || v.status === "deleted" || v.status === "damaged") return "";
  if (v.status === "refused") {
    return el("button", { type: "button", class: "secondary", "data-force": v.id }, "Promote anyway (skips the gate)");
  }
  if (v.status === "retired" && older && !v.rolled_back) {
    return el("button", { type: "button", class: "secondary", "data-make-live": v.id }, "Make live");
  }
  return el("button", { type: "button", "data-promote": v.id }, "Promote");
}

function versionRow(v, older) {
  const mb = (b) => (b < 1e6 ? `${(b / 1e3).toFixed(0)} kB` : `${(b / 1e6).toFixed(1)} MB`);
  const gate = v.gate ? el("button", { type: "button", class: "link", "data-report": v.id },
    `${v.gate.passed ? "passed" : "refused"} against ${v.gate.live}`) : "—";
  const actions = el("td", {}, versionAction(v, older));
  const status = v.status + (v.rolled_back && v.status !== "live" ? " (rolled back)" : "");
  return el("tr", { "data-version": v.id, "data-status": v.status },
    el("td", {}, v.id + (v.pinned ? " (pinned)" : "")), el("td", {}, status), el("td", {}, built(v)),
    el("td", {}, count(v, "documents")), el("td", {}, count(v, "chunks")),
    el("td", {}, v.disk.bytes ? `${mb(v.disk.bytes)} (${mb(v.disk.own_bytes)})` : "—"),
    el("td", { title: v.model }, v.model.split("@")[0].split("/").pop()), el("td", {}, gate), actions);
}

function cells(tag, values) { return el("tr", {}, ...values.map((x) => el(tag, tag === "th" ? { scope: "col" } : {}, String(x)))); }

async function showReport(id, refused) {
  const { reports } = await api(inCollection(`/v1/versions/${encodeURIComponent(id)}/report`));
  const body = [];
  for (const r of reports) {
    body.push(el("p", { class: "verdict " + (r.passed ? "passed" : "refused") },
      `${r.passed ? "Passed" : "Refused"}: ${r.candidate} against live ${r.live} on ${r.golden}, ${r.at}`));
    const pct = (m, x) => (m === "p95_ms" ? `${(x * 100).toFixed(1)} %` : x.toFixed(4));
    body.push(el("table", { class: "gate" }, el("thead", {}, cells("th", ["Metric", "Live", "Candidate", "Change", "Tolerance", "p", "Queries", ""])),
      el("tbody", {}, ...r.checks.map((c) => Object.assign(cells("td", [c.metric, c.live.toFixed(4), c.candidate.toFixed(4),
        (c.change >= 0 ? "+" : "") + pct(c.metric, c.change), pct(c.metric, c.tolerance), c.p_value.toPrecision(3), c.queries,
        c.regressed ? "regressed" : "ok"]), { className: c.regressed ? "regressed" : "" })))));
    if (r.losers.length) {
      body.push(el("h3", {}, "Queries that lost most (nDCG@10)"), el("table", {}, el("thead", {}, cells("th", ["Query", "Live", "Candidate"])),
        el("tbody", {}, ...r.losers.map((q) => cells("td", [q.query, q.live.toFixed(3), q.candidate.toFixed(3)])))));
    }
  }
  if (refused && state.admin) {
    body.push(el("p", {}, "Promote anyway only when the loss is understood and accepted: it is recorded with your key."),
      el("button", { type: "button", class: "danger", "data-force": id }, `Promote ${id} anyway`));
  }
  $("report-title").textContent = `Gate report for ${id}`;
  $("report-body").replaceChildren(...body);
  $("report").hidden = false;
}

async function switchVersion(what, call) {
  $("version-status").textContent = `${what}…`;
  try {
    const r = await call();
    $("version-status").textContent = `${r.live} is live (was ${r.previous}; pointer switched in ${r.switch_ms} ms${r.forced ? "; forced, gate skipped" : ""}).`;
    return r;
  } finally { await loadVersions(); }
}

// A version's count, or a dash where the caller reads only its groups (the whole index's counts are not theirs).
const count = (v, what) => (v.counts ? String(v.counts[what]) : "—");

// What a switch to `id` changes, for the confirmation: both versions and the document count.
function switchQuestion(verb, id, gate) {
  const to = state.versions[id], from = state.live;
  if (!to.counts || (from && !from.counts)) return `${verb} ${to.id} (built ${built(to)}) in place of live ${from ? from.id : "none"}. ${gate}`;
  const diff = to.counts.documents - (from ? from.counts.documents : 0);
  return `${verb} ${to.id} (built ${built(to)}, ${to.counts.documents} documents) in place of live ${from ? from.id : "none"}`
    + ` (${from ? from.counts.documents : 0} documents): ${diff >= 0 ? "+" : ""}${diff} documents. ${gate}`;
}

const post = (path, body) => api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });

$("page-versions").addEventListener("click", async (ev) => {
  const b = ev.target.closest("button");
  if (!b) return;
  showError(null);
  try {
    if (b.id === "report-close") $("report").hidden = true;
    else if (b.dataset.report) await showReport(b.dataset.report, false);
    else if (b.id === "rollback" || b.dataset.makeLive) {
      const id = b.dataset.to || b.dataset.makeLive;  // named: the version confirmed is the one made live
      if (!confirm(switchQuestion("Roll back to", id, "A rollback skips the gate."))) return;
      await switchVersion(`Rolling back to ${id}`, () => post(inCollection(`/v1/versions/rollback?version=${encodeURIComponent(id)}`)));
    } else if (b.dataset.force && confirm(switchQuestion("Promote", b.dataset.force, "The gate is skipped; this is recorded with your key."))) {
      await switchVersion(`Promoting ${b.dataset.force} without the gate`, () => post(`/v1/versions/${encodeURIComponent(b.dataset.force)}/promote`, { force: true, collection: state.collection || null }));
      $("report").hidden = true;
    } else if (b.dataset.promote) {
      const id = b.dataset.promote;
      try {
        await switchVersion(`Running the gate on ${id} against the live version`, () => post(`/v1/versions/${encodeURIComponent(id)}/promote`, { collection: state.collection || null }));
        await showReport(id, false).catch(() => {});  // no report when nothing was live to gate against
      } catch (e) {
        if (e.status !== 409) throw e;
        $("version-status").textContent = `The gate refused ${id}: it stays a candidate. Its report is below.`;
        await showReport(id, true);
      }
    }
  } catch (e) { showError(e); }
});

// -- metrics ------------------------------------------------------------------------------------------------------
// -- monitoring: alerts, signals, charts (uPlot, served from the package), drift --------------------------------
const COLORS = { blue: "#2156c7", red: "#b3261e", green: "#1e7b34", grey: "#6b7280" };
const charts = (window.ragshipCharts = []);

function chart(title, points, bucket, series, unit) {
  const box = el("figure", { class: "chart", "data-title": title }, el("h3", {}, title));
  const xs = points.map((p) => p.t);
  const data = [xs, ...series.map((s) => points.map((p) => p[s.key] ?? null))];
  const opts = {
    width: 380, height: 200, legend: { live: true },
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
    scales: { x: { time: true, range: () => (xs.length ? [xs[0] - bucket, xs[xs.length - 1] + bucket]
                                                    : [Date.now() / 1000 - 3600, Date.now() / 1000]) },
              y: { range: (u, lo, hi) => [0, Math.max(hi ?? 0, unit === "rate" ? 1 : 1e-9) * 1.1] } },
    axes: [{ label: "UTC" }, { label: unit === "rate" ? "share" : unit, size: 56 }],
    series: [{ label: "time (UTC)", value: (u, v) => (v == null ? "—" : utc(v).slice(11)) },
      ...series.map((s) => ({ label: s.label, stroke: COLORS[s.color], width: 2, spanGaps: true,
        points: { show: true, size: 6, fill: COLORS[s.color] },
        value: (u, v) => (v == null ? "—" : unit === "rate" ? `${(v * 100).toFixed(1)} %` : `${v} ${unit}`) }))],
  };
  const u = new uPlot(opts, data, box);
  u.root.setAttribute("role", "img");
  u.root.setAttribute("aria-label", `${title}: ${points.length} time buckets`);
  charts.push(u);
  return box;
}

async function loadMetrics() {
  try {
    const minutes = Number($("metrics-minutes").value);
    const [{ series, bucket_s: bucket }, now, alerts, drift] = await Promise.all([api(`/v1/monitor/series?minutes=${minutes}`),
      api(inCollection("/v1/monitor/signals")), api("/v1/monitor/alerts?limit=20"), api(inCollection("/v1/monitor/drift"))]);
    $("metrics-range").textContent = `${series.length} time bucket(s) of ${bucket >= 60 ? `${bucket / 60} min` : `${bucket} s`} with traffic; hover a chart for values.`;
    charts.splice(0).forEach((u) => u.destroy());
    $("charts").replaceChildren(
      chart("Latency", series, bucket, [{ key: "p50_ms", label: "p50", color: "blue" }, { key: "p95_ms", label: "p95", color: "red" }], "ms"),
      chart("Answers", series, bucket, [{ key: "answer_rate", label: "answered", color: "green" }, { key: "abstain_rate", label: "abstained", color: "red" }, { key: "clarify_rate", label: "asked back", color: "blue" }], "rate"),
      chart("Fallbacks and failures", series, bucket, [{ key: "llm_fallback_rate", label: "LLM fallback", color: "red" }, { key: "citation_failure_rate", label: "citation failed", color: "blue" }, { key: "no_result_rate", label: "found nothing", color: "green" }, { key: "error_rate", label: "errors", color: "grey" }], "rate"),
      chart("Feedback", series, bucket, [{ key: "up", label: "helpful", color: "green" }, { key: "down", label: "not helpful", color: "red" }], "votes"),
      chart("Traffic", series, bucket, [{ key: "requests", label: "requests", color: "blue" }, { key: "errors", label: "errors", color: "red" }], "requests"));
    $("alert-table").tBodies[0].replaceChildren(...alerts.states.map((a) => el("tr", { class: a.state === "firing" ? "regressed" : "", "data-alert": a.name, "data-state": a.state },
      el("td", { title: `${a.condition} for ${a.for_s} s (${a.severity})` }, a.name), el("td", {}, a.state),
      el("td", {}, a.state === "inactive" || a.since == null ? "—" : utc(a.since)),
      el("td", {}, a.value == null ? "—" : String(Math.round(a.value * 1e4) / 1e4)),
      el("td", {}, el("a", { href: a.runbook, target: "_blank", rel: "noopener" }, a.runbook.split("/").pop())))));
    $("signal-table").tBodies[0].replaceChildren(...Object.entries(now.signals).map(([k, v]) => el("tr", {},
      el("td", {}, k), el("td", {}, v == null ? "— (not enough data yet)" : String(Math.round(v * 1e4) / 1e4)))));
    $("drift").replaceChildren(...driftReport(drift));
  } catch (e) { showError(e); }
}
$("metrics-minutes").addEventListener("change", loadMetrics);

function driftReport(r) {
  const out = [el("p", {}, `Reference: ${r.reference.reason} (${r.reference.queries} queries). ${r.status}.`)];
  if (r.status !== "measured") return out;
  out.push(el("p", {}, `Query drift: MMD p = ${r.query.p_value.toPrecision(3)}; top score ${r.scores.reference_mean ?? "—"} → ${r.scores.recent_mean ?? "—"} (KS p = ${r.scores.p_value == null ? "—" : r.scores.p_value.toPrecision(3)}).`));
  // a moved metric says which way: better (green) or worse (red), never just "moved"
  const way = (m) => (r.directions || {})[m] || "";
  out.push(el("table", { id: "drift-business" }, el("thead", {}, cells("th", ["Business metric", "Reference", "Recent", ""])),
    el("tbody", {}, ...Object.keys(r.business.reference).map((m) => {
      const row = cells("td", [m, r.business.reference[m] ?? "—", r.business.recent[m] ?? "—", way(m)]);
      row.dataset.metric = m;
      if (way(m)) row.className = `moved-${way(m)}`;
      return row;
    }))));
  for (const t of r.topics) out.push(el("p", {}, el("strong", {}, `${t.size} struggling queries like: `), t.examples.join(" · ")));
  return out;
}

// -- incidents ----------------------------------------------------------------------------------------------------
async function loadIncidents() {
  try {
    const { incidents } = await api(inCollection("/v1/incidents"));
    const body = $("incident-table").querySelector("tbody");
    body.replaceChildren(...incidents.map((i) => el("tr", { class: `incident-${i.status}` },
      el("td", {}, el("a", { href: `#incidents/${i.id}` }, i.title)), el("td", {}, i.status), el("td", {}, utc(i.opened)),
      el("td", {}, Object.keys(i.alerts).join(", ") || "—"), el("td", {}, i.collection))));
    const chosen = location.hash.split("/")[1];
    $("incident").hidden = !chosen;
    if (chosen) await showIncident(chosen);
  } catch (e) { showError(e); }
}

async function showIncident(id) {
  const i = await api(`/v1/incidents/${encodeURIComponent(id)}`);
  $("incident-title").textContent = i.title;
  const took = i.acknowledged ? `, acknowledged ${utc(i.acknowledged)}` : "";
  $("incident-meta").textContent = `${i.status} · opened ${utc(i.opened)}${took}` +
    (i.resolved ? ` · resolved ${utc(i.resolved)}` : "");
  $("incident-ack").hidden = i.status !== "open";
  $("incident-resolve").hidden = i.status === "resolved";
  $("timeline-table").querySelector("tbody").replaceChildren(...i.timeline.map((e) => el("tr", { class: `kind-${e.kind.replace(/ /g, "-")}` },
    el("td", {}, utc(e.at)), el("td", {}, e.text), el("td", {}, e.by || ""), el("td", { class: "meta" }, e.source))));
  $("postmortem-box").hidden = true;
  $("resolve-form").hidden = true;
  $("incident-ack").onclick = () => act(id, "ack");
  $("incident-resolve").onclick = () => { $("resolve-form").hidden = false; $("resolve-note").focus(); };
  $("resolve-form").onsubmit = (ev) => { ev.preventDefault(); act(id, "resolve", { note: $("resolve-note").value.trim() }); };
  $("incident-postmortem").onclick = () => showPostmortem(id).catch(showError);
}
$("resolve-cancel").addEventListener("click", () => { $("resolve-form").hidden = true; });

// The draft rendered (markdown.js), with its Markdown to copy or download for the owner to finish.
async function showPostmortem(id) {
  const d = await api(`/v1/incidents/${encodeURIComponent(id)}/postmortem`);
  $("postmortem").replaceChildren(renderMarkdown(d.markdown));
  $("postmortem-status").textContent = "";
  $("postmortem-copy").onclick = async () => {
    try {
      await navigator.clipboard.writeText(d.markdown);
      $("postmortem-status").textContent = "Copied the Markdown.";
    } catch (e) { $("postmortem-status").textContent = `Not copied (${e.message}): use Download.`; }
  };
  $("postmortem-download").onclick = () => download(`postmortem-${id}.md`, d.markdown, "text/markdown");
  $("postmortem-box").hidden = false;
}

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function act(id, what, body = undefined) {
  try {
    await api(`/v1/incidents/${encodeURIComponent(id)}/${what}`, body ? {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) } : { method: "POST" });
    await loadIncidents();
  } catch (e) { showError(e); }
}

// -- start ------------------------------------------------------------------------------------------------------
$("api-key").value = state.key;
fetch("/healthz").then((r) => r.json()).then((h) => {
  $("foot").textContent = `ragship ${h.version} · live index ${h.live_version || "none"}`;
});
// after every script of the page ran (learning.js holds some pages)
window.addEventListener("DOMContentLoaded", () => loadRole().then(() => state.key && loadCollections()).then(route));
