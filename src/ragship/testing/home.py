"""A home as the `ragship` processes of an environment see it, opened in this process: its settings, an Engine,
and its state store read through the modules that own each table (never with raw SQL, so a script reads
PostgreSQL as it reads SQLite)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


def env_for(home: Path, config: Path | None = None, cache_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """This process's environment without its RAGSHIP_* settings (RAGSHIP_MODEL_CACHE aside), for `home`; no
    settings file unless `config` names one; `extra` variables added."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSHIP_") or k == "RAGSHIP_MODEL_CACHE"}
    env |= {"RAGSHIP_HOME": str(home), "RAGSHIP_CONFIG": str(config or Path(home) / "absent.toml")}
    if cache_dir is not None:
        env["RAGSHIP_CACHE_DIR"] = str(cache_dir)
    return env | extra


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """os.environ's RAGSHIP_* variables as `env` has them, for the duration (settings read them)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("RAGSHIP_")}
    try:
        for k in saved:
            os.environ.pop(k)
        os.environ.update({k: v for k, v in env.items() if k.startswith("RAGSHIP_")})
        yield
    finally:
        for k in [k for k in os.environ if k.startswith("RAGSHIP_")]:
            os.environ.pop(k)
        os.environ.update(saved)


def settings_for(env: dict[str, str]):
    """The Settings a `ragship` process started with `env` loads."""
    from ragship.settings import load_settings

    with _environment(env):
        return load_settings()


def engine_for(env: dict[str, str]):
    """The Engine of `env`'s home and settings, in this process (a `ragship` subprocess would import torch and
    load the model again)."""
    from ragship.engine import Engine

    return Engine(settings_for(env))


def query_log(env: dict[str, str]):
    """The QueryLog over `env`'s state store (HOME/state.sqlite or state.url): what the monitor, alert, freshness
    and improvement-run modules read through."""
    from ragship.monitor.querylog import QueryLog
    from ragship.state import State

    settings = settings_for(env)
    return QueryLog(State(settings.state.url, settings.home), settings.monitor.query_text)


def improvement_run(env: dict[str, str], run_id: str, collection: str = "default") -> dict[str, Any]:
    """An improvement run's row and report (learn/runs.py); KeyError when the newest 50 runs do not hold it."""
    from ragship.learn.runs import Runs

    log = query_log(env)
    try:
        return next(r for r in Runs(log, collection).recent(50) if r["id"] == run_id)
    except StopIteration:
        raise KeyError(f"no improvement run {run_id!r} among the newest 50 of {collection}") from None
    finally:
        log.state.close()
