// Learning from production in the web UI: the review queue (to review / reviewed / all, each card with who asked
// and its saved review), the key's own questions, and the questions the documents fail to answer. Uses app.js's
// helpers ($, el, api, post, utc, inCollection, download, showError), loaded before this file.
"use strict";

// -- review -------------------------------------------------------------------------------------------------------
let reviewLoads = 0;  // only the latest load renders: a slower, older one would replace cards being edited

async function loadReview() {
  const load = ++reviewLoads;
  $("review-list").setAttribute("aria-busy", "true");
  try {
    const params = new URLSearchParams({ queue: $("review-queue").value, status: $("review-status").value, limit: 30 });
    const [queue, improve] = await Promise.all([api(inCollection(`/v1/review?${params}`)), api(inCollection("/v1/improve"))]);
    if (load !== reviewLoads) return;
    $("review-list").setAttribute("aria-busy", "false");
    const run = improve.runs[0];
    $("improve-status").textContent = run
      ? `Last improvement run: ${run.status} (${run.trigger}): ${run.reason || ""}` : "No improvement run yet.";
    const none = $("review-status").value === "reviewed" ? "No reviewed answers yet." : "Nothing to review.";
    $("review-list").replaceChildren(...(queue.answers.length ? queue.answers.map(reviewCard)
      : [el("p", { class: "meta" }, none)]));
  } catch (e) { showError(e); }
}
$("review-queue").addEventListener("change", loadReview);
$("review-status").addEventListener("change", loadReview);

function reviewedLine(review) {
  return review ? `Reviewed by ${review.by_name || review.by} at ${utc(review.at)} UTC` : "Not reviewed yet";
}

function reviewCard(a) {
  const form = el("form", { class: "review" + (a.review ? " reviewed" : ""), "data-answer": a.id });
  const rated = a.rating == null ? "unrated" : a.rating > 0 ? "rated up" : "rated down";
  const saved = a.review || { marks: {}, expected: null, correction: "" };
  const badge = el("p", { class: "review-state" }, reviewedLine(a.review));
  form.append(el("h2", {}, a.question || "(question not kept)"),
    el("p", { class: "meta" }, `${OUTCOMES[a.outcome] || a.outcome}, ${rated}, `
      + `confidence ${(a.confidence ?? 0).toFixed(2)}, version ${a.version}`,
      ` · asked by ${a.asked_by_name || a.asked_by} at ${utc(a.ts)} UTC`),
    badge, el("p", {}, a.answer || "(abstained)"));
  const list = el("ol", { class: "sources" });
  // an abstention cites nothing: its sources are the closest passages found
  const label = (s) => a.outcome === "abstained" ? " (closest)" : s.cited ? " (cited)" : "";
  for (const s of a.sources) {
    const name = `mark-${a.id}-${s.chunk_id}`;
    const choice = (value, label) => {
      const input = el("input", { type: "radio", name, value, "data-chunk": s.chunk_id });
      input.checked = saved.marks[s.chunk_id] === value;
      return el("label", { class: "inline" }, input, label);
    };
    list.append(el("li", {}, el("strong", {}, (s.title || s.doc_id) + label(s)),
      el("p", { class: "passage" }, s.text || ""), choice("helpful", "relevant"), choice("wrong", "not relevant")));
  }
  const expected = el("select", { name: "expected", "aria-label": "Should it have been answered?" },
    el("option", { value: "" }, "answerable?"), el("option", { value: "answer" }, "should have answered"),
    el("option", { value: "abstain" }, "should have abstained"));
  expected.value = saved.expected || "";
  const gold = el("input", { type: "text", name: "correction", placeholder: "the right answer (optional)",
    "aria-label": "The right answer" });
  gold.value = saved.correction || "";
  const status = el("span", { class: "meta", "aria-live": "polite" });
  const button = el("button", { type: "submit" }, a.review ? "Update review" : "Save review");
  form.append(list, el("div", { class: "row" }, expected, gold, button, status));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const marks = {};
    for (const r of form.querySelectorAll("input[type=radio]:checked")) marks[r.dataset.chunk] = r.value;
    try {
      await post("/v1/feedback", { answer_id: a.id, marks, expected: expected.value || null,
        correction: gold.value.trim() });
      status.textContent = "Saved.";
      form.classList.add("reviewed");
      badge.textContent = `Reviewed by you at ${utc(Date.now() / 1000)} UTC`;
      button.textContent = "Update review";
    } catch (e) { status.textContent = `Not saved: ${e.message}`; }
  });
  return form;
}

// -- my questions -------------------------------------------------------------------------------------------------
const OUTCOMES = { answered: "answered", abstained: "abstained", clarify: "asked back", no_result: "found nothing",
  error: "failed" };

