"""HTTP routes of the OpenAI dialect: POST /v1/audio/speech, GET /v1/models, GET /v1/audio/voices,
and Kokoro-FastAPI's POST /dev/captioned_speech."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from audio.formats import MEDIA_TYPES
from deployments.chatterbox.protocol import CHATTERBOX_MODELS, DEFAULT_LANGUAGE
from deployments.kokoro.protocol import LANG_NAMES, KokoroRequest
from ingress.dependencies import Core, json_body
from ingress.speech.protocol import (
    KOKORO_MODEL_NAMES,
    MODEL_NAMES,
    CaptionedSpeech,
    CaptionedSpeechRequest,
    ModelCard,
    ModelList,
    SpeechRequest,
)
from ingress.speech.service import SpeechService

router = APIRouter(tags=["OpenAI speech"])
_STARTED = int(time.time())


def speech_service(request: Request) -> SpeechService:
    return request.app.state.speech


SpeechServiceDep = Annotated[SpeechService, Depends(speech_service)]


@router.post("/v1/audio/speech", dependencies=[Depends(json_body)],
             responses={200: {"description": "The audio in `response_format` (chunked while `stream`), or with "
                              "`stream_format: sse` server-sent events of base64 audio deltas.",
                              "content": {**{media: {} for media in MEDIA_TYPES.values()}, "text/event-stream": {}}}})
async def create_speech(request: SpeechRequest, service: SpeechServiceDep) -> Response:
    if request.stream_format == "sse":
        events = await service.event_stream(request)
        return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    media_type = MEDIA_TYPES[request.response_format]
    headers = {"Content-Disposition": f"attachment; filename=speech.{request.response_format}"}
    if request.stream:
        return StreamingResponse(await service.audio_stream(request), media_type=media_type, headers=headers)
    return Response(await service.whole(request), media_type=media_type, headers=headers)


@router.post("/dev/captioned_speech", dependencies=[Depends(json_body)], response_model=CaptionedSpeech,
             responses={200: {"content": {"application/x-ndjson": {}}}})
async def create_captioned_speech(request: CaptionedSpeechRequest, service: SpeechServiceDep) -> Response:
    """Speech with word timestamps, as Kokoro-FastAPI offers it (needs Kokoro's torch backend).

    With `stream` (the default) the answer is newline-delimited JSON, one line per spoken piece; a failure
    after the first line ends the stream with a line in the error shape, `{"error": {...}}`."""
    if request.stream:
        return StreamingResponse(await service.captioned_stream(request), media_type="application/x-ndjson")
    return Response((await service.captioned(request)).model_dump_json(), media_type="application/json")


@router.get("/v1/models")
async def list_models(core: Core) -> ModelList:
    """Every model name, with the engine that speaks it and whether that engine is ready now."""
    clients = {client.engine: client for client in core.engines}
    engines = {name: "kokoro" if name in KOKORO_MODEL_NAMES else name for name in MODEL_NAMES}
    names = sorted(set(engines.values()))
    states = await asyncio.gather(*(clients[name].health() for name in names), return_exceptions=True)
    status = {name: getattr(state, "status", "unavailable") for name, state in zip(names, states, strict=True)}
    return ModelList(data=[ModelCard(id=name, created=_STARTED, engine=engine, ready=status[engine] == "ready",
                                     status=status[engine],
                                     **_speaks(engine)) for name, engine in engines.items()])


def _speaks(engine: str) -> dict:
    """What a model's card says of its languages, fields and tags (from the engines' parameter sources)."""
    if engine == "kokoro":
        return {"language_field": "lang_code", "languages": LANG_NAMES, "parameters": [], "defaults": {}, "tags": [],
                "default_language": KokoroRequest.model_fields["lang_code"].default}
    spec = CHATTERBOX_MODELS[engine]
    return {"language_field": "language" if spec.languages else None, "languages": spec.languages,
            "default_language": DEFAULT_LANGUAGE if spec.languages else None, "parameters": list(spec.uses),
            "defaults": {field: getattr(spec.defaults, field) for field in spec.uses},
            "tags": list(spec.tags)}


@router.get("/v1/audio/voices")
async def list_voices(core: Core) -> dict:
    kokoro = core.speech.kokoro
    voices = await kokoro.voices()
    return {
        "voices": [voice.name for voice in voices],
        "aliases": {alias: voice.name for voice in voices for alias in voice.aliases},
        "default": await kokoro.default_voice(),
    }
