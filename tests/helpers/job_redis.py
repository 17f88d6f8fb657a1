"""A job Redis of the tests' own: redis-server as a process that a test can kill and start again."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from ground.network import free_port
from ingress.jobs.redis_server import redis_server_binary, wait_until_ready


class JobRedis:
    """redis-server as its own process (the binary the embedded default uses), append-only file on:
    `kill` is a SIGKILL, and `start` again replays the file. appendfsync always: an acknowledged write
    (a queued job) survives a kill, as it must for an operator's Redis."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "redis.conf").write_text("\n".join([
            "bind 127.0.0.1", f"port {self.port}", f"dir {data_dir}", "appendonly yes", "appendfsync always",
            "logfile redis.log", "maxmemory-policy noeviction", ""]))
        self._process: subprocess.Popen | None = None

    def start(self) -> None:
        self._process = subprocess.Popen([redis_server_binary(), str(self.data_dir / "redis.conf")],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until_ready(self.url, 30):
            raise RuntimeError(f"redis-server did not start; see {self.data_dir / 'redis.log'}")

    def kill(self) -> None:
        self._process.send_signal(signal.SIGKILL)
        self._process.wait()

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(30)
