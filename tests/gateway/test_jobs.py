"""The RunPod-style job front end in process, over fake engines and without Redis: the bearer keys on the job
routes, the consumer's settings, and the JobWorker's own wiring (abandoned engine calls, conversion progress).
On the real Serve graph: tests/served/test_jobs.py.
"""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from ground.errors import EngineTimeout
from ingress.auth import BearerKeys, key_digest
from ingress.gateway import create_api
from ingress.jobs.settings import JobsSettings
from ingress.jobs.worker import JobWorker, job_worker
from ingress.settings import GatewaySettings
from stores.voice_library.settings import VoiceLibrarySettings
from tests.helpers.audio import wav_bytes
from tests.helpers.errors import assert_error
from tests.helpers.fake_engines import FakeChatterbox, FakeConversion, FakeKokoro, fake_handles
from tests.helpers.gateway import serve_gateway
from tests.helpers.jobs import RecordedProgress, job_routes, poll, run_sync, submit


def test_job_routes_need_a_key_when_keys_are_configured(tmp_path):
    """In process: the bearer-key middleware covers the job routes like every other route."""

    class NoQueue:
        async def status(self, job_id):
            raise AssertionError("the request got past authentication")

    api = create_api(GatewaySettings(require_auth=False), operations=None,
                     library_settings=VoiceLibrarySettings(root=tmp_path), keys=BearerKeys([key_digest("k")]), jobs=NoQueue())
    with TestClient(api) as http:
        for method, path in (("POST", "/run"), ("POST", "/runsync"), ("GET", "/status/x"), ("POST", "/cancel/x")):
            assert_error(http.request(method, path, json={"input": {}}), 401, None, "api key")


def test_consumer_settings_are_checked_and_scale_on_the_queue():
    settings = JobsSettings(redis_url="redis://127.0.0.1:1/0", consumer_concurrency=3,
                            autoscaling={"min_replicas": 0, "max_replicas": 5})
    config = job_worker(settings)._deployment_config
    assert config.max_ongoing_requests == 3
    assert config.autoscaling_config.max_replicas == 5
    assert config.autoscaling_config.policy.policy_kwargs["queue_name"] == "chorus-jobs"


def test_an_engine_call_stuck_on_a_lost_replica_is_abandoned_for_a_retry(tmp_path):
    """A call that never answers (its replica went away) ends after engine_call_s, long before max_job_s,
    as an engine error: Celery retries the job instead of the job hanging (the consumer's own wiring, with
    Redis unused: a basic tts job reports no progress)."""
    import asyncio

    settings = JobsSettings(redis_url="redis://127.0.0.1:1/0", max_job_s=600, engine_call_s=0.2)
    stuck = FakeKokoro(delay_s=600)
    worker = JobWorker(fake_handles(stuck, FakeChatterbox(), FakeConversion()), settings,
                       VoiceLibrarySettings(root=tmp_path / "voices"))
    job = worker.dialect.run({"operation": "tts", "mode": "basic", "text": "Hello.", "voice_name": "jm_kumo"},
                             control=None)
    with pytest.raises(EngineTimeout):  # not the outer limit's TimeoutError
        asyncio.run(asyncio.wait_for(job, 10))


def test_a_conversion_job_reports_each_piece_as_it_is_done(tmp_path):
    import asyncio

    worker = JobWorker(fake_handles(FakeKokoro(), FakeChatterbox(), FakeConversion()),
                       JobsSettings(redis_url="redis://127.0.0.1:1/0"), VoiceLibrarySettings(root=tmp_path / "voices"))
    progress = RecordedProgress()
    output = asyncio.run(worker.dialect.run(
        {"operation": "voice_conversion", "input_audio": base64.b64encode(wav_bytes(2.5)).decode(),
         "transfer_mode": "audio", "target_audio": base64.b64encode(wav_bytes(3)).decode()}, progress))
    # The fake converts a second a piece: three pieces, each reported when it is done.
    assert progress.reports == [{"pieces": 1, "of": 3, "percent": 33}, {"pieces": 2, "of": 3, "percent": 67},
                                {"pieces": 3, "of": 3, "percent": 99}]
    assert output["duration"] == 2.5 and output["input_duration"] == 2.5


def test_the_job_routes_in_process_answer_as_the_queue_does(tmp_path):
    """The in-process job routes (tests.helpers.jobs.job_routes) that the parity test drives: /run queues, /status
    has the output; a refused job is FAILED with the field's message, as the worker reports it."""
    gateway = serve_gateway(tmp_path)
    jobs = job_routes(gateway)
    status, _ = poll(jobs, submit(jobs, {"operation": "tts", "mode": "basic", "text": "Hello there.",
                                         "voice_name": "jm_kumo", "speed": 2.0}), timeout_s=5)
    assert status["status"] == "COMPLETED" and status["output"]["model"] == "kokoro"
    assert gateway.kokoro.requests("synthesize")[-1].speed == 2.0
    refused = run_sync(jobs, {"operation": "tts", "mode": "basic", "text": " \n "})
    assert refused["status"] == "FAILED" and refused["error"] == "Invalid value for 'text': text must contain text to speak"
