"""Uploads through the API, in process: files sent together become one version (issue 30 item 3)."""


from inprocess import call, upload


def versions(api):
    return call(api, "admin", "GET", "/v1/versions").json()["versions"]


def test_files_uploaded_together_make_one_version(api):
    before = len(versions(api))
    files = {f"note-{i}.md": f"# Note {i}\n\nThe shuttle {i} leaves bay {i} at noon.\n".encode() for i in range(6)}
    status, job = upload(api, "editor-red", files, "red")
    assert status == 202 and job["status"] == "done", job
    assert len(versions(api)) == before + 1
    assert {r["version"] for r in job["results"]} == {call(api, "admin", "GET", "/v1/versions").json()["live"]}
    assert all(r["ingested"] and r["doc_id"].endswith(r["file"]) for r in job["results"])


def test_a_bad_file_among_good_ones_fails_alone(api):
    status, job = upload(api, "admin", {"good.md": b"# Good\n\nThe ferry leaves at six.\n",
                                        "bad.pdf": b"%PDF-1.4 not really a pdf"})
    assert job["status"] == "done", job
    results = {r["file"]: r for r in job["results"]}
    assert results["good.md"]["ingested"] and not results["good.md"]["failures"]
    assert not results["bad.pdf"]["ingested"] and results["bad.pdf"]["failures"][0]["file"] == "bad.pdf"


def test_a_full_disk_during_a_streamed_answer_says_so(tmp_path):
    """Issue 32: disk errors were translated in the faces' catch-alls, and the streaming path skipped that."""
    import asyncio

    from ragship.server.logged import answer_events

    class Full:
        def ask_stream(self, *args):
            raise OSError(28, "No space left on device", str(tmp_path / "x"))
            yield  # a generator, as the engine's is

    class Svc:
        gate = asyncio.Lock()

    async def events():
        return [e async for e in answer_events(Svc(), Full(), "q", None, None)]

    (event,) = asyncio.run(events())
    assert event["type"] == "error" and "no space left" in event["detail"], event
