"""Running the `kuchikomi` command: in this process where that is the same as a fresh one (every command
but a crawl, whose Twisted reactor starts once per process), else in a subprocess."""
from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import traceback
from dataclasses import dataclass

from kuchikomi.cli import main

SUBPROCESS = [sys.executable, "-m", "kuchikomi.cli"]


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


def kuchikomi_process(*args: str, timeout: float = 300, **options) -> subprocess.CompletedProcess:
    """`kuchikomi ARGS` in a fresh Python process (crawls, and anything that must be killable)."""
    return subprocess.run([*SUBPROCESS, *map(str, args)], capture_output=True, text=True, timeout=timeout, **options)
