"""The fault matrix's bench (scripts/fault_matrix.py): a copy of the template home per fault, an engine that was
serving before the fault, fresh engines and CLI processes after it, tmpfs mounts for disk-full and read-only
homes, the damage a fault does, and the measures of a row (the error a user sees, documents lost, still serving)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx

from ragship.testing.commands import cli, cli_process
from ragship.testing.home import env_for
from ragship.testing.server import Server, free_port, wait_for_job

DOCS = Path(__file__).resolve().parents[3] / "tests" / "data" / "docs"  # a checkout's: the matrix runs from one
EXTRA = "The harbour ferry to the island leaves every hour from pier 4.\n"
_MODELS: dict = {}


def _shared_models() -> None:
    """Fresh engines in this process reuse the loaded model weights (their caches stay their own), so a row
    costs seconds, not a model load per engine."""
    import ragship.models as models_module
    from ragship.embed.cache import CachedEmbedder, EmbeddingCache
    from ragship.embed.factory import make_embedder

    def make(e, cache_dir, built_with=None):  # make_embedder's signature: a mismatch fails here, not a row
        key = (e.model, e.backend, e.precision, built_with)
        if key not in _MODELS:
            _MODELS[key] = make_embedder(e, cache_dir, built_with).inner
        return CachedEmbedder(_MODELS[key], EmbeddingCache(Path(cache_dir) / "embeddings.sqlite"))

    models_module.make_embedder = make


@contextlib.contextmanager
def tmpfs(path: Path, size_mb: int):
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


class Lab:
    def __init__(self, template: Path, work: Path, on_tmpfs: bool = False):
        from ragship.home import Home

        self.work, self._stack = work, contextlib.ExitStack()
        self.sources = template.parent / "template-docs"  # what the template was ingested from
        root = work / "home"
        if on_tmpfs:
            self._stack.enter_context(tmpfs(root, 48))
        shutil.copytree(template, root, dirs_exist_ok=True)
        self.home = Home(root, root / "cache")
        self.docs_before, self.versions_before = self.live_docs(), self.version_ids()
        self.running = self.engine()
        self.running.search("ferry")  # as a server that has served

    @staticmethod
    def template(dest: Path) -> Path:
        _shared_models()
        docs = dest.parent / "template-docs"
        shutil.copytree(DOCS, docs)
        from ragship.engine import Engine
        from ragship.settings import load_settings

        engine = Engine(load_settings(home=dest, cache_dir=dest / "cache"))
        engine.ingest([docs])
        (docs / "harbour.txt").write_text(EXTRA)
        engine.ingest([docs])
        return dest

    # -- engines, processes ------------------------------------------------------------------------------------
    def settings(self, **overrides):
        from ragship.settings import load_settings

        # the disk floor is off (a 48 MB tmpfs is below its default): rows fill the disk to the last byte
        return load_settings(home=self.home.root, cache_dir=self.home.cache_dir,
                             **({"ingest": {"min_free_mb": 0}} | overrides))

    def engine(self, **overrides):
        from ragship.engine import Engine

        return Engine(self.settings(**overrides))

    def env(self) -> dict:
        return env_for(self.home.root, self.work / "absent.toml", self.home.cache_dir,
                       RAGSHIP_INGEST__MIN_FREE_MB="0")

    def cli(self, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
        return cli(self.env() | env, *args, check=False, timeout=timeout)

    def candidate(self) -> None:
        """Ingest more documents as v3, a candidate (not made live)."""
        run = self.cli("ingest", str(self.more_docs()), RAGSHIP_RELEASE__AUTO_PROMOTE="never")
        assert run.returncode == 0, run.stderr

    def popen(self, *args: str) -> subprocess.Popen:
        return cli_process(self.env(), *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def serve(self) -> str:
        """A real `ragship serve` on the home, as its base URL; close() stops it (before the tmpfs goes)."""
        port = free_port()
        server = Server(self.env(), port=port, log=self.work / f"server-{port}.log", stop_s=10)
        return self._stack.enter_context(server).url

    def close(self) -> None:
        self._stack.close()

    # -- measures --------------------------------------------------------------------------------------------
    def live_docs(self) -> set[str]:
        try:
            engine = self.engine()
            return {d["doc_id"] for d in engine.view().documents()}
        except Exception:  # noqa: BLE001 - a home no engine opens serves no documents
            return set()

    def served_docs(self) -> set[str]:
        """Every document some healthy kept version serves (what a rollback can bring back)."""
        engine, found = self.engine(), set()
        for v in engine.registry.all():
            if v.status(None) in ("deleted", "damaged"):
                continue
            with contextlib.suppress(Exception):
                found |= {d["doc_id"] for d in engine.store().view(v.id).documents()}
        return found

    def version_ids(self) -> set[str]:
        with contextlib.suppress(Exception):
            return {v.id for v in self.engine().registry.all()}
        return set()

    def lost(self) -> int:
        return len(self.docs_before - self.served_docs()) + len(self.versions_before - self.version_ids())

    def still_serving(self, engine=None) -> str:
        engine = engine or self.running
        try:
            result = engine.search("ferry")
            return f"yes ({result.index_version})" if result.hits else "no: no hits"
        except Exception as e:  # noqa: BLE001 - any failure to search is the row's answer: not serving
            return f"no: {first_line(e)}"

    def error_of(self, action) -> str:
        """What a new process sees: the error of `action(fresh engine)`, or "none"."""
        try:
            action(self.engine())
            return "none"
        except Exception as e:  # noqa: BLE001 - the error a new process sees, whatever its kind, is the finding
            return first_line(str(e).replace(str(self.home.root), "HOME") if isinstance(e, Exception) else e,
                              type(e).__name__)

    def said(self, run: subprocess.CompletedProcess) -> str:
        """The error line a CLI user saw, the home's path shortened to HOME."""
        return stderr_line(run).replace(str(self.home.root), "HOME")

    def healthy(self) -> bool:
        return not [f for f in self.engine().doctor() if f.problem] and self.still_serving(self.engine())[:3] == "yes"

    # -- damage --------------------------------------------------------------------------------------------------
    def truncate(self, path: Path, keep: int) -> None:
        path.write_bytes(path.read_bytes()[:keep])

    def flip(self, path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))

    def garble(self, path: Path, keep: int = 16) -> None:
        data = path.read_bytes()
        path.write_bytes(data[:keep] + b"\x00\xffgarbage" * max(1, (len(data) - keep) // 9))

    def lance(self, name: str) -> Path:
        return self.home.lance / "chunks.lance" / name

    def only_live_data(self) -> Path:
        r = self.engine().registry
        v1, v2 = r.get("v1"), r.get("v2")
        return self.lance(next(f for f in v2.files if f.startswith("data/") and f not in v1.files))

    def shared_data(self) -> Path:
        r = self.engine().registry
        return self.lance(next(f for f in r.get("v2").files if f.startswith("data/") and f in r.get("v1").files))

    def index_file(self) -> Path:
        files = self.engine().registry.get("v2").files
        indexes = [f for f in files if f.startswith("_indices/")]
        return self.lance(max(indexes, key=lambda f: int(files[f].split(":")[0])))

    def cache_db(self) -> Path:
        return self.home.cache_dir / "embeddings.sqlite"

    def tear_cache_entry(self) -> None:
        """An entry of the embedding cache whose vector has not its model's width (a torn or foreign write), written
        through the cache's own class."""
        import numpy as np

        embedder = self.engine().embedder
        embedder.cache.put_many(embedder.model_id, [(b"torn", np.zeros(1, dtype=np.float32))])
        embedder.cache.close()

    def more_docs(self) -> Path:
        folder = self.work / "more"
        if not folder.exists():
            shutil.copytree(DOCS, folder)
            (folder / "harbour.txt").write_text(EXTRA)
            (folder / "night.txt").write_text("Night buses replace the trams between 1 and 5 in the morning.\n" * 40)
        return folder

    def fill(self, leave: int = 32 << 10) -> Path:
        """Fill the home's file system up to `leave` bytes free; the filler file (delete it to free the space)."""
        filler = self.home.root / "filler"
        stat = os.statvfs(self.home.root)
        free = stat.f_bavail * stat.f_frsize
        with open(filler, "wb") as f:
            f.write(b"\0" * max(0, free - leave))
        return filler


@dataclass
class Row:
    fault: str
    outcome: str
    error: str
    lost: int
    serving: str
    recovered_by: str


def cli_row(lab: Lab, run, serving: str, recovered: str) -> Row:
    if run.returncode == 0:
        outcome = "succeeded"
    elif "Traceback" in run.stderr:
        outcome = f"TRACEBACK (exit {run.returncode})"
    else:
        outcome = f"failed cleanly (exit {run.returncode})"
    return Row("", outcome, lab.said(run), lab.lost(), serving, recovered)


def wait_job(base: str, job_id: str) -> dict:
    """The job once done or failed; as it stands after two minutes."""
    try:
        return wait_for_job(base, job_id, timeout_s=120)
    except TimeoutError:
        return httpx.get(f"{base}/v1/jobs/{job_id}").json()


def server_serving(base: str) -> str:
    try:
        r = httpx.get(f"{base}/v1/search", params={"q": "ferry"}, timeout=30)
        return f"yes ({r.json()['index_version']})" if r.status_code == 200 else f"no: HTTP {r.status_code}"
    except httpx.HTTPError as e:
        return f"no: {first_line(e)}"


def first_line(e: BaseException | str, kind: str = "") -> str:
    text = f"{type(e).__name__}: {e}" if isinstance(e, BaseException) else f"{kind}: {e}" if kind else e
    return text.strip().splitlines()[0][:200] if text.strip() else ""


def stderr_line(run: subprocess.CompletedProcess) -> str:
    """The error line a CLI user saw ("TRACEBACK ..." when it was a traceback)."""
    err = run.stderr or ""
    if "Traceback" in err:
        return "TRACEBACK: " + err.strip().splitlines()[-1][:140]
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    return lines[0][:160] if lines else ("none" if run.returncode == 0 else err.strip()[-160:])

