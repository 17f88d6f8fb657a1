"""The RunPod-style job API on the real Serve graph: Redis, the JobWorker task consumer, the engines.

The test app (tests/conftest.py) runs jobs with a short visibility timeout and result expiry,
so a dead consumer's job comes back and results expire within a test. Chatterbox and S3Gen run
on random weights there: their jobs check the plumbing and the output shapes, not the voices.
The job front end in process (keys, the consumer's settings and wiring): tests/gateway/test_jobs.py.
"""

from __future__ import annotations

import base64
import time

import numpy as np
import pytest
import ray
import redis
import soundfile
from ray.serve.task_consumer import instantiate_adapter_from_config

from ingress.jobs.records import JobRecords
from ingress.jobs.redis_server import ACTOR_NAME, NAMESPACE
from ingress.jobs.settings import TASK_NAME, JobsSettings, task_processor_config
from tests.helpers.audio import DIGITS_GRAMMAR, b64, decode, recognize_digits, spectral_flatness
from tests.helpers.errors import assert_error
from tests.helpers.jobs import poll, run_sync, run_to_end, submit
from tests.helpers.settings import APP_NAME, TEST_JOBS
from tests.helpers.voices import kokoro_clip

# About seven seconds of speech: a few seconds of work on two CPU cores, well inside max_job_s.
LONG_TEXT = ("The ferry left the harbour at dawn. Gulls followed it across the grey water. "
             "By noon the island was in sight.")


def wav(output: dict, model: str = "kokoro", operation: str = "tts") -> tuple[np.ndarray, int]:
    assert output["format"] == "wav" and output["model"] == model and output["operation"] == operation
    data = base64.b64decode(output["audio"])
    assert data[:4] == b"RIFF"
    samples, rate = decode(data)
    assert rate == output["sample_rate"]
    assert abs(len(samples) / rate - output["duration"]) < 0.05
    return samples, rate


@pytest.fixture(scope="module")
def redis_url(client) -> str:
    """The embedded Redis that the test app started (client: the app is up)."""
    return ray.get(ray.get_actor(ACTOR_NAME, namespace=NAMESPACE).redis_url.remote())


def test_quick_start_flow(client, tmp_path):
    """The reference's Python quick start, against Chorus with a Kokoro voice."""
    payload = {"input": {"operation": "tts", "mode": "streaming", "text": "Hello, this is a test!",
                         "voice_name": "jf_alpha", "chunk_size": 25, "exaggeration": 0.7}}
    job_id = client.post("/run", json=payload).json()["id"]
    while True:
        result = client.get(f"/status/{job_id}").json()
        if result["status"] == "COMPLETED":
            audio_data = base64.b64decode(result["output"]["audio"])
            (tmp_path / "output.wav").write_bytes(audio_data)
            output = result["output"]
            break
        assert result["status"] != "FAILED", result.get("error")
        time.sleep(0.5)
    samples, rate = soundfile.read(tmp_path / "output.wav")
    assert rate == output["sample_rate"] == 24_000 and 1.0 < output["duration"] < 4.0
    assert spectral_flatness(samples) < 0.3
    assert set(result) >= {"id", "status", "output"} and result["id"] == job_id


def test_basic_tts_speaks_the_words(client, tmp_path):
    grammar = tmp_path / "digits.gram"
    grammar.write_text(DIGITS_GRAMMAR)
    result = run_sync(client, {"operation": "tts", "mode": "basic", "text": "four eight one six", "voice_name": "jm_kumo"})
    assert result["status"] == "COMPLETED", result
    samples, rate = wav(result["output"])
    assert recognize_digits(samples, rate, str(grammar)) == ["four", "eight", "one", "six"]
    assert result["delayTime"] >= 0 and result["executionTime"] > 0


def test_basic_tts_options_and_voice_id(client):
    voices = run_sync(client, {"operation": "list_local_voices"})["output"]["local_voices"]
    kumo = next(voice for voice in voices if voice["speaker_name"] == "jm_kumo")
    result = run_sync(client, {"operation": "tts", "mode": "basic", "text": "Good morning.", "voice_id": kumo["voice_id"],
                               "sample_rate": 16_000, "audio_normalization": "peak"})
    assert result["status"] == "COMPLETED", result
    samples, rate = wav(result["output"])
    assert rate == 16_000
    assert 0.85 < np.abs(samples).max() < 0.92  # -1 dBFS


