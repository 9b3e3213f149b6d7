// The web UI's entry module: the key, the key's role, the collection picker, and the pages (one module each,
// shown by the location's hash). Native ES modules, no build step, no framework, no CDN: every asset is local.
// Times are UTC everywhere; server text only ever reaches the page as text nodes.
import { $, el } from "./dom.js";
import { api, showError } from "./api.js";
import { can, session, setCollection, setKey } from "./session.js";
import * as ask from "./ask.js";
import * as documents from "./documents.js";
import * as versions from "./versions.js";
import * as metrics from "./metrics.js";
import * as review from "./review.js";
import * as history from "./history.js";
import * as gaps from "./gaps.js";
import * as incidents from "./incidents.js";

// each page's load, called whenever it is shown (its nav link's data-page names it)
const pages = { ask: ask.load, documents: documents.load, versions: versions.load, metrics: metrics.load,
  review: review.load, history: history.load, gaps: gaps.load, incidents: incidents.load };
let collections = null;  // the home's collection names, once read

// -- the collection every page reads (the picker shows when the home has more than one) ---------------------------
// Without a key it is asked for once a page that reads the API is opened (a server that needs a key would refuse
// it on the Ask page, where nothing else is asked yet).
async function loadCollections() {
  let names = [];
  try { names = (await api("/v1/collections")).collections.map((c) => c.name); } catch (e) { return; }
  collections = names;
  if (!names.includes(session.collection || "default")) session.collection = "";
  $("collection").replaceChildren(...names.map((n) => el("option", { value: n === "default" ? "" : n }, n)));
  $("collection").value = session.collection;
  document.querySelector("label.picker").hidden = names.length < 2;
}
$("collection").addEventListener("change", () => {
  setCollection($("collection").value);
  ask.newConversation();
  route();
});

// -- the key's role (GET /v1/me): what it cannot use is not shown ([data-role] elements, Delete buttons, the pages
// an editor needs); the server refuses it anyway. Without a key everything shows: a server with no keys serves its
// local user as admin, and one that needs a key says so at the first request.
async function loadRole() {
  try { session.role = session.key ? (await api("/v1/me")).role : "admin"; } catch (e) { session.role = null; }
  for (const node of document.querySelectorAll("[data-role]")) node.hidden = !can(node.dataset.role);
}

// The page the hash names (#name or #name/…), Ask where there is none or its link is hidden.
function route() {
  let name = (location.hash.slice(1).split("/")[0]) || "ask";
  if (!pages[name] || document.querySelector(`nav a[data-page=${name}]`).hidden) name = "ask";
  for (const p of Object.keys(pages)) {
    $(`page-${p}`).hidden = p !== name;
    document.querySelector(`nav a[data-page=${p}]`).toggleAttribute("aria-current", p === name);
    if (p === name) document.querySelector(`nav a[data-page=${p}]`).setAttribute("aria-current", "page");
  }
  showError(null);
  if (!collections && name !== "ask") loadCollections();
  pages[name]();
}
window.addEventListener("hashchange", route);

$("key-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  setKey($("api-key").value.trim());
  ask.keyChanged();
  loadRole().then(() => session.key && loadCollections()).then(route);
});

// -- start: modules run once the document is parsed ----------------------------------------------------------------
$("api-key").value = session.key;
fetch("/healthz").then((r) => r.json()).then((h) => {
  $("foot").textContent = `ragship ${h.version} · live index ${h.live_version || "none"}`;
});
loadRole().then(() => session.key && loadCollections()).then(route);
