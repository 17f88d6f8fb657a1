"""Where a machine's CPU went while a benchmark ran: each process's share of every core's time.

Processes are named by what they are to Chorus (a Serve replica by its deployment, Ray's own
daemons by their role); "idle" is what no process used. A profile for the benchmark tables:
it says whether the model had the cores, or who else had them.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from typing import Self

import psutil

ROLES = [
    (re.compile(r"ray::ServeReplica:\w+:(\w+)"), r"\1 replica"),
    (re.compile(r"ray::ProxyActor"), "Serve HTTP proxy"),
    (re.compile(r"ray::ServeController"), "Serve controller"),
    (re.compile(r"gcs_server"), "Ray GCS"),
    (re.compile(r"raylet"), "raylet"),
    (re.compile(r"ray::DashboardAgent"), "Ray dashboard agent"),
    (re.compile(r"dashboard"), "Ray dashboard"),
    (re.compile(r"ray::RuntimeEnvAgent"), "Ray runtime-env agent"),
    (re.compile(r"log_monitor\.py"), "Ray log monitor"),
    (re.compile(r"autoscaler/_private/monitor\.py"), "Ray autoscaler monitor"),
    (re.compile(r"ray::EmbeddedRedis|redis-server"), "Redis (the job queue)"),
    (re.compile(r"install\.serve_local|bin/serve run"), "`serve run` (Ray's driver)"),
    (re.compile(r"fastkokoro"), "fastkokoro (the peer)"),
]


def role(process: psutil.Process) -> str:
    command = " ".join(process.cmdline()) or process.name()
    for pattern, name in ROLES:
        if match := pattern.search(command):
            return match.expand(name)
    return "this benchmark" if process.pid == os.getpid() else "other (neither Chorus nor Ray)"


def cpu_seconds() -> dict[int, tuple[str, float]]:
    seconds = {}
    for process in psutil.process_iter():
        try:
            times = process.cpu_times()
            seconds[process.pid] = (role(process), times.user + times.system)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return seconds


class CpuShares:
    """`with CpuShares() as shares:` ...; then `shares.table()` holds the shares of the block's wall time."""

    def __enter__(self) -> Self:
        self._before, self._start = cpu_seconds(), time.perf_counter()
        return self

    def __exit__(self, *_) -> None:
        after, wall = cpu_seconds(), time.perf_counter() - self._start
        used: Counter[str] = Counter()
        for pid, (name, seconds) in after.items():
            used[name] += seconds - self._before.get(pid, (name, 0.0))[1]  # a process started meanwhile: all of it
        capacity = wall * (os.cpu_count() or 1)
        self.shares = {name: seconds / capacity for name, seconds in used.most_common() if seconds > 0}
        self.shares["idle"] = max(1 - sum(self.shares.values()), 0.0)

    def table(self, title: str, floor: float = 0.005) -> str:
        """Rows at `floor` or above; with a floor of 0, every process that ran, to a hundredth of a percent
        (what "no measurable CPU" is read from)."""
        digits = 1 if floor >= 0.005 else 2
        rows = "\n".join(f"| {name} | {share * 100:.{digits}f}% |" for name, share in self.shares.items()
                         if share >= floor)
        return f"| {title} | share of all cores |\n|---|---|\n{rows}\n"
