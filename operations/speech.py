"""Speak: text in one of Chorus's voices, routed to the engine that speaks that voice.

Routing, once for every front end: an engine the caller names is used (Kokoro, or a model of the
Chatterbox family); otherwise a library voice cloned for Chatterbox, or a one-off reference clip, goes
to the original Chatterbox and anything else (a Kokoro pack, an OpenAI alias, a blend, no voice at
all) to Kokoro. Every Chatterbox model speaks every cloned voice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from audio.uploads import AudioUpload
from deployments.chatterbox.protocol import (
    CHATTERBOX_MODELS,
    LANGUAGES,
    ORIGINAL,
    ChatterboxModelName,
    ChatterboxParams,
    ChatterboxRequest,
    check_language,
)
from deployments.kokoro.protocol import KokoroRequest, LangCode
from deployments.s3gen.protocol import ReferenceAudio
from ground.errors import InvalidRequest, describe_validation_error
from ground.replies import AudioChunk, SynthesisResult
from operations.engines import ChatterboxClient, KokoroClient, TextEngineClient
from operations.voices import VoiceOperations, not_found

Engine = Literal["kokoro"] | ChatterboxModelName


@dataclass(frozen=True)
class SpeakRequest:
    text: str
    engine: Engine | None = None  # None: the voice decides
    voice: str | None = None  # a voice key, an OpenAI alias or a Kokoro blend; None: the default voice
    voice_by_id: bool = False  # `voice` is an id (a library voice's, or a pack name), never a name
    voice_param: str = "voice"  # the caller's name for the voice field, named in errors
    reference_audio: AudioUpload | None = None  # Chatterbox: clone a voice for this request only
    speed: float = 1.0
    lang_code: LangCode = "a"
    language: str | None = None  # Chatterbox Multilingual's language (LANGUAGES); None: English
    language_param: str = "language"  # the caller's name for it, named in errors
    word_timestamps: bool = False
    # Chatterbox's generation fields (ChatterboxParams) that the caller set; the rest keep their defaults.
    chatterbox_params: dict[str, Any] = field(default_factory=dict)
    max_reference_duration_sec: float | None = None


@dataclass
class Speech:
    """A started synthesis: its first chunk has arrived, so a bad request has already failed."""

    engine: Engine
    sample_rate: int
    chunks: AsyncIterator[AudioChunk]


@dataclass(frozen=True)
class SpokenAudio:
    engine: Engine
    result: SynthesisResult


class SpeechOperations:
    def __init__(self, kokoro: KokoroClient, chatterbox: dict[str, ChatterboxClient], voices: VoiceOperations):
        self.kokoro = kokoro
        self.chatterbox = chatterbox
        self.voices = voices

    async def synthesize(self, request: SpeakRequest) -> SpokenAudio:
        engine, client, engine_request = await self._route(request)
        return SpokenAudio(engine, await client.synthesize(engine_request))

    async def stream(self, request: SpeakRequest) -> Speech:
        engine, client, engine_request = await self._route(request)
        started = await client.stream(engine_request)
        return Speech(engine, started.sample_rate, started.chunks)

    async def _route(self, request: SpeakRequest) -> tuple[Engine, TextEngineClient, KokoroRequest | ChatterboxRequest]:
        if request.voice and request.reference_audio is not None:
            raise InvalidRequest(f"Give either {request.voice_param} or reference_audio, not both",
                                 param=request.voice_param)
        if request.engine == "kokoro" and request.reference_audio is not None:
            raise InvalidRequest("reference_audio clones a voice for Chatterbox; Kokoro speaks its own packs",
                                 param="reference_audio")
        if request.word_timestamps and request.engine in CHATTERBOX_MODELS:
            raise InvalidRequest("Word timestamps come from Kokoro's durations; use a Kokoro model", param="model")
        stored = None
        # A named Kokoro engine never looks in the library: Kokoro's own voices are resolved by Kokoro.
        if request.voice and request.engine != "kokoro":
            stored = await self.voices.find_stored(request.voice, request.voice_by_id)
        model = request.engine
        if model is None and (request.reference_audio is not None or (stored is not None
                                                                      and stored.engine == "chatterbox")):
            model = ORIGINAL
        if model in CHATTERBOX_MODELS:
            return model, self.chatterbox[model], await self._chatterbox_request(model, request, stored)
        if request.language not in (None, "en"):
            raise InvalidRequest(f"{request.language_param} is for chatterbox-multilingual (one of "
                                 f"{', '.join(LANGUAGES)}); Kokoro's language is lang_code", param=request.language_param)
        return "kokoro", self.kokoro, await self._kokoro_request(request)

    async def _kokoro_request(self, request: SpeakRequest) -> KokoroRequest:
        voice = request.voice or await self.kokoro.default_voice()
        if request.voice_by_id and voice not in {pack.name for pack in await self.kokoro.voices()}:
            raise not_found(voice, request.voice_param, by_id=True)  # aliases and blends are not ids
        return KokoroRequest(text=request.text, voice=voice, speed=request.speed, lang_code=request.lang_code,
                             word_timestamps=request.word_timestamps)

    async def _chatterbox_request(self, model: str, request: SpeakRequest, stored) -> ChatterboxRequest:
        spec = CHATTERBOX_MODELS[model]
        check_language(spec, request.language, request.language_param)
        voice = None  # the deployment's default voice
        if request.reference_audio is not None:
            clip = await self.voices.decode(request.reference_audio, max_duration_s=self.voices.settings.max_clone_s)
            voice = ReferenceAudio(clip.samples, clip.sample_rate)
        elif request.voice:
            if stored is None:
                raise not_found(request.voice, request.voice_param, by_id=request.voice_by_id)
            voice = self.voices.chatterbox_voice(stored, request.voice, request.voice_param, "Chatterbox speaks only")
        try:  # what the caller set, over the model's own defaults
            params = ChatterboxParams(**{**spec.defaults.model_dump(), **request.chatterbox_params})
        except ValidationError as error:
            message, param = describe_validation_error(error.errors()[0])
            raise InvalidRequest(message, param) from None
        return ChatterboxRequest(request.text, voice, params, request.max_reference_duration_sec, request.language)
