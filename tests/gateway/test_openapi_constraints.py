"""The OpenAPI document states the limits the code enforces: input that the schema allows is mostly
accepted, so a client generated from the document (or a fuzzer) is not refused for rules it cannot see.

Inputs are drawn from each operation's own schema (schemathesis, positive mode, derandomized by the
suite's hypothesis profile) and sent to the gateway over fake engines. The speech routes must accept
most of them. The upload routes (/v1/voices, /v1/audio/conversions) are left out: a schema cannot say
that bytes are audio, and they still refuse schema-valid input for two rules the document does not
state (a voice name's invisible characters, "one of voice_name, voice_id or target_speaker").
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.helpers.gateway import serve_gateway

SPEECH_ROUTES = ["/v1/audio/speech", "/dev/captioned_speech", "/synthesize", "/synthesize/stream"]
EXAMPLES = 40
LEAST_ACCEPTED = 0.5  # schemathesis warns when most schema-valid inputs are refused


def _answers(path: str, tmp_path) -> list[tuple[int, dict | None]]:
    """Status and error object of each schema-valid input sent to POST `path`."""
    gateway = serve_gateway(tmp_path)
    schema = schemathesis.openapi.from_asgi("/openapi.json", gateway.app)
    operation = schema[path]["POST"]
    answers = []

    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def send(case):
        response = case.call()
        error = response.json().get("error") if response.status_code >= 400 else None
        answers.append((response.status_code, error))

    send()
    return answers


@pytest.mark.parametrize("path", SPEECH_ROUTES)
def test_schema_valid_speech_requests_are_mostly_accepted(path, tmp_path):
    answers = _answers(path, tmp_path)
    accepted = sum(status < 400 for status, _ in answers)
    refusals = Counter((status, error["param"], error["code"]) for status, error in answers if error)
    assert len(answers) >= EXAMPLES // 2
    assert accepted / len(answers) >= LEAST_ACCEPTED, (accepted, len(answers), refusals.most_common(5))
    assert all(status < 500 for status, _ in answers), refusals

