// The Ask page (issue 51, ADR 0023): the thread of questions and their answers; each question after the first is
// asked with the earlier messages (/v1/ask/stream's `conversation` and `conversation_id`), so a follow-up keeps its
// context. A question back (outcome "clarify") shows as such, and what was searched when it is more than the
// question typed. "New conversation" starts over; the key's own past conversations (GET /v1/conversations) are
// listed beside the thread, and one clicked is reopened to continue. The answer cards are answer.js's.
import { $, el, utc } from "./dom.js";
import { api, askStream, showError } from "./api.js";
import { session } from "./session.js";
import { citedText, onCardClick, onCardComment, renderAnswer, sourcesList } from "./answer.js";

// The engine searches the question with the 3 user turns before it (search.turns); an LLM's rewrite reads the turns
// sent. 40 messages (20 questions and answers) is ample for both, and keeps a long thread's requests small.
const MAX_SENT = 40;
const chat = { id: null, messages: [], asking: false, key: session.key };

export function newConversation() {
  chat.id = null;
  chat.messages = [];
  $("result").replaceChildren();
  $("viewer").hidden = true;
  threadChanged();
}

// A conversation is its key's: another key starts a new one (app.js calls this once it took the new key).
export function keyChanged() {
  if (chat.key !== session.key) newConversation();
  chat.key = session.key;
}

// The form says whether the next question is a follow-up; the list marks the conversation shown.
function threadChanged() {
  const going = chat.messages.length > 0;
  $("question-label").textContent = going ? "Follow-up question (asked in this conversation)" : "Question";
  $("question").placeholder = going ? "e.g. and when did it end?" : "e.g. How do I run the evaluation?";
  $("new-conversation").disabled = !going;
  for (const li of $("conversation-list").children) {
    if (li.dataset.conversation === chat.id) li.setAttribute("aria-current", "true");
    else li.removeAttribute("aria-current");
  }
}

const short = (text, n = 80) => (text.length <= n ? text : `${text.slice(0, n - 1)}…`);

// "searched: …" when the search was more than the question typed: the earlier questions at their weights, or an
// LLM's standalone rewrite; and a rewrite that failed (its answer then searched the earlier turns).
function searchedLine(a, typed) {
  const s = a.searched;
  if (!s) return null;
  const parts = [];
  if (s.rewritten_by) parts.push(`searched: ${s.query} (rewritten by ${s.rewritten_by})`);
  else if (s.context.length || s.query !== typed) {
    const turns = s.context.map((t) => `${short(t.text)} (×${t.weight})`).join("; ");
    parts.push(`searched: ${s.query}${turns ? `; with ${turns}` : ""}`);
  }
  if (s.fallback) {
    parts.push(`${s.fallback.from} could not rewrite the question (${s.fallback.reason}); `
      + "searched with the earlier turns");
  }
  return parts.length ? el("p", { class: "meta searched" }, parts.join(" · ")) : null;
}

function turnNode(question) {
  return el("div", { class: "turn" },
    el("p", { class: "asked" }, el("span", { class: "sr-only" }, "You asked: "), question));
}

$("ask-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const question = $("question").value.trim();
  if (!question || chat.asking) return;
  showError(null);
  $("viewer").hidden = true;
  const partial = el("p", { class: "answer-text" });
  const pending = el("div", { class: "answer pending" }, el("p", { class: "meta" }, "Searching…"), partial);
  const turn = turnNode(question);
  turn.append(pending);
  $("result").append(turn);
  const body = { q: question, collection: session.collection || null };
  if (chat.messages.length) body.conversation = chat.messages.slice(-MAX_SENT);
  if (chat.id) body.conversation_id = chat.id;
  chat.asking = true;
  try {
    let answer = null;
    await askStream(body, (e) => {
      if (e.type === "sentence") partial.append(e.text + " ");
      else if (e.type === "answer") answer = e.answer;
      else if (e.type === "error") throw new Error(e.detail);
    });
    if (!answer) throw new Error("the answer did not arrive; ask again");
    pending.replaceWith(...[searchedLine(answer, question)].filter(Boolean), renderAnswer(answer));
    chat.messages.push({ role: "user", content: question }, { role: "assistant", content: answer.answer || "" });
    chat.id = answer.conversation_id || chat.id;
    chat.key = session.key;
    if (!session.key) sessionStorage.setItem("ragship-keyless", "1");  // this server answers without a key
    $("question").value = "";
    threadChanged();
    load();
  } catch (e) { turn.remove(); showError(e); } finally { chat.asking = false; }
});

$("new-conversation").addEventListener("click", () => { newConversation(); $("question").focus(); });
$("result").addEventListener("click", onCardClick);
$("result").addEventListener("submit", onCardComment);

// -- the key's own past conversations -----------------------------------------------------------------------------
// The page's load: the list, read with a key, or without one once this server answered a question without one (a
// server that needs a key would refuse the request: an error in the console before the user had a chance to give
// one). Refused, or a server without conversations: the list is not shown.
export async function load() {
  let found;
  if (!session.key && !sessionStorage.getItem("ragship-keyless")) { $("conversations").hidden = true; return; }
  try {
    found = (await api("/v1/conversations")).conversations;
  } catch (e) { $("conversations").hidden = true; return; }
  $("conversation-list").replaceChildren(...found.map((c) => el("li", { "data-conversation": c.id },
    el("button", { type: "button", class: "link", "data-open": c.id, title: c.title },
      short(c.title || "(no text)", 60)),
    el("span", { class: "meta" }, `${c.turns} question${c.turns === 1 ? "" : "s"} · ${utc(c.last)}`))));
  $("conversations-empty").hidden = found.length > 0;
  $("conversations").hidden = false;
  threadChanged();
}

// A past turn: its question and the answer as the query log kept it, with its sources as the API sends them
// (`citations`, as /v1/ask's, those the caller may read now: their [n] markers and the list open each passage as in
// the live thread).
function pastTurn(t) {
  const clarify = t.outcome === "clarify";
  const cited = (t.citations || []).length > 0;
  const numbers = new Set((t.citations || []).map((c) => c.n));
  const card = el("div", { class: "answer past" + (clarify ? " clarify" : t.answer == null ? " abstain" : ""),
    "data-answer-id": t.answer_id, "data-outcome": t.outcome });
  if (clarify) card.append(el("p", { class: "asked-back" }, "Asked back"));
  card.append(t.answer != null ? citedText(t.answer, numbers)
    : el("p", {}, t.outcome === "error" ? "This question failed."
      : `The documents did not answer this confidently.${cited ? " Closest sources:" : ""}`));
  card.append(el("p", { class: "meta" }, `asked ${utc(t.at)} UTC`));
  if (cited) {
    card.append(sourcesList(t));
    card.citations = t.citations;
  }
  const turn = turnNode(t.question);
  turn.append(card);
  return turn;
}

async function openConversation(id) {
  const c = await api(`/v1/conversations/${encodeURIComponent(id)}`);
  chat.id = c.id;
  chat.messages = c.turns.flatMap((t) => [{ role: "user", content: t.question },
    { role: "assistant", content: t.answer || "" }]);
  $("result").replaceChildren(...c.turns.map(pastTurn));
  $("viewer").hidden = true;
  threadChanged();
  $("question").focus();
}

$("conversation-list").addEventListener("click", async (ev) => {
  const b = ev.target.closest("button[data-open]");
  if (!b || chat.asking) return;
  showError(null);
  try { await openConversation(b.dataset.open); } catch (e) { showError(e); }
});
