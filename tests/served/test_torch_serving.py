"""Kokoro's torch backend behind Serve: dynamic batching from user_config, its queue depth, and captioned speech."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import time
from pathlib import Path

import httpx
import pytest
import soundfile
from ray import serve

from deployments.kokoro.deployment import KokoroDeployment
from deployments.kokoro.protocol import KokoroRequest
from deployments.kokoro.settings import KokoroSettings
from tests.helpers.errors import assert_error
from tests.helpers.served import gateway_over_test_engines

APP = "chorus-torch"
PREFIX = "/torch"
SENTENCES = "The quick brown fox jumps over the lazy dog. Then it runs home, 12 miles away!"
WORDS = ["The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "Then", "it", "runs", "home", "12",
         "miles", "away"]


def deploy(batching: dict, library: Path):
    """Kokoro on torch with the batch limits as its user_config, behind a Gateway of its own (the test
    app's Chatterbox and Conversion serve the rest)."""
    kokoro = KokoroDeployment.options(ray_actor_options={"num_cpus": 0.5}, user_config=batching).bind(
        KokoroSettings(backend="torch"))
    serve.run(gateway_over_test_engines({"require_auth": False}, library, kokoro=kokoro), name=APP, route_prefix=PREFIX)
    return serve.get_deployment_handle("Kokoro", app_name=APP)


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("library")


@pytest.fixture(scope="module")
def kokoro(base_url, library):  # base_url: the test app, whose engines serve beside this Kokoro
    handle = deploy({"max_batch_size": 8, "batch_wait_timeout_s": 0.2}, library)
    yield handle
    serve.delete(APP)


@pytest.fixture(scope="module")
def torch_client(kokoro, base_url, tls_context):
    with httpx.Client(base_url=base_url + PREFIX, timeout=120, verify=tls_context) as http:
        yield http


def test_concurrent_requests_share_forward_passes_and_keep_their_timing(kokoro, metrics_port):
    texts = ["Short one.", "A somewhat longer sentence than that.", "Tiny.", "The last request in the batch, with a pause."]
    requests = [KokoroRequest(text=t, voice="jm_kumo", word_timestamps=True) for t in texts]
    alone = [kokoro.synthesize.remote(r).result(timeout_s=120) for r in requests]

    async def together():
        return await asyncio.gather(*(kokoro.synthesize.remote(r) for r in requests))

    batched = asyncio.run(together())
    for single, shared in zip(alone, batched, strict=True):
        # Durations come from the deterministic text side: a batch must not change them.
        assert len(shared.audio) == len(single.audio)
        assert [(w.word, w.start, w.end) for w in shared.words] == [(w.word, w.start, w.end) for w in single.words]
    deadline = time.monotonic() + 60
    while True:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
        # One series per replica; count batches above size 1.
        singles = sum(float(v) for v in re.findall(r'ray_chorus_batch_size_bucket\{[^}]*le="1\.0"[^}]*\} ([0-9.e+]+)', text))
        total = sum(float(v) for v in re.findall(r'ray_chorus_batch_size_count\{[^}]*\} ([0-9.e+]+)', text))
        if total > singles:
            break  # at least one forward pass carried more than one piece
        assert time.monotonic() < deadline, f"no batch of two or more pieces was recorded ({total} batches)"
        time.sleep(2)


def test_health_counts_the_pieces_waiting_for_a_forward_pass(kokoro):
    # Ten one-piece requests and eight pieces per pass: some wait while the first pass runs.
    requests = [KokoroRequest(text=f"Request number {i}.", voice="jm_kumo") for i in range(10)]

    async def watch() -> tuple[int, int]:
        jobs = asyncio.gather(*(kokoro.synthesize.remote(r) for r in requests))
        most = 0
        while not jobs.done():
            most = max(most, (await kokoro.health.remote()).queued_pieces)
            await asyncio.sleep(0.02)
        await jobs
        return most, (await kokoro.health.remote()).queued_pieces

    most, after = asyncio.run(watch())
    assert most > 0, "no piece was ever reported waiting"
    assert after == 0


def assert_caption_timing(timestamps: list[dict], audio_s: float) -> None:
    assert [t["word"] for t in timestamps] == WORDS
    ends = 0.0
    for stamp in timestamps:
        assert ends - 1e-6 <= stamp["start_time"] < stamp["end_time"] <= audio_s + 1e-6, stamp
        ends = stamp["end_time"]


def test_captioned_speech_whole(torch_client):
    response = torch_client.post("/dev/captioned_speech", json={
        "input": SENTENCES, "voice": "jf_alpha", "response_format": "wav", "stream": False})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["audio_format"] == "wav"
    samples, rate = soundfile.read(io.BytesIO(base64.b64decode(body["audio"])), dtype="float32")
    assert_caption_timing(body["timestamps"], len(samples) / rate)
    assert body["timestamps"][-1]["end_time"] > 0.8 * len(samples) / rate  # the words span the speech


def test_captioned_speech_streams_one_line_per_piece(torch_client):
    with torch_client.stream("POST", "/dev/captioned_speech", json={
            "input": SENTENCES, "voice": "jf_alpha", "response_format": "pcm"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in response.iter_lines() if line]
    assert len(lines) >= 3  # a short opening piece, then the sentences
    pcm = b"".join(base64.b64decode(line["audio"]) for line in lines)
    audio_s = len(pcm) / 2 / 24_000
    assert_caption_timing([stamp for line in lines for stamp in line["timestamps"]], audio_s)


def test_captioned_speech_needs_the_torch_backend(client):
    response = client.post("/dev/captioned_speech", json={"input": "Hello there.", "stream": False})
    assert_error(response, 400, "return_timestamps", "torch backend")


def test_batch_limits_follow_user_config(kokoro, library):
    """Last in this module: it leaves the replica at the new limits."""
    # `serve.run` gives every run a new code version, so Serve replaces the replica here; a config
    # deploy (`serve deploy`, KubeRay) that changes only user_config calls `reconfigure` in place.
    first = kokoro.health.remote().result(timeout_s=60)
    assert first.backend == "torch" and first.batching["pieces_per_pass"] == 8
    handle = deploy({"max_batch_size": 4, "batch_wait_timeout_s": 0.2}, library)
    deadline = time.monotonic() + 60
    while handle.health.remote().result(timeout_s=60).batching["pieces_per_pass"] != 4:
        assert time.monotonic() < deadline, "the new user_config did not reach the replica"
        time.sleep(0.5)
