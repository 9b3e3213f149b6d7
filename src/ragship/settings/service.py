"""The sections that shape what the service does with an index: answers (and the LLM), the HTTP server, releases,
the shared state store and monitoring. Each field's description reaches the JSON schema and the docs; a comment
beside it gives the measurement behind its default."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import AliasChoices, Field, field_validator, model_validator

from ragship.settings.base import DURATION, Section
from ragship.types import AbstainTarget, SearchMode


class LLMSettings(Section):
    """An OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp's server)."""

    base_url: str = Field("", description="e.g. http://127.0.0.1:8080/v1")
    model: str = Field("", description="the model name the endpoint serves")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the key (may be unset)")
    timeout_s: float = Field(20.0, gt=0, le=600, description="bounds the whole call, retries included")
    retries: int = Field(2, ge=0, le=10, description="retries of a failed or timed-out call")
    backoff_s: float = Field(0.5, ge=0, le=30, description="the first retry's wait, doubled at each retry")
    max_tokens: int = Field(400, ge=16, le=8192, description="the longest reply asked for")
    temperature: float = Field(0.0, ge=0, le=2, description="sampling temperature; 0 answers the same each time")


class AnswerSettings(Section):
    generator: Literal["extractive", "openai"] = Field(
        "extractive", description="extractive quotes the sources' sentences; openai writes with the [answer.llm]")
    abstain_threshold: float = Field(0.5, ge=0, le=1, description="abstain when confidence is below this, unless "
                                     "the index version has a `ragship calibrate` model (it brings its own)")
    # fitted on clapnq-dev (benchmarks/abstain_targets.py, 50 fits on 229 questions): "answer >= 0.9" holds 90 %
    # answered and abstains on 48-61 %; the old rule "precision >= 0.85" answered 91-95 % and abstained on 34-61 %
    abstain_target: str = Field("answer >= 0.9", description="the operating point `ragship calibrate` and "
                                "improvement runs choose the threshold for: \"precision >= P\" (abstentions right at "
                                "least P of the time), \"abstain >= R\" (abstain on at least R of unanswerable "
                                "questions) or \"answer >= R\" (answer at least R of answerable ones)")
    fallback: Literal["abstain", "warn", "retry"] = Field(
        "abstain", description="below the threshold: abstain with the closest sources, answer with a warning, or "
        "search again in retry_mode")
    retry_mode: SearchMode = Field("bm25", description="the search mode fallback = retry tries")
    min_support: float = Field(0.5, ge=0, le=1, description="an LLM sentence counts as supported by its cited chunk "
                               "at or above this support score")
    unsupported: Literal["drop", "flag"] = Field("drop", description="an unsupported LLM sentence is dropped, or "
                                                 "kept and flagged")
    fallback_to_extractive: bool = Field(True, description="an LLM failure (down, timeout, malformed reply) gives "
                                         "the extractive answer instead of an error")
    allowed_link_hosts: list[str] = Field(default_factory=list, description="hosts answers may link to")
    max_sentences: int = Field(3, ge=1, le=20, description="sentences an answer quotes or writes at most")
    # on CLAP NQ dev 37 of 134 unanswerable and 12 of 160 answerable questions are asked back (ADR 0023)
    clarify: bool = Field(True, description="instead of abstaining, ask which one is meant when the question points "
                          "at something it does not name and the closest documents tell several readings apart")
    context_chunks: int = Field(5, ge=1, le=50, description="top chunks whose sentences may be quoted")
    # the QA model was called the reader, a word the permission role keeps (ADR 0001); the old keys still load
    qa_model: str = Field("", validation_alias=AliasChoices("qa_model", "reader"), description="an extractive QA "
                          "model's folder (`ragship adapt --qa-model`): it reads the top chunks for the answer's span "
                          "and whether there is one; empty = none")
    qa_passages: int = Field(3, ge=1, le=20, validation_alias=AliasChoices("qa_passages", "reader_passages"),
                             description="top chunks the QA model reads")
    # on clapnq-dev (long gold answers) answer F1 0.455 off, 0.439 on (ADR 0014)
    qa_quotes: bool = Field(False, validation_alias=AliasChoices("qa_quotes", "reader_quotes"),
                            description="when the QA model finds the answer, quote only the chosen sentences that "
                                        "hold its span (a tighter answer)")
    llm: LLMSettings = Field(LLMSettings(), description="the endpoint generator = openai uses")

    @field_validator("abstain_target")
    @classmethod
    def _operating_point(cls, value: str) -> str:
        return str(AbstainTarget.parse(value))


class ServerSettings(Section):
    max_body_kb: int = Field(64, ge=1, description="largest JSON request body; uploads use ingest.max_file_mb")
    rate_per_minute: int = Field(600, ge=1, description="requests per minute per API key (a moving window)")
    burst: int = Field(60, ge=1, description="requests a key may send at once before the rate applies")
    max_upload_files: int = Field(20, ge=1, le=1000, description="files one upload request may carry")
    request_timeout_s: float = Field(30.0, gt=0, description="a search or answer (queue wait included) that takes "
                                     "longer gets 503")
    job_lease_s: float = Field(30.0, ge=2, description="an upload job whose server process stops renewing it for "
                               "this long (killed) is taken by another process")


