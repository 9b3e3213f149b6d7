"""The answer types every generator returns."""

from ragship.answer.base import Answer, Citation


def test_an_answer_lists_each_cited_document_once_with_its_citations_and_chunks():
    """Issue 49, finding 1: the UI listed one document twice when two of its chunks were cited."""
    def cite(n: int, doc: str, chunk: int) -> Citation:
        return Citation(n, doc, f"{doc}#{chunk}", f"Title of {doc}", "text", 0, 4, 1.0, f"docs/{doc}")

    answer = Answer("q", "One. [1] Two. [2] Three. [3]", False, 0.9,
                    [cite(1, "canada.txt", 0), cite(2, "ottawa.txt", 3), cite(3, "canada.txt", 2)])
    documents = answer.to_dict()["documents"]
    assert documents == [
        {"doc_id": "canada.txt", "title": "Title of canada.txt", "source": "docs/canada.txt", "citations": [1, 3],
         "chunk_ids": ["canada.txt#0", "canada.txt#2"]},
        {"doc_id": "ottawa.txt", "title": "Title of ottawa.txt", "source": "docs/ottawa.txt", "citations": [2],
         "chunk_ids": ["ottawa.txt#3"]}]
    assert len(answer.to_dict()["citations"]) == 3  # each chunk's citation stays, for its passage and quotes
