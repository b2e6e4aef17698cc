"""A RabbitMQ cluster of the test's own on loopback: its own node names, ports, data
directories and Erlang cookie; the shared RabbitMQ is never touched, and every node is
stopped at the end."""

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.redis_server import free_port
from tools.workers import wait_for


def rabbitmq_bin(name: str) -> str:
    """Debian's ``/usr/sbin`` wrappers switch to the ``rabbitmq`` user, whose home holds
    the shared node's cookie: the scripts under ``/usr/lib/rabbitmq/bin`` do not."""
    for candidate in (Path("/usr/lib/rabbitmq/bin") / name, shutil.which(name)):
        if candidate and Path(candidate).exists():
            return str(candidate)
    pytest.fail(f"{name} is missing: make test installs Debian's rabbitmq-server")


class Node:
    def __init__(self, cluster: "Cluster", index: int) -> None:
        self.cluster = cluster
        self.name = f"{cluster.prefix}{index}@localhost"
        self.directory = cluster.directory / f"node{index}"
        self.port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self.process: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        d = self.directory
        return {
            **os.environ,
            "HOME": str(self.cluster.home),
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(d / "pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def write_config(self, peers: list[str]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "rabbitmq-env.conf").write_text("")
        (self.directory / "enabled_plugins").write_text("[].\n")
        lines = [
            f"listeners.tcp.local = 127.0.0.1:{self.port}",
            "loopback_users = none",
            "cluster_formation.peer_discovery_backend = classic_config",
            *(f"cluster_formation.classic_config.nodes.{i} = {p}" for i, p in enumerate(peers, 1)),
        ]
        (self.directory / "rabbitmq.conf").write_text("\n".join(lines) + "\n")

    def start(self) -> None:
        log = (self.directory / "server.out").open("ab")
        self.process = subprocess.Popen(
            [rabbitmq_bin("rabbitmq-server")],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [rabbitmq_bin("rabbitmqctl"), "-n", self.name, "-q", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_started(self) -> None:
        wait_for(
            lambda: (
                not self.running() or self.ctl("await_startup", "--timeout", "5").returncode == 0
            ),
            120,
            f"RabbitMQ node {self.name}",
            lambda: (self.directory / "server.out").read_text(errors="replace")[-3000:],
        )
        assert self.running(), (self.directory / "server.out").read_text(errors="replace")

    def stop(self) -> None:
        """Stop the whole node (the Erlang VM), as a lost machine would be; bounded."""
        if not self.running():
            return
        self.ctl("stop", timeout=60)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait(10)


class Cluster:
    def __init__(self, directory: Path, size: int = 3) -> None:
        self.directory = directory
        self.home = directory / "home"
        self.prefix = f"th{uuid.uuid4().hex[:6]}n"
        self.nodes = [Node(self, i) for i in range(1, size + 1)]

    @property
    def url(self) -> str:
        """Every node, for kombu's failover: it connects to the next when one goes."""
        return ";".join(node.url for node in self.nodes)

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        cookie = self.home / ".erlang.cookie"
        cookie.write_text(uuid.uuid4().hex)
        cookie.chmod(0o400)
        for node in self.nodes:
            node.write_config([n.name for n in self.nodes])
            node.start()
        for node in self.nodes:
            node.wait_started()
        first = self.nodes[0]
        wait_for(
            lambda: all(n.name in first.ctl("cluster_status").stdout for n in self.nodes),
            60,
            "the nodes to form one cluster",
        )

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def queue_leader(self, vhost: str, queue: str) -> "Node":
        """The node that leads ``queue`` (a quorum queue), from RabbitMQ itself."""
        for node in self.nodes:
            if not node.running():
                continue
            listing = node.ctl("list_queues", "-p", vhost, "name", "leader").stdout
            for line in listing.splitlines():
                name, _, leader = line.partition("\t")
                if name == queue:
                    return next(n for n in self.nodes if n.name == leader.strip())
        raise AssertionError(f"no node leads {queue!r}")


@contextmanager
def rabbitmq_cluster(directory: Path, size: int = 3) -> Iterator[Cluster]:
    cluster = Cluster(directory, size)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
