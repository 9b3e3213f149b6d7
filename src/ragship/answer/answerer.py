"""From retrieved chunks to a trustworthy answer: assess the evidence, apply the fallback policy below the
confidence threshold, generate (LLM or extractive), verify every sentence against its citation, filter the
output, and say what was removed and why. The only place these steps are ordered."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ragship.answer.base import Answer, Citation, Generator
from ragship.answer.calibrate import PRIOR_FEATURE, QA_FEATURES, Calibration, features, logistic, qa_features
from ragship.answer.clarify import clarification, question_back
from ragship.answer.extractive import ConfidenceModel, ExtractiveGenerator, Sentence
from ragship.answer.qa import Reading
from ragship.answer.safety import filter_output
from ragship.answer.verify import SourceSentences, split_complete, verify
from ragship.embed.base import Embedder
from ragship.errors import ConfigError, GenerationError
from ragship.retrieve.search import SearchResult
from ragship.settings import AnswerSettings
from ragship.types import Hit

CLOSEST_SOURCES = 3  # shown when abstaining
Research = Callable[[str, str], SearchResult]  # (question, mode) -> a new retrieval
log = logging.getLogger(__name__)


def context_size(settings: AnswerSettings) -> int:
    """How many chunks an answer retrieves: the ones it may quote, and never fewer than it shows when abstaining."""
    return max(settings.context_chunks, CLOSEST_SOURCES)


def standalone(turns: list[tuple[str, str]], llm: Any, max_chars: int) -> str:
    """A conversation's last question, rewritten by the LLM to stand alone when there is one and there are
    earlier turns; else (or when the LLM fails) the last question as it is. `turns`: (role, text)."""
    question = turns[-1][1]
    if llm is None or len(turns) < 2:
        return question
    try:
        rewritten = llm.standalone(turns)
    except GenerationError as e:
        log.warning("standalone question: the LLM failed (%s); answering the last question as asked", e)
        return question
    return rewritten[:max_chars] if rewritten.strip() else question


@dataclass
class Assessment:
    """The evidence for one question: the scored sentences of its top chunks and the confidence they give."""

    result: SearchResult
    hits: list[Hit]
    sentences: list[Sentence]
    features: dict[str, float]
    confidence: float
    reading: Reading | None = None  # the QA model's most answerable passage and its span, with one
    parts: dict[str, float] | None = None  # the calibrated confidence's logit by part (Calibration.contributions)

    @property
    def breakdown(self) -> dict[str, float] | None:
        return self.parts and {k: round(v, 3) for k, v in self.parts.items()}

    @property
    def verdict(self) -> dict | None:
        """The QA model's verdict as the answer JSON carries it."""
        r = self.reading
        if r is None:
            return None
        return {"answerability": round(r.answerability, 3), "source": r.passage + 1, "span": r.text}


