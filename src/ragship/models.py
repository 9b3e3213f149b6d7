"""The models of one collection, each loaded on first use and shared by its pinned copies: the embedder (on the
encoder path the live version was built on), the embedders of versions another model built, the cross-encoder,
the QA model and the LLM."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ragship.embed import CachedEmbedder
from ragship.embed.factory import make_embedder
from ragship.retrieve.rerank import CrossEncoderReranker, describe_reranker
from ragship.settings import Settings

if TYPE_CHECKING:
    from ragship.answer.openai import OpenAIGenerator
    from ragship.answer.qa import QAModel


class Models:
    def __init__(self, settings: Settings, cache_dir: Path, built_with: Callable[[str], str | None],
                 embedder: CachedEmbedder | None = None, follows: Callable[[str], str] = lambda model: model):
        self.settings, self.cache_dir, self._built_with, self._follows = settings, cache_dir, built_with, follows
        self._embedder = embedder  # shared between collections with the same embed settings
        self._embedder_model = settings.embed.model
        self._embedders: dict[str, CachedEmbedder] = {}  # of versions built with another model than embed.model
        self._reranker: CrossEncoderReranker | None = None
        self._qa_model: QAModel | None = None
        self._llm: OpenAIGenerator | None = None

    @property
    def embedder(self) -> CachedEmbedder:
        """The configured model on the live version's encoder path where it has one (so an ingest extends it
        with vectors of the same path), else on the path embed.backend names or this machine measured."""
        e = self.settings.embed
        model = self._follows(e.model)  # a model the improvement loop trained from embed.model, once it is live
        if self._embedder is None or model != self._embedder_model:
            self._embedder = make_embedder(e.model_copy(update={"model": model}), self.cache_dir,
                                           self._built_with(model))
            self._embedder_model = model
        return self._embedder

    def embedder_for(self, model: str, model_id: str | None = None) -> CachedEmbedder:
        """The embedder of `model` with the other embed settings: a version is queried with the model that built
        it, so promoting one built by another model (say after `adapt`) serves at once."""
        e = self.settings.embed
        if model == self._follows(e.model) and (not e.measured or model_id in (None, self.embedder.model_id)):
            return self.embedder  # (with a path set in embed settings, serving refuses a version of another)
        key = f"{model}|{model_id}"
        if key not in self._embedders:
            self._embedders[key] = make_embedder(e.model_copy(update={"model": model}), self.cache_dir, model_id)
        return self._embedders[key]

    @property
    def reranker(self) -> CrossEncoderReranker | None:
        """The configured cross-encoder, or None: reranking is off by default."""
        if self._reranker is None and self.settings.rerank.model:
            self._reranker = CrossEncoderReranker(self.settings.rerank.model, self.settings.rerank.batch_size)
        return self._reranker

    @property
    def qa_model(self) -> QAModel | None:
        """The configured extractive QA model (answer.qa_model), or None."""
        if self._qa_model is None and self.settings.answer.qa_model:
            from ragship.answer.qa import QAModel

            self._qa_model = QAModel(self.settings.answer.qa_model)
        return self._qa_model

    def generator(self) -> OpenAIGenerator | None:
        """The configured LLM generator, or None for extractive answers."""
        if self._llm is None and self.settings.answer.generator == "openai":
            from ragship.answer.openai import make_generator

            self._llm = make_generator(self.settings.answer)
        return self._llm

    def warm_up(self) -> None:
        """Load every configured model now, so that the first request does not pay for it."""
        self.embedder.embed_query("warm up")
        if self.reranker is not None:
            self.reranker.scores("warm up", ["warm up"])
        if self.qa_model is not None:
            self.qa_model.read("warm up", ["warm up"])

    def status(self) -> dict[str, Any]:
        return {"encoder": self.embedder.encoder, "query_encoder": self.embedder.query_encoder(),
                "reranker": describe_reranker(self.reranker, self.settings.rerank.top_n),
                "generator": self.settings.answer.generator, "qa_model": self.settings.answer.qa_model or None,
                "qa_model_trained": self._qa_summary()}

    def _qa_summary(self) -> dict | None:
        from ragship.answer.qa import training_summary

        return training_summary(self.settings.answer.qa_model) if self.settings.answer.qa_model else None
