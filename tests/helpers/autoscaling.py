"""Autoscaling under streaming load on the multi-node cluster (tests/helpers/cluster.py): deployment options
that scale within seconds, a watch on a deployment's replicas, and closed-loop streaming clients whose every
stream is kept (its first audio, its bytes, how it ended).

Shared by tests/cluster/test_autoscaling.py and bench/autoscaling.py.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from ingress.jobs.settings import ConsumerAutoscaling, JobsSettings, autoscaling_config
from tests.helpers.cluster import APP, ChorusCluster, Repeating

# Seconds, not Serve's defaults (10 s metric pushes, a 30 s look-back, 30 s / 600 s delays): a run takes
# minutes. metrics_interval_s is deprecated in 2.60 but is still what sets how often handles and replicas
# push their request counts to the controller.
FAST_SCALING = {"metrics_interval_s": 0.5, "look_back_period_s": 2, "upscale_delay_s": 1, "downscale_delay_s": 3}
# Longer than any stream here: a replica chosen for removal drains its streams instead of being killed.
DRAIN = {"graceful_shutdown_timeout_s": 300, "graceful_shutdown_wait_loop_s": 1}
# What a draining replica logs each wait loop (ray/serve/_private/replica.py, _drain_ongoing_requests).
_DRAIN_LINE = re.compile(r"Waiting for an additional \S+ to shut down: (\d+) ongoing requests")


def autoscaled_kokoro(max_replicas: int, target_ongoing_requests: float) -> dict:
    """Kokoro's deployment entry changes: from one replica to 1..max_replicas on its ongoing streams."""
    return {"num_replicas": None, **DRAIN, "autoscaling_config": {
        "min_replicas": 1, "max_replicas": max_replicas, "target_ongoing_requests": target_ongoing_requests,
        **FAST_SCALING}}


def autoscaled_job_workers(chorus: ChorusCluster, max_replicas: int, target_queued_jobs: float) -> dict:
    """The JobWorker's deployment entry changes: 1..max_replicas on the queue length, as the builder's own
    `jobs.autoscaling` makes it (Serve's AsyncInferenceAutoscalingPolicy reading the cluster's Redis)."""
    jobs = chorus.config["applications"][0]["args"]["jobs"]
    scaling = ConsumerAutoscaling(min_replicas=1, max_replicas=max_replicas, target_queued_jobs=target_queued_jobs,
                                  poll_interval_s=0.5, upscale_delay_s=FAST_SCALING["upscale_delay_s"],
                                  downscale_delay_s=FAST_SCALING["downscale_delay_s"])
    config = autoscaling_config(JobsSettings(redis_url=jobs["redis_url"], autoscaling=scaling), jobs["redis_url"])
    config.update(metrics_interval_s=FAST_SCALING["metrics_interval_s"],
                  look_back_period_s=FAST_SCALING["look_back_period_s"])
    return {"num_replicas": None, "autoscaling_config": config}


def is_autoscaled(chorus: ChorusCluster, deployment: str) -> bool:
    """Whether the deployed config of `deployment` has an autoscaling_config (Serve's REST view)."""
    config = chorus.applications()[APP]["deployments"][deployment]["deployment_config"]
    return config.get("autoscaling_config") is not None


class ReplicaWatch(Repeating):
    """A deployment's replicas and their states every half second, from Serve's REST API."""

    def __init__(self, chorus: ChorusCluster, deployment: str):
        super().__init__()
        self.chorus = chorus
        self.deployment = deployment
        self.seen: list[tuple[float, dict[str, str]]] = []  # (when, {replica id: state})

    def probe(self):
        try:
            replicas = self.chorus.replicas(self.deployment)
        except (httpx.HTTPError, KeyError, ValueError):  # the dashboard busy for a moment: the next probe counts
            return
        self.seen.append((time.monotonic(), {r["replica_id"]: r["state"] for r in replicas}))

    def states(self) -> dict[str, str]:
        return self.seen[-1][1] if self.seen else {}

    def running(self) -> int:
        return list(self.states().values()).count("RUNNING")

    def settled_at(self, count: int) -> bool:
        """Exactly `count` replicas, all RUNNING (none starting or stopping)."""
        return list(self.states().values()) == ["RUNNING"] * count

    def first_seen(self, state: str) -> dict[str, float]:
        """When each replica was first seen in `state`."""
        times: dict[str, float] = {}
        for at, states in self.seen:
            for replica, seen in states.items():
                if seen == state:
                    times.setdefault(replica, at)
        return times

    def gone(self) -> dict[str, float]:
        """Replicas no longer listed, and when they were first missing."""
        times: dict[str, float] = {}
        listed: set[str] = set()
        for at, states in self.seen:
            times.update({replica: at for replica in listed - states.keys() if replica not in times})
            listed |= states.keys()
        return times

    def timeline(self) -> list[tuple[float, dict[str, int]]]:
        """Each change in how many replicas were in each state: (when, {state: count})."""
        changes: list[tuple[float, dict[str, int]]] = []
        for at, states in self.seen:
            counts = {state: list(states.values()).count(state) for state in sorted(set(states.values()))}
            if not changes or changes[-1][1] != counts:
                changes.append((at, counts))
        return changes


