"""Every parameter has one bound on every path: the same value is accepted or refused, with the same bound or
choices in the message, on each path that takes it, and an accepted value reaches the engine as it was sent.

Speech (Chatterbox's and Kokoro's parameters): /v1/audio/speech, a tts job over POST /runsync and the
stream-input WebSocket. Conversion: /v1/audio/conversions and a voice_conversion job. Cloning: /v1/voices and
a voice_cloning job. The jobs go through the HTTP job routes in process (tests.helpers.jobs.job_routes).

The values walked are read from the one parameter source (the types the dialects declare their fields with),
so a bound changed there is walked here too, and a dialect that declares its own bound fails.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin
from urllib.parse import urlencode

import pytest
from annotated_types import Ge, Gt, Le, Lt
from fastapi.testclient import TestClient
from pydantic import BaseModel, StringConstraints
from starlette.websockets import WebSocketDisconnect

from audio.formats import OutputRate
from audio.processing import Normalization
from deployments.chatterbox.protocol import (
    CHATTERBOX_MODELS,
    LANGUAGES,
    MULTILINGUAL,
    ORIGINAL,
    ChatterboxParams,
    Language,
)
from deployments.kokoro.protocol import LangCode, Speed
from deployments.s3gen.protocol import NoWatermark, ReferenceSeconds
from ingress.conversions.protocol import ConversionRequest
from ingress.jobs.payloads import ConversionJobRequest, TtsRequest, VoiceCloningRequest
from ingress.realtime.protocol import StreamInputQuery, VoiceSettings
from ingress.speech.protocol import SpeechRequest
from ingress.text_fields import SpokenText
from ingress.voices.protocol import CloneVoiceRequest
from operations.conversion import TransferMode
from stores.voice_library import Description, Gender, VoiceName
from tests.helpers.audio import wav_bytes
from tests.helpers.gateway import CONVERSIONS, SPEECH, Served, cloned, read_wav, serve_gateway
from tests.helpers.jobs import job_routes
from tests.helpers.parameters import bounds_of, declared
from tests.helpers.stream_input import PATH


@dataclass(frozen=True)
class Case:
    parameter: str
    value: Any
    accepted: bool
    refusal: str = ""  # what every path that refuses it says: the bound or the choices


@dataclass(frozen=True)
class Parameter:
    name: str
    source: object  # its declaration in the one source
    model: str | None = None  # the model a speech request names: one that uses the parameter
    choice: Any = None  # an accepted value, where the source has no bounds to read one from
    refused: tuple[Any, str] | None = None  # a refused value and the words of its refusal, likewise


@dataclass(frozen=True)
class Answer:
    accepted: bool
    message: str = ""
    wav: bytes | None = None


@dataclass
class Gateway:
    served: Served
    jobs: TestClient  # the same app with the job routes


@dataclass(frozen=True)
class Path:
    wire: tuple[type[BaseModel], ...]  # the models its fields are declared in
    answer: Callable[[Gateway, str | None, str, Any], Answer]  # (gateway, model, its field name, value)
    renames: dict[str, str]  # parameter -> its field name on this path, where the dialect renames it


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def http_answer(response, field: str) -> Answer:
    if response.status_code in (200, 201):
        audio = response.headers["content-type"].startswith("audio/")
        return Answer(True, wav=response.content if audio else None)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == field, error
    return Answer(False, error["message"])


def job_answer(gateway: Gateway, job_input: dict, field: str) -> Answer:
    response = gateway.jobs.post("/runsync", json={"input": job_input})
    assert response.status_code == 200, response.text
    status = response.json()
    if status["status"] == "FAILED":
        assert field in status["error"], status
        return Answer(False, status["error"])
    assert status["status"] == "COMPLETED", status
    audio = base64.b64decode(status["output"]["audio"]) if "audio" in status["output"] else None
    return Answer(True, wav=audio)


def speech_over_http(gateway: Gateway, model: str, field: str, value) -> Answer:
    body = {"model": model, "input": "Hello there.", "response_format": "wav", field: value}
    return http_answer(gateway.served.client.post(SPEECH, json=body), field)


def speech_job(gateway: Gateway, model: str, field: str, value) -> Answer:
    job = {"operation": "tts", "mode": "streaming", "model": model, "text": "Hello there.", field: value}
    return job_answer(gateway, job, field)


def speech_over_websocket(gateway: Gateway, model: str, field: str, value) -> Answer:
    query = {"output_format": "pcm_24000", "model_id": model}
    first = {"text": " "}
    if field in StreamInputQuery.model_fields:
        query[field] = value
    else:
        first["voice_settings"] = {field: value}
    voice = "jf_alpha" if model == "kokoro" else cloned(gateway.served.client, "Parity")["voice_id"]
    with gateway.served.client.websocket_connect(f"{PATH.format(voice=voice)}?{urlencode(query)}") as ws:
        for message in (first, {"text": "Hello there. "}, {"text": ""}):
            ws.send_json(message)
        message = json.loads(ws.receive_text())
        while "error" not in message and not message.get("isFinal"):
            message = json.loads(ws.receive_text())
        if "error" not in message:
            return Answer(True)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1008 and field in message["message"], message
        return Answer(False, message["message"])


def conversion_over_http(gateway: Gateway, model: None, field: str, value) -> Answer:
    body = {"audio": _b64(wav_bytes(2.5)), "target_speaker": _b64(wav_bytes(3)), "response_format": "wav",
            field: value}
    return http_answer(gateway.served.client.post(CONVERSIONS, json=body), field)


def conversion_job(gateway: Gateway, model: None, field: str, value) -> Answer:
    job = {"operation": "voice_conversion", "input_audio": _b64(wav_bytes(2.5)), "target_audio": _b64(wav_bytes(3)),
           field: value}
    return job_answer(gateway, job, field)


def clone_over_http(gateway: Gateway, model: None, field: str, value) -> Answer:
    body = {"name": "Parity", "reference_audio": _b64(wav_bytes(6)), field: value}
    return http_answer(gateway.served.client.post("/v1/voices", json=body), field)


def clone_job(gateway: Gateway, model: None, field: str, value) -> Answer:
    job = {"operation": "voice_cloning", "voice_name": "Parity", "reference_audio": _b64(wav_bytes(6)), field: value}
    return job_answer(gateway, job, field)


NOT_SEEN = object()  # a parameter whose effect this test does not read back


def speech_delivered(gateway: Gateway, model: str, name: str, answer: Answer):
    if name == "sample_rate":
        return read_wav(answer.wav)[1]
    if name == "audio_normalization":
        return NOT_SEEN
    engine = gateway.served.kokoro if model == "kokoro" else gateway.served.chatterbox_models[model]
    request = engine.requests("stream")[-1]
    return getattr(request.params if name in ChatterboxParams.model_fields else request, name)


def conversion_delivered(gateway: Gateway, model: None, name: str, answer: Answer):
    if name == "sample_rate":
        return read_wav(answer.wav)[1]
    if name == "transfer_mode":
        return NOT_SEEN
    return getattr(gateway.served.conversion.requests("convert_stream")[-1], name)


def clone_delivered(gateway: Gateway, model: None, name: str, answer: Answer):
    if name != "max_reference_duration_sec":
        return NOT_SEEN
    (prepared,) = [call for call in gateway.served.chatterbox.calls if call.method == "prepare_voice"]
    return prepared.args[1]


def _model_using(name: str) -> str:
    return next((spec.name for spec in CHATTERBOX_MODELS.values() if name in spec.uses), ORIGINAL)


@dataclass(frozen=True)
class Family:
    parameters: tuple[Parameter, ...]
    paths: dict[str, Path]
    delivered: Callable[[Gateway, str | None, str, Answer], Any]


FAMILIES = {
    "speech": Family(
        parameters=(
            # Every ChatterboxParams field, each on a model that uses it.
            *(Parameter(name, field, _model_using(name)) for name, field in ChatterboxParams.model_fields.items()),
            Parameter("language", Language, MULTILINGUAL, choice="de", refused=("xx", ", ".join(LANGUAGES))),
            Parameter("speed", Speed, "kokoro"),
            Parameter("lang_code", LangCode, "kokoro"),
            Parameter("text", SpokenText, "kokoro", choice="Hello there.", refused=("  \n ", "must contain text")),
            Parameter("sample_rate", OutputRate, ORIGINAL),
            Parameter("audio_normalization", Normalization, ORIGINAL),
            Parameter("max_reference_duration_sec", ReferenceSeconds, ORIGINAL),
        ),
        paths={"http": Path((SpeechRequest,), speech_over_http, {"text": "input"}),
               "job": Path((TtsRequest,), speech_job, {}),
               "websocket": Path((VoiceSettings, StreamInputQuery), speech_over_websocket,
                                 {"language": "language_code"})},
        delivered=speech_delivered),
    "conversion": Family(
        parameters=(Parameter("no_watermark", NoWatermark), Parameter("max_reference_duration_sec", ReferenceSeconds),
                    Parameter("sample_rate", OutputRate), Parameter("transfer_mode", TransferMode, choice="audio")),
        paths={"http": Path((ConversionRequest,), conversion_over_http, {}),
               "job": Path((ConversionJobRequest,), conversion_job, {})},
        delivered=conversion_delivered),
    "cloning": Family(
        parameters=(Parameter("name", VoiceName), Parameter("description", Description),
                    Parameter("gender", Gender), Parameter("max_reference_duration_sec", ReferenceSeconds)),
        paths={"http": Path((CloneVoiceRequest,), clone_over_http, {}),
               "job": Path((VoiceCloningRequest,), clone_job, {"name": "voice_name",
                                                               "description": "voice_description"})},
        delivered=clone_delivered),
}

# What /v1/audio/speech takes and a tts job does not, and why: everything else a job takes too.
SPEECH_ONLY = {
    "voice": "a job names it voice_name or voice_id",
    "normalization": "a job has the hosted API's name for it, audio_normalization (which HTTP takes too)",
    "response_format": "a job answers in WAV",
    "stream_format": "a job's mode says how it is made",
    "stream": "a job's mode says how it is made",
    "instructions": "accepted over HTTP for OpenAI clients; no engine reads it",
}


def field_on(path: Path, name: str) -> str:
    return path.renames.get(name, name)


def carriers(family: Family, name: str) -> list[str]:
    """The paths whose wire models have a field for the parameter."""
    return [key for key, path in family.paths.items()
            if any(field_on(path, name) in model.model_fields for model in path.wire)]


def declaration_on(path: Path, name: str):
    field = field_on(path, name)
    return next(model.model_fields[field] for model in path.wire if field in model.model_fields)


def _bound_case(name: str, bound, step) -> list[Case]:
    limit = getattr(bound, type(bound).__name__.lower())
    words = f"{limit:g}" if isinstance(limit, float) else str(limit)  # as pydantic words it: 4.0 is 4
    if isinstance(bound, Ge):
        return [Case(name, limit, True), Case(name, limit - step, False, f"greater than or equal to {words}")]
    if isinstance(bound, Gt):
        return [Case(name, limit, False, f"greater than {words}"), Case(name, limit + step, True)]
    if isinstance(bound, Le):
        return [Case(name, limit, True), Case(name, limit + step, False, f"less than or equal to {words}")]
    return [Case(name, limit, False, f"less than {words}"), Case(name, limit - step, True)]


def edge_cases(parameter: Parameter) -> list[Case]:
    """At each bound and one step past it (1 for integers, 1e-3 for floats), at each length limit and past it;
    one choice and a value that is none of them; the parameter's own values where its source has none to read."""
    name = parameter.name
    base, items = declared(parameter.source)
    cases = [Case(name, parameter.choice, True)] if parameter.choice is not None else []
    if parameter.refused is not None:
        cases.append(Case(name, parameter.refused[0], False, parameter.refused[1]))
    for bound in bounds_of(parameter.source):
        cases += _bound_case(name, bound, 1 if base is int else 1e-3)
    for lengths in (item for item in items if isinstance(item, StringConstraints)):
        if lengths.max_length is not None:
            cases += [Case(name, "x" * lengths.max_length, True),
                      Case(name, "x" * (lengths.max_length + 1), False, f"at most {lengths.max_length} characters")]
        if lengths.min_length:
            cases.append(Case(name, "", False, f"at least {lengths.min_length} character"))
    if get_origin(base) is Literal:
        choices = get_args(base)
        if parameter.choice is None:
            cases.append(Case(name, choices[1], True))
        cases.append(Case(name, "none-of-these", False, f"'{choices[-2]}' or '{choices[-1]}'"))
    if base is bool:
        cases += [Case(name, True, True), Case(name, "maybe", False, "valid boolean")]
    return cases


