"""The OpenAI speech dialect over the operations core: wire request -> SpeakRequest, audio -> bytes or events."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from functools import partial

from audio.output import AudioOutput
from audio.uploads import AudioUpload
from deployments.chatterbox.protocol import CHATTERBOX_MODELS, SAMPLING_FIELDS
from ground.errors import InvalidRequest
from ground.replies import AudioChunk
from ingress.errors import ErrorResponse, error_model
from ingress.settings import GatewaySettings
from ingress.speech.protocol import (
    MODEL_NAMES,
    CaptionedSpeech,
    CaptionedSpeechRequest,
    SpeechAudioDelta,
    SpeechAudioDone,
    SpeechRequest,
    SpeechUsage,
    WordTimestamp,
)
from ingress.streaming import Framing, write_stream
from operations.core import Operations
from operations.speech import SpeakRequest

logger = logging.getLogger("ray.serve")
CHATTERBOX_FIELDS = (*SAMPLING_FIELDS, "seed", "chunk_size", "no_watermark")
_reported_unknown_fields: set[str] = set()


def report_unknown_fields(request: SpeechRequest) -> None:
    """OpenAI-dialect requests tolerate fields newer clients send; log each unknown name once, so a typo shows."""
    new = sorted(set(request.model_extra or {}) - _reported_unknown_fields)
    if new:
        _reported_unknown_fields.update(new)
        logger.warning("Ignoring unknown field(s) in /v1/audio/speech requests: %s", ", ".join(new))


class SpeechService:
    def __init__(self, operations: Operations, settings: GatewaySettings):
        self.operations = operations
        self.settings = settings

    def speak_request(self, request: SpeechRequest, word_timestamps: bool = False) -> SpeakRequest:
        report_unknown_fields(request)
        if request.model not in MODEL_NAMES:
            raise InvalidRequest(f"Model '{request.model}' not found. Available: {', '.join(MODEL_NAMES)}",
                                 param="model", code="model_not_found")
        if len(request.input) > self.settings.max_input_chars:
            raise InvalidRequest(f"input is {len(request.input)} characters; the limit is "
                                 f"{self.settings.max_input_chars}", param="input", code="string_above_max_length")
        chatterbox = request.model in CHATTERBOX_MODELS
        params = {name: getattr(request, name) for name in CHATTERBOX_FIELDS if getattr(request, name) is not None}
        reference = AudioUpload(request.reference_audio, "reference_audio") if request.reference_audio else None
        return SpeakRequest(
            text=request.input, engine=request.model if chatterbox else "kokoro", voice=request.voice,
            reference_audio=reference, speed=request.speed, lang_code=request.lang_code or "a",
            language=request.language, word_timestamps=word_timestamps,
            chatterbox_params=params if chatterbox else {}, max_reference_duration_sec=request.max_reference_duration_sec)

    @staticmethod
    def output_for(request: SpeechRequest, sample_rate: int) -> AudioOutput:
        return AudioOutput(request.response_format, sample_rate, request.sample_rate,
                           request.normalization or request.audio_normalization)

    async def whole(self, request: SpeechRequest) -> bytes:
        spoken = await self.operations.speech.synthesize(self.speak_request(request))
        return self.output_for(request, spoken.result.sample_rate).whole(spoken.result.audio)

    async def _stream(self, request: SpeechRequest, framing: Framing, word_timestamps: bool = False
                      ) -> AsyncIterator:
        """Resolve and start synthesis now (errors before the first byte); the iterator yields the frames."""
        speech = await self.operations.speech.stream(self.speak_request(request, word_timestamps))
        return write_stream(speech.chunks, partial(self.output_for, request), framing)

    async def audio_stream(self, request: SpeechRequest) -> AsyncIterator[bytes]:
        """Raw encoded bytes: a failure after the first byte can only cut the connection."""
        return await self._stream(request, Framing())

    async def event_stream(self, request: SpeechRequest) -> AsyncIterator[str]:
        """Server-sent events: speech.audio.delta per chunk, then speech.audio.done (or an error event)."""
        return await self._stream(request, _SpeechEvents())

    async def captioned(self, request: CaptionedSpeechRequest) -> CaptionedSpeech:
        spoken = await self.operations.speech.synthesize(self.speak_request(request, request.return_timestamps))
        audio = self.output_for(request, spoken.result.sample_rate).whole(spoken.result.audio)
        return _captioned(audio, request.response_format, spoken.result.words)

    async def captioned_stream(self, request: CaptionedSpeechRequest) -> AsyncIterator[str]:
        """Newline-delimited JSON: one line per spoken piece (its audio bytes and its words), then the tail;
        a failure after the first line is a last line in the error shape, {"error": {...}}, as in the SSE stream."""
        return await self._stream(request, _CaptionLines(request.response_format), request.return_timestamps)


class _SpeechEvents(Framing[str]):
    def __init__(self):
        self.tokens = 0

    async def chunk(self, data: bytes, chunk: AudioChunk) -> list[str]:
        self.tokens += chunk.tokens
        return await self.tail(data)

    async def tail(self, data: bytes) -> list[str]:
        return [_event(SpeechAudioDelta(audio=base64.b64encode(data).decode()))] if data else []

    async def end(self) -> list[str]:
        usage = SpeechUsage(input_tokens=self.tokens, output_tokens=0, total_tokens=self.tokens)
        return [_event(SpeechAudioDone(usage=usage))]

    def failed(self, error: Exception) -> list[str]:
        return [_error_event(error_model(500, "Synthesis failed mid-stream"))]


class _CaptionLines(Framing[str]):
    def __init__(self, audio_format: str):
        self.audio_format = audio_format

    async def chunk(self, data: bytes, chunk: AudioChunk) -> list[str]:
        return [_captioned(data, self.audio_format, chunk.words).model_dump_json() + "\n"]

    async def tail(self, data: bytes) -> list[str]:
        return [_captioned(data, self.audio_format, []).model_dump_json() + "\n"] if data else []

    def failed(self, error: Exception) -> list[str]:
        return [error_model(500, "Synthesis failed mid-stream").model_dump_json() + "\n"]


def _captioned(audio: bytes, audio_format: str, words) -> CaptionedSpeech:
    timestamps = [WordTimestamp(word=w.word, start_time=round(w.start, 3), end_time=round(w.end, 3)) for w in words]
    return CaptionedSpeech(audio=base64.b64encode(audio).decode(), audio_format=audio_format, timestamps=timestamps)


def _event(payload: SpeechAudioDelta | SpeechAudioDone) -> str:
    return f"data: {payload.model_dump_json()}\n\n"


def _error_event(error: ErrorResponse) -> str:
    return f"data: {json.dumps({'type': 'error', **error.model_dump()})}\n\n"
