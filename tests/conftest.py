"""Every test gets its own data home; the embedding cache is shared across the session, so the tiny corpora
are embedded once per run. Fixtures that ingest are session-scoped for the same reason."""

from __future__ import annotations

import os
import json
import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"

if os.environ.get("PYTEST_XDIST_WORKER"):  # a worker per core (make test): one compute thread each, or they
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # oversubscribe the cores and spin against each other (ADR 0020)
    import torch

    torch.set_num_threads(1)


def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto`: one and a half workers per core, at most 4. A quarter of the suite waits on a process (a server
    starting, a held call), so on 2 cores 3 workers kept the cores 96 % busy (6:45) where 2 left them 86 % (7:44);
    4 spent more CPU contending (7:10). ADR 0020."""
    return min(4, max(2, len(os.sched_getaffinity(0)) * 3 // 2))


MEASURE = ("from ragship.embed.factory import measured_choice; from ragship.settings import EmbedSettings; "
           "measured_choice(EmbedSettings())")


def pytest_sessionstart(session):
    """Under xdist, the controller starts the run's encoder-path measurement (model_cache below) while the workers
    start and collect, instead of the first worker that needs an embedder measuring while the others wait on its
    lock (~40 s of two idle workers)."""
    if os.environ.get("PYTEST_XDIST_WORKER") or not getattr(session.config.option, "numprocesses", None):
        return
    import subprocess
    import sys

    base = session.config._tmp_path_factory.getbasetemp()  # the workers' base.parent (model_cache)
    (base / "model-cache").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGSHIP_")}
    env |= {"RAGSHIP_MODEL_CACHE": str(base / "model-cache"), "OMP_NUM_THREADS": "1"}  # as in a worker
    with open(base / "measurement.log", "w") as log:
        session.config._measuring = subprocess.Popen([sys.executable, "-c", MEASURE], env=env, stdout=log,
                                                     stderr=subprocess.STDOUT)


def pytest_sessionfinish(session):
    measuring = getattr(session.config, "_measuring", None)
    if measuring is not None and measuring.poll() is None:
        measuring.kill()
        measuring.wait()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Keep `xdist_group` working (`make test` runs --dist loadgroup): pytest-xdist 3.8 marks a grouped test by
    suffixing `item._nodeid`, which pytest 9.2 no longer reads, so the Ray tests ran side by side, two Ray instances
    on two cores (pytest-dev/pytest-xdist#1386; remove once a release carries #1388)."""
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import NodeId

    for item in items:
        groups = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                         for m in item.iter_markers("xdist_group")}) or _module_group(item)
        if groups and "@" not in item.nodeid:
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(groups)}")


def _module_group(item) -> list[str]:
    """A test that uses a module-scoped fixture (a server, a browser, an ingested home) runs on the worker that
    ran its module's others, so the fixture is built once per run, not once per worker (up to 4x: 6 builds of
    test_browser's sites, 4 of test_app's). xdist then schedules the largest groups first."""
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.values() if info else ()
    return [item.nodeid.split("::")[0]] if any(d[-1].scope == "module" for d in defs if d) else []


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("embedding-cache")


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory) -> Path:
    """Derived model files (the ONNX query export, the encoder-path measurements) are built once per run, not in
    the user's ~/.cache: in the run's base folder, which every xdist worker shares (both are made under file
    locks, as for several processes of one machine)."""
    base = tmp_path_factory.getbasetemp()
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "model-cache"
    path.mkdir(exist_ok=True)
    os.environ["RAGSHIP_MODEL_CACHE"] = str(path)
    return path


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch, cache_dir, model_cache):
    for key in list(os.environ):
        if key.startswith("RAGSHIP_") and key != "RAGSHIP_MODEL_CACHE":
            monkeypatch.delenv(key)
    monkeypatch.setenv("RAGSHIP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RAGSHIP_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("RAGSHIP_CONFIG", str(tmp_path / "ragship.toml"))  # absent unless a test writes it


def make_engine(home: Path, cache_dir: Path, **overrides):
    from ragship.engine import Engine
    from ragship.settings import load_settings

    return Engine(load_settings(home=home, cache_dir=cache_dir, **overrides))


@pytest.fixture(scope="session")
def docs_engine(tmp_path_factory, cache_dir):
    """An engine whose live index holds tests/data/docs (markdown, text, HTML, PDF)."""
    engine = make_engine(tmp_path_factory.mktemp("docs-home"), cache_dir)
    report = engine.ingest([DATA / "docs"])
    assert report.ingested == 6 and not report.failures
    return engine


@pytest.fixture(scope="session")
def teams_engine(tmp_path_factory, cache_dir):
    """tests/data/teams ingested with permissions: red/ readable by group red, blue/ by blue, public/ by all;
    metadata team=red|blue, and kind=[ops, billing] on blue."""
    root = (DATA / "teams").resolve()
    engine = make_engine(tmp_path_factory.mktemp("teams-home"), cache_dir, sources=[
        {"path": root / "red", "groups": ["red"], "metadata": {"team": "red"}},
        {"path": root / "blue", "groups": ["blue"], "metadata": {"team": "blue", "kind": ["ops", "billing"]}},
    ])
    report = engine.ingest([DATA / "teams"])
    assert report.ingested == 6 and not report.failures
    return engine


@pytest.fixture(scope="module")
def api(request, tmp_path_factory, cache_dir):
    """The app in process over the teams home, one per test module (a module may define its own `api`):
    (client, {caller: key}), red/ readable by red, blue/ by blue (inprocess.CALLERS)."""
    from inprocess import teams_api  # it imports this module

    client, keys = teams_api(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]) / "home", cache_dir)
    with client:
        yield client, keys


@pytest.fixture
def docs_copy(tmp_path) -> Path:
    """A writable copy of tests/data/docs for tests that change files."""
    dest = tmp_path / "docs"
    shutil.copytree(DATA / "docs", dest)
    return dest


def without_relevant(path: Path) -> None:
    """tests/data/beir-mini's corpus without the documents five of its six queries need: a release that lost
    them, which the gate must refuse."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows if r["_id"] not in {"d1", "d2", "d3", "d4", "d5"}))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shared_dataset(name: str) -> Path:
    path = SHARED / name
    if not path.is_dir():
        pytest.skip(f"{path} not found: evaluation tests need ../shared/datasets beside the repo")
    return path


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server for the session (tests/databases.py); skips where it is not installed."""
    from databases import postgres_cluster

    with postgres_cluster() as url:
        yield url


@pytest.fixture
def postgres_db(postgres_url) -> str:
    """A new, empty database on the session's PostgreSQL server, for one test."""
    from databases import new_database

    return new_database(postgres_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request, tmp_path):
    """The state store on each backend: HOME/state.sqlite, then a fresh PostgreSQL database."""
    from ragship.state import State

    url = request.getfixturevalue("postgres_db") if request.param == "postgresql" else None
    store = State(url, tmp_path / "home")
    yield store
    store.close()


@pytest.fixture(scope="session")
def s3_server():
    """A moto S3 server for the session (tests/objectstore.py): the AWS_* environment that reaches it."""
    from objectstore import moto_server

    with moto_server() as env:
        yield env


@pytest.fixture
def s3_bucket(s3_server, monkeypatch, request) -> str:
    """A fresh bucket on the session's S3 server, with this test's environment pointing at the server."""
    import re

    from objectstore import apply, create_bucket

    apply(s3_server, monkeypatch)
    name = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-") + f"-{os.getpid()}"
    create_bucket(s3_server, name)
    return name