async function loadHistory(before = null) {
  try {
    const params = new URLSearchParams({ limit: 50 });
    if (before != null) params.set("before", before);
    const { questions } = await api(inCollection(`/v1/history?${params}`));
    const rows = questions.map((q) => el("tr", { "data-answer": q.id, class: `outcome-${q.outcome}` },
      el("td", { class: "when" }, utc(q.ts)), el("td", {}, q.question || "(not kept)"),
      el("td", {}, OUTCOMES[q.outcome] || q.outcome), el("td", {}, q.rating || "—"), el("td", {}, q.comment || "")));
    if (before == null) $("history-table").tBodies[0].replaceChildren(...rows);
    else $("history-table").tBodies[0].append(...rows);
    if (!rows.length && before == null) {
      $("history-table").tBodies[0].append(el("tr", {}, el("td", { colspan: "5", class: "meta" }, "No questions yet.")));
    }
    $("history-more").hidden = questions.length < 50;
    $("history-more").onclick = () => loadHistory(questions[questions.length - 1].ts);
  } catch (e) { showError(e); }
}

// -- questions the documents fail to answer --------------------------------------------------------------------------
function gapQuestion(q) {
  const why = Object.entries(q.reasons).map(([reason, n]) => `${n} × ${reason}`).join(", ");
  const item = el("li", {}, el("span", { class: "gap-question" }, q.question),
    el("span", { class: "meta" }, ` — ${why}; last ${utc(q.last_failed)}`));
  if (q.closed_at) item.append(el("span", { class: "closed" }, ` closed: answered ${utc(q.closed_at)} by ${q.closed_by_version}`));
  if (q.answered_now) {
    item.append(el("span", { class: "closed answered-now" },
      ` answered now from ${q.answered_now.documents.join(", ")} (${q.answered_now.version}); open until its asker is answered`));
  }
  for (const c of q.comments.slice(-2)) item.append(el("blockquote", { class: "comment" }, c));
  return item;
}

const SHOWN_TOPICS = 12, SHOWN_QUESTIONS = 3;  // the rest behind a "more" (a long list is not read)

function gapTopic(t) {
  const box = el("section", { class: "gap-topic" + (t.others ? " others" : ""), "data-open": String(t.open) },
    el("h2", {}, t.name), el("p", { class: "meta" },
      `${t.open} open · ${t.closed} closed · failed ${t.failed} time(s), last ${utc(t.last_failed)} UTC`));
  const shown = t.others ? SHOWN_QUESTIONS * 2 : SHOWN_QUESTIONS;
  box.append(el("ol", { class: "gap-open" }, ...t.questions.slice(0, shown).map(gapQuestion)));
  if (t.questions.length > shown) {
    box.append(el("details", {}, el("summary", {}, `${t.questions.length - shown} more open`),
      el("ol", { start: String(shown + 1) }, ...t.questions.slice(shown).map(gapQuestion))));
  }
  if (t.closed_questions.length) {
    box.append(el("details", { class: "gap-closed" }, el("summary", {}, `${t.closed_questions.length} closed`),
      el("ol", {}, ...t.closed_questions.map(gapQuestion))));
  }
  return box;
}

function gapTopics(topics) {
  const grouped = topics.filter((t) => !t.others), others = topics.filter((t) => t.others);
  const out = grouped.slice(0, SHOWN_TOPICS).map(gapTopic);
  if (grouped.length > SHOWN_TOPICS) {
    out.push(el("details", { class: "more-topics" }, el("summary", {}, `${grouped.length - SHOWN_TOPICS} more topics`),
      ...grouped.slice(SHOWN_TOPICS).map(gapTopic)));
  }
  return [...out, ...others.map(gapTopic)];
}

async function loadGaps(reask = false) {
  try {
    const r = await api(inCollection(`/v1/gaps?days=${$("gaps-days").value}${reask === true ? "&reask=true" : ""}`));
    const hidden = r.hidden ? ` ${r.hidden} failed question(s) of keys that read more than yours are not shown.` : "";
    const grouped = r.topics.filter((t) => !t.others).length;
    const now = r.reasked ? ` Asked again: ${r.reasked.asked}, answered now: ${r.reasked.answered}.` : "";
    $("gaps-summary").textContent = `${r.open} open and ${r.closed} closed question(s); ${grouped} topic(s) of two or more.`
      + now + hidden + (r.kept_text ? "" : " monitor.query_text = \"hash\" keeps no question text.");
    $("gaps-list").replaceChildren(...(r.topics.length ? gapTopics(r.topics)
      : [el("p", { class: "meta" }, "No failed questions in this window.")]));
  } catch (e) { showError(e); }
}
$("gaps-days").addEventListener("change", () => loadGaps());
$("gaps-reask").addEventListener("click", async (ev) => {
  ev.target.disabled = true;
  try { await loadGaps(true); } finally { ev.target.disabled = false; }
});
$("gaps-export").addEventListener("click", async (ev) => {
  ev.preventDefault();
  try {
    const resp = await fetch(inCollection("/v1/feedback/export?format=csv"), { headers: headers() });
    if (!resp.ok) throw new Error((await resp.json()).detail || resp.statusText);
    download("ragship-feedback.csv", await resp.text(), "text/csv");
  } catch (e) { showError(e); }
});
