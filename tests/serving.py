"""Start `ragship serve` as a real process on 127.0.0.1 for a test, and stop it."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from conftest import DATA, free_port  # noqa: F401 - tests import free_port from here
from ragship.testing import Server

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


def create_key(env: dict, role: str, groups: str = "", name: str = "") -> str:
    """A new key in `env`'s home, as `ragship keys create` makes it (in this process: no interpreter start)."""
    from ragship.access import KeyStore

    state = engine_for(env).state
    try:
        return KeyStore(state).create(role, [g for g in groups.split(",") if g], name)[0]
    finally:
        state.close()


def engine_for(env: dict):
    """The Engine of `env`'s home and settings file, in this process (a `ragship` subprocess would import torch
    and load the model again: seconds per test home)."""
    from ragship.engine import Engine
    from ragship.settings import load_settings

    before = os.environ.get("RAGSHIP_CONFIG")
    os.environ["RAGSHIP_CONFIG"] = env["RAGSHIP_CONFIG"]
    try:
        return Engine(load_settings(home=Path(env["RAGSHIP_HOME"]), cache_dir=Path(env["RAGSHIP_CACHE_DIR"])))
    finally:
        os.environ.pop("RAGSHIP_CONFIG") if before is None else os.environ.__setitem__("RAGSHIP_CONFIG", before)


def ingest(env: dict, path: Path):
    """`ragship ingest PATH` on `env`'s home, in this process: the ingest and its release step."""
    engine = engine_for(env)
    return engine.release(engine.ingest([path]))


def teams_home(tmp: Path, cache_dir: Path, extra_toml: str = "") -> dict:
    """A home holding tests/data/teams with red/ and blue/ permissions (ingested here, as `ragship ingest` does);
    returns its environment."""
    config = tmp / "ragship.toml"
    config.write_text(extra_toml + TEAMS_TOML.format(root=(DATA / "teams").resolve()))
    env = env_for(tmp / "home", cache_dir, config)
    ingest(env, DATA / "teams")
    return env


@contextmanager
def serving(env: dict, *args: str, log: Path | None = None, pid: bool = False, ready_s: float = 120):
    """A real server on a free port (ragship.testing.Server, up once /healthz answers: some tests serve a home that
    is not ready), as its base URL (and its process id, with `pid`); its output goes to `log`."""
    with Server(env, *args, log=log, ready=False, ready_s=ready_s, stop_s=90) as server:
        yield (server.url, server.pid) if pid else server.url