CASES = [(family_name, parameter, case) for family_name, family in FAMILIES.items()
         for parameter in family.parameters for case in edge_cases(parameter)]


def test_every_parameter_is_walked_on_each_path_that_takes_it_and_declared_from_the_one_source():
    for family_name, family in FAMILIES.items():
        for parameter in family.parameters:
            cases = [case for walked, p, case in CASES if walked == family_name and p is parameter]
            assert {case.accepted for case in cases} == {True, False}, (family_name, parameter.name)
            paths = carriers(family, parameter.name)
            assert len(paths) >= 2, (family_name, parameter.name, paths)  # one path alone has nothing to agree with
            for path in paths:
                assert declared(declaration_on(family.paths[path], parameter.name)) == declared(parameter.source), (
                    family_name, path, parameter.name)


def test_a_tts_job_takes_every_field_the_speech_route_takes():
    """Jobs rename fields (input is text) but drop none: a field added over HTTP only fails here."""
    job_fields = {name for name in TtsRequest.model_fields}
    http_fields = {name for name in SpeechRequest.model_fields if name not in SPEECH_ONLY}
    renames = FAMILIES["speech"].paths["http"].renames
    missing = {field for field in http_fields if field not in job_fields and field not in renames.values()}
    assert not missing, missing


@pytest.mark.parametrize(("family_name", "parameter", "case"), CASES,
                         ids=[f"{family}-{case.parameter}={str(case.value)[:12]}" for family, _, case in CASES])
