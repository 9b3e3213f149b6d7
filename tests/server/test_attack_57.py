"""Found by the stop-57 attack with a red reader key: recent query vectors were kept in one memory for every caller,
and one found there answers in microseconds (`timings_ms.embed` 0.013 ms against 68.6 ms), so any key could test
whether someone asked a guessed question word for word ("When does the ZEBRAFISH acquisition close"). Each key now
finds only its own (embed/cache.py: QUERY_SCOPE, set by server/logged.py for every search, ask and chat)."""

from __future__ import annotations


from inprocess import call

QUESTION = "When does the ZEBRAFISH acquisition close"


def test_a_question_another_key_asked_is_encoded_again_not_found_in_memory(api):
    engine = api[0].app.state.service.collections.get(None)
    encoded: list[str] = []
    inner = engine.embedder.inner
    real = inner.embed_query
    inner.embed_query = lambda text: encoded.append(text) or real(text)
    try:
        assert call(api, "reader-blue", "POST", "/v1/ask", json={"q": QUESTION}).status_code == 200
        assert encoded == [QUESTION]
        assert call(api, "reader-blue", "GET", "/v1/search", params={"q": QUESTION}).status_code == 200
        assert encoded == [QUESTION]  # the asker's own question again: from memory, as a conversation needs
        for path, kwargs in [("/v1/search", {"params": {"q": QUESTION}}), ("/v1/ask", {"json": {"q": QUESTION}}),
                             ("/v1/chat/completions", {"json": {"model": "ragship", "messages": [
                                 {"role": "user", "content": QUESTION}]}})]:
            method = "GET" if "params" in kwargs else "POST"
            assert call(api, "reader-red", method, path, **kwargs).status_code == 200
        assert encoded == [QUESTION, QUESTION]  # encoded for the red key once, then its own memory
    finally:
        inner.embed_query = real
