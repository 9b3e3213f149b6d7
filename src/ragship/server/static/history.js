// The "My questions" page: the questions this key asked, newest first, with their outcome and what it said.
import { $, el, utc } from "./dom.js";
import { api, inCollection, showError } from "./api.js";

// An answer's outcome as the pages name it (the Review page's too).
export const OUTCOMES = { answered: "answered", abstained: "abstained", clarify: "asked back",
  no_result: "found nothing", error: "failed" };

// The newest 50, or the 50 before `before` (a question's time), added below those shown.
export async function load(before = null) {
  try {
    const params = new URLSearchParams({ limit: 50 });
    if (before != null) params.set("before", before);
    const { questions } = await api(inCollection(`/v1/history?${params}`));
    const rows = questions.map((q) => el("tr", { "data-answer": q.id, class: `outcome-${q.outcome}` },
      el("td", { class: "when" }, utc(q.ts)), el("td", {}, q.question || "(not kept)"),
      el("td", {}, OUTCOMES[q.outcome] || q.outcome), el("td", {}, q.rating || "—"), el("td", {}, q.comment || "")));
    const body = $("history-table").tBodies[0];
    if (before == null) body.replaceChildren(...rows);
    else body.append(...rows);
    if (!rows.length && before == null) body.append(el("tr", {}, el("td", { colspan: "5", class: "meta" }, "No questions yet.")));
    $("history-more").hidden = questions.length < 50;
    $("history-more").onclick = () => load(questions[questions.length - 1].ts);
  } catch (e) { showError(e); }
}
