"""Questions labeled answerable or not, without passages (tests/data/nq-mini, CLAP NQ train's layout): the layout
read, an answer field's first annotation kept, a folder without the files a clear error."""

import pytest
from conftest import DATA

from ragship.errors import DatasetError
from ragship.evaluate.labeled_questions import load_questions

NQ = DATA / "nq-mini"


def test_the_layout_is_read_with_multiline_answers_joined_and_the_first_annotation_kept():
    answerable, unanswerable = load_questions(NQ)
    assert len(answerable) == 8 and len(unanswerable) == 3
    capital = next(q for q in answerable if q["id"] == "107")
    assert capital["answer"].startswith("Canberra is the capital") and "\n" not in capital["answer"]
    assert capital["page"] == ("5000", 0, 70)
    amazon = next(q for q in answerable if q["id"] == "104")  # "A::B": two annotations of one answer
    assert amazon["answer"] == "The Amazon River in South America is about 6,400 km long ."


def test_a_folder_without_the_files_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match=r"no \*_answerable.tsv file; expected CLAP NQ's layout"):
        load_questions(tmp_path)
    (tmp_path / "q_answerable.tsv").write_text("id\tquestion\tanswers\n1\twho\t\n")
    (tmp_path / "q_unanswerable.tsv").write_text("id\tquestion\n2\twhy\n")
    with pytest.raises(DatasetError, match="no answerable question with an answer text"):
        load_questions(tmp_path)
