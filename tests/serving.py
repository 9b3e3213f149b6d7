"""Start `ragship serve` as a real process on 127.0.0.1 for a test, and stop it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from conftest import DATA, free_port  # noqa: F401 (tests import it from here)

TEAMS_TOML = """
[[sources]]
path = "{root}/red"
groups = ["red"]
metadata = {{ team = "red" }}

[[sources]]
path = "{root}/blue"
groups = ["blue"]
metadata = {{ team = "blue" }}
"""


def env_for(home: Path, cache_dir: Path, config: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSHIP_") or k == "RAGSHIP_MODEL_CACHE"}
    env |= {"RAGSHIP_HOME": str(home), "RAGSHIP_CACHE_DIR": str(cache_dir)}
    env["RAGSHIP_CONFIG"] = str(config or home / "absent.toml")
    return env


def ragship(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ragship", *args], env=env, check=True, capture_output=True,
                          text=True, timeout=300)


def create_key(env: dict, role: str, groups: str = "") -> str:
    return json.loads(ragship(env, "keys", "create", "--role", role, "--groups", groups, "--json").stdout)["key"]


def teams_home(tmp: Path, cache_dir: Path, extra_toml: str = "") -> dict:
    """A home holding tests/data/teams with red/ and blue/ permissions; returns its environment."""
    config = tmp / "ragship.toml"
    config.write_text(extra_toml + TEAMS_TOML.format(root=(DATA / "teams").resolve()))
    env = env_for(tmp / "home", cache_dir, config)
    ragship(env, "ingest", str(DATA / "teams"))
    return env


@contextmanager
def serving(env: dict, *args: str, log: Path | None = None, pid: bool = False, ready_s: float = 120):
    """A real server on a free port, as its base URL (and its process id, with `pid`); its output goes to `log`
    (a file: a pipe nobody reads would block it)."""
    port = free_port()
    log = log or Path(tempfile.mkstemp(prefix="ragship-serve-", suffix=".log")[1])
    out = open(log, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "ragship", "serve", "--port", str(port), *args], env=env,
                            stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code in (200, 503) and \
                    httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            if proc.poll() is not None:
                pytest.fail(f"server exited: {log.read_text()}")
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"server did not start: {log.read_text()}")
    try:
        yield (base, proc.pid) if pid else base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        out.close()
