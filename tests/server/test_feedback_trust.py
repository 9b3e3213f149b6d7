"""Feedback no single key can steer learning with (issue 48, finding 1), through the API: a reader's review fields
are refused (403), a mark on anything the answer did not show is refused (422), an editor reviews only answers
whose every source it may read, and one reader key's 80 coordinated labels leave the live ranking unchanged
after the operator's `ragship improve`."""

from inprocess import call, service, teams_api

PAGES = {
    "deploy.md": "# Deployments\n\nDeployments happen on Tuesdays and Thursdays between 10:00 and 12:00. A deploy "
                 "outside that window needs the release manager's approval.\n",
    "oncall.md": "# On-call\n\nThe on-call shift lasts one week, from Monday 09:00 to the next Monday 09:00. The "
                 "person on call answers pages within fifteen minutes.\n",
    "cafeteria.md": "# Cafeteria\n\nThe cafeteria serves lunch from noon to two. Vegetarian dishes are marked "
                    "green on the menu.\n",
    "expenses.md": "# Expenses\n\nExpenses are filed within thirty days with a receipt attached.\n",
    "holidays.md": "# Holidays\n\nHolidays are booked in the shared calendar two weeks ahead.\n",
    "security.md": "# Security\n\nLaptops lock after five minutes. Report a lost badge to the front desk.\n",
    "travel.md": "# Travel\n\nTrain travel is preferred for trips under four hours.\n",
    "parking.md": "# Parking\n\nThe garage opens at seven. Electric cars charge on level two.\n",
    "reviews.md": "# Code review\n\nEvery change needs one approving review before it merges.\n",
    "backups.md": "# Backups\n\nDatabases are backed up nightly and restores are tested monthly.\n",
}
PARAPHRASES = ["When do deployments happen?", "How long is the on-call shift?", "What days can we deploy?",
               "Who approves a deploy outside the window?", "When does on-call start?",
               "How fast must the on-call person answer a page?", "Can I deploy on Friday?",
               "What is the deploy window?"]


def test_a_reader_cannot_review_nor_mark_what_an_answer_did_not_show(tmp_path, cache_dir):
    api = teams_api(tmp_path / "home", cache_dir)
    answer = call(api, "reader-red", "POST", "/v1/ask", json={"q": "What is the secret review phrase?"}).json()
    shown = [c["chunk_id"] for c in answer["citations"]]
    assert shown, answer
    for review in ({"expected": "abstain"}, {"correction": "Nothing."}):
        r = call(api, "reader-red", "POST", "/v1/feedback", json={"answer_id": answer["id"], "rating": "down",
                                                                  **review})
        assert r.status_code == 403 and "editor's review" in r.json()["detail"], r.text
    r = call(api, "reader-red", "POST", "/v1/feedback", json={"answer_id": answer["id"], "rating": "up",
                                                              "marks": {"red/launch-plan.md#99": "helpful"}})
    assert r.status_code == 422 and "red/launch-plan.md#99" in r.json()["detail"], r.text
    logged = api[0].app.state.service.log.answer_shown(answer["id"])[2]  # retrieved, never sent to the reader
    unseen = next(s["chunk_id"] for s in logged if s["chunk_id"] not in shown)
    r = call(api, "reader-red", "POST", "/v1/feedback", json={"answer_id": answer["id"], "rating": "up",
                                                              "marks": {unseen: "helpful"}})
    assert r.status_code == 422 and unseen in r.json()["detail"], r.text  # the stop-55 attack
    r = call(api, "reader-red", "POST", "/v1/feedback", json={"answer_id": answer["id"], "rating": "up",
                                                              "marks": {shown[0]: "helpful"}})
    assert r.status_code == 201, r.text


def test_an_editor_reviews_only_answers_it_may_read_every_source_and_the_askers_words_of(tmp_path, cache_dir):
    api = teams_api(tmp_path / "home", cache_dir)
    answer = call(api, "reader-red", "POST", "/v1/ask", json={"q": "What is the secret review phrase?"}).json()
    assert any("salaries" in c["doc_id"] for c in answer["citations"]), answer
    review = {"answer_id": answer["id"], "expected": "abstain", "correction": "x"}
    r = call(api, "editor-blue", "POST", "/v1/feedback", json=review)
    assert r.status_code == 404, r.text  # as if it did not exist: nothing says what it was about
    assert call(api, "editor-red", "POST", "/v1/feedback", json=review).status_code == 201
    # an admin's question may name what only an admin reads: no grouped editor reviews it, whatever it cited
    mine = call(api, "admin", "POST", "/v1/ask", json={"q": "When do red engineers receive a launch bonus?"}).json()
    r = call(api, "editor-red", "POST", "/v1/feedback", json={"answer_id": mine["id"], "expected": "answer"})
    assert r.status_code == 404, r.text
    queue = call(api, "editor-red", "GET", "/v1/review", params={"queue": "sample"}).json()["answers"]
    assert {a["id"] for a in queue} <= {answer["id"]}, queue


