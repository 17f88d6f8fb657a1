"""The gateway's clients for engine deployments: typed calls, engine errors passed on intact."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from ray.serve.handle import DeploymentHandle

from deployments.chatterbox.protocol import ChatterboxRequest, ReferenceAudio
from deployments.conversion.protocol import ConversionRequest
from deployments.errors import EngineError
from deployments.kokoro.protocol import SpeechRequest, VoiceInfo
from deployments.protocol import AudioChunk, EngineHealth, SynthesisResult
from ingress import metrics
from ingress.errors import APIError


def _translate(error: Exception) -> Exception:
    """Ray wraps what a replica raises; hand engine errors on as they were, the rest as a 503."""
    cause = getattr(error, "cause", None)
    if isinstance(error, EngineError) or isinstance(cause, EngineError):
        return cause if isinstance(cause, EngineError) else error
    return APIError(503, f"Engine unreachable: {type(error).__name__}", code="engine_unavailable",
                    headers={"Retry-After": "5"})


class EngineClient:
    """Calls to one engine deployment: `synthesize`, `stream` and `health` are common to all engines."""

    engine = ""

    def __init__(self, handle: DeploymentHandle, timeout_s: float = 120):
        self._handle = handle
        self._timeout_s = timeout_s
        self._stream_handle = handle.options(stream=True)
        self._tags = {"engine": self.engine}

    async def health(self) -> EngineHealth:
        return await self._call("health")

    async def synthesize(self, request: SpeechRequest | ChatterboxRequest) -> SynthesisResult:
        started = time.monotonic()
        result = await self._call("synthesize", request)
        metrics.time_to_first_audio.observe(time.monotonic() - started, tags=self._tags)
        metrics.audio_seconds.inc(len(result.audio) / result.sample_rate, tags=self._tags)
        return result

    async def stream(self, request: SpeechRequest | ChatterboxRequest) -> AsyncIterator[AudioChunk]:
        """Start a stream and wait for its first chunk, so errors surface before any byte is sent."""
        started = time.monotonic()
        generator = self._stream_handle.stream.remote(request)
        try:
            first = await self._next(generator)
            metrics.time_to_first_audio.observe(time.monotonic() - started, tags=self._tags)
        except BaseException:
            generator.cancel()
            raise
        return self._continue(first, generator)

    async def _continue(self, first: AudioChunk | None, generator) -> AsyncIterator[AudioChunk]:
        try:
            chunk = first
            while chunk is not None:
                metrics.audio_seconds.inc(len(chunk.audio) / chunk.sample_rate, tags=self._tags)
                yield chunk
                chunk = await self._next(generator)
        finally:
            generator.cancel()  # the client left or the stream ended: stop the engine's work

    async def _next(self, generator) -> AudioChunk | None:
        try:
            return await asyncio.wait_for(generator.__anext__(), self._timeout_s)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            raise _timed_out(self._timeout_s) from None
        except Exception as error:
            raise _translate(error) from error

    async def _call(self, method: str, *args):
        try:
            return await asyncio.wait_for(getattr(self._handle, method).remote(*args), self._timeout_s)
        except TimeoutError:
            raise _timed_out(self._timeout_s) from None
        except Exception as error:
            raise _translate(error) from error


class KokoroClient(EngineClient):
    engine = "kokoro"

    def __init__(self, handle: DeploymentHandle, timeout_s: float = 120):
        super().__init__(handle, timeout_s)
        self._default_voice: str | None = None

    async def default_voice(self) -> str:
        if self._default_voice is None:
            self._default_voice = await self._call("default_voice")
        return self._default_voice

    async def voices(self) -> list[VoiceInfo]:
        return await self._call("voices")


class ChatterboxClient(EngineClient):
    engine = "chatterbox"

    async def prepare_voice(self, reference: ReferenceAudio, max_reference_duration_sec: float | None = None) -> bytes:
        return await self._call("prepare_voice", reference, max_reference_duration_sec)


class ConversionClient(EngineClient):
    """S3Gen speaks no text: of the common calls only `health` applies, beside `convert`."""

    engine = "conversion"

    async def convert(self, request: ConversionRequest) -> SynthesisResult:
        result = await self._call("convert", request)
        metrics.audio_seconds.inc(len(result.audio) / result.sample_rate, tags=self._tags)
        return result


def _timed_out(timeout_s: float) -> APIError:
    return APIError(504, f"The engine did not answer within {timeout_s:g} s", code="timeout")
