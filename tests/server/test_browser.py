"""The web UI in a real browser: Playwright for Python driving Debian's chromium headless (installed from Debian
packages by `make browser`, never downloaded by Playwright). Upload a file, wait for its job, ask, see a cited
answer, open the citation inside its document, give feedback; visit the other pages; as an admin, read a gate's
report, promote and roll back. Screenshots are saved in the test's folder (and copied to docs/screenshots when
UI_SCREENSHOTS is set)."""

import os
import shutil
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
    key = create_key(teams, "editor", "red")
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
    assert page.locator("ol.sources li").first.inner_text().startswith("[1] Harbour lights")
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
      window.fetch = async (url, opts) => { if (String(url).includes("queue=down")) await new Promise((r) => setTimeout(r, 1500));
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
    reviewed = httpx.get(f"{base}/v1/review", params={"queue": "down"},
                         headers={"Authorization": f"Bearer {key}"}).json()["answers"]
    assert next(a for a in reviewed if a["id"] == answer_id)["votes"] == 2
    assert page.inner_text("#error") == ""
    keep([tmp_path / "review-queue.png", tmp_path / "review-saved.png"])


def test_an_incident_page_shows_its_timeline_takes_the_ack_and_drafts_the_postmortem(browser, site, tmp_path):
    """Issue 34: an incident opened by hand is listed; its page shows the timeline (the build and release of the
    live version, the opening); acknowledging it and the postmortem draft are a click each."""
    base, key = site
    auth = {"Authorization": f"Bearer {key}"}
    opened = httpx.post(f"{base}/v1/incidents", json={"title": "users say the tram answers are stale"},
                        headers=auth).raise_for_status().json()
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(base)
    page.fill("#api-key", key)
    page.click("#key-form button")
    page.click("nav a[data-page=incidents]")
    page.click(f"#incident-table a[href='#incidents/{opened['id']}']")
    page.wait_for_selector("#incident:not([hidden]) #timeline-table tbody tr")
    timeline = page.inner_text("#timeline-table")
    assert "opened by hand: users say the tram answers are stale" in timeline and "v1 built" in timeline
    page.click("#incident-ack")
    page.wait_for_selector("#incident-meta:has-text('acknowledged')")
    page.click("#incident-postmortem")
    drafted = page.wait_for_selector("#postmortem:not([hidden])")
    assert "## Impact (from the query log)" in drafted.inner_text() and "## Action items" in drafted.inner_text()
    page.screenshot(path=str(tmp_path / "incident.png"), full_page=True)
    assert httpx.get(f"{base}/v1/incidents/{opened['id']}", headers=auth).json()["status"] == "acknowledged"
    assert page.inner_text("#error") == ""
    keep([tmp_path / "incident.png"])


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
    page.click("ol.sources a[data-n='1']")
    page.wait_for_selector("#viewer:not([hidden]) #cited-passage")
    page.screenshot(path=str(tmp_path / "csp-ask.png"), full_page=True)
    for name, ready in [("documents", "#doc-table tbody tr"), ("versions", "#version-table tbody tr"),
                        ("metrics", ".chart canvas"), ("review", "#review-list[aria-busy=false]"),
                        ("incidents", "#page-incidents:not([hidden])")]:
        page.click(f"nav a[data-page={name}]")
        page.wait_for_selector(ready)
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

    def shot(name):
        path = tmp_path / f"{len(shots) + 7:02d}-{name}.png"
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
        shot("gate-refused")

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
        shot("versions-after-rollback")
        page.click("button[data-report=v2]")
        page.wait_for_selector("#report:not([hidden]) tr.regressed")
        shot("rolled-back")
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
