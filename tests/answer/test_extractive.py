import re

import pytest

from ragship.answer.extractive import ConfidenceModel, Sentence


def test_cited_answer_from_the_right_passage(docs_engine):
    answer = docs_engine.ask("When does the night tram run?")
    assert not answer.abstained and answer.confidence >= docs_engine.settings.answer.abstain_threshold
    assert "midnight" in answer.answer
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
    assert cited == {c.n for c in answer.citations}
    first = answer.citations[0]
    assert first.doc_id == "docs/handbook/trams.md" and "Night service" in first.heading_path
    for c in answer.citations:
        for start, end in c.quotes:
            assert c.start <= start < end <= c.end
            assert c.text[start - c.start:end - c.start] in answer.answer


def test_every_answer_sentence_is_a_verbatim_quote(docs_engine):
    answer = docs_engine.ask("How much does a weekly pass cost?")
    assert not answer.abstained and "14 krona" in answer.answer
    texts = {c.n: c.text for c in answer.citations}
    for sentence, n in re.findall(r"(.+?) \[(\d+)\]\s*", answer.answer):
        assert sentence.strip() in texts[int(n)]


def test_abstains_on_questions_the_documents_cannot_answer(docs_engine):
    answer = docs_engine.ask("What is the boiling point of liquid nitrogen?")
    assert answer.abstained and answer.answer == ""
    assert answer.confidence < docs_engine.settings.answer.abstain_threshold
    assert 1 <= len(answer.citations) <= 3  # the closest sources


def test_json_shape(docs_engine):
    d = docs_engine.ask("Who designed the harbour power station?").to_dict()
    assert {"question", "answer", "abstained", "confidence", "citations", "timings_ms"} <= d.keys()
    assert {"n", "doc_id", "chunk_id", "title", "text", "start", "end", "score"} <= d["citations"][0].keys()
    assert 0 <= d["confidence"] <= 1 and "embed" in d["timings_ms"]


def test_confidence_grows_with_support():
    model = ConfidenceModel()
    weak, strong = Sentence(0, 0, 1, 0.2, 0.1), Sentence(0, 0, 1, 0.8, 0.8)
    assert 0 < model(weak) < 0.5 < model(strong) < 1 and model(None) == 0


def test_a_title_line_is_never_quoted_in_any_format():
    """Issue 49, finding 1: a plain-text first line that is the document's title was answered as an answer."""
    from ragship.text import quotable_spans

    for text in ("Manhattan Center for Science and Mathematics\nThe Manhattan Center for Science and Mathematics is a "
                 "public high school in East Harlem. It opened in 1982.",
                 "Manhattan Center for Science and Mathematics\n\nThe Manhattan Center for Science and Mathematics "
                 "is a public high school in East Harlem. It opened in 1982.",
                 "Chop Suey! (song)\nThe Manhattan Center for Science and Mathematics is a public high school in East "
                 "Harlem. It opened in 1982."):
        quoted = [text[s:e] for s, e in quotable_spans(text)]
        assert quoted == ["The Manhattan Center for Science and Mathematics is a public high school in East Harlem.",
                          "It opened in 1982."], quoted


def test_quotable_spans_skip_code_and_headings():
    from ragship.text import quotable_spans

    text = ("# Title\n\nRun the demo first. It serves the page.\n\n```bash\nmake demo. Then more\n```\n\n"
            "| PDF | .pdf | the text layer |\n| HTML | .html | visible text |\n\n- a list item with words")
    assert [text[s:e] for s, e in quotable_spans(text)] == [
        "Run the demo first.", "It serves the page.", "| PDF | .pdf | the text layer |",
        "| HTML | .html | visible text |", "- a list item with words"]


class WordVectors:
    """Deterministic fake behind the Embedder protocol: a text's vector counts three topic words."""

    model_id, dim = "fake@1", 3
    WORDS = ("dada", "company", "founded")

    def embed_query(self, text):
        import numpy as np

        v = np.array([text.lower().count(w) for w in self.WORDS], dtype=np.float32) + 0.01
        return v / np.linalg.norm(v)

    def embed_batch(self, texts):
        import numpy as np

        return np.stack([self.embed_query(t) for t in texts])


def test_sentences_are_scored_in_the_conversation_when_one_is_given():
    from ragship.answer.extractive import ExtractiveGenerator
    from ragship.settings import AnswerSettings
    from ragship.types import Hit

    texts = ["Dada was opened by Hugo Ball at the Cabaret Voltaire.", "The company was founded in 1837."]
    hits = [Hit(f"c{i}", f"d{i}", "", t, "", 0, len(t), (), 1.0, i + 1) for i, t in enumerate(texts)]
    scorer = ExtractiveGenerator(WordVectors(), AnswerSettings())
    alone = scorer.score_sentences("who founded it?", hits)
    assert [s.lexical for s in alone] == [0.0, 1.0]  # "founded": the company's sentence alone
    in_context = scorer.score_sentences("who founded it?", hits, (("what was the Dada movement?", 0.5),))
    # the words: founded (1), dada and movement (0.5 each, from the turn before)
    assert [s.lexical for s in in_context] == [pytest.approx(0.5 / 2), pytest.approx(1 / 2)]
    assert in_context[0].semantic > alone[0].semantic and in_context[1].semantic < alone[1].semantic
    assert scorer.score_sentences("who founded it?", hits, ()) == alone


def test_a_sentence_is_read_under_its_markdown_heading_across_the_blank_line():
    """Issue 49's team: "What is the per diem in the EU?" was asked back, the answer's sentence ("The daily
    allowance for meals ... is 45 EUR within the EU") scored without its heading "## Per diem", which Markdown puts
    a blank line after. The first sentence under a heading is read with it (scored, never quoted)."""
    from ragship.answer.extractive import ExtractiveGenerator
    from ragship.settings import AnswerSettings
    from ragship.text import quotable_in_context
    from ragship.types import Hit

    text = ("## Per diem\n\nThe daily allowance for meals is 45 EUR within the EU. It is paid monthly.\n\n"
            "More prose here.")
    read = [(text[c:e], text[s:e]) for c, s, e in quotable_in_context(text)]
    assert read[0] == ("## Per diem\n\nThe daily allowance for meals is 45 EUR within the EU.",
                       "The daily allowance for meals is 45 EUR within the EU.")
    assert [quoted for _, quoted in read[1:]] == [r for r, _ in read[1:]]  # only the first sentence under it
    hit = Hit("c0", "d0", "", text, "", 0, len(text), (), 1.0, 1)
    best = max(ExtractiveGenerator(WordVectors(), AnswerSettings()).score_sentences("What is the per diem?", [hit]),
               key=lambda s: s.support)
    assert text[best.start:best.end].startswith("The daily allowance") and best.lexical == 1.0  # per, diem
