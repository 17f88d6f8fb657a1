"""Serving logic for /v1/audio/speech: request -> engine call -> response bytes or events."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from deployments.chatterbox.protocol import ChatterboxParams, ChatterboxRequest, ReferenceAudio
from deployments.chatterbox.voices import library_voice
from deployments.kokoro.protocol import SAMPLE_RATE
from deployments.kokoro.protocol import KokoroRequest
from deployments.voice_library import VoiceLibrary
from deployments.voice_library.settings import VoiceLibrarySettings
from audio.output import AudioOutput
from audio.uploads import decode_base64_audio
from ingress.engines import ChatterboxClient, EngineClient, KokoroClient
from ingress.errors import APIError
from ingress.settings import GatewaySettings
from ingress.speech.protocol import (
    CHATTERBOX_MODEL,
    MODEL_NAMES,
    CaptionedSpeech,
    CaptionedSpeechRequest,
    SpeechAudioDelta,
    SpeechAudioDone,
    SpeechRequest,
    SpeechUsage,
    WordTimestamp,
)

logger = logging.getLogger("ray.serve")


class SpeechService:
    def __init__(self, kokoro: KokoroClient, chatterbox: ChatterboxClient, library: VoiceLibrary,
                 library_settings: VoiceLibrarySettings, settings: GatewaySettings):
        self.kokoro = kokoro
        self.chatterbox = chatterbox
        self.library = library
        self.library_settings = library_settings
        self.settings = settings

    def _check(self, request: SpeechRequest) -> None:
        if request.model not in MODEL_NAMES:
            raise APIError(400, f"Model '{request.model}' not found. Available: {', '.join(MODEL_NAMES)}",
                           param="model", code="model_not_found")
        if len(request.input) > self.settings.max_input_chars:
            raise APIError(400, f"input is {len(request.input)} characters; the limit is {self.settings.max_input_chars}",
                           param="input", code="string_above_max_length")

    async def engine_request(self, request: SpeechRequest, word_timestamps: bool = False) -> EngineRequest:
        """The Kokoro request for an OpenAI speech request (any model name but chatterbox)."""
        self._check(request)
        if word_timestamps and request.model == CHATTERBOX_MODEL:
            raise APIError(400, "Word timestamps come from Kokoro's durations; use a Kokoro model", param="model")
        return EngineRequest(text=request.input, voice=request.voice or await self.kokoro.default_voice(),
                             speed=request.speed, lang_code=request.lang_code or "a", word_timestamps=word_timestamps)

    async def chatterbox_request(self, request: SpeechRequest) -> ChatterboxRequest:
        self._check(request)
        if request.voice and request.reference_audio:
            raise APIError(400, "Give either voice or reference_audio, not both", param="voice")
        voice = None
        if request.reference_audio:
            clip = await asyncio.to_thread(decode_base64_audio, request.reference_audio, param="reference_audio",
                                           max_bytes=self.library_settings.max_upload_bytes,
                                           max_duration_s=self.library_settings.max_clone_s)
            voice = ReferenceAudio(clip.samples, clip.sample_rate)
        elif request.voice:
            entry = await asyncio.to_thread(self.library.get, request.voice)
            voice = library_voice(entry, request.voice, "voice", "Chatterbox speaks only")
        sampling = {name: getattr(request, name) for name in (
            "exaggeration", "cfg_weight", "temperature", "repetition_penalty", "min_p", "top_p", "seed", "chunk_size")}
        try:
            params = ChatterboxParams(no_watermark=request.no_watermark,
                                      **{name: value for name, value in sampling.items() if value is not None})
        except ValidationError as error:  # the gateway's own handler words it like every invalid field
            raise RequestValidationError(error.errors()) from None
        return ChatterboxRequest(request.input, voice, params, request.max_reference_duration_sec)

    async def _engine_call(self, request: SpeechRequest) -> tuple[EngineClient, EngineRequest | ChatterboxRequest]:
        if request.model == CHATTERBOX_MODEL:
            return self.chatterbox, await self.chatterbox_request(request)
        return self.kokoro, await self.engine_request(request)

    def output_for(self, request: SpeechRequest) -> AudioOutput:
        # Kokoro and Chatterbox both speak at 24 kHz.
        return AudioOutput(request.response_format, SAMPLE_RATE, request.sample_rate,
                           request.normalization or request.audio_normalization)

    async def whole(self, request: SpeechRequest) -> bytes:
        engine, engine_request = await self._engine_call(request)
        result = await engine.synthesize(engine_request)
        return self.output_for(request).whole(result.audio)

    async def audio_stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        """Resolve and start synthesis now; the returned iterator yields encoded bytes."""
        engine, engine_request = await self._engine_call(request)
        chunks = await engine.stream(engine_request)
        output = self.output_for(request)

        async def encoded() -> AsyncIterator[bytes]:
            async for chunk in chunks:
                data = output.process(chunk.audio)
                if data:
                    yield data
            tail = output.finish()
            if tail:
                yield tail

        return encoded()

    async def event_stream(self, request: SpeechRequest) -> AsyncIterator[str]:
        """Server-sent events: speech.audio.delta per chunk, then speech.audio.done (or an error event)."""
        engine, engine_request = await self._engine_call(request)
        chunks = await engine.stream(engine_request)
        output = self.output_for(request)

        async def events() -> AsyncIterator[str]:
            tokens = 0
            try:
                async for chunk in chunks:
                    tokens += chunk.tokens
                    data = output.process(chunk.audio)
                    if data:
                        yield _event(SpeechAudioDelta(audio=base64.b64encode(data).decode()).model_dump_json())
                tail = output.finish()
                if tail:
                    yield _event(SpeechAudioDelta(audio=base64.b64encode(tail).decode()).model_dump_json())
                usage = SpeechUsage(input_tokens=tokens, output_tokens=0, total_tokens=tokens)
                yield _event(SpeechAudioDone(usage=usage).model_dump_json())
            except Exception:  # after the first byte an error can only be reported in-band
                logger.exception("speech stream failed")
                yield _event('{"type": "error", "error": {"message": "Synthesis failed mid-stream", '
                             '"type": "server_error", "param": null, "code": null}}')

        return events()

    async def captioned(self, request: CaptionedSpeechRequest) -> CaptionedSpeech:
        result = await self.kokoro.synthesize(await self.engine_request(request, request.return_timestamps))
        audio = self.output_for(request).whole(result.audio)
        return _captioned(audio, request.response_format, result.words)

    async def captioned_stream(self, request: CaptionedSpeechRequest) -> AsyncIterator[str]:
        """Newline-delimited JSON: one line per spoken piece (its audio bytes and its words), then the tail."""
        chunks = await self.kokoro.stream(await self.engine_request(request, request.return_timestamps))
        output = self.output_for(request)

        async def lines() -> AsyncIterator[str]:
            async for chunk in chunks:
                yield _captioned(output.process(chunk.audio), request.response_format, chunk.words).model_dump_json() + "\n"
            tail = output.finish()
            if tail:
                yield _captioned(tail, request.response_format, []).model_dump_json() + "\n"

        return lines()


def _captioned(audio: bytes, audio_format: str, words) -> CaptionedSpeech:
    timestamps = [WordTimestamp(word=w.word, start_time=round(w.start, 3), end_time=round(w.end, 3)) for w in words]
    return CaptionedSpeech(audio=base64.b64encode(audio).decode(), audio_format=audio_format, timestamps=timestamps)


def _event(payload: str) -> str:
    return f"data: {payload}\n\n"
