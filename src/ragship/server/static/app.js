// The ask page: no framework, no CDN. Renders the answer with [n] links to passages that open highlighted.
"use strict";
const form = document.getElementById("ask-form");
const input = document.getElementById("question");
const result = document.getElementById("result");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

// The chunk text with the quoted sentences highlighted (quotes are document offsets; the chunk starts at c.start).
function passage(c) {
  const box = el("div", { class: "passage", id: `passage-${c.n}`, tabindex: "-1" });
  let pos = 0;
  const spans = (c.quotes || []).map(([s, e]) => [s - c.start, e - c.start]).sort((a, b) => a[0] - b[0]);
  for (const [s, e] of spans) {
    if (s < pos || s < 0 || e > c.text.length) continue;
    box.append(c.text.slice(pos, s), el("mark", {}, c.text.slice(s, e)));
    pos = e;
  }
  box.append(c.text.slice(pos));
  box.hidden = true;
  return box;
}

function render(a) {
  result.replaceChildren();
  const card = el("div", { class: "answer" + (a.abstained ? " abstain" : "") });
  if (a.abstained) {
    card.append(el("p", {}, "The documents do not answer this confidently. Closest sources:"));
  } else {
    const p = el("p", { class: "answer-text" });
    for (const part of a.answer.split(/(\[\d+\])/)) {
      const m = part.match(/^\[(\d+)\]$/);
      p.append(m ? el("a", { href: `#source-${m[1]}`, class: "cite", "data-n": m[1] }, part) : part);
    }
    card.append(p);
  }
  card.append(el("p", { class: "meta" }, `confidence ${a.confidence.toFixed(2)}`));
  const list = el("ol", { class: "sources" });
  for (const c of a.citations) {
    const title = c.title || c.doc_id;
    const toggle = el("a", { href: `#passage-${c.n}`, class: "open", "data-n": String(c.n) }, `[${c.n}] ${title}`);
    const where = (c.heading_path && c.heading_path.length ? ` · ${c.heading_path.join(" › ")}` : "");
    list.append(el("li", { id: `source-${c.n}`, value: String(c.n) }, toggle,
      el("span", { class: "meta" }, ` ${c.doc_id}${where} · chars ${c.start}–${c.end}`), passage(c)));
  }
  card.append(list);
  result.append(card);
}

result.addEventListener("click", (ev) => {
  const link = ev.target.closest("a[data-n]");
  if (!link) return;
  ev.preventDefault();
  const box = document.getElementById(`passage-${link.dataset.n}`);
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });
  box.focus();
});

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  result.replaceChildren(el("p", { class: "meta" }, "Searching…"));
  try {
    const resp = await fetch(`/v1/ask?q=${encodeURIComponent(input.value)}`);
    const body = await resp.json();
    if (!resp.ok) throw new Error(body.detail || resp.statusText);
    render(body);
  } catch (e) {
    result.replaceChildren(el("p", { class: "error" }, `Error: ${e.message}`));
  }
});

fetch("/healthz").then((r) => r.json()).then((h) => {
  document.getElementById("foot").textContent = `ragship ${h.version} · live index ${h.live_version || "none"}`;
});
