"""ragship.testing's server harness against a real `ragship serve`: ready on a tiny home and stopped cleanly, an
upload's job waited on; a server that cannot start, or never gets ready, raises ServerNotReady showing the end of
its log. The fault lab's damage is what the doctor finds."""

import json
import subprocess

import httpx
import pytest

from conftest import DATA
from ragship.testing import Server, ServerNotReady, cli_process, env_for, wait_for_job
from serving import ingest


def test_a_server_is_waited_on_until_ready_and_stopped(tmp_path, cache_dir):
    env = env_for(tmp_path / "home", cache_dir=cache_dir)
    ingest(env, DATA / "docs")  # a tiny home
    with Server(env) as server:
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        assert httpx.get(f"{server.url}/v1/search", params={"q": "ferry"}).json()["index_version"] == "v1"
        live = tmp_path / "home" / "index" / "LIVE"
        good = live.read_text()
        live.write_text(good[:7])  # not ready while the live pointer cannot be read
        with pytest.raises(ServerNotReady, match=r"did not answer /readyz 200 within 1 s \(its last answer: 503 .*"
                                                  r"LIVE cannot be read"):
            server.wait_ready(timeout_s=1)
        live.write_text(good)
        server.wait_ready(timeout_s=30)
        upload = httpx.post(f"{server.url}/v1/documents", files={"files": ("pier.txt", b"Pier 9 opens at dawn.")})
        job = wait_for_job(server.url, upload.json()["id"], timeout_s=120)
        assert job["status"] == "done", job
        assert httpx.get(f"{server.url}/v1/search", params={"q": "Pier 9"}).json()["index_version"] == "v2"
    assert server.process.returncode is not None  # stopped
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/healthz", timeout=2)


def test_a_server_that_exits_raises_with_the_end_of_its_log(tmp_path):
    config = tmp_path / "ragship.toml"
    config.write_text("[search\n")  # not TOML: `ragship serve` exits at once
    server = Server(env_for(tmp_path / "home", config), ready_s=60)
    with pytest.raises(ServerNotReady) as raised:
        with server:
            pass
    said = str(raised.value)
    assert "exited with code 2 before /readyz answered 200" in said and "is not valid TOML" in said, said
    assert str(server.log) in said and server.log.exists()  # kept: the error names it


def test_a_command_left_running_is_a_process_of_this_python(tmp_path):
    process = cli_process(env_for(tmp_path / "home"), "status", "--json", stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    status = json.loads(out)
    assert status["home"] == str(tmp_path / "home") and status["live_version"] is None


def test_the_fault_lab_tears_a_cache_entry_the_doctor_finds_and_repairs(tmp_path):
    from ragship.testing.faults import Lab

    lab = Lab(Lab.template(tmp_path / "template"), tmp_path / "row")
    try:
        lab.tear_cache_entry()
        found = [f for f in lab.engine().doctor() if f.problem]
        assert [f.check for f in found] == ["embedding cache"] and "1 entries" in found[0].problem
        lab.engine().doctor(repair=True)
        assert lab.healthy() and lab.lost() == 0
    finally:
        lab.close()