@dataclass
class StreamRecord:
    started: float
    first_audio: float | None = None  # when its first bytes arrived
    ended: float | None = None
    bytes: int = 0
    outcome: str = "running"  # "complete", "cut" (the connection broke mid-stream) or an HTTP status

    @property
    def first_audio_s(self) -> float:
        return self.first_audio - self.started


def stream_speech(base_url: str, text: str, record: StreamRecord | None = None) -> StreamRecord:
    """One chunked PCM stream of `text`, read as fast as it comes."""
    record = record or StreamRecord(time.monotonic())
    try:
        with httpx.stream("POST", f"{base_url}/v1/audio/speech", timeout=180,
                          json={"input": text, "response_format": "pcm", "stream": True}) as response:
            if response.status_code != 200:
                record.outcome = str(response.status_code)
                return record
            for chunk in response.iter_bytes():
                if record.first_audio is None:
                    record.first_audio = time.monotonic()
                record.bytes += len(chunk)
        record.outcome = "complete"
    except httpx.HTTPError as error:
        record.outcome = f"cut ({type(error).__name__})"
    finally:
        record.ended = time.monotonic()
    return record


class StreamingClients:
    """Closed-loop clients on threads, each streaming `text` again and again until it is stopped: then it
    finishes the stream it has in flight. `records` keeps every stream, in the order they started."""

    def __init__(self, base_url: str, text: str):
        self.base_url = base_url
        self.text = text
        self.records: list[StreamRecord] = []
        self._running: list[tuple[threading.Thread, threading.Event]] = []
        self._stopped: list[threading.Thread] = []
        self._lock = threading.Lock()

    def add(self, clients: int) -> None:
        for _ in range(clients):
            stop = threading.Event()
            thread = threading.Thread(target=self._client, args=(stop,), daemon=True)
            thread.start()
            self._running.append((thread, stop))

    def _client(self, stop: threading.Event) -> None:
        while not stop.is_set():
            record = StreamRecord(time.monotonic())
            with self._lock:
                self.records.append(record)
            stream_speech(self.base_url, self.text, record)

    @property
    def clients(self) -> int:
        return len(self._running)

    def stop(self, clients: int | None = None) -> None:
        """Stop `clients` of them (all by default), the newest first."""
        for _ in range(self.clients if clients is None else clients):
            thread, stop = self._running.pop()
            stop.set()
            self._stopped.append(thread)

    def started_since(self, moment: float) -> int:
        return sum(r.started >= moment for r in self.records)

    def join(self, timeout_s: float) -> None:
        """Until every stopped client has finished its last stream."""
        deadline = time.monotonic() + timeout_s
        for thread in self._stopped:
            thread.join(max(deadline - time.monotonic(), 0))
        if any(thread.is_alive() for thread in self._stopped):
            raise TimeoutError(f"streams still running after {timeout_s:g} s")


def drained_requests(logs_dir: Path, replica_id: str) -> int:
    """The most requests the replica said it was still finishing while it shut down (0: it had none)."""
    log = next(logs_dir.glob(f"serve/replica_*_{replica_id}.log"), None)
    counts = [int(match.group(1)) for match in _DRAIN_LINE.finditer(log.read_text())] if log else []
    return max(counts, default=0)
