import os
import signal
import subprocess
import sys
import time

import pytest

from ragship.errors import ConfigError, ProcessEnded
from ragship.util.child import run_apart


def counted(n: int, progress=None) -> int:
    for i in range(n):
        progress(i + 1, n)
    return os.getpid()


def refuses(field: str, progress=None):
    raise ConfigError(f"{field} must be positive")


def dies(progress=None):
    os.kill(os.getpid(), signal.SIGKILL)


def test_the_result_and_progress_come_back_from_another_process():
    seen = []
    pid = run_apart(counted, 3, progress=lambda *a: seen.append(a), what="counting")
    assert pid != os.getpid()
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_the_childs_error_is_raised_here_with_its_type_and_message():
    with pytest.raises(ConfigError, match="improve.epochs must be positive"):
        run_apart(refuses, "improve.epochs")


def test_a_function_of_the_main_script_is_refused_before_a_process_starts():
    def local():
        pass

    local.__module__ = "__main__"
    with pytest.raises(TypeError, match="importable module"):
        run_apart(local)


def test_a_child_killed_before_its_result_is_an_error_that_says_so():
    with pytest.raises(ProcessEnded, match="training ended without a result .*killed by SIGKILL"):
        run_apart(dies, what="training")


SLEEPER = """
import os, time

def sleeper(path, progress=None):
    open(path, "w").write(str(os.getpid()))
    time.sleep(60)
"""
PARENT = """
import sys
from ragship.util.child import run_apart
from sleeper import sleeper

run_apart(sleeper, sys.argv[1])
"""


def test_the_child_dies_with_its_parent(tmp_path):
    # a run stopped by its memory bound ends at once (os._exit): its training must not go on alone
    script, pid_file = tmp_path / "parent.py", tmp_path / "child.pid"
    script.write_text(PARENT)
    (tmp_path / "sleeper.py").write_text(SLEEPER)
    parent = subprocess.Popen([sys.executable, str(script), str(pid_file)])
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and parent.poll() is None
        time.sleep(0.1)
    child = int(pid_file.read_text())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child):
        assert time.monotonic() < deadline, "the child outlived its parent"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "zombie" not in f.read()
    except FileNotFoundError:
        return False


def stops(progress=None):
    progress(1, 2)
    time.sleep(60)


def test_a_parent_that_fails_meanwhile_does_not_wait_for_its_child():
    def failing(*_):
        raise RuntimeError("the progress display broke")

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="display broke"):
        run_apart(stops, progress=failing)
    assert time.monotonic() - started < 30


class TracerWarning(Warning):
    """As torch.jit.TracerWarning: the child must not need torch to silence it."""


def chatters(progress=None) -> None:
    import logging
    import warnings

    warnings.warn("Converting a tensor to a Python boolean might cause the trace to be incorrect.", TracerWarning)
    logging.warning("Please consider to run pre-processing before quantization. Refer to example: ...")
    warnings.warn("a warning of our own", UserWarning)


def test_the_childs_known_library_warnings_are_silenced_and_others_still_show(capfd):
    run_apart(chatters)
    stderr = capfd.readouterr().err
    assert "Converting a tensor" not in stderr
    assert "before quantization" not in stderr
    assert "a warning of our own" in stderr