def test_the_same_value_gets_the_same_answer_on_every_path(tmp_path, family_name: str, parameter: Parameter,
                                                           case: Case):
    family = FAMILIES[family_name]
    served = serve_gateway(tmp_path)
    gateway = Gateway(served, job_routes(served))
    for path_name in carriers(family, case.parameter):
        path = family.paths[path_name]
        answer = path.answer(gateway, parameter.model, field_on(path, case.parameter), case.value)
        assert answer.accepted == case.accepted, (path_name, case, answer.message)
        if not answer.accepted:
            assert case.refusal in answer.message, (path_name, case, answer.message)
            continue
        delivered = family.delivered(gateway, parameter.model, case.parameter, answer)
        assert delivered is NOT_SEEN or delivered == case.value, (path_name, case, delivered)


def test_the_api_document_states_the_same_bounds(tmp_path):
    """Clients and fuzzers read the bounds from /openapi.json: the same ones, from the same source."""
    gateway = serve_gateway(tmp_path)
    models = gateway.client.get("/openapi.json").json()["components"]["schemas"]
    keywords = {Ge: ("minimum", "ge"), Gt: ("exclusiveMinimum", "gt"), Le: ("maximum", "le"),
                Lt: ("exclusiveMaximum", "lt")}
    for parameter in FAMILIES["speech"].parameters:
        documented = models["SpeechRequest"]["properties"][field_on(FAMILIES["speech"].paths["http"], parameter.name)]
        documented = next(branch for branch in documented.get("anyOf", [documented]) if branch.get("type") != "null")
        for bound in bounds_of(parameter.source):
            keyword, attribute = keywords[type(bound)]
            assert documented[keyword] == getattr(bound, attribute), (parameter.name, documented)
    speech = models["SpeechRequest"]["properties"]
    settings = gateway.app.state.settings
    assert speech["input"]["maxLength"] == settings.max_input_chars and speech["input"]["pattern"] == r"\S"
    assert "chatterbox" in speech["model"]["enum"] and "tts-1" in speech["model"]["enum"]
    assert models["SynthesizeRequest"]["properties"]["text"]["maxLength"] == settings.max_simple_text_chars
