"""The trial's chat, as a team would have it (issue 51, must-show 3): CLAP NQ dev's 593 Wikipedia passages written
as .txt files with the title on line 1 (as issue 49's trial did), ingested with the defaults (no LLM), served by a
real `ragship serve` with API keys, where a reader key holds two conversations: "what was the 1980 summer olympics
boycott" → "and when did it end?", and "what is dada" → "who founded it?".

Each is asked

- with the official OpenAI Python SDK on /v1/chat/completions, plain and streamed (the follow-up with the earlier
  question and reply as messages), and each follow-up asked alone for contrast;
- over MCP (the official SDK's client on /mcp), the follow-up through the `ask` tool with `conversation`;
- in the web UI's Ask page (Playwright driving Debian's chromium), each pair in its conversation view, screenshotted
  (`15-trial-boycott-conversation.png`, `16-trial-dada-conversation.png` in `--screenshots`).

For each turn it prints the reply's opening, the documents cited, `ragship.question`, `ragship.searched` and
`ragship.outcome` (from the response's `ragship` member; streamed, its last chunk's), and a verdict. PASS: the turn
is answered citing the article it is about (the passage titled "1980 Summer Olympics boycott", resp. "Dada"), or,
for a follow-up, abstains with that article among the closest sources when the article's passage does not hold the
answer (CLAP NQ keeps one passage per article: the boycott's stops at February 1980, Dada's names no founder; the
script checks and prints this). FAIL: the article is not among its documents (the trial's follow-ups cited a surgeon
and American football), a question back, an abstention on a first question or on a follow-up whose article holds
the answer, or a follow-up "answered" from an article that does not hold the answer. Re-running on the same home
re-ingests nothing (the files are unchanged) and creates a new reader key.

    python scripts/conversation_trial.py [--home DIR] [--port N] [--screenshots docs/screenshots] [--no-ui]
                                         [--dada-question "What was the Dada art movement?"] [--faces sdk,mcp,ui]
                                         [--passages N]

`--faces`: the faces to ask through (default all three); `--passages N`: the two articles' passages and the first N
others only (a smaller corpus, for a quick run).
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLAPNQ = ROOT.parent / "shared" / "datasets" / "clapnq-dev"


@dataclass(frozen=True)
class Chat:
    name: str
    article: str  # the title of the passage both turns are about
    first: str
    follow_up: str
    shot: str  # the UI's screenshot
    answered_by: str  # a pattern an answer to the follow-up would hold (checked against the article's text)
    says: str  # what that answer would say


# The trial's words for its Dada question are not recorded (issue 51: "a question about Dada"; ADR 0023's
# reproduction, tests/test_cli.py, asks "What was the Dada art movement?", which --dada-question asks instead).
CHATS = [Chat("boycott", "1980 Summer Olympics boycott", "what was the 1980 summer olympics boycott",
              "and when did it end?", "15-trial-boycott-conversation.png",
              r"\b(end|ended|ending|lifted|called off|over|July|August|1981|1982|1983|1984)\b",
              "when the boycott ended"),
         Chat("dada", "Dada", "what is dada", "who founded it?", "16-trial-dada-conversation.png",
              r"\b(Ball|Tzara|Arp|Huelsenbeck|Janco|Hennings|Richter|founded|founders?)\b", "who founded Dada")]
MODEL = "ragship"


def as_text_files(corpus: Path, folder: Path, others: int | None = None) -> dict[str, tuple[str, str]]:
    """Each passage as NAME.txt, its title on line 1 then its text (benchmarks/titles_as_text.py's naming); the
    file name and text by title. With `others`, only the chats' articles and the first `others` other passages."""
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, tuple[str, str]] = {}
    rows = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    if others is not None:
        articles = {chat.article for chat in CHATS}
        rows = [r for r in rows if r["title"] in articles] + [r for r in rows if r["title"] not in articles][:others]
    for row in rows:
        stem = re.sub(r"[^A-Za-z0-9]+", "_", row["title"])[:60] + "_" + row["_id"][-6:]
        path = folder / f"{stem}.txt"
        text = f"{row['title']}\n{row['text']}\n"
        if not path.exists() or path.read_text(encoding="utf-8") != text:  # unchanged files: nothing to re-ingest
            path.write_text(text, encoding="utf-8")
        written.setdefault(row["title"], (path.name, row["text"]))
    return written