class Answerer:
    def __init__(self, embedder: Embedder, settings: AnswerSettings, calibration: Calibration | None = None,
                 llm: Generator | None = None, qa_model=None):
        self.settings, self.calibration, self.llm, self.qa_model = settings, calibration, llm, qa_model
        if calibration and qa_model is None and set(QA_FEATURES) & set(calibration.features):
            raise ConfigError("the calibration of this index version was fitted with a QA model, but answer.qa_model "
                              "is not set: set it back, or run `ragship calibrate DATASET` again without it")
        self.extractive = ExtractiveGenerator(embedder, settings)
        self.embedder = embedder
        self.threshold = calibration.threshold if calibration else settings.abstain_threshold
        self._generator_name = llm.name if llm and settings.generator == "openai" else self.extractive.name

    def assess(self, question: str, result: SearchResult) -> Assessment:
        hits = result.hits[: self.settings.context_chunks]
        sentences = self.extractive.score_sentences(question, hits, result.context)
        ranked = sorted(sentences, key=lambda s: -s.support)
        best = ranked[0] if ranked else None
        x = features(result.ranked, best, ranked[1].support if len(ranked) > 1 else 0.0)
        reading = None
        if self.qa_model is not None:
            readings = self.qa_model.read(question, [h.text for h in hits[: self.settings.qa_passages]])
            x |= qa_features(readings)
            reading = max(readings, key=lambda r: r.answerability, default=None)
        if self.calibration and PRIOR_FEATURE in self.calibration.features:
            x[PRIOR_FEATURE] = self._prior(question, result, self.calibration)
        parts = self.calibration.contributions(x) if self.calibration else None
        confidence = logistic(sum(parts.values())) if parts else ConfidenceModel()(best)
        return Assessment(result, hits, sentences, x, round(confidence, 4), reading, parts)

    def _prior(self, question: str, result: SearchResult, c: Calibration) -> float:
        """The question prior's logit, from the vector the search already encoded when it searched for the question;
        its mean (no say) if it was fitted on another embedding model's vectors."""
        if c.prior is None or c.prior.model != self.embedder.model_id:
            return c.mean[c.features.index(PRIOR_FEATURE)]
        searched = (result.query_vector is not None and result.query_model == self.embedder.model_id
                    and result.query == question and not result.context)  # its own, by this model
        return c.prior.logit(result.query_vector if searched else self.embedder.embed_query(question))

    def answer(self, question: str, result: SearchResult, research: Research | None = None) -> Answer:
        t = time.perf_counter()
        first = self.assess(question, result)
        evidence, warning = self._policy(question, first, research)
        if isinstance(evidence, Answer):
            answer = evidence
        else:
            answer = self._generate(question, evidence)
            answer.warning = answer.warning or warning
        answer.threshold, answer.index_version, answer.qa = self.threshold, result.index_version, first.verdict
        answer.confidence_breakdown = first.breakdown
        answer.timings_ms = {**result.timings_ms, "answer": round((time.perf_counter() - t) * 1000, 2)}
        return answer

    def stream(self, question: str, result: SearchResult, research: Research | None = None) -> Iterator[dict]:
        """Events: {"type": "sentence", "text"} for each verified sentence as the LLM produces it, then
        {"type": "answer", "answer": {...}} with the whole verified answer. Nothing unverified is sent."""
        first = self.assess(question, result)
        evidence, warning = self._policy(question, first, research)
        if isinstance(evidence, Answer) or self.llm is None or self.settings.generator != "openai":
            answer = evidence if isinstance(evidence, Answer) else self._generate(question, evidence)
            yield _final(answer, result, first)
            return
        buffer, drafted, sources = "", "", SourceSentences(evidence.hits, self.embedder)
        try:
            for piece in self.llm.stream(question, evidence.hits):
                complete, buffer = split_complete(buffer + piece)
                for sentence in complete:
                    drafted += sentence + " "
                    yield from self._verified_sentence(sentence, evidence.hits, sources)
        except GenerationError as e:
            if not self.settings.fallback_to_extractive:
                raise
            answer = self._extractive(question, evidence, {"from": self.llm.name, "reason": str(e)})
            yield _final(answer, result, first)
            return
        yield from self._verified_sentence(buffer, evidence.hits, sources)
        answer = self._from_draft(question, evidence, drafted + buffer, sources)
        answer.warning = answer.warning or warning
        yield _final(answer, result, first)

    # -- steps --------------------------------------------------------------------------------------------------
    def _policy(self, question: str, a: Assessment, research: Research | None) -> tuple[Any, str | None]:
        """The evidence to answer from (and a warning), or an abstention, per answer.fallback."""
        if a.confidence >= self.threshold:
            return a, None
        low = f"confidence {a.confidence:.2f} is below the threshold {self.threshold:.2f}"
        policy = self.settings.fallback
        if policy == "warn":
            return a, f"{low}: the sources may not answer this; check them"
        if policy == "retry" and research is not None and self.settings.retry_mode != a.result.mode:
            again = self.assess(question, research(question, self.settings.retry_mode))
            if again.confidence >= self.threshold:
                return again, f"{low} in {a.result.mode} mode; answered from a {self.settings.retry_mode} retry"
            a = again
        return self._clarify(question, a) or self._abstain(question, a), None

    def _abstain(self, question: str, a: Assessment, reason: str | None = None,
                 removed: list[dict] | None = None) -> Answer:
        closest = [Citation.from_hit(i, h) for i, h in enumerate(a.hits[:CLOSEST_SOURCES], 1)]
        answer = Answer(question, "", True, a.confidence, closest, generator=self._generator_name,
                        removed=removed or [])
        answer.warning = reason
        return answer

    def _clarify(self, question: str, a: Assessment) -> Answer | None:
        """A question back naming the readings the passages tell apart (answer/clarify.py), or None."""
        earlier = [text for text, _ in a.result.context]
        found = clarification(question, earlier, a.hits, self.embedder) if self.settings.clarify else None
        if found is None:
            return None
        citations = [Citation.from_hit(n, hit) for n, (hit, _) in enumerate(found, 1)]
        text = question_back([f"{name} [{n}]" for n, (_, name) in enumerate(found, 1)])
        return Answer(question, text, True, a.confidence, citations, generator=self._generator_name, outcome="clarify")

    def _generate(self, question: str, a: Assessment) -> Answer:
        if self.llm is None or self.settings.generator != "openai":
            return self._extractive(question, a)
        try:
            draft = self.llm.draft(question, a.hits)
        except GenerationError as e:
            if not self.settings.fallback_to_extractive:
                raise
            return self._extractive(question, a, {"from": self.llm.name, "reason": str(e)})
        return self._from_draft(question, a, draft)

    def _from_draft(self, question: str, a: Assessment, draft: str, sources: SourceSentences | None = None) -> Answer:
        s = self.settings
        checked = verify(draft, a.hits, self.embedder, s.min_support, s.unsupported, tuple(s.allowed_link_hosts),
                         sources)
        if checked.not_found or not checked.sentences:
            why = "the model said the sources do not answer this" if checked.not_found else \
                "no sentence of the model's answer was supported by its cited sources"
            return self._abstain(question, a, why, checked.removed)
        cited = sorted({n for _, ns in checked.sentences for n in ns})
        citations = [Citation.from_hit(n, a.hits[n - 1], tuple(checked.quotes.get(n, ()))) for n in cited]
        return Answer(question, checked.text, False, a.confidence, citations, generator=self._generator_name,
                      removed=checked.removed)

    def _extractive(self, question: str, a: Assessment, fallback: dict | None = None) -> Answer:
        if not a.sentences:
            answer = self._abstain(question, a, "no quotable sentence in the sources")
        else:
            focus = a.reading if self.settings.qa_quotes and a.reading and a.reading.answerability > 0 else None
            answer = self.extractive.compose(question, a.hits, a.sentences, a.confidence, focus)
            text, removed = filter_output(answer.answer, tuple(self.settings.allowed_link_hosts))
            answer.answer = text
            answer.removed = [{"text": r, "reason": "link or image outside the allow-list, or active HTML"}
                              for r in removed]
        answer.fallback = fallback
        return answer

    def _verified_sentence(self, text: str, hits: list[Hit], sources: SourceSentences) -> Iterator[dict]:
        s = self.settings
        checked = verify(text, hits, self.embedder, s.min_support, s.unsupported, tuple(s.allowed_link_hosts),
                         sources)
        if checked.sentences:
            yield {"type": "sentence", "text": checked.text}


def _final(answer: Answer, result: SearchResult, first: Assessment) -> dict:
    """The stream's last event: the whole answer, with the index version it was drawn from."""
    answer.index_version, answer.qa = result.index_version, first.verdict
    answer.confidence_breakdown = first.breakdown
    return {"type": "answer", "answer": answer.to_dict()}
