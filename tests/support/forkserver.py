"""A warm process that runs `kuchikomi ARGS` in a forked child for each request.

A crawl must run in a fresh process (Scrapy's Twisted reactor starts once per process), and most of a fresh
`kuchikomi crawl` process's start is importing Scrapy, torch and transformers. This server imports them once;
each request forks a child that runs the command's `main()` with the caller's arguments, environment and
working directory, its standard output and error written to the files the caller names. The child is a new
process with its own reactor, as `python -m kuchikomi.cli` would be; only the imports are inherited.

Protocol (JSON lines on stdin/stdout): {"argv", "env", "cwd", "stdout", "stderr", "timeout"} ->
{"returncode", "timed_out"}.
"""
from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
import traceback


def preload() -> None:
    """What a crawl imports, and the default classifier built once so transformers' model modules load."""
    from crawlers import settings
    from sentiment.model import SentimentModelError, load_classifier
    modules = ["scrapy.crawler", "kuchikomi.cli", "kuchikomi.crawl", "kuchikomi.summary",
               *(path.rsplit(".", 1)[0] for path in [*settings.ITEM_PIPELINES, *settings.DOWNLOADER_MIDDLEWARES]
                 if path.startswith(("pipelines.", "crawlers.")))]
    for module in modules:
        importlib.import_module(module)
    try:
        load_classifier({})
    except SentimentModelError:
        pass  # the model is not built: children report that themselves


def run_child(request: dict) -> None:
    """In the forked child: become the requested command, then exit with its status."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    stdin = os.open(os.devnull, os.O_RDONLY)
    stdout = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    stderr = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    for source, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
        os.dup2(source, target)
        os.close(source)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    code = 0
    try:
        from kuchikomi.cli import main
        main(request["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - shown as the interpreter would show it
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def wait(pid: int, timeout: float) -> tuple[int, bool]:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), False
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status), True
        time.sleep(0.02)


def serve() -> None:
    preload()
    replies = os.fdopen(os.dup(1), "w")
    print(json.dumps({"ready": True}), file=replies, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            run_child(request)
        returncode, timed_out = wait(pid, request["timeout"])
        print(json.dumps({"returncode": returncode, "timed_out": timed_out}), file=replies, flush=True)


if __name__ == "__main__":
    serve()