class Verdicts:
    """The verdict of each turn, kept to sum up at the end. A turn passes when it is answered citing its article,
    and a follow-up also when it abstains with its article among the closest sources while that article's passage
    does not hold the answer (nothing to answer from: CLAP NQ keeps one passage of each article); it fails when
    the article is not among its documents, when it asks back, or when it abstains on a first question or on a
    follow-up whose article holds the answer, or an answer to a follow-up from an article that does not hold it."""

    def __init__(self, written: dict[str, tuple[str, str]]):
        self.written, self.rows = written, []

    def holds(self, chat: Chat) -> bool:
        """Whether the article's passage holds something an answer to the follow-up would say."""
        return re.search(chat.answered_by, self.written.get(chat.article, ("", ""))[1]) is not None

    def judge(self, face: str, chat: Chat, turn: str, outcome: str | None, docs: list[tuple[str, str]],
              counted: bool = True) -> str:
        """`docs`: the (title, doc id) of each document the turn cites, in order."""
        file = self.written.get(chat.article, ("\0", ""))[0]
        at = [i for i, (title, doc_id) in enumerate(docs)
              if title == chat.article or doc_id == file or doc_id.endswith("/" + file)]
        where = ("first" if at[0] == 0 else f"document {at[0] + 1} of {len(docs)}") if at else ""
        if outcome is None:
            verdict = "FAIL (no ragship answer in the response)"
        elif not at:
            verdict = f"FAIL ({outcome}; {chat.article!r} is not among its {len(docs)} documents)"
        elif outcome == "answer" and turn == chat.follow_up and not self.holds(chat):
            verdict = f"FAIL (answered, citing {chat.article!r} {where}, though its passage does not say " \
                      f"{chat.says}: the sentences quoted cannot answer it)"
        elif outcome == "answer":
            verdict = f"PASS (answered, citing {chat.article!r} {where})"
        elif outcome == "abstain" and turn == chat.follow_up and not self.holds(chat):
            verdict = f"PASS (abstained, {chat.article!r} {where} among the closest sources; its passage does " \
                      f"not say {chat.says})"
        elif outcome == "abstain":
            verdict = f"FAIL (abstained, though {chat.article!r} is {where} among the closest sources" + \
                      (f" and its passage says {chat.says})" if turn == chat.follow_up else ")")
        else:
            verdict = f"FAIL ({outcome}: asked back, {chat.article!r} {where} among the readings named)"
        if counted:
            self.rows.append((face, turn, verdict))
        return verdict

    def judge_answer(self, face: str, chat: Chat, turn: str, answer: dict | None, counted: bool = True) -> str:
        docs = [(d.get("title") or "", d["doc_id"]) for d in (answer or {}).get("documents") or []]
        return self.judge(face, chat, turn, None if answer is None else answer.get("outcome"), docs, counted)


def show(label: str, text: str, answer: dict | None, verdict: str) -> None:
    print(f"  {label}")
    print(f"    reply: {' '.join(text.split())[:200]!r}")
    if answer is None:
        print(f"    verdict: {verdict}")
        return
    docs = "; ".join(f"{''.join(f'[{n}]' for n in d['citations'])} {d['title']!r} ({d['doc_id']})"
                     for d in answer.get("documents") or []) or "none"
    s = answer.get("searched") or {}
    context = ", ".join(f"{t['text']!r} ×{t['weight']}" for t in s.get("context") or []) or "none"
    print(f"    documents: {docs}")
    print(f"    ragship.question: {answer.get('question')!r}")
    print(f"    ragship.searched: query {s.get('query')!r}; context {context}; rewritten_by {s.get('rewritten_by')}; "
          f"fallback {s.get('fallback')}")
    print(f"    ragship.outcome: {answer.get('outcome')} (abstained {answer.get('abstained')}, confidence "
          f"{answer.get('confidence', 0):.3f})")
    print(f"    verdict: {verdict}", flush=True)