def test_streaming_tts_reports_progress(client):
    job_id = submit(client, {"operation": "tts", "mode": "streaming", "text": LONG_TEXT, "voice_name": "nova"})
    final, seen = poll(client, job_id, every_s=0.05)
    assert final["status"] == "COMPLETED", final
    wav(final["output"])
    running = [status for status in seen if status["status"] == "IN_PROGRESS" and "progress" in status]
    assert running, [status["status"] for status in seen]
    assert running[-1]["progress"]["chunks"] >= 1 and 0 < running[-1]["progress"]["percent"] < 100


def test_list_local_voices(client):
    result = run_sync(client, {"operation": "list_local_voices"})
    assert result["status"] == "COMPLETED"
    output = result["output"]
    assert set(output) == {"local_voices", "total_local_voices", "stats"}
    voices = {voice["speaker_name"]: voice for voice in output["local_voices"]}
    assert {"jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"} <= set(voices)
    assert set(voices["jm_kumo"]) >= {"voice_id", "speaker_name", "gender", "duration", "original_file", "type"}
    assert voices["jm_kumo"]["gender"] == "male" and voices["jf_alpha"]["gender"] == "female"
    assert "alloy" in voices["jf_alpha"]["aliases"]
    assert output["total_local_voices"] == output["stats"]["total_voices"] == len(voices)
    assert sum(output["stats"]["gender_distribution"].values()) == len(voices)


@pytest.fixture(scope="module")
def reference_clip(client) -> bytes:
    return kokoro_clip(client, "jm_kumo")  # about 6 s: long enough to clone from


@pytest.fixture(scope="module")
def cloned(client, reference_clip, chatterbox_checkpoint) -> dict:
    """A voice cloned by a voice_cloning job, as the reference's cloning example does it (by the session app's
    Chatterbox, on the random checkpoint)."""
    result = run_sync(client, {"operation": "voice_cloning", "reference_audio": b64(reference_clip),
                               "voice_name": "Job Clone", "voice_description": "cloned by a job", "gender": "male",
                               "save_to_library": True})
    assert result["status"] == "COMPLETED", result
    return result["output"]


def test_voice_cloning_returns_the_reference_shape_and_is_idempotent(client, cloned, reference_clip):
    assert set(cloned) >= {"success", "voice_info", "sample_audio", "sample_rate", "saved_to_library", "operation",
                           "message", "usage_instructions"}
    info = cloned["voice_info"]
    assert cloned["success"] is True and cloned["saved_to_library"] is True and cloned["operation"] == "voice_cloning"
    assert info["voice_name"] == "Job Clone" and info["type"] == "user_cloned_voice" and info["gender"] == "male"
    assert info["description"] == "cloned by a job" and info["duration"] > 5 and info["sample_rate"] == 24_000
    assert cloned["message"] == "Voice 'Job Clone' cloned successfully"
    assert cloned["usage_instructions"]["tts_streaming"] == {"operation": "tts", "mode": "streaming_voice_cloning",
                                                            "text": "Your text here", "voice_name": "Job Clone"}
    sample, rate = decode(base64.b64decode(cloned["sample_audio"]))
    assert rate == cloned["sample_rate"] == 24_000 and len(sample) > 0
    # The same job again (as a redelivered one runs): the stored voice, not a second one or an error.
    again = run_sync(client, {"operation": "voice_cloning", "reference_audio": b64(reference_clip),
                              "voice_name": "job clone", "gender": "male"})
    assert again["status"] == "COMPLETED" and again["output"]["voice_info"]["voice_id"] == info["voice_id"], again
    other = run_sync(client, {"operation": "voice_cloning", "reference_audio": b64(kokoro_clip(client, "jf_alpha")),
                              "voice_name": "Job Clone"})
    assert other["status"] == "FAILED" and other["error"] == "A voice named 'Job Clone' already exists"


