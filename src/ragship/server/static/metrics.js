// The Monitoring page: alerts, business signals, charts (uPlot, served from the package), drift. Times in UTC.
import { $, cells, el, utc } from "./dom.js";
import { api, inCollection, showError } from "./api.js";

const { uPlot } = window;  // vendor/uPlot.iife.min.js, a classic script loaded before the modules
const COLORS = { blue: "#2156c7", red: "#b3261e", green: "#1e7b34", grey: "#6b7280" };
// the charts drawn, on window for the browser tests (they read what each canvas painted)
const charts = (window.ragshipCharts = []);

function chart(title, points, bucket, series, unit) {
  const box = el("figure", { class: "chart", "data-title": title }, el("h3", {}, title));
  const xs = points.map((p) => p.t);
  const data = [xs, ...series.map((s) => points.map((p) => p[s.key] ?? null))];
  const opts = {
    width: 380, height: 200, legend: { live: true },
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
    scales: { x: { time: true, range: () => (xs.length ? [xs[0] - bucket, xs[xs.length - 1] + bucket]
                                                    : [Date.now() / 1000 - 3600, Date.now() / 1000]) },
              y: { range: (u, lo, hi) => [0, Math.max(hi ?? 0, unit === "rate" ? 1 : 1e-9) * 1.1] } },
    axes: [{ label: "UTC" }, { label: unit === "rate" ? "share" : unit, size: 56 }],
    series: [{ label: "time (UTC)", value: (u, v) => (v == null ? "—" : utc(v).slice(11)) },
      ...series.map((s) => ({ label: s.label, stroke: COLORS[s.color], width: 2, spanGaps: true,
        points: { show: true, size: 6, fill: COLORS[s.color] },
        value: (u, v) => (v == null ? "—" : unit === "rate" ? `${(v * 100).toFixed(1)} %` : `${v} ${unit}`) }))],
  };
  const u = new uPlot(opts, data, box);
  u.root.setAttribute("role", "img");
  u.root.setAttribute("aria-label", `${title}: ${points.length} time buckets`);
  charts.push(u);
  return box;
}

export async function load() {
  try {
    const minutes = Number($("metrics-minutes").value);
    const [{ series, bucket_s: bucket }, now, alerts, drift] = await Promise.all([api(`/v1/monitor/series?minutes=${minutes}`),
      api(inCollection("/v1/monitor/signals")), api("/v1/monitor/alerts?limit=20"), api(inCollection("/v1/monitor/drift"))]);
    $("metrics-range").textContent = `${series.length} time bucket(s) of ${bucket >= 60 ? `${bucket / 60} min` : `${bucket} s`} with traffic; hover a chart for values.`;
    charts.splice(0).forEach((u) => u.destroy());
    $("charts").replaceChildren(
      chart("Latency", series, bucket, [{ key: "p50_ms", label: "p50", color: "blue" }, { key: "p95_ms", label: "p95", color: "red" }], "ms"),
      chart("Answers", series, bucket, [{ key: "answer_rate", label: "answered", color: "green" }, { key: "abstain_rate", label: "abstained", color: "red" }, { key: "clarify_rate", label: "asked back", color: "blue" }], "rate"),
      chart("Fallbacks and failures", series, bucket, [{ key: "llm_fallback_rate", label: "LLM fallback", color: "red" }, { key: "citation_failure_rate", label: "citation failed", color: "blue" }, { key: "no_result_rate", label: "found nothing", color: "green" }, { key: "error_rate", label: "errors", color: "grey" }], "rate"),
      chart("Feedback", series, bucket, [{ key: "up", label: "helpful", color: "green" }, { key: "down", label: "not helpful", color: "red" }], "votes"),
      chart("Traffic", series, bucket, [{ key: "requests", label: "requests", color: "blue" }, { key: "errors", label: "errors", color: "red" }], "requests"));
    $("alert-table").tBodies[0].replaceChildren(...alerts.states.map((a) => el("tr", { class: a.state === "firing" ? "regressed" : "", "data-alert": a.name, "data-state": a.state },
      el("td", { title: `${a.condition} for ${a.for_s} s (${a.severity})` }, a.name), el("td", {}, a.state),
      el("td", {}, a.state === "inactive" || a.since == null ? "—" : utc(a.since)),
      el("td", {}, a.value == null ? "—" : String(Math.round(a.value * 1e4) / 1e4)),
      el("td", {}, el("a", { href: a.runbook, target: "_blank", rel: "noopener" }, a.runbook.split("/").pop())))));
    $("signal-table").tBodies[0].replaceChildren(...Object.entries(now.signals).map(([k, v]) => el("tr", {},
      el("td", {}, k), el("td", {}, v == null ? "— (not enough data yet)" : String(Math.round(v * 1e4) / 1e4)))));
    $("drift").replaceChildren(...driftReport(drift));
  } catch (e) { showError(e); }
}
$("metrics-minutes").addEventListener("change", load);

function driftReport(r) {
  const out = [el("p", {}, `Reference: ${r.reference.reason} (${r.reference.queries} queries). ${r.status}.`)];
  if (r.status !== "measured") return out;
  out.push(el("p", {}, `Query drift: MMD p = ${r.query.p_value.toPrecision(3)}; top score ${r.scores.reference_mean ?? "—"} → ${r.scores.recent_mean ?? "—"} (KS p = ${r.scores.p_value == null ? "—" : r.scores.p_value.toPrecision(3)}).`));
  // a moved metric says which way: better (green) or worse (red), never just "moved"
  const way = (m) => (r.directions || {})[m] || "";
  out.push(el("table", { id: "drift-business" }, el("thead", {}, cells("th", ["Business metric", "Reference", "Recent", ""])),
    el("tbody", {}, ...Object.keys(r.business.reference).map((m) => {
      const row = cells("td", [m, r.business.reference[m] ?? "—", r.business.recent[m] ?? "—", way(m)]);
      row.dataset.metric = m;
      if (way(m)) row.className = `moved-${way(m)}`;
      return row;
    }))));
  for (const t of r.topics) out.push(el("p", {}, el("strong", {}, `${t.size} struggling queries like: `), t.examples.join(" · ")));
  return out;
}
