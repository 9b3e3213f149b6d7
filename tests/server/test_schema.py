"""schemathesis against /openapi.json of a running server (admin key): no 5xx, and every response matches the
schema (status codes, content types, bodies). The upload route is fuzzed too, with few examples (each one an
ingest job)."""

import subprocess
import sys
from pathlib import Path

import pytest

from serving import create_key, serving, teams_home

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def schemathesis(base: str, key: str, report: Path, *extra: str) -> subprocess.CompletedProcess:
    cli = Path(sys.executable).parent / "schemathesis"
    return subprocess.run([str(cli), "run", f"{base}/openapi.json", "--checks", CHECKS, "-H",
                           f"Authorization: Bearer {key}", "--generation-deterministic", "--request-timeout", "60",
                           "--report", "junit", "--report-junit-path", str(report), "--no-color", *extra],
                          capture_output=True, text=True, timeout=900, cwd=report.parent)  # its cache stays there


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory, cache_dir):
    tmp = tmp_path_factory.mktemp("schema")
    env = teams_home(tmp, cache_dir, "[server]\nrate_per_minute = 100000\nburst = 10000\n")
    key = create_key(env, "admin")
    with serving(env) as base:
        yield base, key, tmp


def test_no_server_errors_and_responses_match_the_schema(fuzzed):
    base, key, tmp = fuzzed
    r = schemathesis(base, key, tmp / "junit.xml", "-n", "25", "--exclude-path", "/v1/documents",
                     "--exclude-method", "POST")
    assert r.returncode == 0, r.stdout[-6000:]
    r = schemathesis(base, key, tmp / "junit-post.xml", "-n", "12", "--include-method", "POST")
    assert r.returncode == 0, r.stdout[-6000:]
