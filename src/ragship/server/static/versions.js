// The Versions page: the index versions, newest first; a gate's report; promote and roll back (admins).
import { $, cells, el } from "./dom.js";
import { api, inCollection, post, showError } from "./api.js";
import { can, session } from "./session.js";

const view = { admin: false, versions: {}, live: null };  // the last load's
const built = (v) => v.created_at.slice(0, 16).replace("T", " ");
// A version's count, or a dash where the caller reads only its groups (the whole index's counts are not theirs).
const count = (v, what) => (v.counts ? String(v.counts[what]) : "—");

export async function load() {
  try {
    const { live, versions, rollback_target: target } = await api(inCollection("/v1/versions"));
    view.admin = can("admin");
    view.versions = Object.fromEntries(versions.map((v) => [v.id, v]));
    view.live = view.versions[live];
    $("versions-live").textContent = live ? `Live: ${live}. Every server follows a switch at its next request.` : "No live version yet.";
    $("foot").textContent = $("foot").textContent.replace(/live index \S+$/, `live index ${live || "none"}`);
    // the server's rollback target: the most recently live older version no rollback left, never a newer one
    const to = view.versions[target];
    $("rollback").hidden = !view.admin || !to;
    $("rollback").dataset.to = to ? to.id : "";
    $("rollback").textContent = to ? `Roll back to ${to.id} (built ${built(to)}, ${count(to, "documents")} documents)` : "";
    const older = (v) => view.live && versions.indexOf(v) > versions.indexOf(view.live);  // newest first
    $("version-table").tBodies[0].replaceChildren(...versions.map((v) => versionRow(v, older(v))));
  } catch (e) { showError(e); }
}

// An admin's action on a version: "Promote" runs the gate; "Make live" (no gate) only for an older version that was
// live and no rollback left; a refused version only "Promote anyway", which skips the gate.
function versionAction(v, older) {
  if (!view.admin || v.status === "live" || v.status === "deleted" || v.status === "damaged") return "";
  if (v.status === "refused") {
    return el("button", { type: "button", class: "secondary", "data-force": v.id }, "Promote anyway (skips the gate)");
  }
  if (v.status === "retired" && older && !v.rolled_back) {
    return el("button", { type: "button", class: "secondary", "data-make-live": v.id }, "Make live");
  }
  return el("button", { type: "button", "data-promote": v.id }, "Promote");
}

function versionRow(v, older) {
  const mb = (b) => (b < 1e6 ? `${(b / 1e3).toFixed(0)} kB` : `${(b / 1e6).toFixed(1)} MB`);
  const gate = v.gate ? el("button", { type: "button", class: "link", "data-report": v.id },
    `${v.gate.passed ? "passed" : "refused"} against ${v.gate.live}`) : "—";
  const actions = el("td", {}, versionAction(v, older));
  const status = v.status + (v.rolled_back && v.status !== "live" ? " (rolled back)" : "");
  return el("tr", { "data-version": v.id, "data-status": v.status },
    el("td", {}, v.id + (v.pinned ? " (pinned)" : "")), el("td", {}, status), el("td", {}, built(v)),
    el("td", {}, count(v, "documents")), el("td", {}, count(v, "chunks")),
    el("td", {}, v.disk.bytes ? `${mb(v.disk.bytes)} (${mb(v.disk.own_bytes)})` : "—"),
    el("td", { title: v.model }, v.model.split("@")[0].split("/").pop()), el("td", {}, gate), actions);
}

