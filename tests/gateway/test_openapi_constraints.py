"""The OpenAPI document states the limits the code enforces: input that the schema allows is mostly
accepted, so a client generated from the document (or a fuzzer) is not refused for rules it cannot see.

Inputs are drawn from each operation's own schema (schemathesis, positive mode, derandomized by the
suite's hypothesis profile) and sent to the gateway over fake engines; each route must accept most of
them. The upload routes (/v1/voices, /v1/audio/conversions) get two things no schema can state filled
in after drawing: the audio, which must be a decodable recording (random bytes or base64 of them are
rightly refused), and a library voice named as the target, which must be one the library holds (its
voices are data, not part of the document). Every other field stays as drawn, which of the targets
is given included.
"""

from __future__ import annotations

import base64
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.helpers.audio import wav_bytes
from tests.helpers.gateway import Served, serve_gateway
from tests.helpers.voices import clone

SPEECH_ROUTES = ["/v1/audio/speech", "/dev/captioned_speech", "/synthesize", "/synthesize/stream"]
UPLOAD_ROUTES = ["/v1/voices", "/v1/audio/conversions"]
EXAMPLES = 40
LEAST_ACCEPTED = 0.5  # schemathesis warns when most schema-valid inputs are refused

CLIP = wav_bytes(6, rate=16_000)  # long enough to clone from (5-60 s), and speech to convert
AUDIO_FIELDS = {"file", "target_speaker", "reference_audio", "audio"}  # multipart files, or base64 in JSON


def _answers(gateway: Served, path: str, fill=lambda case: None) -> list[tuple[int, dict | None]]:
    """Status and error object of each schema-valid input sent to POST `path`, after `fill(case)`."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", gateway.app)
    operation = schema[path]["POST"]
    answers = []

    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def send(case):
        fill(case)
        response = case.call()
        error = response.json().get("error") if response.status_code >= 400 else None
        answers.append((response.status_code, error))

    send()
    return answers


def _assert_mostly_accepted(answers: list[tuple[int, dict | None]]) -> None:
    accepted = sum(status < 400 for status, _ in answers)
    refusals = Counter((status, error["param"], error["code"]) for status, error in answers if error)
    assert len(answers) >= EXAMPLES // 2
    assert accepted / len(answers) >= LEAST_ACCEPTED, (accepted, len(answers), refusals.most_common(5))
    assert all(status < 500 for status, _ in answers), refusals


@pytest.mark.parametrize("path", SPEECH_ROUTES)
def test_schema_valid_speech_requests_are_mostly_accepted(path, tmp_path):
    _assert_mostly_accepted(_answers(serve_gateway(tmp_path), path))


@pytest.mark.parametrize("path", UPLOAD_ROUTES)
def test_schema_valid_uploads_are_mostly_accepted(path, tmp_path):
    gateway = serve_gateway(tmp_path)
    stored = clone(gateway.client, "Conversion target", CLIP)
    assert stored.status_code == 201, stored.text
    library_voice = {"voice_name": "Conversion target", "voice_id": stored.json()["voice_info"]["voice_id"]}

    def fill(case):
        """The audio drawn as a real clip, and a drawn library target as the stored voice."""
        for field in AUDIO_FIELDS & case.body.keys():
            if case.body[field] is not None:
                case.body[field] = base64.b64encode(CLIP).decode() if case.media_type == "application/json" else CLIP
        for field, value in library_voice.items():
            if case.body.get(field) is not None:
                case.body[field] = value

    _assert_mostly_accepted(_answers(gateway, path, fill))
