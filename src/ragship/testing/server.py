"""`ragship serve` as a real process on 127.0.0.1 for a test, a script or a benchmark: started on a free port with
the environment given (RAGSHIP_HOME, RAGSHIP_CONFIG, ...), waited on until /readyz answers 200, stopped (terminate,
wait, kill). A server that exits or never gets ready raises ServerNotReady with the tail of its log."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

POLL_S = 0.2


class ServerNotReady(RuntimeError):
    """The server exited before it was ready, or was not ready in time; the message ends with its log's tail."""


def free_port() -> int:
    """A port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`with Server(env) as server:` a `ragship serve` process (its `args` after `serve --port N`) that has
    answered /readyz 200 (`in_a_row` times in a row: one per worker process to be sure each is up), or with
    `ready=False` only /healthz (a home that is not ready yet, or a broken one). Its output goes to `log` (a file:
    a pipe nobody reads would block it), by default a temporary file removed once the server stopped cleanly."""

    def __init__(self, env: dict[str, str], *args: str, port: int | None = None, log: Path | None = None,
                 ready: bool = True, ready_s: float = 180.0, in_a_row: int = 1, stop_s: float = 60.0):
        self.env, self.args, self.port = env, args, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready, self.ready_s, self.in_a_row, self.stop_s = ready, ready_s, in_a_row, stop_s
        self._keep_log = log is not None  # a temporary log is removed on a clean stop
        self.log = Path(tempfile.mkstemp(prefix="ragship-serve-", suffix=".log")[1]) if log is None else Path(log)
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "the server is not started"
        return self.process.pid

    def start(self) -> Server:
        """Start the process; `wait_ready` waits for it."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as out:  # the child keeps its own handle
            self.process = subprocess.Popen([sys.executable, "-m", "ragship", "serve", "--port", str(self.port),
                                             *self.args], env=self.env, stdout=out, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout_s: float | None = None) -> Server:
        """Wait until /readyz answers 200 (`in_a_row` times), `timeout_s` at most (default `ready_s`)."""
        return self._wait("/readyz", self.ready_s if timeout_s is None else timeout_s)

    def wait_up(self, timeout_s: float | None = None) -> Server:
        """Wait until /healthz answers 200 (the process serves, ready or not)."""
        return self._wait("/healthz", self.ready_s if timeout_s is None else timeout_s)

    def _wait(self, route: str, limit: float) -> Server:
        deadline, streak, last = time.monotonic() + limit, 0, "none"
        while True:
            try:
                r = httpx.get(self.url + route, timeout=2)
                streak, last = (streak + 1, f"{r.status_code}") if r.status_code == 200 else \
                    (0, f"{r.status_code} {r.text[:300]}")
            except httpx.TransportError as e:
                streak, last = 0, type(e).__name__
            if streak >= self.in_a_row:
                return self
            if self.process is not None and self.process.poll() is not None:
                self._keep_log = True
                raise ServerNotReady(f"{self._name()} exited with code {self.process.returncode} before {route} "
                                     f"answered 200; {self.log_tail()}")
            if time.monotonic() > deadline:
                self._keep_log = True
                raise ServerNotReady(f"{self._name()} on {self.url} did not answer {route} 200 within {limit:g} s "
                                     f"(its last answer: {last}); {self.log_tail()}")
            time.sleep(POLL_S)

    def _name(self) -> str:
        return " ".join(["ragship serve", *self.args])

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        tail = "\n".join(text.splitlines()[-lines:])
        return f"the end of its log ({self.log}):\n{tail}" if tail.strip() else f"its log ({self.log}) is empty"

    def stop(self) -> None:
        """Terminate, wait `stop_s`, then kill. A temporary log is removed unless the server failed (an error named
        it) or had to be killed."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=self.stop_s)
            except subprocess.TimeoutExpired:
                self._keep_log = True
                self.process.kill()
                self.process.wait(timeout=30)
        if not self._keep_log:
            self.log.unlink(missing_ok=True)

    def __enter__(self) -> Server:
        self.start()
        try:
            return self.wait_ready() if self.ready else self.wait_up()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def wait_for_run(base: str, since: float, timeout_s: float, key: str = "", every_s: float = 10.0) -> dict:
    """The first improvement run started from `since` on that has finished, asked of the server at `base`
    (GET /v1/improve, with API key `key` if any) every `every_s`; TimeoutError after `timeout_s`."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        runs = httpx.get(f"{base}/v1/improve", timeout=30, headers=headers).json()["runs"]
        done = [r for r in runs if r["started"] >= since and r["status"] != "running"]
        if done:
            return done[0]
        time.sleep(every_s)
    raise TimeoutError(f"no improvement run started since {since:.0f} finished within {timeout_s:g} s")


def wait_for_job(base: str, job_id: str, timeout_s: float = 300, key: str = "", every_s: float = 0.2) -> dict:
    """The upload or ingest job `job_id` of the server at `base` (with API key `key` if any) once it is done or
    failed, asked every `every_s`; TimeoutError after `timeout_s`."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    deadline = time.monotonic() + timeout_s
    while True:
        job = httpx.get(f"{base}/v1/jobs/{job_id}", timeout=30, headers=headers).json()
        if job["status"] in ("done", "failed"):
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job['status']} after {timeout_s:g} s")
        time.sleep(every_s)
