// The "Unanswered" page: the questions the documents fail to answer, grouped by topic; ask the open ones again;
// the feedback with comments as CSV.
import { $, download, el, utc } from "./dom.js";
import { api, headers, inCollection, showError } from "./api.js";

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

// `reask`: each open question asked again, as its asker may read (GET /v1/gaps?reask=true).
export async function load(reask = false) {
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
$("gaps-days").addEventListener("change", () => load());
$("gaps-reask").addEventListener("click", async (ev) => {
  ev.target.disabled = true;
  try { await load(true); } finally { ev.target.disabled = false; }
});
$("gaps-export").addEventListener("click", async (ev) => {
  ev.preventDefault();
  try {
    const resp = await fetch(inCollection("/v1/feedback/export?format=csv"), { headers: headers() });
    if (!resp.ok) throw new Error((await resp.json()).detail || resp.statusText);
    download("ragship-feedback.csv", await resp.text(), "text/csv");
  } catch (e) { showError(e); }
});
