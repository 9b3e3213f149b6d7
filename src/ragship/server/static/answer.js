// One answer as a card (a live answer's, or a past turn's: ask.js): its text with [n] markers linking to the cited
// passages, its sources, thumbs and a comment; a citation opens its passage inside the whole document (the viewer).
import { $, el } from "./dom.js";
import { api, inCollection, post, showError } from "./api.js";

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

// An answer's text, its [n] markers as links to the cited passages: all of them, or the numbers `links` holds (a
// Set: a past turn's, whose sources the caller may no longer all read); plain text where there is none to open.
export function citedText(text, links = true) {
  const p = el("p", { class: "answer-text" });
  for (const part of text.split(/(\[\d+\])/)) {
    const m = part.match(/^\[(\d+)\]$/);
    const linked = m && (links === true || (links && links.has(Number(m[1]))));
    p.append(linked ? el("a", { href: `#ask/source-${m[1]}`, class: "cite", "data-n": m[1] }, part) : part);
  }
  return p;
}

// One answer as a card: a question back (outcome "clarify") is shown as such, with the readings it names cited.
export function renderAnswer(a) {
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

// An answer's sources, one entry per cited document (a.documents, or its citations grouped by document), each of
// its citation numbers opening its passage (the card's `citations`).
export function sourcesList(a) {
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

// A click in a card: a citation opens its passage; a thumb votes (the latest vote counts: the chosen thumb shows
// as pressed, the other stays there to change it).
export async function onCardClick(ev) {
  const card = ev.target.closest(".answer");
  const link = ev.target.closest("a[data-n]");
  const vote = ev.target.closest("button[data-rating]");
  try {
    if (link) {
      ev.preventDefault();
      await openCitation(card.citations.find((c) => String(c.n) === link.dataset.n));
    } else if (vote && vote.getAttribute("aria-pressed") !== "true") {
      const changed = card.querySelector("button[data-rating][aria-pressed=true]");
      await post("/v1/feedback", { answer_id: card.dataset.answerId, rating: vote.dataset.rating });
      card.querySelector(".feedback-status").textContent = changed
        ? "Vote changed: your latest vote counts." : "Thanks for the feedback.";
      card.querySelectorAll("button[data-rating]").forEach((b) => b.setAttribute("aria-pressed", String(b === vote)));
    }
  } catch (e) { showError(e); }
}

// A card's comment sent alone: it changes no vote (POST /v1/feedback with `comment`).
export async function onCardComment(ev) {
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
}

$("viewer-close").addEventListener("click", () => { $("viewer").hidden = true; });