def test_tts_with_a_cloned_voice_goes_to_chatterbox(client, cloned):
    job_id = submit(client, {"operation": "tts", "mode": "streaming_voice_cloning", "text": "Hello there.",
                             "voice_name": "Job Clone", "chunk_size": 25, "exaggeration": 0.7})
    final, _ = poll(client, job_id)
    assert final["status"] == "COMPLETED", final
    samples, _ = wav(final["output"], model="chatterbox")
    assert len(samples) > 0
    by_id = run_sync(client, {"operation": "tts", "mode": "basic", "text": "Hello there.",
                              "voice_id": cloned["voice_info"]["voice_id"], "sample_rate": 16_000})
    assert by_id["status"] == "COMPLETED", by_id
    assert wav(by_id["output"], model="chatterbox")[1] == 16_000


def test_list_local_voices_includes_cloned_voices(client, cloned):
    output = run_sync(client, {"operation": "list_local_voices"})["output"]
    voices = {voice["speaker_name"]: voice for voice in output["local_voices"]}
    clone = voices["Job Clone"]
    assert clone["voice_id"] == cloned["voice_info"]["voice_id"] and clone["type"] == "user_cloned_voice"
    assert clone["gender"] == "male" and clone["duration"] > 5 and clone["original_file"] == "original.wav"
    assert "jm_kumo" in voices and output["total_local_voices"] == output["stats"]["total_voices"] == len(voices)
    assert output["stats"]["gender_distribution"]["male"] >= 2


@pytest.fixture(scope="module")
def speech(client) -> bytes:
    return kokoro_clip(client, "jf_alpha", text="Please convert these few words.")


@pytest.mark.parametrize("operation, target", [
    ("voice_conversion", {"voice_name": "Job Clone"}),
    ("voice_transfer", {"transfer_mode": "embedding", "voice_id": "cloned"}),
    ("voice_transfer", {"transfer_mode": "audio", "target_audio": "clip"}),
])
def test_voice_conversion_and_transfer(client, cloned, speech, reference_clip, operation, target):
    target = {**target}
    if target.get("voice_id") == "cloned":
        target["voice_id"] = cloned["voice_info"]["voice_id"]
    if target.get("target_audio") == "clip":
        target["target_audio"] = b64(reference_clip)
    result = run_to_end(client, {"operation": operation, "input_audio": b64(speech), "no_watermark": True, **target})
    assert result["status"] == "COMPLETED", result
    output = result["output"]
    rate = wav(output, model="s3gen", operation=operation)[1]
    assert rate == 24_000 and abs(output["duration"] - output["input_duration"]) < 0.1
    expected = ({"transfer_mode": "audio", "target_voice": "target_audio", "voice_id": None, "source": "target_audio"}
                if "target_audio" in target else
                {"transfer_mode": "embedding", "target_voice": "Job Clone", "voice_id": cloned["voice_info"]["voice_id"],
                 "source": "voice_library"})
    assert output["transfer_info"] == expected


@pytest.mark.parametrize("job_input, error", [
    ({"operation": "voice_conversion", "voice_name": "Nobody"}, "Voice 'Nobody' not found in any library"),
    ({"operation": "voice_transfer", "transfer_mode": "embedding", "voice_name": "jm_kumo"},
     "Voice 'jm_kumo' not found in any library"),  # Kokoro packs are not conversion targets
    ({"operation": "tts", "mode": "streaming_voice_cloning", "text": "Hi", "voice_name": "Nobody"},
     "Voice 'Nobody' not found in any library"),
    ({"operation": "voice_transfer", "voice_name": "Job Clone"}, "Missing required field: 'transfer_mode'"),
    ({"operation": "voice_transfer", "transfer_mode": "audio", "voice_name": "Job Clone"},
     "Missing required field: 'target_audio'"),
    ({"operation": "voice_conversion", "voice_name": "Job Clone", "input_audio": "not base64!"},
     "input_audio is not valid base64"),
    ({"operation": "voice_cloning", "voice_name": "jm_kumo"}, "'jm_kumo' is a Kokoro voice name"),
    ({"operation": "voice_cloning", "reference_audio": "UklGRg=="}, "Missing required field: 'voice_name'"),
])
def test_chatterbox_operations_fail_clearly(client, speech, cloned, job_input, error):
    audio_field = {"voice_cloning": "reference_audio", "tts": None}.get(job_input["operation"], "input_audio")
    job_input = {audio_field: b64(speech), **job_input} if audio_field else job_input
    result = run_sync(client, job_input)
    assert result["status"] == "FAILED" and "output" not in result, result
    assert error in result["error"]