async function showReport(id, refused) {
  const { reports } = await api(inCollection(`/v1/versions/${encodeURIComponent(id)}/report`));
  const body = [];
  for (const r of reports) {
    body.push(el("p", { class: "verdict " + (r.passed ? "passed" : "refused") },
      `${r.passed ? "Passed" : "Refused"}: ${r.candidate} against live ${r.live} on ${r.golden}, ${r.at}`));
    const pct = (m, x) => (m === "p95_ms" ? `${(x * 100).toFixed(1)} %` : x.toFixed(4));
    body.push(el("table", { class: "gate" }, el("thead", {}, cells("th", ["Metric", "Live", "Candidate", "Change", "Tolerance", "p", "Queries", ""])),
      el("tbody", {}, ...r.checks.map((c) => Object.assign(cells("td", [c.metric, c.live.toFixed(4), c.candidate.toFixed(4),
        (c.change >= 0 ? "+" : "") + pct(c.metric, c.change), pct(c.metric, c.tolerance), c.p_value.toPrecision(3), c.queries,
        c.regressed ? "regressed" : "ok"]), { className: c.regressed ? "regressed" : "" })))));
    if (r.losers.length) {
      body.push(el("h3", {}, "Queries that lost most (nDCG@10)"), el("table", {}, el("thead", {}, cells("th", ["Query", "Live", "Candidate"])),
        el("tbody", {}, ...r.losers.map((q) => cells("td", [q.query, q.live.toFixed(3), q.candidate.toFixed(3)])))));
    }
  }
  if (refused && view.admin) {
    body.push(el("p", {}, "Promote anyway only when the loss is understood and accepted: it is recorded with your key."),
      el("button", { type: "button", class: "danger", "data-force": id }, `Promote ${id} anyway`));
  }
  $("report-title").textContent = `Gate report for ${id}`;
  $("report-body").replaceChildren(...body);
  $("report").hidden = false;
}

async function switchVersion(what, call) {
  $("version-status").textContent = `${what}…`;
  try {
    const r = await call();
    $("version-status").textContent = `${r.live} is live (was ${r.previous}; pointer switched in ${r.switch_ms} ms${r.forced ? "; forced, gate skipped" : ""}).`;
    return r;
  } finally { await load(); }
}

// What a switch to `id` changes, for the confirmation: both versions and the document count.
function switchQuestion(verb, id, gate) {
  const to = view.versions[id], from = view.live;
  if (!to.counts || (from && !from.counts)) return `${verb} ${to.id} (built ${built(to)}) in place of live ${from ? from.id : "none"}. ${gate}`;
  const diff = to.counts.documents - (from ? from.counts.documents : 0);
  return `${verb} ${to.id} (built ${built(to)}, ${to.counts.documents} documents) in place of live ${from ? from.id : "none"}`
    + ` (${from ? from.counts.documents : 0} documents): ${diff >= 0 ? "+" : ""}${diff} documents. ${gate}`;
}

$("page-versions").addEventListener("click", async (ev) => {
  const b = ev.target.closest("button");
  if (!b) return;
  showError(null);
  const collection = session.collection || null;
  try {
    if (b.id === "report-close") $("report").hidden = true;
    else if (b.dataset.report) await showReport(b.dataset.report, false);
    else if (b.id === "rollback" || b.dataset.makeLive) {
      const id = b.dataset.to || b.dataset.makeLive;  // named: the version confirmed is the one made live
      if (!confirm(switchQuestion("Roll back to", id, "A rollback skips the gate."))) return;
      await switchVersion(`Rolling back to ${id}`, () => post(inCollection(`/v1/versions/rollback?version=${encodeURIComponent(id)}`)));
    } else if (b.dataset.force && confirm(switchQuestion("Promote", b.dataset.force, "The gate is skipped; this is recorded with your key."))) {
      await switchVersion(`Promoting ${b.dataset.force} without the gate`, () => post(`/v1/versions/${encodeURIComponent(b.dataset.force)}/promote`, { force: true, collection }));
      $("report").hidden = true;
    } else if (b.dataset.promote) {
      const id = b.dataset.promote;
      try {
        await switchVersion(`Running the gate on ${id} against the live version`, () => post(`/v1/versions/${encodeURIComponent(id)}/promote`, { collection }));
        await showReport(id, false).catch(() => {});  // no report when nothing was live to gate against
      } catch (e) {
        if (e.status !== 409) throw e;
        $("version-status").textContent = `The gate refused ${id}: it stays a candidate. Its report is below.`;
        await showReport(id, true);
      }
    }
  } catch (e) { showError(e); }
});