class GoldenSet(Section):
    """A labeled set the release gate evaluates on: a BEIR folder (queries, qrels/SPLIT.tsv; with answers.jsonl
    and queries_unanswerable.jsonl, answer metrics too)."""

    path: Path = Field(description="the BEIR folder")
    split: str = Field("test", description="the qrels file: qrels/SPLIT.tsv")


# absolute for rates and retrieval metrics; relative for latency
DEFAULT_TOLERANCES = {"ndcg@10": 0.005, "recall@100": 0.01, "answer_rate": 0.01, "abstain_rate": 0.01,
                      "citation_precision": 0.01, "p95_ms": 0.20}


class ReleaseSettings(Section):
    auto_promote: Literal["always", "gate", "never"] = Field(
        "always", description="always: each ingest's version goes live; gate: only if the gate passes; never: it "
        "stays a candidate for `ragship promote`. The first version always goes live")
    hold_deletions_over: float = Field(0.2, ge=0, le=1, description="an ingest removing more than this share of the "
                                       "live documents is held as a candidate under every auto_promote policy (an "
                                       "accident?) until promoted; fewer are gone at once; 1 turns the hold off")
    golden: list[GoldenSet] = Field(default_factory=list, description="the labeled sets the gate evaluates on")
    tolerances: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_TOLERANCES), description="what a "
                                         "candidate may lose against the live version per metric before the gate "
                                         "refuses it, if the loss is also significant")
    significance: float = Field(0.05, gt=0, lt=0.5, description="one-sided p below which a loss is real")
    keep_last: int = Field(10, ge=1, description="retention after each ingest keeps the newest this many versions "
                           "(and the live one, pinned ones and any live within retire_grace_s)")
    retire_grace_s: float = Field(600.0, ge=0, description="a version live this recently is kept: a server may still "
                                  "be reading it")

    @model_validator(mode="after")
    def _checked(self) -> ReleaseSettings:
        unknown = set(self.tolerances) - set(DEFAULT_TOLERANCES)
        if unknown:
            raise ValueError(f"release.tolerances: unknown metric(s) {sorted(unknown)}; "
                             f"known: {', '.join(DEFAULT_TOLERANCES)}")
        if self.auto_promote == "gate" and not self.golden:
            raise ValueError('release.auto_promote = "gate" needs [[release.golden]] sets to gate on')
        return self


class AlertRule(Section):
    """One alert: fires when `signal` `op` `threshold` has held for `for_s` seconds, and links the runbook section
    that says what to do."""

    name: str = Field(..., pattern=r"^[A-Za-z][A-Za-z0-9]*$", description="the alert's name, e.g. AbstainRateHigh")
    signal: str = Field(description="a signal of monitor/rules.py SIGNALS, e.g. abstain_rate")
    op: Literal["<", ">"] = Field(">", description="fires above (>) or below (<) the threshold")
    threshold: float = Field(description="the signal's limit")
    for_s: float = Field(0.0, ge=0, description="how long the condition must hold before the alert fires")
    severity: Literal["info", "warning", "critical"] = Field("warning", description="sent with the alert")
    runbook: str = Field(..., description="docs/runbooks/FILE.md#anchor (linked under runbook_base_url) or a URL")
    summary: str = Field("", description="one line sent with the alert")


class StateSettings(Section):
    url: Optional[str] = Field(None, pattern=r"^(postgres(ql)?|sqlite)(\+\w+)?://", description="the shared state "
                               "(keys, jobs, query log, monitor, rate limits): postgresql://user:password@host:port/db "
                               "for replicas on several machines; default SQLite in HOME/state.sqlite")


