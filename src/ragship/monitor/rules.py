"""The signals alert rules can watch, and the rules a home gets unless `[[monitor.alerts]]` names its own.
Each rule names its runbook section (docs/runbooks/monitoring.md); tests check that every one exists and that
the commands it tells an on-call engineer to run are real."""

from __future__ import annotations

from ragship.settings import AlertRule

SIGNALS = {
    "answer_rate": "answered / asked, over monitor.window_s",
    "abstain_rate": "abstained / asked, over monitor.window_s",
    "no_result_rate": "requests that found nothing / requests",
    "citation_failure_rate": "answers from which verification removed a sentence / answers",
    "positive_feedback_rate": "thumbs up / feedback given, over monitor.window_s",
    "error_rate": "failed requests / requests",
    "llm_fallback_rate": "answers written extractively because the LLM endpoint failed / answers",
    "versions_unreadable": "1 while the version records or the live pointer cannot be read, else 0",
    "p50_ms": "median request latency (ms)",
    "p95_ms": "95th percentile request latency (ms)",
    "query_drift_p": "permutation p-value of the recent queries' MMD against the reference window",
    "score_drift_p": "KS p-value of the recent top dense scores against the reference window's",
    "source_staleness": "the stalest source's age since its last good sync / its max_age",
    "improve_refused": "1 when the newest finished improvement run was refused or failed, else 0",
    "label_key_share": "the largest share of the questions rated or reviewed over monitor.window_s that one key "
                       "labeled (a key counts once per question; none below monitor.label_flood_min)",
}

RUNBOOK = "docs/runbooks/monitoring.md"
# the signals measured over monitor.window_s: a rule on one holds only while its recent value (windows.business)
# holds too; /metrics exports that value as signal "NAME:recent", and the exported Prometheus rules require both
WINDOWED = ("answer_rate", "abstain_rate", "no_result_rate", "citation_failure_rate", "positive_feedback_rate",
            "error_rate", "llm_fallback_rate", "p50_ms", "p95_ms")
RECENT = ":recent"

# What each signal's alerts are about. An alert joins an open incident only if it shares a cause with every alert
# in it, else it opens its own (issue 49: an off-topic ScoreDrift joined an LLM outage's incident); the timeline's
# events name theirs (timeline.KIND_CAUSES), so the postmortem ranks the related ones first.
CAUSES = {
    "answer_rate": ("answers", "traffic"), "abstain_rate": ("answers", "traffic"),
    "no_result_rate": ("answers", "traffic"), "citation_failure_rate": ("answers", "llm"),
    "positive_feedback_rate": ("answers", "llm"), "error_rate": ("service", "versions"), "llm_fallback_rate": ("llm",),
    "versions_unreadable": ("versions",), "p50_ms": ("service", "llm"), "p95_ms": ("service", "llm"),
    "query_drift_p": ("traffic",), "score_drift_p": ("answers", "traffic"), "source_staleness": ("sources",),
    "improve_refused": ("learning",), "label_key_share": ("learning",),
}
# old names kept loading for one release (ADR 0024): a configured rule on the old signal watches the new one, an
# alert recorded under an old name keeps its causes, and /metrics exports the old signal too (exported rules)
RENAMED_SIGNALS = {"state_unreadable": "versions_unreadable"}
RENAMED_RULES = {"StateUnreadable": "VersionsUnreadable"}


def causes(signal: str | None, name: str = "") -> tuple[str, ...]:
    """What an alert on `signal` is about; an unknown signal (an incident recorded before signals were kept: by
    the default rule of its `name`) is about itself alone."""
    if signal is None:
        name = RENAMED_RULES.get(name, name)
        signal = next((r.signal for r in DEFAULT_RULES if r.name == name), None)
    signal = RENAMED_SIGNALS.get(signal or "", signal)
    return CAUSES.get(signal or "", (signal or name,))



def _rule(name: str, signal: str, op: str, threshold: float, for_s: float, severity: str, summary: str) -> AlertRule:
    return AlertRule(name=name, signal=signal, op=op, threshold=threshold, for_s=for_s, severity=severity,
                     runbook=f"{RUNBOOK}#{name.lower()}", summary=summary)


DEFAULT_RULES = [
    _rule("QueryDrift", "query_drift_p", "<", 0.001, 0, "warning",
          "users ask about other things than in the reference window"),
    _rule("ScoreDrift", "score_drift_p", "<", 0.001, 0, "warning",
          "retrieval finds weaker matches than in the reference window"),
    _rule("AbstainRateHigh", "abstain_rate", ">", 0.5, 600, "warning", "more than half the questions go unanswered"),
    _rule("FeedbackLow", "positive_feedback_rate", "<", 0.6, 0, "critical",
          "fewer than 60 % of rated answers are rated helpful"),
    _rule("NoResultRateHigh", "no_result_rate", ">", 0.2, 600, "warning", "a fifth of requests find nothing"),
    _rule("CitationFailures", "citation_failure_rate", ">", 0.2, 600, "warning",
          "answers keep losing sentences their sources do not support"),
    _rule("LatencyHigh", "p95_ms", ">", 2000, 300, "warning", "p95 latency above 2 s"),
    _rule("ErrorRateHigh", "error_rate", ">", 0.05, 120, "critical", "more than 5 % of requests fail"),
    _rule("LLMFallback", "llm_fallback_rate", ">", 0.2, 60, "warning",
          "the LLM endpoint fails: answers are quoted from the sources instead of written"),
    _rule("VersionsUnreadable", "versions_unreadable", ">", 0.5, 0, "critical",
          "the version records or live pointer are unreadable: nothing can be released or rolled back"),
    _rule("SourceStale", "source_staleness", ">", 1.0, 0, "critical",
          "a source has not synced within its freshness objective"),
    _rule("ImproveRefused", "improve_refused", ">", 0.5, 0, "warning",
          "the newest improvement run was refused by the gate or failed; the live version is unchanged"),
    _rule("LabelFlood", "label_key_share", ">", 0.5, 0, "warning",
          "one key supplies most of the new labels the improvement loop learns from"),
]


def rules(settings) -> list[AlertRule]:
    """The configured rules (monitor.alerts), or the defaults, with runbook links a phone can open; an unknown
    signal is a settings error."""
    from ragship.errors import ConfigError

    chosen = DEFAULT_RULES if settings.monitor.alerts is None else [
        r.model_copy(update={"signal": RENAMED_SIGNALS.get(r.signal, r.signal)}) for r in settings.monitor.alerts]
    for r in chosen:
        if r.signal not in SIGNALS:
            raise ConfigError(f"monitor.alerts {r.name}: unknown signal {r.signal!r}; known: {', '.join(SIGNALS)}")
    base = settings.monitor.runbook_base_url or "/runbooks"
    return [r.model_copy(update={"runbook": runbook_link(r.runbook, base)}) for r in chosen]


def runbook_link(runbook: str, base: str) -> str:
    """A runbook named in the repository ("docs/runbooks/FILE.md#anchor") as a link under `base` (the server's own
    /runbooks, or monitor.runbook_base_url); a URL stays as it is."""
    prefix = "docs/runbooks/"
    return f"{base.rstrip('/')}/{runbook[len(prefix):]}" if runbook.startswith(prefix) else runbook
