"""A collection's signals (monitor/signals.py): one key giving most of the window's new labels is the
label_key_share signal, and LabelFlood fires on it naming the key; labels spread over keys, a key re-rating one
answer, or the home's owner, fire nothing."""

import time

from conftest import make_engine

from ragship.access import KeyStore
from ragship.monitor.incidents import Incidents
from ragship.monitor.querylog import Observation, QueryLog
from ragship.monitor.schedule import Monitor


def rate(log, key_id, questions, times=1, collection="default"):
    """`key_id` rates an answer to each of `questions`, `times` times each."""
    for q in questions:
        rid = log.record(Observation(key_id, collection, "ask", 20.0, q, "answered", confidence=0.8))
        for _ in range(times):
            log.feedback(rid, key_id, 1, "")


def test_one_key_labeling_most_new_questions_fires_label_flood_naming_it_and_opens_an_incident(tmp_path, cache_dir):
    engine = make_engine(tmp_path / "home", cache_dir, monitor={"label_flood_min": 20})
    _, bot = KeyStore(engine.state).create("reader", [], "bot")
    log = QueryLog(engine.state, "keep")
    monitor = Monitor(log, lambda: {"default": engine}, tmp_path / "monitor.lock")
    rate(log, bot.id, [f"question {i}" for i in range(12)])
    rate(log, "k2", ["what is ragship?"] * 3)  # a key asking the same question again counts once
    now = time.time() + 1
    assert monitor.signals("default", engine, now)[0]["label_key_share"] is None  # 13 labels: fewer than 20
    assert not [e for e in monitor.tick(now)["events"] if e["alert"] == "LabelFlood"]

    rate(log, bot.id, [f"Question  {i}" for i in range(12)], times=5)  # the same questions again: no more labels
    rate(log, bot.id, [f"question {i}" for i in range(12, 30)])
    rate(log, "k3", ["how do I roll back?"])
    now = time.time() + 1
    signals, context = monitor.signals("default", engine, now)
    assert signals["label_key_share"] == round(30 / 32, 4) and context["labels"]["key_id"] == bot.id
    fired = [e for e in monitor.tick(now)["events"] if e["alert"] == "LabelFlood"]
    assert [(e["event"], e["severity"], e["value"]) for e in fired] == [("fired", "warning", round(30 / 32, 4))]
    assert f'key {bot.id} ("bot", reader) labeled 30 of the 32 questions' in fired[0]["summary"]
    assert fired[0]["runbook"] == "/runbooks/monitoring.md#labelflood"
    incident = Incidents(engine.state).get(fired[0]["incident"]["id"])
    assert incident.alerts == {"LabelFlood": "firing"} and bot.id in incident.title

    later = now + engine.settings.monitor.window_s + 1  # the window has moved past the flood
    rate(log, bot.id, ["question 0"])
    assert monitor.signals("default", engine, later)[0]["label_key_share"] is None


def test_labels_spread_over_keys_fire_nothing_nor_does_a_key_rerating_one_answer_or_the_home_owner(tmp_path, cache_dir):
    engine = make_engine(tmp_path / "home", cache_dir, monitor={"label_flood_min": 20})
    log = QueryLog(engine.state, "keep")
    monitor = Monitor(log, lambda: {"default": engine}, tmp_path / "monitor.lock")
    for k in range(10):
        rate(log, f"key{k}", [f"question {k}-{i}" for i in range(3)])
    rate(log, "eager", ["is it up?"], times=100)  # 100 rows, one question
    rate(log, "elsewhere", [f"other {i}" for i in range(50)], collection="other")  # another collection's labels
    rate(log, "local", [f"mine {i}" for i in range(50)])  # the home's owner (keyless local server, CLI)
    now = time.time() + 1
    assert monitor.signals("default", engine, now)[0]["label_key_share"] == round(3 / 31, 4)
    assert not [e for e in monitor.tick(now)["events"] if e["alert"] == "LabelFlood"]
    assert Incidents(engine.state).list() == []
