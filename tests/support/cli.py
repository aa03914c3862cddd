"""Running the `kuchikomi` command: in this process where that is the same as a fresh one (every command
but a crawl, whose Twisted reactor starts once per process), else in a fresh process forked from a warm one
(tests/support/forkserver.py), or, with KUCHIKOMI_TEST_FRESH_PROCESSES=1, in a new interpreter each time."""
from __future__ import annotations

import atexit
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path

from kuchikomi.cli import main

SUBPROCESS = [sys.executable, "-m", "kuchikomi.cli"]
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    """What a user sees: the exit status, standard output and standard error (as subprocess.run gives)."""
    returncode: int
    stdout: str
    stderr: str


def kuchikomi(*args: str, input: str = "") -> Result:
    """`kuchikomi ARGS` in this process; an uncaught exception ends it as the interpreter would (status 1,
    its traceback on standard error)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    stdin, sys.stdin = sys.stdin, io.StringIO(input)
    code = 0
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                main([str(arg) for arg in args])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception:  # noqa: BLE001 - shown as the real command would show it
                traceback.print_exc()
                code = 1
    finally:
        sys.stdin = stdin
    return Result(code, stdout.getvalue(), stderr.getvalue())


class ForkServer:
    """The client of tests/support/forkserver.py: one warm server for the test session, started on first use."""

    def __init__(self):
        self.lock = threading.Lock()
        self.server: subprocess.Popen | None = None

    def start(self) -> subprocess.Popen:
        server = subprocess.Popen([sys.executable, "-m", "tests.support.forkserver"], cwd=ROOT, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready = server.stdout.readline()
        if not ready:
            raise RuntimeError("the test fork server did not start (see its standard error above)")
        atexit.register(server.kill)
        return server

    def run(self, args: list[str], timeout: float, env: dict | None) -> subprocess.CompletedProcess:
        with self.lock, tempfile.TemporaryDirectory(prefix="kuchikomi-run-") as folder:
            if self.server is None or self.server.poll() is not None:
                self.server = self.start()
            out, err = Path(folder) / "stdout", Path(folder) / "stderr"
            request = {"argv": args, "env": dict(os.environ if env is None else env), "cwd": os.getcwd(),
                       "stdout": str(out), "stderr": str(err), "timeout": timeout}
            self.server.stdin.write(json.dumps(request) + "\n")
            self.server.stdin.flush()
            reply = json.loads(self.server.stdout.readline())
            stdout, stderr = out.read_text(errors="replace"), err.read_text(errors="replace")
        if reply["timed_out"]:
            raise subprocess.TimeoutExpired([*SUBPROCESS, *args], timeout, stdout, stderr)
        return subprocess.CompletedProcess([*SUBPROCESS, *args], reply["returncode"], stdout, stderr)


FORK_SERVER = ForkServer()


def kuchikomi_process(*args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """`kuchikomi ARGS` in a process of its own (crawls, whose reactor starts once per process)."""
    argv = [str(arg) for arg in args]
    if os.environ.get("KUCHIKOMI_TEST_FRESH_PROCESSES"):
        return subprocess.run([*SUBPROCESS, *argv], capture_output=True, text=True, timeout=timeout, env=env)
    return FORK_SERVER.run(argv, timeout, env)
