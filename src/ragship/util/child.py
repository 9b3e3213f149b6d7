"""A function in a child process of its own, so that the memory it takes returns to the system when it ends:
a long run (learn/improve.py) then holds only what it keeps, not what training left in its heap (ADR 0021).
A fresh interpreter, not a fork (the parent's threads and locks stay its own) and not multiprocessing's spawn
(which imports the caller's main script again): `python -m ragship.util.child` reads the call from its stdin and
writes progress and the result, pickled, to a pipe."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import pickle
import signal
import subprocess
import sys
import traceback
from typing import Any, Callable

from ragship.errors import ProcessEnded, RagshipError
from ragship.util.quiet import quiet_libraries


def run_apart(fn: Callable[..., Any], *args, progress: Callable[..., None] | None = None, what: str = "the step",
              **kwargs) -> Any:
    """`fn(*args, progress=..., **kwargs)` in a child process: its result, or the exception it raised, raised here
    (ProcessEnded when the child ended without either). The child's `progress(...)` calls are made here; the child
    dies with this process (Linux). `fn` must be importable by name (a module-level function)."""
    if getattr(fn, "__module__", "__main__") == "__main__":
        raise TypeError(f"{fn!r} must be defined in an importable module, not the main script")
    read, write = os.pipe()
    child = subprocess.Popen([sys.executable, "-m", "ragship.util.child", str(write), str(os.getpid())],
                             stdin=subprocess.PIPE, stdout=2, pass_fds=(write,))  # its prints go to our stderr
    os.close(write)
    assert child.stdin is not None  # stdin=PIPE
    with child, os.fdopen(read, "rb") as messages:
        pickle.dump(sys.path, child.stdin)  # where `fn`'s module is found, before `fn` is unpickled
        pickle.dump((fn, args, kwargs, progress is not None), child.stdin)
        child.stdin.close()
        try:
            while True:
                try:
                    kind, value = pickle.load(messages)
                except EOFError:
                    raise ProcessEnded(f"{what} ended without a result (exit code {child.wait()}: "
                                       f"{_exit_reason(child.returncode)})") from None
                if kind == "progress":
                    assert progress is not None  # the child reports progress only when given a callback
                    progress(*value)
                elif kind == "error":
                    raise value
                else:
                    return value
        except BaseException:  # interrupted here (Ctrl-C, a progress callback): the child's work is not waited for
            child.kill()
            raise


def _main(fd: int, parent: int) -> None:
    _die_with(parent)
    quiet_libraries()  # a training run's ONNX export and quantization: their known chatter, not the user's business
    with os.fdopen(fd, "wb") as out:
        def send(kind: str, value) -> None:
            pickle.dump((kind, value), out)
            out.flush()

        sys.path[:] = pickle.load(sys.stdin.buffer)
        fn, args, kwargs, relay = pickle.load(sys.stdin.buffer)
        if relay:
            kwargs = {**kwargs, "progress": lambda *a: send("progress", a)}
        try:
            result = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 — every failure goes back to the parent, which decides
            traceback.print_exc()  # the child's own stack, for its log: the parent sees only the exception
            send("error", e if _picklable(e) else RagshipError(f"{type(e).__name__}: {e}"))
            return
        send("done", result)


def _die_with(parent: int) -> None:
    """Ask Linux to kill this process when its parent dies (a run stopped by its memory bound ends at once)."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the child ends when its work does
        return
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


def _picklable(e: BaseException) -> bool:
    try:
        pickle.loads(pickle.dumps(e))
        return True
    except Exception:  # noqa: BLE001 - whatever pickling raises, the answer is the same: it does not travel
        return False


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        return f"killed by {name}" + (", perhaps by the kernel for lack of memory" if name == "SIGKILL" else "")
    return "it stopped before sending its result"


if __name__ == "__main__":
    _main(int(sys.argv[1]), int(sys.argv[2]))
