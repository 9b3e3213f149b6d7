// The Documents page: the documents the key reads (filter, pages of 50), upload with progress and the job's status,
// delete (editors).
import { $, el } from "./dom.js";
import { api, inCollection, showError } from "./api.js";
import { can, session } from "./session.js";

const DOC_PAGE = 50;
const view = { offset: 0, q: "" };

export async function load() {
  try {
    const params = new URLSearchParams({ limit: DOC_PAGE, offset: view.offset });
    if (view.q) params.set("q", view.q);
    const { documents, total } = await api(inCollection(`/v1/documents?${params}`));
    $("doc-table").tBodies[0].replaceChildren(...documents.map((d) => el("tr", { "data-doc": d.doc_id },
      el("td", {}, d.doc_id), el("td", {}, d.title || ""), el("td", {}, d.groups.join(", ") || "everyone"),
      el("td", {}, String(d.chunks)),
      el("td", {}, can("editor") ? el("button", { type: "button", class: "link", "data-delete": d.doc_id,
        "aria-label": `Delete ${d.doc_id}` }, "Delete") : ""))));
    const last = Math.min(view.offset + DOC_PAGE, total);
    $("doc-count").textContent = total ? `${view.offset + 1}–${last} of ${total} document(s)` : "No documents match.";
    $("doc-prev").disabled = view.offset === 0;
    $("doc-next").disabled = last >= total;
  } catch (e) { showError(e); }
}

let searchTimer;
$("doc-search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => { view.q = $("doc-search").value.trim(); view.offset = 0; load(); }, 250);
});
$("doc-prev").addEventListener("click", () => { view.offset = Math.max(0, view.offset - DOC_PAGE); load(); });
$("doc-next").addEventListener("click", () => { view.offset += DOC_PAGE; load(); });

// XMLHttpRequest, not fetch: it reports the upload's progress.
function upload(form) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/documents");
    if (session.key) xhr.setRequestHeader("Authorization", `Bearer ${session.key}`);
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
  if (session.collection) form.append("collection", session.collection);
  try {
    const job = await upload(form);
    await watchJob(job.id);
    load();
  } catch (e) { showError(e); }
});

$("doc-table").addEventListener("click", async (ev) => {
  const button = ev.target.closest("button[data-delete]");
  if (!button || !confirm(`Delete ${button.dataset.delete}?`)) return;
  try {
    await api(inCollection(`/v1/documents/${button.dataset.delete.split("/").map(encodeURIComponent).join("/")}`), { method: "DELETE" });
    load();
  } catch (e) { showError(e); }
});
