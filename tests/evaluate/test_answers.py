from ragship.evaluate.answers import Question, answer_metrics, citation_correct, normalize, token_f1


def test_token_f1_is_squads():
    assert normalize("The Eiffel Tower, in 1889! [1]") == "eiffel tower in 1889"
    assert token_f1("in 1889 [1]", "1889") == 2 * 0.5 * 1 / 1.5
    assert token_f1("nothing", "1889") == 0.0


def test_citation_is_correct_by_gold_passage_or_containment():
    q = Question("q", "when", True, ("completed in 1889",), frozenset({"p1"}))
    assert citation_correct({"doc_id": "p1", "text": ""}, q)
    assert citation_correct({"doc_id": "p9", "text": "It was completed in 1889."}, q)
    assert not citation_correct({"doc_id": "p9", "text": "It is tall."}, q)


def test_rates_count_each_kind_of_question():
    qs = [Question("a", "A?", True, ("yes",), frozenset({"d"})), Question("b", "B?", True, ("no",)),
          Question("u", "U?", False), Question("v", "V?", False)]
    replies = {"A?": {"abstained": False, "answer": "yes [1]", "citations": [{"doc_id": "d", "text": ""}]},
               "B?": {"abstained": True, "answer": "", "citations": []},
               "U?": {"abstained": True, "answer": "", "citations": []},
               "V?": {"abstained": False, "answer": "x", "citations": []}}
    m = answer_metrics(qs, replies.__getitem__)
    assert m == {"answer_f1": 0.5, "citation_precision": 1.0, "answer_rate": 0.5, "abstain_rate": 0.5}
