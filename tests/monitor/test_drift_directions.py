"""Which way a moved business metric went (issue 49 finding 9: the drift table marked p95 865 → 559 ms and a
rising feedback rate red as "moved")."""

from ragship.monitor.drift import direction


def test_a_moved_metric_is_better_or_worse_by_its_direction():
    assert direction("p95_ms", 865, 559) == "better" and direction("p50_ms", 20, 40) == "worse"
    assert direction("positive_feedback_rate", 0.4, 0.7) == "better"
    assert direction("answer_rate", 0.8, 0.6) == "worse" and direction("abstain_rate", 0.3, 0.1) == "better"
    assert direction("error_rate", 0.0, 0.1) == "worse" and direction("llm_fallback_rate", 0.5, 0.0) == "better"
