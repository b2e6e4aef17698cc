"""A private Redis server a test may stop and restart without touching the shared one."""

import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import redis

from tools.workers import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is missing: make test installs Debian's redis-server")
    return binary


class RedisServer:
    """``redis-server`` on a free loopback port, with append-only persistence, so that a
    restart keeps its queues (as the compose Redis does); ``args`` adds to its command
    line (``--replicaof``, say)."""

    def __init__(self, directory: Path, *args: str) -> None:
        self.binary = redis_binary()
        self.directory = directory
        self.args = args
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.directory),
             *self.args],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port)
        wait_for(lambda: self._answers(client), 10, f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def kill(self) -> None:
        """SIGKILL, as a crashed machine: no save, no goodbye to its clients."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    @staticmethod
    def _answers(client: redis.Redis) -> bool:
        try:
            return client.ping()
        except redis.ConnectionError:
            return False


class SentinelGroup:
    """A Redis primary, its replica and three Sentinels watching them (quorum 2), each
    on free loopback ports of its own. ``url`` is the broker URL of all three Sentinels;
    the master's name goes in the transport options (``master_name``)."""

    MASTER = "taskhub"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        primary = RedisServer(directory / "a")
        self.servers = [
            primary,
            RedisServer(directory / "b", "--replicaof", "127.0.0.1", str(primary.port)),
        ]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen] = []
        self.url = ";".join(f"sentinel://127.0.0.1:{port}" for port in self.sentinel_ports)

    def start(self) -> None:
        for server in self.servers:
            server.start()
        for number, port in enumerate(self.sentinel_ports):
            folder = self.directory / f"sentinel-{number}"
            folder.mkdir(parents=True)
            config = folder / "sentinel.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {folder}\n"
                f"sentinel monitor {self.MASTER} 127.0.0.1 {self.servers[0].port} 2\n"
                f"sentinel down-after-milliseconds {self.MASTER} 1000\n"
                f"sentinel failover-timeout {self.MASTER} 5000\n"
            )
            self.sentinels.append(
                subprocess.Popen(
                    [redis_binary(), str(config), "--sentinel"], stdout=subprocess.DEVNULL
                )
            )
        wait_for(self.replicated, 30, "the replica in sync, known to every Sentinel")

    def primary(self) -> RedisServer:
        """The server the Sentinels name as the master now."""
        client = redis.Redis(port=self.sentinel_ports[0])
        _, port = client.sentinel_get_master_addr_by_name(self.MASTER)
        return next(server for server in self.servers if server.port == int(port))

    def replicated(self) -> bool:
        """One master and one replica in sync, as every Sentinel sees them."""
        try:
            ports = set()
            for port in self.sentinel_ports:
                sentinel = redis.Redis(port=port)
                _, master = sentinel.sentinel_get_master_addr_by_name(self.MASTER)
                replicas = sentinel.sentinel_slaves(self.MASTER)
                if len(replicas) != 1 or "s_down" in replicas[0]["flags"]:
                    return False
                ports.add((int(master), int(replicas[0]["port"])))
            if len(ports) != 1:
                return False
            ((master, replica),) = ports
            info = redis.Redis(port=replica).info("replication")
            return info.get("master_link_status") == "up" and info.get("master_port") == master
        except (redis.ConnectionError, TypeError):
            return False

    def stop(self) -> None:
        for process in self.sentinels:
            if process.poll() is None:
                process.terminate()
                process.wait(10)
        for server in self.servers:
            server.stop()
