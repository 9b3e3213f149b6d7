"""The `ragship` command as a real process, for a test, a script or a benchmark: its JSON report, or an error that
names the command and shows the end of what it said."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


class CommandFailed(RuntimeError):
    """A `ragship` command ended with an exit code the caller did not expect; the message ends with its stderr."""


def command(*args: str) -> list[str]:
    """The argument list of `ragship ARGS` run by this interpreter (whose environment has ragship installed)."""
    return [sys.executable, "-m", "ragship", *map(str, args)]


def cli(env: dict[str, str], *args: str, check: bool = True, timeout: float | None = None
        ) -> subprocess.CompletedProcess:
    """`ragship ARGS` with `env`, its output captured as text; CommandFailed on a non-zero exit when `check`."""
    run = subprocess.run(command(*args), env=env, capture_output=True, text=True, timeout=timeout)
    if check and run.returncode:
        raise CommandFailed(f"ragship {' '.join(args)} failed (exit {run.returncode}): {run.stderr[-2000:]}")
    return run


def cli_json(env: dict[str, str], *args: str, ok: tuple[int, ...] = (0,), timeout: float | None = None) -> Any:
    """The report of `ragship ARGS --json`; CommandFailed when its exit code is not in `ok` (a hold or a gate
    refusal, exit 8, still prints its report)."""
    run = cli(env, *args, "--json", check=False, timeout=timeout)
    if run.returncode not in ok:
        raise CommandFailed(f"ragship {' '.join(args)} failed (exit {run.returncode}): {run.stderr[-2000:]}")
    return json.loads(run.stdout)


def cli_process(env: dict[str, str], *args: str, stdout=None, stderr=None) -> subprocess.Popen:
    """`ragship ARGS` started with `env` and left running (to be killed, or waited on), its output as text to
    `stdout` and `stderr` (a file, subprocess.PIPE or DEVNULL; None: this process's)."""
    return subprocess.Popen(command(*args), env=env, stdout=stdout, stderr=stderr, text=True)
