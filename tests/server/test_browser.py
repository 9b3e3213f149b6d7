"""The web UI in a real browser: Playwright for Python driving Debian's chromium headless (installed from Debian
packages by `make browser`, never downloaded by Playwright). Upload a file, wait for its job, ask, see a cited
answer, open the citation inside its document, give feedback; visit the other pages; as an admin, read a gate's
report, promote and roll back. Screenshots are saved in the test's folder (and copied to docs/screenshots when
UI_SCREENSHOTS is set)."""

import os
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest
from conftest import DATA, without_relevant

from serving import create_key, env_for, ingest, serving, teams_home

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed: run `make browser` (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def teams(tmp_path_factory, cache_dir):
    return teams_home(tmp_path_factory.mktemp("browser"), cache_dir)


@pytest.fixture(scope="module")
def site(teams):
    key = create_key(teams, "editor", "red", name="docs-team")
    with serving(teams) as base:
        yield base, key


def test_upload_ask_open_citation_and_feedback(browser, site, tmp_path):
    base, key = site
    shots = []
    note = tmp_path / "harbour-lights.md"
    note.write_text("# Harbour lights\n\nThe harbour lights are switched on at dusk by the night warden.\n\n"
                    "## Maintenance\n\nThe lamp bulbs of the harbour lights are replaced every October.\n")
    page = browser.new_page(viewport={"width": 1366, "height": 820})
    problems = watched(page)

    def shot(name):
        path = tmp_path / f"{len(shots) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)

    upload(page, base, key, note)
    page.wait_for_selector(f"tr[data-doc='uploads/{key.split('_')[1]}/harbour-lights.md']")
    shot("documents-after-upload")

    page.click("nav a[data-page=ask]")
    page.fill("#question", "When are the lamp bulbs of the harbour lights replaced?")
    page.click("#ask-form button")
    answer = page.wait_for_selector(".answer[data-answer-id]", timeout=60_000)
    assert "October" in answer.inner_text()
    assert page.locator("ul.sources li").first.inner_text().startswith("[1] Harbour lights")
    listed = [m.split()[-1] for m in page.locator("ul.sources li .meta").all_inner_texts()]
    assert len(listed) == len(set(listed)), listed  # issue 49 finding 1: a document once, however many citations
    shot("cited-answer")

    page.click("a.cite[data-n='1']")
    cited = page.wait_for_selector("#viewer:not([hidden]) #cited-passage")
    assert "replaced every October" in cited.inner_text()
    assert "switched on at dusk" in page.inner_text("#viewer-body")  # the whole document, passage inside it
    shot("citation-in-document")

    page.click("button[data-rating=up]")
    page.wait_for_selector("text=Thanks for the feedback.")
    shot("feedback-given")

    page.click("nav a[data-page=versions]")
    page.wait_for_selector("#page-versions:not([hidden]) table tbody tr")
    shot("versions")
    assert page.locator("button[data-promote], button[data-make-live]").count() == 0  # an editor's view

    page.click("nav a[data-page=metrics]")
    page.wait_for_selector("#page-metrics:not([hidden]) .chart canvas")
    page.wait_for_selector("#alert-table tbody tr[data-alert=QueryDrift]")
    drawn = {c["title"]: c for c in page.evaluate(DRAWN)}
    assert drawn["Latency"]["points"] >= 1 and drawn["Answers"]["points"] >= 1 and drawn["Feedback"]["points"] >= 1
    assert all(c["painted"] > 500 for c in drawn.values())  # axes, labels and the points are on the canvas
    assert "collecting the reference" in page.inner_text("#drift")
    shot("metrics")
    assert page.inner_text("#error") == "" and problems == []
    keep(shots)
    assert len(shots) == 6 and all(s.stat().st_size > 5000 for s in shots)


def test_an_editor_reviews_a_down_rated_answer(browser, site, tmp_path):
    """Issue 33: the Review page shows a down-rated answer with its sources' text; the editor marks a source,
    says it should have been answered, and the review is stored with the answer."""
    base, key = site
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(base)
    page.fill("#api-key", key)
    page.click("#key-form button")
    page.fill("#question", "Which team owns the billing runbook?")
    page.click("#ask-form button")
    answer = page.wait_for_selector(".answer[data-answer-id]", timeout=60_000)
    answer_id = answer.get_attribute("data-answer-id")
    page.click("button[data-rating=down]")
    page.wait_for_selector("text=Thanks for the feedback.")

    # The "down" queue answers slowly: the first list (the default queue, which shows the same answer) must not
    # take edits that the "down" list replaces (CI, stop 44: the review was saved from a card no longer shown).
    page.evaluate("""() => { const fetch0 = window.fetch;
      window.fetch = async (url, opts) => {
        if (String(url).includes("queue=down")) await new Promise((r) => setTimeout(r, 1500));
        return fetch0(url, opts); }; }""")
    page.click("nav a[data-page=review]")
    page.select_option("#review-queue", "down")
    page.wait_for_selector("#review-list[aria-busy=false]")
    card = page.locator(f"form.review[data-answer='{answer_id}']")
    card.wait_for()
    assert "Which team owns the billing runbook?" in card.inner_text() and card.locator(".passage").count()
    page.screenshot(path=str(tmp_path / "review-queue.png"), full_page=True)
    card.locator("input[type=radio][value=helpful]").first.check()
    card.locator("select[name=expected]").select_option("answer")
    card.locator("button[type=submit]").click()
    card.locator("text=Saved.").wait_for()
    page.screenshot(path=str(tmp_path / "review-saved.png"), full_page=True)
    reviewed = httpx.get(f"{base}/v1/review", params={"queue": "down", "status": "reviewed"},
                         headers={"Authorization": f"Bearer {key}"}).json()["answers"]
    assert next(a for a in reviewed if a["id"] == answer_id)["votes"] == 2
    assert page.inner_text("#error") == ""
    keep([tmp_path / "review-queue.png", tmp_path / "review-saved.png"])


RITAS = ["When does the red team ship the orbital relay?", "What can delay the orbital relay launch?",
         "Who holds the budget for the relay launch?"]


def test_saved_reviews_show_as_reviewed_after_a_reload(browser, site, teams, tmp_path):
    """Issue 49 finding 6: three reviews saved ("Saved."); after a reload the cards still said "rated down" with
    empty fields and stayed in the queue, with no "reviewed" filter and no sign of who asked. Now a reload shows
    them under "reviewed", each with its review's marks, verdict and correction, and who asked, by key name."""
    base, key = site
    rita = create_key(teams, "reader", "red", name="rita")
    asked = []
    for question in RITAS:
        a = httpx.post(f"{base}/v1/ask", json={"q": question}, headers={"Authorization": f"Bearer {rita}"},
                       timeout=60).json()
        httpx.post(f"{base}/v1/feedback", json={"answer_id": a["id"], "rating": "down"},
                   headers={"Authorization": f"Bearer {rita}"}).raise_for_status()
        asked.append(a["id"])
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    problems = watched(page)
    page.goto(base)
    page.fill("#api-key", key)
    page.click("#key-form button")
    page.click("nav a[data-page=review]")
    page.select_option("#review-queue", "down")
    page.wait_for_selector("#review-list[aria-busy=false]")
    for n, answer_id in enumerate(asked):
        card = page.locator(f"form.review[data-answer='{answer_id}']")
        card.wait_for()
        assert 'asked by key "rita" (' in card.inner_text() and "Not reviewed yet" in card.inner_text()
        card.locator("input[type=radio][value=helpful]").first.check()
        card.locator("select[name=expected]").select_option("answer")
        card.locator("input[name=correction]").fill(f"The right answer {n}.")
        card.locator("button[type=submit]").click()
        card.locator("text=Saved.").wait_for()

    page.reload()
    page.wait_for_selector("#review-list[aria-busy=false]")
    assert page.input_value("#review-status") == "to_review"
    assert all(page.locator(f"form.review[data-answer='{a}']").count() == 0 for a in asked)  # out of the queue
    page.select_option("#review-status", "reviewed")
    page.wait_for_selector(f"form.review.reviewed[data-answer='{asked[0]}']")
    for n, answer_id in enumerate(asked):
        card = page.locator(f"form.review[data-answer='{answer_id}']")
        text = card.inner_text()
        assert "Reviewed by key" in text and "rated down" in text and 'asked by key "rita" (' in text
        assert card.locator("input[type=radio][value=helpful]").first.is_checked()
        assert card.locator("select[name=expected]").input_value() == "answer"
        assert card.locator("input[name=correction]").input_value() == f"The right answer {n}."
        assert card.locator("button[type=submit]").inner_text() == "Update review"
    page.select_option("#review-status", "all")
    page.wait_for_selector(f"form.review.reviewed[data-answer='{asked[0]}']")
    page.select_option("#review-status", "reviewed")
    page.wait_for_selector(f"form.review.reviewed[data-answer='{asked[0]}']")
    page.screenshot(path=str(tmp_path / "09-review-after-reload.png"), full_page=True)
    assert page.inner_text("#error") == "" and problems == []
    keep([tmp_path / "09-review-after-reload.png"])


def test_an_incident_page_shows_its_timeline_takes_the_ack_and_drafts_the_postmortem(browser, site, tmp_path):
    """Issue 34: an incident opened by hand is listed; its page shows the timeline (the build and release of the
    live version, the opening); acknowledging it and the postmortem draft are a click each. Issue 49 finding 9: the
    postmortem was raw Markdown in a clipped box (now rendered in full, with copy and download), Resolve sent a
    fixed note (now it asks for one), the timeline's dates wrapped onto three lines (now one, in UTC)."""
    base, key = site
    auth = {"Authorization": f"Bearer {key}"}
    opened = httpx.post(f"{base}/v1/incidents", json={"title": "users say the tram answers are stale"},
                        headers=auth).raise_for_status().json()
    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True,
                                  permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    problems = watched(page)
    page.goto(base)
    page.fill("#api-key", key)
    page.click("#key-form button")
    page.click("nav a[data-page=incidents]")
    page.click(f"#incident-table a[href='#incidents/{opened['id']}']")
    page.wait_for_selector("#incident:not([hidden]) #timeline-table tbody tr")
    timeline = page.inner_text("#timeline-table")
    assert "opened by hand: users say the tram answers are stale" in timeline and "v1 built" in timeline
    assert "When (UTC)" in timeline
    dates = page.evaluate(ONE_LINE_DATES, "#timeline-table tbody td:first-child")
    assert dates and all(d["lines"] == 1 and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", d["text"]) for d in dates)
    page.click("#incident-ack")
    page.wait_for_selector("#incident-meta:has-text('acknowledged')")

    page.click("#incident-postmortem")
    page.wait_for_selector("#postmortem-box:not([hidden]) #postmortem h3")
    headings = page.locator("#postmortem h3").all_inner_texts()
    assert "Impact (from the query log)" in headings and "Action items" in headings
    drafted = page.inner_text("#postmortem")
    assert "##" not in drafted and "**" not in drafted and "|---" not in drafted  # rendered, not raw Markdown
    assert page.locator("#postmortem table").count() >= 2 and page.locator("#postmortem strong").count() >= 3
    dates = page.evaluate(ONE_LINE_DATES, "#postmortem td.when")  # its tables' dates on one line too
    assert len(dates) >= 5 and all(d["lines"] == 1 and d["text"].endswith(" UTC") for d in dates)
    numbers = page.evaluate("[...document.querySelectorAll('#postmortem td')].filter((td) => /^\\d+$/.test("
                            "td.textContent)).map((td) => getComputedStyle(td).whiteSpace)")
    assert numbers and set(numbers) == {"nowrap"}  # the candidates' "#" too (issue 49: 10 wrapped to 1 over 0)
    assert page.evaluate("(() => { const p = document.getElementById('postmortem');"
                         " return p.scrollHeight <= p.clientHeight + 1; })()")  # in full: no clipped box
    page.click("#postmortem-copy")
    page.wait_for_selector("#postmortem-status:has-text('Copied the Markdown.')")
    assert page.evaluate("navigator.clipboard.readText()").startswith(
        "# Postmortem: users say the tram answers are stale")
    with page.expect_download() as downloaded:
        page.click("#postmortem-download")
    assert downloaded.value.suggested_filename == f"postmortem-{opened['id']}.md"
    assert "## Action items" in Path(downloaded.value.path()).read_text()
    page.screenshot(path=str(tmp_path / "11-incident-postmortem.png"), full_page=True)
    assert httpx.get(f"{base}/v1/incidents/{opened['id']}", headers=auth).json()["status"] == "acknowledged"

    page.click("#incident-resolve")  # asks what fixed it: an empty note is not sent
    page.wait_for_selector("#resolve-form:not([hidden])")
    page.click("#resolve-form button[type=submit]")
    assert httpx.get(f"{base}/v1/incidents/{opened['id']}", headers=auth).json()["status"] == "acknowledged"
    page.fill("#resolve-note", "re-ingested the tram timetable")
    page.click("#resolve-form button[type=submit]")
    page.wait_for_selector("#incident-meta:has-text('resolved')")
    assert "re-ingested the tram timetable" in page.inner_text("#timeline-table")
    assert page.inner_text("#error") == "" and problems == []
    keep([tmp_path / "11-incident-postmortem.png"])


# each date cell that `cells` selects: its text and how many lines it takes
ONE_LINE_DATES = """(cells) => [...document.querySelectorAll(cells)].map((td) => {
  const r = document.createRange(); r.selectNodeContents(td);
  return { text: td.textContent, lines: r.getClientRects().length }; })"""

DRIFT_MEASURED = {
    "collection": "default", "status": "measured", "reference": {"reason": "first traffic", "queries": 300},
    "query": {"p_value": 0.2}, "scores": {"reference_mean": 0.61, "recent_mean": 0.63, "p_value": 0.4},
    "margin": {}, "topics": [], "moved": ["abstain_rate", "positive_feedback_rate", "p95_ms"],
    "directions": {"abstain_rate": "worse", "positive_feedback_rate": "better", "p95_ms": "better"},
    "business": {"reference": {"abstain_rate": 0.1, "positive_feedback_rate": 0.5, "p95_ms": 865.0,
                               "p50_ms": 20.0},
                 "recent": {"abstain_rate": 0.2, "positive_feedback_rate": 0.7, "p95_ms": 559.0, "p50_ms": 21.0}}}


def test_monitoring_is_in_utc_shows_no_since_for_inactive_alerts_and_colours_moves_by_direction(browser, site,
                                                                                                 tmp_path):
    """Issue 49 finding 9: Monitoring showed local time where Incidents showed UTC; an inactive alert showed a
    "Since"; the drift table marked improvements (p95 865 → 559 ms, the feedback rate up) red as "moved"."""
    base, key = site
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    problems = watched(page)
    page.goto(base)
    page.fill("#api-key", key)
    page.click("#key-form button")
    real = httpx.get(f"{base}/v1/monitor/alerts", headers={"Authorization": f"Bearer {key}"}).json()
    states = [{**real["states"][0], "name": "Inactive", "state": "inactive", "since": 1.7e9},
              {**real["states"][0], "name": "Firing", "state": "firing", "since": 1.7e9}]
    page.route("**/v1/monitor/alerts*", lambda r: r.fulfill(json={"states": states, "events": []}))
    page.route("**/v1/monitor/drift*", lambda r: r.fulfill(json=DRIFT_MEASURED))
    page.click("nav a[data-page=metrics]")
    page.wait_for_selector("#drift-business tbody tr")
    assert page.inner_text("#alert-table tr[data-alert=Inactive] td:nth-child(3)") == "—"
    assert page.inner_text("#alert-table tr[data-alert=Firing] td:nth-child(3)") == "2023-11-14 22:13:20"
    assert "Since (UTC)" in page.inner_text("#alert-table thead") and "All times are UTC" in page.inner_text(
        "#page-metrics")
    assert page.locator(".chart .u-legend").first.inner_text().startswith("time (UTC)")
    for metric, way in [("p95_ms", "better"), ("positive_feedback_rate", "better"), ("abstain_rate", "worse")]:
        row = page.locator(f"#drift-business tr[data-metric={metric}]")
        assert row.get_attribute("class") == f"moved-{way}" and row.locator("td").last.inner_text() == way
    assert page.locator("#drift-business tr[data-metric=p50_ms]").get_attribute("class") is None
    assert page.locator("#drift-business tr.regressed").count() == 0
    page.screenshot(path=str(tmp_path / "monitoring-utc.png"), full_page=True)
    assert page.inner_text("#error") == "" and problems == []


def test_a_reader_comments_on_an_answer_and_reads_its_own_questions(browser, site, teams, tmp_path):
    """Issue 49 finding 11: a comment box for readers on an answer (the API took `comment`), and a per-user
    question history with outcome; the editors' feedback export names who asked and what they said."""
    base, editor = site
    reader = create_key(teams, "reader", "red", name="ruth")
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    problems = watched(page)
    page.goto(base)
    page.fill("#api-key", reader)
    page.click("#key-form button")
    page.fill("#question", "What can delay the orbital relay launch?")
    page.click("#ask-form button")
    answer = page.wait_for_selector(".answer[data-answer-id]", timeout=60_000)
    answer_id = answer.get_attribute("data-answer-id")
    page.click("button[data-rating=down]")
    page.wait_for_selector("text=Thanks for the feedback.")
    page.fill(".answer form.comment input[name=comment]", "it should say how long the delay can be")
    page.click(".answer form.comment button")
    page.wait_for_selector(".comment-status:has-text('Comment sent.')")
    page.screenshot(path=str(tmp_path / "answer-comment.png"), full_page=True)

    page.click("nav a[data-page=history]")
    row = page.wait_for_selector(f"#history-table tr[data-answer='{answer_id}']")
    cells = row.inner_text().split("\t")
    assert cells[1:] == ["What can delay the orbital relay launch?", "answered", "down",
                         "it should say how long the delay can be"], cells
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", cells[0])
    page.screenshot(path=str(tmp_path / "my-questions.png"), full_page=True)
    exported = httpx.get(f"{base}/v1/feedback/export", headers={"Authorization": f"Bearer {editor}"}).json()
    said = [r for r in exported["feedback"] if r["answer_id"] == answer_id]
    assert [(r["rating"], r["comment"]) for r in said] == [("down", ""), ("", "it should say how long the delay "
                                                                             "can be")]
    assert said[0]["asked_by"].startswith('key "ruth" (')
    assert page.inner_text("#error") == "" and problems == []
    keep([tmp_path / "answer-comment.png", tmp_path / "my-questions.png"])


def test_the_collection_picker_switches_what_every_page_reads(browser, site, teams, tmp_path):
    """Issue 49 finding 9: no collection picker. With a second collection the header offers one; the documents,
    answers and versions shown are the chosen collection's."""
    base, _ = site
    admin = create_key(teams, "admin")
    auth = {"Authorization": f"Bearer {admin}"}
    if httpx.get(f"{base}/v1/collections", headers=auth).json()["collections"].__len__() < 2:
        httpx.post(f"{base}/v1/collections", json={"name": "ferries"}, headers=auth).raise_for_status()
        job = httpx.post(f"{base}/v1/documents", headers=auth, data={"collection": "ferries"}, files={
            "files": ("ferry.md", b"# Ferry\n\nThe island ferry leaves the north pier every hour on the hour.\n")}
        ).raise_for_status().json()
        for _ in range(600):
            if httpx.get(f"{base}/v1/jobs/{job['id']}", headers=auth).json()["status"] in ("done", "failed"):
                break
            time.sleep(0.2)
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    problems = watched(page)
    page.goto(base)
    page.fill("#api-key", admin)
    page.click("#key-form button")
    page.wait_for_selector("label.picker:not([hidden]) #collection")
    page.select_option("#collection", "ferries")
    page.click("nav a[data-page=documents]")
    page.wait_for_selector("#doc-table tbody tr[data-doc='uploads/ferry.md']")
    assert page.locator("#doc-table tbody tr").count() == 1
    page.click("nav a[data-page=ask]")
    page.fill("#question", "When does the island ferry leave?")
    page.click("#ask-form button")
    answer = page.wait_for_selector(".answer[data-answer-id]", timeout=60_000)
    assert "every hour on the hour" in answer.inner_text() and "uploads/ferry.md" in answer.inner_text()
    page.click("nav a[data-page=versions]")
    page.wait_for_selector("#version-table tbody tr")
    assert page.locator("#version-table tbody tr").count() == 1
    page.screenshot(path=str(tmp_path / "collection-picker.png"), full_page=True)
    page.select_option("#collection", "")  # back to the default collection
    page.click("nav a[data-page=documents]")
    page.wait_for_selector("#doc-table tbody tr[data-doc='teams/public/faq.md']")
    assert page.inner_text("#error") == "" and problems == []


# A listener in every document, set before its scripts run (page.evaluate would miss what a page does as it loads):
# each CSP violation is reported on the console, where `watched` collects it.
REPORT_VIOLATIONS = """document.addEventListener("securitypolicyviolation", (e) => console.error(
  `CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));"""


def watched(page) -> list[str]:
    """What goes wrong in `page` from now on: console errors (a refused resource, a failed load), uncaught
    exceptions and Content-Security-Policy violations."""
    problems: list[str] = []
    page.add_init_script(REPORT_VIOLATIONS)
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
    return problems


def test_every_page_runs_under_the_csp_and_the_key_lives_in_the_tab(browser, site, tmp_path):
    """Issue 48 finding 5: each page of the UI and the API docs (Swagger UI) work under the CSP with no
    console error or violation, which the browser does enforce (an injected inline script and style attribute are
    refused); the key is kept in sessionStorage, and an older version's copy in localStorage is removed."""
    base, key = site
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    problems = watched(page)
    response = page.goto(base)
    assert "script-src 'self';" in response.headers["content-security-policy"]
    page.evaluate("localStorage.setItem('ragship-key', 'a key an older version kept')")
    page.reload()
    assert page.evaluate("localStorage.getItem('ragship-key')") is None
    page.fill("#api-key", key)
    page.click("#key-form button")
    assert page.evaluate("sessionStorage.getItem('ragship-key')") == key
    assert page.evaluate("localStorage.length") == 0

    page.fill("#question", "Which team owns the billing runbook?")
    page.click("#ask-form button")
    page.wait_for_selector(".answer[data-answer-id]", timeout=60_000)
    page.click("ul.sources a[data-n='1']")
    page.wait_for_selector("#viewer:not([hidden]) #cited-passage")
    page.screenshot(path=str(tmp_path / "csp-ask.png"), full_page=True)
    for name, ready in [("documents", "#doc-table tbody tr"), ("versions", "#version-table tbody tr"),
                        ("metrics", ".chart canvas"), ("review", "#review-list[aria-busy=false]"),
                        ("incidents", "#page-incidents:not([hidden])"), ("history", "#history-table tbody tr"),
                        ("gaps", "#gaps-summary:not(:empty)")]:
        page.click(f"nav a[data-page={name}]")
        page.wait_for_selector(ready)
    page.click("#gaps-reask")  # the open questions asked again, each as its asker reads
    page.wait_for_selector("#gaps-summary:has-text('Asked again')")
    page.screenshot(path=str(tmp_path / "csp-metrics.png"), full_page=True)
    assert page.inner_text("#error") == ""
    page.reload()  # the key outlives a reload of the tab
    assert page.input_value("#api-key") == key

    page.goto(f"{base}/docs")
    page.wait_for_selector(".opblock-summary-path[data-path='/v1/search']")
    page.click(".opblock-summary-path[data-path='/healthz']")  # Swagger UI's scripts run and may call the API
    page.click(".opblock.is-open .try-out__btn")
    page.click(".opblock.is-open .execute")
    page.wait_for_selector(".opblock.is-open .live-responses-table .response-col_status:text-is('200')")
    page.screenshot(path=str(tmp_path / "csp-docs.png"), full_page=True)
    page.goto(f"{base}/runbooks/service.md")
    page.wait_for_selector("h1")
    assert problems == []

    page.evaluate("""() => { const s = document.createElement("script"); s.textContent = "window.__ran = 1";
      document.body.append(s); document.body.setAttribute("style", "background: red"); }""")
    page.wait_for_timeout(200)
    assert page.evaluate("window.__ran") is None
    assert [p for p in problems if "CSP violation: script-src" in p] and [p for p in problems if "style-src" in p]
    keep([tmp_path / "csp-ask.png", tmp_path / "csp-metrics.png", tmp_path / "csp-docs.png"])


def upload(page, base: str, key: str, path: Path, groups: str = "red") -> None:
    """Sign in with `key`, upload `path` for `groups` on the documents page and wait for its job."""
    page.goto(base)
    page.fill("#api-key", key)
    page.click("#key-form button")
    page.click("nav a[data-page=documents]")
    page.set_input_files("#files", str(path))
    page.fill("#groups", groups)
    page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#job-status[data-status=done]", timeout=120_000)


DRAWN = """() => window.ragshipCharts.map((u) => {
  const c = u.root.querySelector("canvas"), px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let painted = 0;
  for (let i = 3; i < px.length; i += 4) painted += px[i] > 0;
  return { title: u.root.closest("figure").dataset.title,
           points: u.data.slice(1).flat().filter((v) => v != null).length, painted };
})"""


def keep(shots: list[Path]) -> None:
    if os.environ.get("UI_SCREENSHOTS"):
        dest = Path(os.environ["UI_SCREENSHOTS"])
        dest.mkdir(parents=True, exist_ok=True)
        for s in shots:
            shutil.copy(s, dest / s.name)


RELEASE_TOML = """[release]
auto_promote = "never"
tolerances = {{ "ndcg@10" = 0.005 }}

[[release.golden]]
path = "{golden}"
split = "test"
"""


def test_admin_reads_the_gate_report_promotes_anyway_and_rolls_back(browser, tmp_path, cache_dir):
    config, corpus = tmp_path / "ragship.toml", tmp_path / "corpus" / "corpus.jsonl"
    config.write_text(RELEASE_TOML.format(golden=DATA / "beir-mini"))
    corpus.parent.mkdir()
    shutil.copy(DATA / "beir-mini" / "corpus.jsonl", corpus)
    env = env_for(tmp_path / "home", cache_dir, config)
    ingest(env, corpus)  # v1, live
    without_relevant(corpus)
    ingest(env, corpus)  # v2, a worse candidate
    key = create_key(env, "admin")
    page, shots = browser.new_page(viewport={"width": 1366, "height": 900}), []

    def shot(name):  # numbered as in docs/screenshots
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)

    with serving(env) as base:
        page.goto(base + "/#versions")
        page.fill("#api-key", key)
        page.click("#key-form button")
        page.click("tr[data-version=v2][data-status=candidate] button[data-promote=v2]")
        refused = page.wait_for_selector("#report:not([hidden]) tr.regressed")
        assert refused.inner_text().startswith("ndcg@10") and "regressed" in refused.inner_text()
        assert "Refused: v2 against live v1" in page.inner_text("#report-body")
        assert "The gate refused v2" in page.inner_text("#version-status")
        page.wait_for_selector("tr[data-version=v2][data-status=refused]")
        shot("07-gate-refused")

        # a refused version offers no primary Promote, only "Promote anyway (skips the gate)"
        assert page.locator("tr[data-version=v2] button[data-promote]").count() == 0
        assert page.inner_text("tr[data-version=v2] button[data-force=v2]") == "Promote anyway (skips the gate)"
        asked = []
        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
        page.click("#report-body button[data-force=v2]")
        page.wait_for_selector("tr[data-version=v2][data-status=live]")
        assert "forced" in page.inner_text("#version-status")
        assert "Promote v2 (built" in asked[0] and "in place of live v1 (12 documents): -5 documents" in asked[0]
        served = httpx.get(f"{base}/v1/search", params={"q": "aspirin"}, headers={"Authorization": f"Bearer {key}"})
        assert served.json()["index_version"] == "v2"

        # issue 49 finding 2: the button names its target, and the confirmation both versions and the change
        assert page.inner_text("#rollback").startswith("Roll back to v1 (built ")
        assert page.inner_text("#rollback").endswith(", 12 documents)")
        page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
        page.click("#rollback")
        page.wait_for_selector("tr[data-version=v1][data-status=live]")
        assert "Roll back to v1 (built" in asked[1] and "in place of live v2 (7 documents): +5 documents" in asked[1]
        assert page.inner_text("#version-status").startswith("v1 is live (was v2")
        # nothing earlier than v1: no rollback offered, and v2 (rolled back from) only through the gate again
        assert page.locator("#rollback").is_hidden()
        assert page.inner_text("tr[data-version=v2] td:nth-child(2)") == "retired (rolled back)"
        assert page.locator("button[data-make-live]").count() == 0
        assert page.locator("tr[data-version=v2] button[data-promote=v2]").count() == 1
        shot("10-versions-after-rollback")
        page.click("button[data-report=v2]")
        page.wait_for_selector("#report:not([hidden]) tr.regressed")
        shot("rolled-back-gate-report")
    assert page.inner_text("#error") == ""
    keep(shots)


HOSTILE = """# Harbour crane

<script>window.__pwned = "script tag"</script>
The harbour crane lifts containers of up to forty tonnes <img src=x onerror="window.__pwned='img onerror'">.

The crane operator <b onmouseover="window.__pwned='handler'">starts at six</b> in the morning; call
[the crane office](javascript:window.__pwned='javascript link') to book a lift.

<iframe src="javascript:parent.__pwned='iframe'"></iframe><svg onload="window.__pwned='svg'"></svg>
"""


def test_a_hostile_documents_markup_never_runs_in_the_ui(browser, site, tmp_path):
    """OWASP LLM05, improper output handling: markup and script in a document (uploaded, quoted in an answer,
    shown in the document viewer) is shown as text; nothing of it runs."""
    base, key = site
    hostile = tmp_path / "harbour-crane.md"
    hostile.write_text(HOSTILE)
    page = browser.new_page()
    problems = watched(page)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    upload(page, base, key, hostile)
    page.click("nav a[data-page=ask]")
    page.fill("#question", "How heavy are the containers the harbour crane lifts?")
    page.click("#ask-form button")
    answer = page.wait_for_selector(".answer[data-answer-id]", timeout=60_000)
    assert "forty tonnes" in answer.inner_text()
    page.click("a.cite[data-n='1']")
    page.wait_for_selector("#viewer:not([hidden]) #cited-passage")
    for element in page.query_selector_all("#viewer-body *, .answer *"):  # hover and click what the UI shows
        if element.is_visible():
            element.hover()
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None and not dialogs
    assert page.locator("#viewer-body script, #viewer-body img, #viewer-body iframe, .answer img").count() == 0
    assert "<script>" in page.inner_text("#viewer-body") or "onerror" in page.inner_text("#viewer-body")
    assert problems == []  # not even blocked by the CSP: none of it reached the page as markup


def test_a_reader_sees_only_what_its_role_can_use(browser, site, teams, tmp_path):
    """Issue 49 finding 9: a reader key saw Upload and Delete, and links to pages that only error (they need an
    editor); with a reader key none of them are shown, with an admin key all of them are."""
    base, _ = site
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    problems = watched(page)
    editor_pages = ["versions", "metrics", "review", "incidents"]
    page.goto(base)
    for role, shown in [("reader", False), ("admin", True)]:
        page.fill("#api-key", create_key(teams, role, "red"))
        page.click("#key-form button")
        page.click("nav a[data-page=documents]")
        page.wait_for_selector("button[data-delete]" if shown else "#doc-table tbody tr")
        assert page.locator("#upload-form").is_visible() is shown
        assert (page.locator("button[data-delete]").count() > 0) is shown
        assert [page.locator(f"nav a[data-page={p}]").is_visible() for p in editor_pages] == [shown] * 4
        assert all(page.locator(f"nav a[data-page={p}]").is_visible() for p in ("ask", "documents"))
        page.screenshot(path=str(tmp_path / f"documents-as-{role}.png"), full_page=True)
    page.fill("#api-key", create_key(teams, "reader", "red"))
    page.click("#key-form button")
    page.wait_for_selector("nav a[data-page=versions]", state="hidden")
    page.goto(base + "/#versions")  # a reader following a link to an editor's page lands on Ask
    page.wait_for_selector("#page-ask:not([hidden])")
    assert page.locator("#page-versions").is_hidden() and page.inner_text("#error") == "" and problems == []


@pytest.fixture(scope="module")
def articles_site(tmp_path_factory, cache_dir):
    """A server over four short articles (tests/test_cli_chat.py's), where "and when did it end?" means the boycott
    only after a question about it, and a reader's key."""
    from test_cli_chat import ARTICLES

    tmp = tmp_path_factory.mktemp("conversations")
    folder = tmp / "articles"
    folder.mkdir()
    for name, text in ARTICLES.items():
        (folder / name).write_text(text)
    env = env_for(tmp / "home", cache_dir)
    ingest(env, folder)
    with serving(env) as base:
        yield base, create_key(env, "reader", name="asker"), create_key(env, "editor", name="ed")


def ask_in_thread(page, question: str, n: int):
    """Ask `question` as the thread's turn `n` (from 0) and wait for its answer."""
    page.fill("#question", question)
    page.click("#ask-form button")
    turn = page.locator("#result .turn").nth(n)
    turn.locator(".answer[data-answer-id]").wait_for(timeout=60_000)
    return turn


def test_a_follow_up_keeps_its_conversation_and_a_past_conversation_reopens(browser, articles_site, tmp_path):
    """Issue 51: the Ask page's thread. A follow-up is asked with the conversation (its answer cites the document
    the first question was about, and says what was searched); a question back shows as such and its answer
    continues the thread; "New conversation" clears it; the key's past conversations are listed, newest first,
    and one clicked reopens with its turns and continues under the same id."""
    base, key, _ = articles_site
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    problems = watched(page)
    page.goto(base)
    page.fill("#api-key", key)
    page.click("#key-form button")
    page.wait_for_selector("#conversations:not([hidden]) #conversations-empty:not([hidden])")
    assert page.is_disabled("#new-conversation")

    first = ask_in_thread(page, "What was the Montgomery bus boycott?", 0)
    assert first.locator("ul.sources li").first.inner_text().startswith("[1] Montgomery bus boycott")
    assert first.locator("p.searched").count() == 0  # the question alone was searched
    assert page.inner_text("#question-label").startswith("Follow-up question") and page.input_value("#question") == ""
    follow_up = ask_in_thread(page, "and when did it end?", 1)
    assert "December 20, 1956" in follow_up.locator(".answer-text").inner_text()
    assert follow_up.locator("ul.sources li").first.inner_text().startswith("[1] Montgomery bus boycott")
    assert follow_up.locator("p.searched").inner_text() == \
        "searched: and when did it end?; with What was the Montgomery bus boycott? (×0.5)"
    boycott = page.locator("#conversation-list li[aria-current]")
    boycott.filter(has_text="2 questions").wait_for()
    conversation_id = boycott.get_attribute("data-conversation")
    page.screenshot(path=str(tmp_path / "13-conversation.png"), full_page=True)
    live_sources = page.locator("#result ul.sources").all_inner_texts()
    live_citations = page.evaluate("() => Object.fromEntries([...document.querySelectorAll('#result .answer')]"
                                   ".map((card) => [card.dataset.answerId, card.citations]))")

    page.click("#new-conversation")
    assert page.locator("#result .turn").count() == 0 and page.inner_text("#question-label") == "Question"
    asked_back = ask_in_thread(page, "and when did it end?", 0)  # alone, "it" could be any of three things
    assert asked_back.locator(".answer.clarify .asked-back").inner_text().lower() == "asked back"
    assert asked_back.locator(".answer-text").inner_text().startswith("Which do you mean: Montgomery bus boycott [1]")
    assert asked_back.locator("ul.sources li").count() >= 2
    chosen = ask_in_thread(page, "the Montgomery bus boycott", 1)
    assert "December 20, 1956" in chosen.locator(".answer-text").inner_text()
    page.screenshot(path=str(tmp_path / "asked-back.png"), full_page=True)
    page.locator("#conversation-list li").nth(1).wait_for()
    listed = page.locator("#conversation-list li")
    assert listed.nth(0).get_attribute("aria-current") == "true"
    assert "and when did it end?" in listed.nth(0).inner_text()
    assert listed.nth(1).get_attribute("data-conversation") == conversation_id

    page.click(f"#conversation-list li[data-conversation='{conversation_id}'] button")
    page.wait_for_selector(f"#conversation-list li[data-conversation='{conversation_id}'][aria-current]")
    turns = page.locator("#result .turn")
    assert turns.count() == 2
    assert turns.nth(0).locator("p.asked").inner_text().endswith("What was the Montgomery bus boycott?")
    assert "December 20, 1956" in turns.nth(1).locator(".answer").inner_text()
    # issue 49: a reopened conversation showed its answers without their sources (GET /v1/conversations/{id} sends
    # them now, as /v1/ask's citations without the passage's text)
    assert page.locator("#result ul.sources").all_inner_texts() == live_sources and live_sources
    reopened = page.evaluate("() => Object.fromEntries([...document.querySelectorAll('#result .answer')]"
                             ".map((card) => [card.dataset.answerId, card.citations]))")
    assert reopened == {answer_id: [{k: c[k] for k in ("n", "doc_id", "chunk_id", "title", "start", "end")}
                                    for c in citations] for answer_id, citations in live_citations.items()}
    turns.nth(1).locator("a.cite[data-n='1']").first.click()
    cited = page.wait_for_selector("#viewer:not([hidden]) #cited-passage")
    assert "December 20, 1956" in cited.inner_text() and page.inner_text("#viewer-title").startswith("[1] Montgomery")
    page.screenshot(path=str(tmp_path / "14-past-conversations.png"), full_page=True)
    later = ask_in_thread(page, "who was arrested?", 2)  # continued: searched with both earlier questions
    assert later.locator("p.searched").inner_text() == (
        "searched: who was arrested?; with and when did it end? (×0.5); What was the Montgomery bus boycott? (×0.25)")
    assert later.locator("ul.sources li").first.inner_text().startswith("[1] Montgomery bus boycott")
    page.locator("#conversation-list li").first.filter(has_text="3 questions").wait_for()
    stored = httpx.get(f"{base}/v1/conversations/{conversation_id}", headers={"Authorization": f"Bearer {key}"})
    assert [t["question"] for t in stored.json()["turns"]] == ["What was the Montgomery bus boycott?",
                                                                "and when did it end?", "who was arrested?"]
    assert page.inner_text("#error") == "" and problems == []
    keep([tmp_path / "13-conversation.png", tmp_path / "14-past-conversations.png"])


def test_a_reader_changes_its_vote_and_reads_a_question_back_as_asked_back(browser, articles_site, tmp_path):
    """Issue 49: after a vote both thumbs were disabled though the latest vote counts; "My questions" showed the raw
    outcome "clarify"; the Review page labelled an abstention's closest sources "(cited)"."""
    base, reader, editor = articles_site
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    problems = watched(page)
    page.goto(base)
    page.fill("#api-key", reader)
    page.click("#key-form button")
    card = ask_in_thread(page, "and when did it end?", 0).locator(".answer.clarify")  # a question back
    asked_back = card.get_attribute("data-answer-id")
    up, down = card.locator("button[data-rating=up]"), card.locator("button[data-rating=down]")
    down.click()
    card.locator(".feedback-status:has-text('Thanks for the feedback.')").wait_for()
    assert (down.get_attribute("aria-pressed"), up.get_attribute("aria-pressed")) == ("true", "false")
    assert up.is_enabled()
    up.click()  # changed: the latest vote counts
    card.locator(".feedback-status:has-text('your latest vote counts')").wait_for()
    assert (down.get_attribute("aria-pressed"), up.get_attribute("aria-pressed")) == ("false", "true")
    assert down.is_enabled()
    page.click("#new-conversation")
    abstained = ask_in_thread(page, "How many moons does Jupiter have?", 0).locator(".answer.abstain")
    abstained_id = abstained.get_attribute("data-answer-id")
    page.click("nav a[data-page=history]")
    row = page.wait_for_selector(f"#history-table tr[data-answer='{asked_back}']")
    assert row.inner_text().split("\t")[2:4] == ["asked back", "up"]

    page.fill("#api-key", editor)
    page.click("#key-form button")
    page.click("nav a[data-page=review]")
    page.select_option("#review-queue", "up")
    review = page.wait_for_selector(f"form.review[data-answer='{asked_back}']")
    assert review.query_selector("p.meta").inner_text().startswith("asked back, rated up")
    page.select_option("#review-queue", "abstained")
    review = page.wait_for_selector(f"form.review[data-answer='{abstained_id}']")
    sources = [s.inner_text() for s in review.query_selector_all("ol.sources li strong")]
    assert sources and all(s.endswith(" (closest)") for s in sources), sources
    page.screenshot(path=str(tmp_path / "review-abstained-closest.png"), full_page=True)
    assert page.inner_text("#error") == "" and problems == []
