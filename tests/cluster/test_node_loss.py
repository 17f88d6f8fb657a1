"""Losing the node that hosts Kokoro, Chatterbox and one of the two job consumers while streams, whole
requests and jobs are in flight."""

from __future__ import annotations

import base64
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from ingress.jobs.records import JobRecords
from tests.helpers.cluster import Repeating
from tests.helpers.jobs import poll, submit

STREAM_TEXT = " ".join(["The ferry left the harbour at dawn, and the gulls followed it across the grey water."] * 8)
# Long enough (with the streams beside them) to be running still when the node is lost.
JOB_TEXT = " ".join(["By noon the island was in sight, and the passengers gathered on the deck to watch it grow."] * 3)
REQUEST_TIMEOUT_S = 120  # the gateway's limit on an engine call


class HealthWatch(Repeating):
    """/health every half second on a thread: when each answer came, how long it took, what it said."""

    def __init__(self, base_url: str):
        super().__init__()
        self.base_url = base_url
        self.seen: list[tuple[float, float, dict | None]] = []

    def probe(self):
        started = time.monotonic()
        try:
            body = httpx.get(f"{self.base_url}/health", timeout=30).json()
        except (httpx.HTTPError, ValueError):
            body = None
        self.seen.append((started, time.monotonic() - started, body))

    def kokoro_states(self, start: float, end: float) -> list[str]:
        return [body["engines"]["kokoro"]["status"] if body else "no answer"
                for at, _, body in self.seen if start <= at <= end]


def stream_until_cut(base_url: str, started: threading.Event) -> tuple[str, float]:
    """A long PCM stream: how it ended ("complete", "cut" or an HTTP status) and when."""
    try:
        with httpx.stream("POST", f"{base_url}/v1/audio/speech", timeout=REQUEST_TIMEOUT_S + 30,
                          json={"input": STREAM_TEXT, "response_format": "pcm", "stream": True}) as response:
            if response.status_code != 200:
                return str(response.status_code), time.monotonic()
            for _ in response.iter_bytes():
                started.set()
        return "complete", time.monotonic()
    except (httpx.RemoteProtocolError, httpx.ReadError):
        return "cut", time.monotonic()


@pytest.mark.needs_chatterbox  # the cloning job
def test_losing_the_engine_node_loses_no_job_and_no_voice(chorus):
    clip = httpx.post(f"{chorus.base_url}/v1/audio/speech", timeout=60,
                      json={"input": "A voice to clone, from a sentence that lasts well over the five seconds a clone needs.",
                            "response_format": "wav"}).content
    with HealthWatch(chorus.base_url) as health, ThreadPoolExecutor(8) as pool:
        stream_started = [threading.Event() for _ in range(3)]
        streams = [pool.submit(stream_until_cut, chorus.base_url, event) for event in stream_started]
        assert all(event.wait(60) for event in stream_started), "every stream had begun before the loss"
        whole = [pool.submit(httpx.post, f"{chorus.base_url}/v1/audio/speech", timeout=REQUEST_TIMEOUT_S + 30,
                             json={"input": STREAM_TEXT, "response_format": "wav", "stream": False}) for _ in range(2)]
        # The cloning job first: the four consumer threads (two a consumer) take it and three tts jobs.
        clone_job = submit(chorus.http, {"operation": "voice_cloning", "voice_name": "Survivor",
                                         "reference_audio": base64.b64encode(clip).decode()})
        tts_jobs = [submit(chorus.http, {"operation": "tts", "mode": mode, "text": JOB_TEXT})
                    for mode in ("basic", "streaming", "basic", "streaming")]
        cloning, _ = poll(chorus.http, clone_job, 60, 0.5, until=("IN_PROGRESS",))
        assert cloning["status"] in ("IN_PROGRESS", "COMPLETED"), cloning

        lost = time.monotonic()
        chorus.remove_engine_node()
        stream_ends = [future.result(timeout=REQUEST_TIMEOUT_S + 60) for future in streams]
        whole_answers = [future.result(timeout=REQUEST_TIMEOUT_S + 60) for future in whole]
        # Engines stay lost a while longer: long enough for Ray to declare the node dead, and for /health
        # to be seen answering without them.
        time.sleep(max(lost + 20 - time.monotonic(), 5.0))

        replaced = time.monotonic()
        chorus.add_engine_node()
        chorus.wait_for(lambda: httpx.post(f"{chorus.base_url}/v1/audio/speech", timeout=30, json={
            "input": "Back again.", "response_format": "wav"}).status_code == 200, 300, "no speech after recovery")
        recovered = time.monotonic()
        print(f"\nengine node lost; streams ended {[f'{how} at {end - lost:.1f} s' for how, end in stream_ends]}; "
              f"whole requests {[a.status_code for a in whole_answers]}; replacement joined {replaced - lost:.1f} s "
              f"later; speech again {recovered - replaced:.1f} s after it joined")
        finals = {job_id: poll(chorus.http, job_id, 300, 0.5)[0] for job_id in [*tts_jobs, clone_job]}
        settled = time.monotonic()
        chorus.wait_healthy(120)
    records = JobRecords(chorus.redis.url, result_expiry_s=60, record_ttl_s=60)
    redeliveries = {job_id: records.get(job_id).redeliveries for job_id in finals}
    print(f"jobs: redeliveries {sorted(redeliveries.values())}; all final {settled - recovered:.1f} s after speech "
          "was back")

    for how, ended in stream_ends:  # a stream in flight ends, with its bytes cut short or an error status
        assert how != "complete" and ended - lost < REQUEST_TIMEOUT_S, (how, ended - lost)
    for answer in whole_answers:  # a whole request gets a status, never a hang
        assert answer.status_code in (200, 502, 503, 504), answer.text
    for final in finals.values():
        assert final["status"] == "COMPLETED", final
    # Both consumers were running jobs (two each) when one of them went with the node: its jobs were
    # handed to a live consumer after the visibility timeout, not after max_job_s.
    assert any(redeliveries.values()), redeliveries
    voices = httpx.get(f"{chorus.base_url}/v1/voices", timeout=30).json()["voices"]
    assert [v["speaker_name"] for v in voices].count("Survivor") == 1

    assert all(latency < 10 for _, latency, _ in health.seen), "/health answered throughout"
    while_lost = health.kokoro_states(lost + 3, replaced)  # calls sent before the loss may still answer
    assert while_lost and set(while_lost) == {"unavailable"}, while_lost
    assert health.kokoro_states(recovered, time.monotonic())[-1:] == ["ready"]
