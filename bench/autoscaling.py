"""Autoscaling on the multi-node cluster, under streaming load and under a job backlog.

The cluster of tests/helpers/cluster.py (a head with the gateway, proxy and controller; an engine node whose
custom resource stands in for a GPU; a consumer slot on each worker node), with Kokoro autoscaled on its
ongoing streams (1 to KOKORO_MAX replicas, KOKORO_TARGET streams each) and the JobWorker on the queue
length (Serve's AsyncInferenceAutoscalingPolicy, 1 to 2: one consumer slot a worker node), both scaling
within seconds (tests/helpers/autoscaling.py), and every replica given 300 s to finish its work when it is
removed.

Kokoro: one streaming client, then a load step to STEP_CLIENTS closed-loop clients; the time from the step
to each new replica running, first audio before and after; once every replica is up and has taken new
streams, the clients stop in steps of one replica's target (each finishes the stream it has), so that every replica Serve
removes still has streams, and the replicas scale back to one. Every
stream must end with the byte count of an unloaded stream of the same text. Jobs: JOBS tts jobs submitted
at once; consumers scale up on the waiting jobs and back to one.

    python -m bench.autoscaling            # make bench-autoscaling
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import redis

from bench.service import ROOT
from bench.tables import cpu_name, publish
from ingress.jobs.records import JobRecords
from tests.helpers.autoscaling import (
    ReplicaWatch,
    StreamingClients,
    StreamRecord,
    autoscaled_job_workers,
    autoscaled_kokoro,
    drained_requests,
    stream_speech,
)
from tests.helpers.cluster import ChorusCluster
from tests.helpers.jobs import FINAL, poll, submit

KOKORO_MAX = 3  # with Chatterbox's slot, what the engine node's 2 CPUs hold at 0.5 CPU a Kokoro replica
KOKORO_TARGET = 2
STEP_CLIENTS = 6
# About 14 s of audio a stream.
TEXT = ("The lighthouse keeper climbed the stairs at dusk, lit the great lamp, and watched its beam sweep "
        "across the dark water. One by one the fishing boats came round the point, their lanterns swinging, "
        "and he counted them home before he allowed himself to sleep.")
JOBS = 12
JOB_TEXT = "The parcel arrived on Tuesday, a day late, but nothing inside it was broken."
SAMPLE_RATE = 24_000  # Kokoro's PCM: 16-bit mono


def p50(records: list[StreamRecord]) -> str:
    values = [r.first_audio_s for r in records if r.first_audio is not None]
    return f"{statistics.median(values):.2f} s (n={len(values)})" if values else "none"


def in_flight(records: list[StreamRecord], at: float) -> int:
    return sum(r.started <= at and (r.ended is None or r.ended > at) for r in records)


def kokoro(chorus: ChorusCluster) -> list[str]:
    stream_speech(chorus.base_url, TEXT)  # warm the path
    reference = stream_speech(chorus.base_url, TEXT)
    clients = StreamingClients(chorus.base_url, TEXT)
    with ReplicaWatch(chorus, "Kokoro") as watch:
        chorus.wait_for(lambda: watch.settled_at(1), 30, "Kokoro did not start from one replica")
        (first,) = watch.states()
        clients.add(1)
        chorus.wait_for(lambda: sum(r.ended is not None for r in clients.records) >= 2, 120, "no baseline")
        step = time.monotonic()
        clients.add(STEP_CLIENTS - 1)
        chorus.wait_for(lambda: watch.running() == KOKORO_MAX, 300, f"Kokoro did not reach {KOKORO_MAX} replicas")
        up = {replica: at for replica, at in watch.first_seen("RUNNING").items() if replica != first}
        all_up = max(up.values())
        chorus.wait_for(lambda: clients.started_since(all_up) >= KOKORO_MAX, 120, "no stream after the scale-up")
        # Down in steps of one replica's target, so that each replica Serve removes has streams to finish.
        steps_down = []
        while clients.clients > KOKORO_TARGET:
            steps_down.append((time.monotonic(), clients.clients - KOKORO_TARGET))
            clients.stop(KOKORO_TARGET)
            removed = len(watch.gone()) + 1
            chorus.wait_for(lambda removed=removed: len(watch.gone()) >= removed, 300, "Kokoro did not scale down")
        steps_down.append((time.monotonic(), 0))
        clients.stop()
        clients.join(300)
        chorus.wait_for(lambda: watch.settled_at(1), 120, "Kokoro did not settle at one replica")
    records = clients.records
    gone = watch.gone()
    stopping = watch.first_seen("STOPPING")
    logs = Path(chorus.cluster.head_node.get_logs_dir_path())
    drained = {replica: drained_requests(logs, replica) for replica in gone}
    full = sum(r.outcome == "complete" and r.bytes == reference.bytes for r in records)
    before = [r for r in records if r.started < step]
    one_replica = [r for r in records if step <= r.started < min(up.values())]
    scaled = [r for r in records if all_up <= r.started]
    times = ", ".join(f"replica {n} running at +{at - step:.1f} s" for n, at in enumerate(sorted(up.values()), 2))
    removals = "; ".join(f"{replica[:8]}: stopping at +{stopping.get(replica, gone[replica]) - step:.1f} s with "
                         f"{in_flight(records, stopping.get(replica, gone[replica]))} streams in flight on the "
                         f"deployment, finished {drained[replica]} of its own, gone at +{gone[replica] - step:.1f} s"
                         for replica in sorted(gone, key=gone.get))
    lines = [
        f"## Kokoro: a load step from 1 to {STEP_CLIENTS} concurrent streams", "",
        (f"Each stream: {len(TEXT)} characters, PCM, {reference.bytes / 2 / SAMPLE_RATE:.1f} s of audio "
        f"({reference.bytes} bytes). Autoscaling: 1 to {KOKORO_MAX} replicas, target {KOKORO_TARGET} ongoing "
        "streams a replica; one inference thread a replica."), "",
        "| measure | value |", "|---|---|",
        f"| load step (t = 0) | 1 → {STEP_CLIENTS} closed-loop streaming clients |",
        f"| time to scale up | {times} |",
        f"| first audio, unloaded | {reference.first_audio_s:.2f} s |",
        f"| first audio, 1 client, 1 replica (before the step) | {p50(before)} |",
        f"| first audio, {STEP_CLIENTS} clients, 1 replica (after the step, before replica 2) | {p50(one_replica)} |",
        (f"| first audio, {STEP_CLIENTS} clients, {KOKORO_MAX} replicas (started after the last came up) "
        f"| {p50(scaled)} |"),
        (f"| load taken down (stopped clients finish their streams) | "
        f"{', '.join(f'to {n} clients at +{at - step:.1f} s' for at, n in steps_down)} |"),
        f"| scale-down (each removed replica) | {removals} |",
        f"| back to 1 replica | +{max(gone.values()) - step:.1f} s |",
        f"| streams | {len(records)}, {full} with their full audio |",
        f"| **streams cut on scale-down** | **{len(records) - full}** |", "",
        "Replicas over time (Serve's REST API, polled every 0.5 s):", "",
        "| t from the step | running | starting | stopping | streams in flight |", "|---:|---:|---:|---:|---:|",
    ]
    for at, counts in watch.timeline():
        starting = counts.get("STARTING", 0) + counts.get("PENDING_MIGRATION", 0)
        lines.append(f"| {at - step:+.1f} s | {counts.get('RUNNING', 0)} | {starting} | {counts.get('STOPPING', 0)} | "
                     f"{in_flight(records, at)} |")
    return lines


def jobs(chorus: ChorusCluster) -> list[str]:
    jobs_config = chorus.config["applications"][0]["args"]["jobs"]
    queue = redis.Redis.from_url(jobs_config["redis_url"])
    queued: list[tuple[float, int]] = []
    with ReplicaWatch(chorus, "JobWorker") as watch:
        chorus.wait_for(lambda: watch.settled_at(1), 60, "the JobWorker did not start from one replica")
        (first,) = watch.states()
        start, start_wall = time.monotonic(), time.time()
        ids = [submit(chorus.http, {"operation": "tts", "mode": "basic", "text": JOB_TEXT}) for _ in range(JOBS)]

        def final_statuses() -> list[str] | None:
            queued.append((time.monotonic(), queue.llen(jobs_config.get("queue_name", "chorus-jobs"))))
            statuses = [poll(chorus.http, job_id, 5, until=("IN_QUEUE", "IN_PROGRESS"))[0]["status"] for job_id in ids]
            return statuses if set(statuses) <= set(FINAL) else None
        statuses = chorus.wait_for(final_statuses, 600, "the jobs did not all end", every_s=1)
        chorus.wait_for(lambda: watch.gone() and watch.settled_at(1), 300, "the JobWorker did not scale back to one")
    records = JobRecords(jobs_config["redis_url"], result_expiry_s=60, record_ttl_s=60)
    job_records = [records.get(job_id) for job_id in ids]
    redeliveries = sum(record.redeliveries for record in job_records)
    done = max(record.finished_at for record in job_records) - start_wall  # the consumers' own clock
    up = {replica: at for replica, at in watch.first_seen("RUNNING").items() if replica != first}
    drained_at = next((at for at, length in queued if length == 0), None)
    return [
        f"## Job workers: {JOBS} tts jobs submitted at once", "",
        (f"Each job {len(JOB_TEXT)} characters; 2 jobs at a time a consumer; autoscaling on the waiting jobs, 1 to 2 "
        "consumers (one consumer slot on each worker node), target 2 waiting jobs a consumer."), "",
        "| measure | value |", "|---|---|",
        f"| jobs submitted (t = 0) | {JOBS} |",
        f"| time to scale up | {', '.join(f'consumer 2 running at +{at - start:.1f} s' for at in up.values()) or 'none'} |",
        f"| queue empty | {f'+{drained_at - start:.1f} s' if drained_at else 'not seen'} |",
        f"| all completed | +{done:.1f} s, {statuses.count('COMPLETED')} of {JOBS} COMPLETED, {redeliveries} handed out again |",
        f"| back to 1 consumer | +{max(watch.gone().values()) - start:.1f} s |",
    ]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="chorus-autoscaling-") as data:
        chorus = ChorusCluster(Path(data), None)
        chorus.config = chorus.derived(Kokoro=autoscaled_kokoro(KOKORO_MAX, KOKORO_TARGET),
                                       JobWorker=autoscaled_job_workers(chorus, max_replicas=2, target_queued_jobs=2))
        began = time.monotonic()
        try:
            chorus.start()
            sections = kokoro(chorus) + [""] + jobs(chorus)
        finally:
            chorus.shutdown()
    lines = [f"# Autoscaling on a multi-node cluster: {cpu_name()}, {time.strftime('%Y-%m-%d')}", "",
             ("`ray.cluster_utils` on this one machine: head (1 CPU: gateway, proxy, controller), engine node (2 CPUs, "
             "a custom resource in place of a GPU: Kokoro at 0.5 CPU a replica and Chatterbox idle without weights), "
             "jobs node (1 CPU); a consumer slot on each worker node. Every node shares the same two cores, so more "
             "replicas add no compute here: the figures show the scaling and draining mechanics, not capacity. "
             "Scaling within seconds (metrics every 0.5 s, a 2 s look-back, 1 s up / 3 s down delays); "
             f"graceful_shutdown_timeout_s 300. Whole run: {(time.monotonic() - began) / 60:.1f} min."), "",
             *sections]
    publish(lines, ROOT / "bench" / "results" / "autoscaling_cpu.md")


if __name__ == "__main__":
    main()