def test_a_review_may_mark_the_document_the_answer_missed_if_the_reviewer_reads_it(tmp_path, cache_dir):
    from ragship.learn.labels import collect

    api = teams_api(tmp_path / "home", cache_dir)
    answer = call(api, "reader-red", "POST", "/v1/ask", json={"q": "What is the secret review phrase?"}).json()
    shown = {s["chunk_id"] for s in _sources(api[0], answer["id"])}
    hits = call(api, "admin", "POST", "/v1/search", json={"q": "migration incident", "k": 20}).json()["results"]
    missed = next(h for h in hits if h["chunk_id"] not in shown)  # a blue page: the red reader's answer never had it
    for who in ("reader-red", "editor-red"):  # a reader marks only what it was shown; an editor, what it reads
        r = call(api, who, "POST", "/v1/feedback", json={"answer_id": answer["id"], "rating": "down",
                                                         "marks": {missed["chunk_id"]: "helpful"}})
        assert r.status_code == 422 and missed["chunk_id"] in r.json()["detail"], (who, r.text)
    r = call(api, "admin", "POST", "/v1/feedback", json={"answer_id": answer["id"],
                                                         "marks": {missed["chunk_id"]: "helpful"}})
    assert r.status_code == 201, r.text
    [item] = collect(api[0].app.state.service.log, "default")
    assert item.relevant == {missed["doc_id"]: 1} and item.reviewed_by_editor(), item


def test_one_reader_keys_coordinated_labels_leave_the_live_ranking_unchanged(tmp_path, cache_dir):
    corpus = tmp_path / "policies"
    corpus.mkdir()
    for name, text in PAGES.items():
        (corpus / name).write_text(text)
    toml = ('[monitor]\nquery_text = "keep"\n[server]\nrate_per_minute = 100000\nburst = 10000\n'
            '[improve]\nmin_judged = 3\nmin_heldout = 1\nmin_answer_labels = 5\nepochs = 1\nbatch_size = 4\n')
    with service(tmp_path, cache_dir, corpus, toml, {"mallory": ("reader", "")}) as (client, keys, _):
        api = (client, keys)
        engine = client.app.state.service.collections.get(None)
        before = {q: [h.doc_id for h in engine.search(q).hits] for q in PARAPHRASES[:2]}
        accepted = 0
        for n in range(80):
            answer = call(api, "mallory", "POST", "/v1/ask", json={"q": f"{PARAPHRASES[n % 8]} ({n})"}).json()
            retrieved = {s["doc_id"]: s["chunk_id"] for s in _sources(client, answer["id"])}
            marks = {retrieved[d]: m for d, m in (("cafeteria.md", "helpful"), ("deploy.md", "wrong"),
                                                  ("oncall.md", "wrong")) if d in retrieved}
            r = call(api, "mallory", "POST", "/v1/feedback", json={"answer_id": answer["id"], "rating": "up",
                                                                   "marks": marks})
            accepted += r.status_code == 201
        assert accepted == 80
        run = client.app.state.service.oversight.learning(None).improve()
        kept = run["dataset"]["sources"]["keys"]
        assert kept[keys["mallory"][4:12]]["capped"] >= 70, kept  # at most its share (10 %) was learned from
        assert "over one key's share" in run["reason"], run["reason"]  # and the run says so
        after = {q: [h.doc_id for h in engine.search(q).hits] for q in before}
        assert run["status"] != "promoted" or after == before, run["reason"]
        assert after == before and engine.registry.live().id == "v1", (run["status"], run["reason"])


def _sources(client, answer_id: str) -> list[dict]:
    """The sources the log kept for an answer (what the answer showed its asker)."""
    return client.app.state.service.log.answer_shown(answer_id)[2]