@pytest.mark.parametrize("job_input, error", [
    ({"operation": "invalid_op"}, "Unknown operation: invalid_op"),
    ({"text": "Hello"}, "Missing required field: 'operation'"),
    ({"operation": "tts", "mode": "basic", "text": "Hi", "voice_name": "InvalidName"},
     "Voice 'InvalidName' not found in any library"),
    ({"operation": "tts", "mode": "basic", "text": "Hi", "voice_id": "00000000"},
     "Voice '00000000' not found in any library"),
    ({"operation": "tts", "text": "Hi"}, "Missing required field: 'mode'"),
    ({"operation": "tts", "mode": "basic"}, "Missing required field: 'text'"),
    ({"operation": "tts", "mode": "fast", "text": "Hi"}, "Invalid value for 'mode'"),
    ({"operation": "tts", "mode": "streaming", "text": "Hi", "chunk_size": 500}, "Invalid value for 'chunk_size'"),
    ({"operation": "tts", "mode": "basic", "text": "Hi", "sample_rate": 1000}, "Invalid value for 'sample_rate'"),
    ({"operation": "tts", "mode": "basic", "text": "x" * 5001}, "the limit is 5000"),
])
def test_invalid_jobs_fail_with_the_reference_wording(client, job_input, error):
    result = run_sync(client, job_input)
    assert result["status"] == "FAILED", result
    assert error in result["error"]


def test_bad_requests_and_unknown_ids_use_the_gateway_error_shape(client):
    assert_error(client.post("/run", json={"operation": "tts"}), 400, "input", "missing")
    assert_error(client.post("/run", json={"input": "tts"}), 400, "input", "dictionary")
    assert_error(client.post("/run", content=b"{", headers={"Content-Type": "application/json"}), 400, None, "JSON")
    assert_error(client.get("/status/no-such-job"), 404, "id", "not found")
    assert_error(client.post("/cancel/no-such-job"), 404, "id", "not found")


def test_cancel_queued_and_running_jobs(client):
    # Four times the long text: no job can finish while the test waits for the others to start.
    long_job = {"operation": "tts", "mode": "streaming", "text": " ".join([LONG_TEXT] * 4)}
    running = [submit(client, long_job) for _ in range(TEST_JOBS["consumer_concurrency"])]
    queued = submit(client, {"operation": "tts", "mode": "basic", "text": "Never spoken."})
    for job_id in running:
        poll_until = time.monotonic() + 10
        while client.get(f"/status/{job_id}").json()["status"] != "IN_PROGRESS" and time.monotonic() < poll_until:
            time.sleep(0.05)
    assert client.get(f"/status/{queued}").json()["status"] == "IN_QUEUE"  # every consumer thread is busy
    for job_id in [queued, *running]:
        assert client.post(f"/cancel/{job_id}").json()["status"] == "CANCELLED"
    # The running jobs stop at their next piece, so the consumers are free for new work at once.
    after = run_sync(client, {"operation": "tts", "mode": "basic", "text": "Next, please."})
    assert after["status"] == "COMPLETED" and after["delayTime"] < 4000, after
    for job_id in [queued, *running]:
        status = client.get(f"/status/{job_id}").json()
        assert status["status"] == "CANCELLED" and "output" not in status
    assert "delayTime" not in client.get(f"/status/{queued}").json()  # it never started
    # A finished job cannot be cancelled: cancel answers with its status, unchanged.
    assert client.post(f"/cancel/{after['id']}").json()["status"] == "COMPLETED"


def job_records(redis_url: str) -> JobRecords:
    settings = JobsSettings(**TEST_JOBS)
    return JobRecords(redis_url, settings.result_expiry_s, settings.record_ttl_s)


def test_a_job_survives_its_consumer_being_killed(client, redis_url):
    job_id = submit(client, {"operation": "tts", "mode": "streaming", "text": LONG_TEXT, "voice_name": "jm_kumo"})
    deadline = time.monotonic() + 10
    while client.get(f"/status/{job_id}").json()["status"] != "IN_PROGRESS":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.02)
    (replica,) = [actor for actor in ray.util.list_named_actors(all_namespaces=True)
                  if actor["name"].startswith(f"SERVE_REPLICA::{APP_NAME}#JobWorker#")]
    ray.kill(ray.get_actor(replica["name"], namespace=replica["namespace"]), no_restart=True)
    # Serve starts a new replica; once the visibility timeout passes, Redis hands the job to it.
    final, _ = poll(client, job_id, timeout_s=TEST_JOBS["visibility_timeout_s"] + 60, every_s=0.25)
    assert final["status"] == "COMPLETED", final
    samples, rate = wav(final["output"])
    assert len(samples) / rate > 4
    assert job_records(redis_url).get(job_id).redeliveries == 1  # handed to the new replica