class MonitorSettings(Section):
    query_text: Literal["keep", "hash", "redact"] = Field(
        "redact", description="what the query log keeps of a query's text: keep it, hash it (sha256: equal queries "
        "stay countable), or redact it (emails, phone, card and id numbers replaced by [EMAIL], [PHONE], ...)")
    retention_days: float = Field(30.0, gt=0, description="query log and feedback rows older than this go")
    window_s: float = Field(3600.0, gt=0, description="the sliding window of the business metrics")
    min_requests: int = Field(20, ge=1, description="a window with fewer requests (or votes) yields no rate")
    label_flood_min: int = Field(20, ge=1, description="LabelFlood: a window with fewer labels (questions rated or "
                                 "reviewed, counted once per key) yields no share")
    reference: int = Field(300, ge=20, description="query drift compares the recent queries with this many "
                           "reference ones since the reference was set (MMD, permutation p)")
    recent: int = Field(100, ge=20, description="the newest queries query drift compares with the reference")
    recent_s: float = Field(60.0, gt=0, description="an alert on a window's rate also needs the rate over the "
                            "recent requests to hold, to fire and to stay firing: those of the last recent_s seconds, "
                            "or the newest min_requests where those are fewer; it resolves soon after a fix instead "
                            "of once the window has emptied")
    permutations: int = Field(2000, ge=100, le=20000, description="permutations of the drift test's p-value")
    reset_on_release: bool = Field(True, description="a new reference after a release that changed retrieval "
                                   "(model or chunking), unless the traffic drifts then (`ragship drift --reset`)")
    reference_max_age: str = Field("30d", pattern=DURATION, description="an older reference is replaced, unless the "
                                   "traffic drifts then")
    evaluate_every_s: float = Field(30.0, gt=0, description="how often a server evaluates the alert rules")
    webhook_url: str = Field("", description="where fired and resolved alerts are POSTed (JSON)")
    runbook_base_url: str = Field("", description="where alert runbook links point, e.g. https://rag.example.com/"
                                  "runbooks; empty: the runbooks the server itself renders at /runbooks (`ragship "
                                  "serve` fills in its own address)")
    webhook_timeout_s: float = Field(5.0, gt=0, le=60, description="one webhook delivery's time limit")
    webhook_give_up_s: float = Field(86400.0, gt=0, description="undelivered this long: kept as dead letter")
    alerts: Optional[list[AlertRule]] = Field(None, description="default: monitor/rules.py DEFAULT_RULES")


class ImproveSettings(Section):
    """The improvement loop (learn/improve.py): when a run starts, and what it may train."""

    schedule: bool = Field(False, description="the scheduler (`ragship serve`, `ragship watch`) checks the triggers "
                           "and starts a run when one holds; `ragship improve` runs one by hand either way")
    check_every_s: float = Field(300.0, gt=0, description="how often the scheduler checks the triggers")
    new_labels: int = Field(100, ge=1, description="trigger: this many questions rated or reviewed since the last "
                            "run (a question counts once however many labels it got)")
    max_key_share: float = Field(0.1, gt=0, le=1, description="the most of a labeled set's questions that one key's "
                                 "ratings may supply (reviews: max_review_share); the rest of that key's questions "
                                 "are left out, so no single user steers what is learned (issue 48)")
    max_review_share: float = Field(0.5, gt=0, le=1, description="the most of a labeled set's questions that one "
                                    "editor's reviews may supply: a review outranks ratings, yet one editor's "
                                    "judgement stays at most this share of what is learned (an admin's is not "
                                    "capped: an admin can promote by hand)")
    corpus_change: float = Field(0.2, gt=0, description="trigger: documents added, changed or deleted since the "
                                 "last run, as a share of the documents the live model last learned from")
    drift_for: str = Field("1d", pattern=DURATION, description="trigger: the QueryDrift alert firing this long")
    every: Optional[str] = Field(None, pattern=DURATION, description="trigger: a run at least this often (none "
                                 "by default)")
    min_judged: int = Field(20, ge=1, description="training questions with a relevant source needed to adapt the "
                            "embedding model")
    unsupervised: bool = Field(False, description="also learn the documents added since the last run without "
                               "labels (inverse-cloze pairs from their chunks); off until a replay measures that it "
                               "helps (ADR 0021)")
    min_new_documents: int = Field(20, ge=1, description="with `unsupervised`: documents added since the last run "
                                   "needed to adapt without labels")
    min_answer_labels: int = Field(10, ge=5, description="answerable and unanswerable training questions, each, "
                                   "needed to re-fit the answer calibration")
    label_noise: Optional[float] = Field(None, ge=0, lt=0.4, description="the share of ratings believed wrong, for "
                                         "the calibration's operating point; unset: measured where editors "
                                         "reviewed rated answers (at least `min_reviews`), else 0 (ADR 0021)")
    min_reviews: int = Field(30, ge=1, description="rated answers an editor also reviewed, needed to measure how "
                             "noisy the ratings are")
    min_heldout: int = Field(10, ge=1, description="held-out questions with a relevant source the gate needs "
                             "before it trusts them; with fewer, only the golden sets gate (with none, nothing "
                             "goes live)")
    retune: bool = Field(False, description="re-tune the fusion weights for the adapted model on the production "
                         "labels; off by default: those labels come from questions the live system already answered "
                         "well, and weights tuned on them lost 0.010 nDCG@10 on SciFact's test split (ADR 0021)")
    epochs: int = Field(1, ge=1, le=20, description="passes over the labeled pairs when adapting")
    batch_size: int = Field(16, ge=2, le=256, description="pairs per training step")
    lr: float = Field(1e-4, gt=0, lt=1, description="learning rate of the adaptation: above `ragship adapt`'s "
                      "2e-5, as a run learns from a few hundred pairs (fitted on SciFact's replayed clicks: ADR 0021)")
    budget_s: float = Field(3600.0, gt=0, description="training stops after this many seconds")
    memory_mb: int = Field(3000, ge=500, description="a run whose processes (its own, and its training's at "
                           "their peak) together pass this resident memory stops, naming the bound (serving is "
                           "another process and never waits for it)")
    nice: int = Field(10, ge=0, le=19, description="the run's process priority below the server's (os.nice)")
