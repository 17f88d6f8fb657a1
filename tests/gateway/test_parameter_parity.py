"""Every generation parameter has one bound on every path: the same value is accepted or refused, with the
same bound in the message, over HTTP (/v1/audio/speech), in a job (/run's tts input) and on the WebSocket.

The values walked are read from the one parameter source (the annotated types the dialects declare their
fields with), so a bound changed there is walked here too; a dialect that declares its own bound fails.
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass

import pytest
from annotated_types import Ge, Gt, Le, Lt
from starlette.websockets import WebSocketDisconnect

from audio.formats import OutputRate
from deployments.chatterbox import protocol as chatterbox
from deployments.kokoro.protocol import Speed
from deployments.s3gen.protocol import ReferenceSeconds
from ingress.jobs.dialect import JobDialect
from ingress.jobs.payloads import JobFailed, TtsRequest
from ingress.jobs.settings import JobsSettings
from ingress.realtime.protocol import VoiceSettings
from ingress.speech.protocol import SpeechRequest
from tests.helpers.gateway import serve_gateway

# The parameter, its type in the one source, and the request that carries it on each path.
PARAMETERS = {
    "exaggeration": chatterbox.Exaggeration,
    "cfg_weight": chatterbox.CfgWeight,
    "temperature": chatterbox.Temperature,
    "repetition_penalty": chatterbox.RepetitionPenalty,
    "min_p": chatterbox.MinP,
    "top_p": chatterbox.TopP,
    "seed": chatterbox.Seed,
    "chunk_size": chatterbox.ChunkSize,
    "speed": Speed,
    "sample_rate": OutputRate,
    "max_reference_duration_sec": ReferenceSeconds,
}
PATHS = {"http": SpeechRequest, "job": TtsRequest, "websocket": VoiceSettings}


@dataclass(frozen=True)
class Case:
    parameter: str
    value: float
    accepted: bool
    bound: float  # the bound the value sits at or just past


def bounds_of(annotated) -> list:
    return [item for item in annotated.__metadata__[0].metadata if isinstance(item, (Ge, Gt, Le, Lt))]


def edge_cases(name: str, annotated) -> list[Case]:
    """At each bound and one step past it (a step of 1 for integers, 1e-3 for floats)."""
    step = 1 if annotated.__origin__ is int else 1e-3
    cases = []
    for bound in bounds_of(annotated):
        if isinstance(bound, Ge):
            cases += [Case(name, bound.ge, True, bound.ge), Case(name, bound.ge - step, False, bound.ge)]
        elif isinstance(bound, Gt):
            cases += [Case(name, bound.gt, False, bound.gt), Case(name, bound.gt + step, True, bound.gt)]
        elif isinstance(bound, Le):
            cases += [Case(name, bound.le, True, bound.le), Case(name, bound.le + step, False, bound.le)]
        else:
            cases += [Case(name, bound.lt, False, bound.lt), Case(name, bound.lt - step, True, bound.lt)]
    return cases


CASES = [case for name, annotated in PARAMETERS.items() for case in edge_cases(name, annotated)]


def carriers(parameter: str) -> list[str]:
    return [path for path, model in PATHS.items() if parameter in model.model_fields]


def test_every_parameter_is_walked_and_each_dialect_declares_it_from_the_one_source():
    assert len(CASES) >= 2 * len(PARAMETERS)
    for name, annotated in PARAMETERS.items():
        assert carriers(name), name
        for path in carriers(name):
            field = PATHS[path].model_fields[name]
            # A required field keeps its bounds on the field; an optional one on the annotated member of its union.
            members = [arg for arg in getattr(field.annotation, "__args__", ()) if hasattr(arg, "__metadata__")]
            declared = bounds_of(members[0]) if members else [
                m for m in field.metadata if isinstance(m, (Ge, Gt, Le, Lt))]
            assert declared == bounds_of(annotated), (path, name, declared)


class RecordingControl:
    """The job's control as the dialect uses it: progress reports only (a worker's own checks are not walked)."""

    def __init__(self):
        self.reports: list[dict] = []

    def report(self, **progress) -> None:
        self.reports.append(progress)


def http_answer(gateway, case: Case) -> tuple[bool, str]:
    body = {"model": "chatterbox", "input": "Hello there.", "response_format": "wav", case.parameter: case.value}
    response = gateway.client.post("/v1/audio/speech", json=body)
    if response.status_code == 200:
        return True, ""
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == case.parameter, error
    return False, error["message"]


def job_answer(gateway, case: Case) -> tuple[bool, str]:
    dialect = JobDialect(gateway.app.state.operations, JobsSettings())
    job = {"operation": "tts", "mode": "streaming_voice_cloning", "text": "Hello there.", case.parameter: case.value}
    try:
        output = asyncio.run(dialect.run(job, RecordingControl()))
    except JobFailed as failure:
        return False, str(failure)
    assert base64.b64decode(output["audio"])[:4] == b"RIFF"
    return True, ""


def websocket_answer(gateway, case: Case) -> tuple[bool, str]:
    path = "/v1/text-to-speech/jf_alpha/stream-input?output_format=pcm_24000"
    with gateway.client.websocket_connect(path) as ws:
        ws.send_json({"text": " ", "voice_settings": {case.parameter: case.value}})
        ws.send_json({"text": "Hello there. "})
        ws.send_json({"text": ""})
        first = json.loads(ws.receive_text())
        if "error" not in first:
            while not first.get("isFinal"):
                first = json.loads(ws.receive_text())
            return True, ""
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1008
        return False, first["message"]


ANSWERS = {"http": http_answer, "job": job_answer, "websocket": websocket_answer}


def bound_words(message: str) -> str:
    """The bound as pydantic words it ("... less than or equal to 2"), whatever the dialect's framing."""
    return message.rsplit(":", 1)[-1].strip().lower()


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.parameter}={case.value:g}")
def test_the_same_value_gets_the_same_answer_on_every_path(tmp_path, case: Case):
    gateway = serve_gateway(tmp_path)
    answers = {path: ANSWERS[path](gateway, case) for path in carriers(case.parameter)}
    for path, (accepted, message) in answers.items():
        assert accepted == case.accepted, (path, case, message)
    refusals = {bound_words(message) for accepted, message in answers.values() if not accepted}
    assert len(refusals) <= 1, (case, answers)  # one bound, worded once, on every path that refuses
    for words in refusals:
        assert words.endswith((f" {case.bound:g}", f" {case.bound}")), (case, words)


def test_the_api_document_states_the_same_bounds(tmp_path):
    """Clients and fuzzers read the bounds from /openapi.json: the same ones, from the same source."""
    gateway = serve_gateway(tmp_path)
    models = gateway.client.get("/openapi.json").json()["components"]["schemas"]
    keywords = {Ge: ("minimum", "ge"), Gt: ("exclusiveMinimum", "gt"), Le: ("maximum", "le"),
                Lt: ("exclusiveMaximum", "lt")}
    for name, annotated in PARAMETERS.items():
        documented = models["SpeechRequest"]["properties"][name]
        documented = next(branch for branch in documented.get("anyOf", [documented]) if branch.get("type") != "null")
        for bound in bounds_of(annotated):
            keyword, attribute = keywords[type(bound)]
            assert documented[keyword] == getattr(bound, attribute), (name, documented)
    speech = models["SpeechRequest"]["properties"]
    settings = gateway.app.state.settings
    assert speech["input"]["maxLength"] == settings.max_input_chars and speech["input"]["pattern"] == r"\S"
    assert "chatterbox" in speech["model"]["enum"] and "tts-1" in speech["model"]["enum"]
    assert models["SynthesizeRequest"]["properties"]["text"]["maxLength"] == settings.max_simple_text_chars