def test_a_job_longer_than_the_visibility_timeout_runs_once(client, redis_url):
    """Its consumer renews its lease on the job while it runs, so no sweep hands it to a second consumer."""
    # Four times LONG_TEXT: about 28 s of speech, rendered in about 7 s on a fast 2-core CPU (3.8x real time;
    # twice the text was once too short there) and 19 s on a slow one: past the 4 s it must outlast, inside
    # max_job_s.
    job_id = submit(client, {"operation": "tts", "mode": "streaming", "text": " ".join([LONG_TEXT] * 4),
                             "voice_name": "jm_kumo"})
    final, _ = poll(client, job_id, timeout_s=TEST_JOBS["max_job_s"] + 30, every_s=0.25)
    assert final["status"] == "COMPLETED", final
    outlasted_s = TEST_JOBS["visibility_timeout_s"] + TEST_JOBS["restore_interval_s"]
    assert final["executionTime"] > 1000 * outlasted_s, "the job was too short to test its lease"
    assert job_records(redis_url).get(job_id).redeliveries == 0


def test_results_expire(client, redis_url):
    """A final job's record and Celery's result both expire after result_expiry_s: their TTLs in Redis say so
    (read, not waited out), and once they lapse (made to lapse now) the job's status is a 404 saying so."""
    result = run_sync(client, {"operation": "list_local_voices"})
    assert client.get(f"/status/{result['id']}").json()["status"] == "COMPLETED"
    redis_client = redis.Redis.from_url(redis_url)
    record, celery_result = f"chorus:job:{result['id']}", f"celery-task-meta-{result['id']}"
    deadline = time.monotonic() + 10  # the consumer shortens the record's TTL just after it stores the result
    while not 0 < redis_client.ttl(record) <= TEST_JOBS["result_expiry_s"]:
        assert time.monotonic() < deadline, f"the record's TTL is {redis_client.ttl(record)} s"
        time.sleep(0.05)
    assert 0 < redis_client.ttl(celery_result) <= TEST_JOBS["result_expiry_s"]
    for key in (record, celery_result):
        redis_client.pexpire(key, 1)
    while redis_client.exists(record, celery_result):
        assert time.monotonic() < deadline, "the keys did not lapse"
        time.sleep(0.01)
    assert_error(client.get(f"/status/{result['id']}"), 404, "id", "expired")


def test_failed_and_unprocessable_tasks_go_to_dead_letter_queues(redis_url):
    settings = JobsSettings.model_validate({**TEST_JOBS, "redis_url": redis_url})
    queue = instantiate_adapter_from_config(task_processor_config(settings, redis_url))
    redis_client = redis.Redis.from_url(redis_url)
    failed_before = redis_client.llen(settings.failed_queue_name)
    unprocessable_before = redis_client.llen(settings.unprocessable_queue_name)
    broken = queue.enqueue_task_sync(TASK_NAME, args=["too-few-arguments"])  # the handler raises TypeError
    queue.enqueue_task_sync("chorus.no_such_task", args=[])
    deadline = time.monotonic() + 30
    while queue.get_task_status_sync(broken.id).status != "FAILURE":
        assert time.monotonic() < deadline, "the broken task did not fail"
        time.sleep(0.2)
    # Celery stores the FAILURE state before its task_failure signal moves the task, so wait for both moves.
    while redis_client.llen(settings.unprocessable_queue_name) == unprocessable_before:
        assert time.monotonic() < deadline, "the unknown task was not moved to the unprocessable queue"
        time.sleep(0.2)
    while redis_client.llen(settings.failed_queue_name) == failed_before:
        assert time.monotonic() < deadline, "the failed task was not moved to the failed queue"
        time.sleep(0.2)
    assert redis_client.llen(settings.failed_queue_name) == failed_before + 1
