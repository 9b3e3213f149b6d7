// The Incidents page: the list, an incident's timeline, acknowledge, resolve with a note, the postmortem draft
// rendered (markdown.js) with its Markdown to copy or download. Times in UTC.
import { $, download, el, utc } from "./dom.js";
import { api, inCollection, showError } from "./api.js";
import { renderMarkdown } from "./markdown.js";

// The list; the incident the hash names (#incidents/<id>) opened below it.
export async function load() {
  try {
    const { incidents } = await api(inCollection("/v1/incidents"));
    $("incident-table").tBodies[0].replaceChildren(...incidents.map((i) => el("tr", { class: `incident-${i.status}` },
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
  $("timeline-table").tBodies[0].replaceChildren(...i.timeline.map((e) => el("tr", { class: `kind-${e.kind.replace(/ /g, "-")}` },
    el("td", {}, utc(e.at)), el("td", {}, e.text), el("td", {}, e.by || ""), el("td", { class: "meta" }, e.source))));
  $("postmortem-box").hidden = true;
  $("resolve-form").hidden = true;
  $("incident-ack").onclick = () => act(id, "ack");
  $("incident-resolve").onclick = () => { $("resolve-form").hidden = false; $("resolve-note").focus(); };
  $("resolve-form").onsubmit = (ev) => { ev.preventDefault(); act(id, "resolve", { note: $("resolve-note").value.trim() }); };
  $("incident-postmortem").onclick = () => showPostmortem(id).catch(showError);
}
$("resolve-cancel").addEventListener("click", () => { $("resolve-form").hidden = true; });

// The draft rendered, with its Markdown to copy or download for the owner to finish.
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

async function act(id, what, body = undefined) {
  try {
    await api(`/v1/incidents/${encodeURIComponent(id)}/${what}`, body ? {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) } : { method: "POST" });
    await load();
  } catch (e) { showError(e); }
}
