// The Review page: the review queue (to review / reviewed / all), each card with who asked and its saved review:
// sources marked relevant or not, whether it should have been answered, the right answer.
import { $, el, utc } from "./dom.js";
import { api, inCollection, post, showError } from "./api.js";
import { OUTCOMES } from "./history.js";

let loads = 0;  // only the latest load renders: a slower, older one would replace cards being edited

export async function load() {
  const mine = ++loads;
  $("review-list").setAttribute("aria-busy", "true");
  try {
    const params = new URLSearchParams({ queue: $("review-queue").value, status: $("review-status").value, limit: 30 });
    const [queue, improve] = await Promise.all([api(inCollection(`/v1/review?${params}`)), api(inCollection("/v1/improve"))]);
    if (mine !== loads) return;
    $("review-list").setAttribute("aria-busy", "false");
    const run = improve.runs[0];
    $("improve-status").textContent = run
      ? `Last improvement run: ${run.status} (${run.trigger}): ${run.reason || ""}` : "No improvement run yet.";
    const none = $("review-status").value === "reviewed" ? "No reviewed answers yet." : "Nothing to review.";
    $("review-list").replaceChildren(...(queue.answers.length ? queue.answers.map(reviewCard)
      : [el("p", { class: "meta" }, none)]));
  } catch (e) { showError(e); }
}
$("review-queue").addEventListener("change", load);
$("review-status").addEventListener("change", load);

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
    const choice = (value, text) => {
      const input = el("input", { type: "radio", name, value, "data-chunk": s.chunk_id });
      input.checked = saved.marks[s.chunk_id] === value;
      return el("label", { class: "inline" }, input, text);
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
