"""The gateway's client for engine deployments: typed calls, engine errors passed on intact."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ray.serve.handle import DeploymentHandle

from deployments.errors import EngineError
from deployments.kokoro.protocol import AudioChunk, EngineHealth, SpeechRequest, SynthesisResult, VoiceInfo
from ingress.errors import APIError


def _translate(error: Exception) -> Exception:
    """Ray wraps what a replica raises; hand engine errors on as they were, the rest as a 503."""
    cause = getattr(error, "cause", None)
    if isinstance(error, EngineError) or isinstance(cause, EngineError):
        return cause if isinstance(cause, EngineError) else error
    return APIError(503, f"Engine unreachable: {type(error).__name__}", code="engine_unavailable",
                    headers={"Retry-After": "5"})


class KokoroClient:
    def __init__(self, handle: DeploymentHandle):
        self._handle = handle
        self._stream_handle = handle.options(stream=True)
        self._default_voice: str | None = None

    async def default_voice(self) -> str:
        if self._default_voice is None:
            self._default_voice = await self._call("default_voice")
        return self._default_voice

    async def health(self) -> EngineHealth:
        return await self._call("health")

    async def voices(self) -> list[VoiceInfo]:
        return await self._call("voices")

    async def synthesize(self, request: SpeechRequest) -> SynthesisResult:
        return await self._call("synthesize", request)

    async def stream(self, request: SpeechRequest) -> AsyncIterator[AudioChunk]:
        """Start a stream and wait for its first chunk, so errors surface before any byte is sent."""
        generator = self._stream_handle.stream.remote(request)
        try:
            first = await generator.__anext__()
        except StopAsyncIteration:
            return _empty()
        except Exception as error:
            raise _translate(error) from error
        return _continue(first, generator)

    async def _call(self, method: str, *args):
        try:
            return await getattr(self._handle, method).remote(*args)
        except Exception as error:
            raise _translate(error) from error


async def _empty() -> AsyncIterator[AudioChunk]:
    return
    yield


async def _continue(first: AudioChunk, generator) -> AsyncIterator[AudioChunk]:
    try:
        yield first
        async for chunk in generator:
            yield chunk
    finally:
        generator.cancel()  # the client left or the stream ended: stop the engine's work
