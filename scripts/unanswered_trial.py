"""The questions the documents fail to answer, on a home with real traffic (issue 49, finding 11 and must-show 4):
CLAP NQ dev's passages are served by a real `ragship serve` with API keys, less the gold passages of `--held-out`
answerable questions (the documents a team has not written yet); three reader keys ask every answerable and
unanswerable question, rating each answer as a user would (up when it cites a gold passage, down with a comment
otherwise). The report is printed; then the held-out passages are uploaded (the documents added), the held-out
questions asked again, and the report printed once more: those now answered are closed. With `--screenshot PATH`
the Unanswered page, as the editor sees it, is saved there (Debian's chromium, Playwright).

    python scripts/unanswered_trial.py [--home DIR] [--held-out 20] [--screenshot docs/screenshots/12-...png]
                                       [--data DIR]    (another BEIR folder in clapnq-dev's layout)
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path

import httpx

from ragship.evaluate.beir import load_dataset, read_queries
from ragship.testing import Server, cli_json, env_for, wait_for_job

ROOT = Path(__file__).resolve().parents[1]
CLAPNQ = ROOT.parent / "shared" / "datasets" / "clapnq-dev"
COMMENTS = ["this is not what I asked", "it answers a different question", "the date is missing",
            "wrong person", ""]


def corpus_without(home: Path, held: set[str], data: Path = CLAPNQ) -> tuple[Path, list[dict]]:
    """CLAP NQ's corpus less the passages `held` (returned, to upload later)."""
    rows = [json.loads(line) for line in (data / "corpus.jsonl").read_text().splitlines() if line.strip()]
    kept = home / "clapnq-corpus" / "corpus.jsonl"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text("".join(json.dumps(r) + "\n" for r in rows if r["_id"] not in held))
    return kept, [r for r in rows if r["_id"] in held]


def ask_all(base: str, readers: list[str], questions: list[tuple[str, set[str]]], rng: random.Random) -> dict:
    """Each question asked by a random reader and rated: up when a cited document is gold, else down (with a
    comment, mostly)."""
    counts = {"asked": 0, "answered": 0, "abstained": 0, "up": 0, "down": 0}
    for text, gold in questions:
        key = rng.choice(readers)
        auth = {"Authorization": f"Bearer {key}"}
        answer = httpx.post(f"{base}/v1/ask", json={"q": text}, headers=auth, timeout=120).raise_for_status().json()
        counts["asked"] += 1
        counts["abstained" if answer["abstained"] else "answered"] += 1
        if answer["abstained"]:
            continue
        good = any(c["doc_id"] in gold or c["doc_id"].split("/")[-1].split(".")[0] in gold
                   for c in answer["citations"])
        body = {"answer_id": answer["id"], "rating": "up" if good else "down"}
        if not good:
            body["comment"] = rng.choice(COMMENTS)
        httpx.post(f"{base}/v1/feedback", json=body, headers=auth).raise_for_status()
        counts["up" if good else "down"] += 1
    return counts


def summary(base: str, editor: str) -> dict:
    report = httpx.get(f"{base}/v1/gaps", headers={"Authorization": f"Bearer {editor}"}, timeout=120).json()
    print(f"  {report['open']} open, {report['closed']} closed questions in {len(report['topics'])} topics")
    for t in report["topics"][:8]:
        print(f"    {t['name']}: {t['open']} open, {t['closed']} closed, failed {t['failed']}x; e.g. "
              f"{(t['questions'] or t['closed_questions'])[0]['question']!r}")
    return report


def screenshot(base: str, editor: str, path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        page.goto(base)
        page.fill("#api-key", editor)
        page.click("#key-form button")
        page.click("nav a[data-page=gaps]")
        page.wait_for_selector("#gaps-list .gap-topic")
        page.evaluate("document.querySelector('.gap-closed') && (document.querySelector('.gap-closed').open = true)")
        page.screenshot(path=str(path), full_page=True)
        browser.close()
    print(f"screenshot: {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--held-out", type=int, default=20, help="answerable questions whose gold passages are held out")
    ap.add_argument("--screenshot", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=CLAPNQ, help="the corpus and its questions (default: clapnq-dev)")
    args = ap.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="ragship-unanswered-"))
    env = env_for(home)
    dev, rng = load_dataset(args.data, "test"), random.Random(args.seed)
    answerable = [(text, set(dev.qrels[qid])) for qid, text in dev.queries.items()]
    unanswerable = [(text, set()) for text in read_queries(args.data / "queries_unanswerable.jsonl").values()]
    held_questions = answerable[:args.held_out]
    corpus, held = corpus_without(home, {p for _, gold in held_questions for p in gold}, args.data)
    cli_json(env, "ingest", str(corpus))
    keys = {name: cli_json(env, "keys", "create", "--role", role, "--name", name)["key"]
            for name, role in [("ops", "admin"), ("docs-team", "editor"), ("alice", "reader"), ("bob", "reader"),
                               ("carol", "reader")]}
    readers = [keys["alice"], keys["bob"], keys["carol"]]
    with Server(env, log=home / "server.log") as server:
        base = server.url
        traffic = answerable + unanswerable
        rng.shuffle(traffic)
        print("traffic:", ask_all(base, readers, traffic, rng))
        print("before the documents are added:")
        before = summary(base, keys["docs-team"])
        files = [("files", (f"{p['_id']}.md", f"# {p['title']}\n\n{p['text']}\n".encode())) for p in held]
        job = httpx.post(f"{base}/v1/documents", files=files, headers={"Authorization": f"Bearer {keys['ops']}"},
                         timeout=300).raise_for_status().json()
        wait_for_job(base, job["id"], timeout_s=1800, key=keys["ops"], every_s=0.5)
        print(f"added {len(held)} documents; the held-out questions asked again:",
              ask_all(base, readers, held_questions, rng))
        print("after:")
        after = summary(base, keys["docs-team"])
        print(f"closed by the added documents: {after['closed'] - before['closed']}")
        if args.screenshot:
            screenshot(base, keys["docs-team"], args.screenshot)


if __name__ == "__main__":
    main()