# -- the OpenAI SDK ----------------------------------------------------------------------------------------------
def sdk_turn(client, messages: list[dict], stream: bool) -> tuple[str, dict | None]:
    """The reply's text and its `ragship` member (plain: the response's; streamed: the last chunk's)."""
    if not stream:
        response = client.chat.completions.create(model=MODEL, messages=messages)
        return response.choices[0].message.content or "", (response.model_extra or {}).get("ragship")
    text, answer = "", None
    for chunk in client.chat.completions.create(model=MODEL, messages=messages, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        answer = (chunk.model_extra or {}).get("ragship", answer)
    return text, answer


def openai_sdk(base: str, key: str, verdicts: Verdicts) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{base}/v1", api_key=key, timeout=300, max_retries=0)
    print(f"\n== OpenAI SDK: {base}/v1/chat/completions, model {MODEL!r}, the reader key", flush=True)
    for chat in CHATS:
        for stream in (False, True):
            how = "streamed" if stream else "plain"
            print(f"- {chat.name}, {how}")
            messages = [{"role": "user", "content": chat.first}]
            text, answer = sdk_turn(client, messages, stream)
            show(f"[{how}] user: {chat.first}", text, answer,
                 verdicts.judge_answer(f"sdk {how}", chat, chat.first, answer))
            messages += [{"role": "assistant", "content": text}, {"role": "user", "content": chat.follow_up}]
            text, answer = sdk_turn(client, messages, stream)
            show(f"[{how}] user: {chat.follow_up}  (after the question and its reply)", text, answer,
                 verdicts.judge_answer(f"sdk {how}", chat, chat.follow_up, answer))
        text, answer = sdk_turn(client, [{"role": "user", "content": chat.follow_up}], False)
        show(f"[plain, alone, for contrast] user: {chat.follow_up}", text, answer,
             verdicts.judge_answer("sdk alone", chat, chat.follow_up, answer, counted=False))


# -- MCP ---------------------------------------------------------------------------------------------------------
def over_mcp(base: str, key: str, verdicts: Verdicts) -> None:
    import anyio
    import httpx
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def main() -> list[tuple[Chat, str, str, dict]]:
        seen = []
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=300) as http, \
                streamable_http_client(f"{base}/mcp", http_client=http) as (read, write, _), \
                ClientSession(read, write) as session:
            await session.initialize()
            for chat in CHATS:
                first = await session.call_tool("ask", {"question": chat.first})
                seen.append((chat, chat.first, "", first))
                earlier = [{"role": "user", "content": chat.first},
                           {"role": "assistant", "content": first.structuredContent["answer"]}]
                then = await session.call_tool("ask", {"question": chat.follow_up, "conversation": earlier,
                                                       "conversation_id": first.structuredContent["conversation_id"]})
                seen.append((chat, chat.follow_up, "with `conversation`", then))
                alone = await session.call_tool("ask", {"question": chat.follow_up})
                seen.append((chat, chat.follow_up, "alone, for contrast", alone))
        return seen

    print(f"\n== MCP: the `ask` tool over streamable HTTP at {base}/mcp, the reader key", flush=True)
    for chat, question, how, result in anyio.run(main):
        label = f"[mcp] {chat.name}: {question}" + (f"  ({how})" if how else "")
        if result.isError:
            verdict = f"FAIL (tool error: {result.content[0].text})"
            verdicts.rows.append(("mcp", question, verdict))
            print(f"  {label}\n    verdict: {verdict}")
            continue
        answer = result.structuredContent
        verdict = verdicts.judge_answer("mcp", chat, question, answer, counted=not how.startswith("alone"))
        show(label, answer["answer"] or "(empty: the tool's answer is empty when it abstains)", answer, verdict)


# -- the UI ------------------------------------------------------------------------------------------------------
def in_the_ui(base: str, key: str, shots: Path, verdicts: Verdicts) -> None:
    from playwright.sync_api import sync_playwright

    print(f"\n== UI: {base}, the Ask page's conversation view (Debian's chromium, headless)", flush=True)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1366, "height": 900})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
        page.goto(base)
        page.fill("#api-key", key)
        page.click("#key-form button")
        page.wait_for_selector("#conversations:not([hidden])")
        for i, chat in enumerate(CHATS):
            if i:
                page.click("#new-conversation")
            for n, question in enumerate((chat.first, chat.follow_up)):
                page.fill("#question", question)
                page.click("#ask-form button")
                turn = page.locator("#result .turn").nth(n)
                card = turn.locator(".answer[data-answer-id]")
                card.wait_for(timeout=300_000)
                outcome = card.get_attribute("data-outcome")
                docs = []
                for li in turn.locator("ul.sources li").all():
                    doc_id = li.locator(".meta").inner_text().strip()
                    title = re.sub(r"^(\[\d+\])+\s*", "", li.inner_text().strip()).removesuffix(doc_id).strip()
                    docs.append((title, doc_id))
                searched = turn.locator("p.searched").all_inner_texts()
                print(f"  [ui] {chat.name}: {question}")
                print(f"    reply: {' '.join(card.locator('p').first.inner_text().split())[:200]!r}"
                      + ("  (shown as Asked back)" if card.locator(".asked-back").count() else ""))
                print(f"    sources: {'; '.join(f'{t!r} ({d})' for t, d in docs) or 'none'}")
                print(f"    searched line: {searched[0] if searched else '(none: the question alone was searched)'}")
                print(f"    outcome: {outcome}")
                print(f"    verdict: {verdicts.judge('ui', chat, question, outcome, docs)}", flush=True)
            page.locator("#conversation-list li[aria-current]").filter(has_text="2 questions").wait_for(
                timeout=60_000)
            page.screenshot(path=str(shots / chat.shot), full_page=True)
            print(f"  screenshot: {shots / chat.shot}")
        print(f"  page errors: {problems or 'none'}; the page's error line: {page.inner_text('#error')!r}")
        browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, default=None, help="the home to build (or reuse); a temporary one if unset")
    ap.add_argument("--port", type=int, default=None, help="the server's port on 127.0.0.1 (a free one if unset)")
    ap.add_argument("--screenshots", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--no-ui", action="store_true", help="leave out the browser")
    ap.add_argument("--dada-question", default=CHATS[1].first, help="the question before 'who founded it?'")
    ap.add_argument("--faces", default="sdk,mcp,ui", help="the faces to ask through, comma-separated")
    ap.add_argument("--passages", type=int, default=None, help="the articles' passages and N others (default: all)")
    args = ap.parse_args()
    faces = set(args.faces.split(",")) - ({"ui"} if args.no_ui else set())
    if not CLAPNQ.is_dir():
        raise SystemExit(f"{CLAPNQ} not found: this script needs ../shared/datasets/clapnq-dev")
    CHATS[1] = replace(CHATS[1], first=args.dada_question)

    from ragship.testing import Server, cli_json, env_for
    from ragship.testing.bench import commit, machine

    home = args.home or Path(tempfile.mkdtemp(prefix="ragship-conversation-trial-"))
    home.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    print(f"data: {CLAPNQ / 'corpus.jsonl'} as .txt files (title on line 1) in {home / 'txt'}")
    print(f"commit: {commit(ROOT)}")
    print(f"home: {home}", flush=True)
    env = env_for(home)
    written = as_text_files(CLAPNQ / "corpus.jsonl", home / "txt", args.passages)
    verdicts = Verdicts(written)
    for chat in CHATS:
        file, text = written[chat.article]
        print(f"article {chat.article!r} ({file}): {len(text)} characters; it says {chat.says}: "
              f"{'yes' if verdicts.holds(chat) else 'no'} (/{chat.answered_by}/ "
              f"{'matches' if verdicts.holds(chat) else 'matches nothing'})")
    report = cli_json(env, "ingest", str(home / "txt"), timeout=3600)
    print("ingest:", json.dumps({k: v for k, v in report.items() if not isinstance(v, (list, dict))}), flush=True)
    key = cli_json(env, "keys", "create", "--role", "reader", "--name", "trial-reader")["key"]
    with Server(env, port=args.port, log=home / "server.log") as server:
        print(f"server: {server.url} (log {home / 'server.log'})", flush=True)
        if "sdk" in faces:
            openai_sdk(server.url, key, verdicts)
        if "mcp" in faces:
            over_mcp(server.url, key, verdicts)
        if "ui" in faces:
            in_the_ui(server.url, key, args.screenshots, verdicts)
    print("\n== verdicts (the contrast rows aside)")
    for face, turn, verdict in verdicts.rows:
        print(f"  {face:13} {turn:42} {verdict}")
    kinds = {"answered": sum(v.startswith("PASS (answered") for *_, v in verdicts.rows),
             "abstained with the article among the closest sources, which does not hold the answer":
                 sum(v.startswith("PASS (abstained") for *_, v in verdicts.rows),
             "FAIL": sum(v.startswith("FAIL") for *_, v in verdicts.rows)}
    print(f"{len(verdicts.rows) - kinds['FAIL']} PASS of {len(verdicts.rows)}: " + "; ".join(
        f"{k} {n}" for k, n in kinds.items()))


if __name__ == "__main__":
    main()
