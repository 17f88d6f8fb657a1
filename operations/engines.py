"""Clients of the engine deployments: typed calls with a time limit, engine errors passed on intact.

Whatever a call raises leaves here as an ServiceError: the replica's own error as it raised it,
EngineTimeout past the time limit, EngineUnreachable when Ray could not deliver the call.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ray.serve.handle import DeploymentHandle

from deployments.chatterbox.protocol import ORIGINAL, ChatterboxRequest
from deployments.conversion.protocol import ConvertedPiece, S3GenRequest
from deployments.kokoro.protocol import KokoroRequest, VoiceInfo
from deployments.s3gen.protocol import ReferenceAudio
from ground.clients import current_client
from ground.errors import EngineTimeout, EngineUnreachable, ServiceError
from ground.replies import AudioChunk, EngineHealth, SynthesisResult
from operations import metrics
from operations.replicas import ReplicaCounts


def engine_error(error: BaseException) -> ServiceError:
    """Ray wraps what a replica raises (the original is its `cause`); anything else means no replica answered."""
    if isinstance(error, ServiceError):
        return error
    cause = getattr(error, "cause", None)
    if isinstance(cause, ServiceError):
        return cause
    return EngineUnreachable(f"Engine unreachable: {type(error).__name__}")


@dataclass
class ChunkStream:
    """A started stream: its first chunk has arrived (so errors came before any byte was sent)."""

    sample_rate: int
    chunks: AsyncIterator[AudioChunk]


class EngineClient:
    """Calls to one engine deployment: `health` is common to all; text engines also `synthesize` and `stream`."""

    engine = ""

    def __init__(self, handle: DeploymentHandle, timeout_s: float = 120, replicas: ReplicaCounts | None = None):
        """`replicas`: where to read how many replicas the deployment has (None: call it, as if one always runs)."""
        self._handle = handle
        self._timeout_s = timeout_s
        self._replicas = replicas
        self._stream_handle = handle.options(stream=True)
        self._tags = {"engine": self.engine}

    async def health(self) -> EngineHealth:
        """The replica's own report; with no replica running, the controller's count instead: calling a
        deployment at zero replicas would start one (and wait for it)."""
        if self._replicas is not None:
            states = await self._replicas.states(self._handle.app_name, self._handle.deployment_name)
            if states is not None and not states.get("RUNNING"):
                if states:
                    return EngineHealth(self.engine, "starting", backend="", reason="a replica is starting")
                return EngineHealth(self.engine, "idle", backend="",
                                    reason="no replica running (scaled to zero): the next request starts one")
        return await self._call("health")

    async def _call(self, method: str, *args):
        try:
            return await asyncio.wait_for(getattr(self._handle, method).remote(*args), self._timeout_s)
        except TimeoutError:
            raise self._timed_out() from None
        except Exception as error:
            raise engine_error(error) from error

    def _timed_out(self) -> EngineTimeout:
        return EngineTimeout(f"The {self.engine} engine did not answer within {self._timeout_s:g} s")

    async def _next(self, generator):
        """A stream's next item, None at its end; the time limit holds for each item."""
        try:
            return await asyncio.wait_for(generator.__anext__(), self._timeout_s)
        except StopAsyncIteration:
            return None
        except TimeoutError:
            raise self._timed_out() from None
        except Exception as error:
            raise engine_error(error) from error

    def _count(self, audio_len: int, sample_rate: int) -> None:
        metrics.audio_seconds.inc(audio_len / sample_rate, tags=self._tags)
        metrics.client_audio_seconds.inc(audio_len / sample_rate, tags=self._client_tags())

    def _client_tags(self) -> dict[str, str]:
        return {"client": current_client.get(), "engine": self.engine}


class TextEngineClient(EngineClient):
    """An engine that speaks text: a KokoroRequest or a ChatterboxRequest, by the engine."""

    async def synthesize(self, request: KokoroRequest | ChatterboxRequest) -> SynthesisResult:
        metrics.client_characters.inc(len(request.text), tags=self._client_tags())
        result = await self._call("synthesize", request)
        self._count(len(result.audio), result.sample_rate)
        return result

    async def stream(self, request: KokoroRequest | ChatterboxRequest) -> ChunkStream:
        """Start a stream and wait for its first chunk; the engine's work stops when the stream is dropped."""
        started = time.monotonic()
        metrics.client_characters.inc(len(request.text), tags=self._client_tags())
        generator = self._stream_handle.stream.remote(request)
        try:
            first = await self._next(generator)
            if first is None:
                raise ServiceError(f"The {self.engine} engine returned no audio")
        except BaseException:
            generator.cancel()
            raise
        metrics.time_to_first_audio.observe(time.monotonic() - started, tags=self._tags)
        chunks = self._continue(first, generator)
        # A stream dropped before anyone iterates it never runs its `finally`: its engine work stops when the
        # chunks are collected (cancelling a stream that ended already does nothing).
        weakref.finalize(chunks, generator.cancel)
        return ChunkStream(first.sample_rate, chunks)

    async def _continue(self, first: AudioChunk, generator) -> AsyncIterator[AudioChunk]:
        try:
            chunk = first
            while chunk is not None:
                self._count(len(chunk.audio), chunk.sample_rate)
                yield chunk
                chunk = await self._next(generator)
        finally:
            generator.cancel()  # the caller left or the stream ended: stop the engine's work

class KokoroClient(TextEngineClient):
    engine = "kokoro"

    def __init__(self, handle: DeploymentHandle, timeout_s: float = 120, replicas: ReplicaCounts | None = None):
        super().__init__(handle, timeout_s, replicas)
        self._default_voice: str | None = None

    async def default_voice(self) -> str:
        if self._default_voice is None:
            self._default_voice = await self._call("default_voice")
        return self._default_voice

    async def voices(self) -> list[VoiceInfo]:
        return await self._call("voices")


class ChatterboxClient(TextEngineClient):
    """One model of the Chatterbox family (its deployment); `engine` is the model's name."""

    def __init__(self, handle: DeploymentHandle, timeout_s: float = 120, model: str = ORIGINAL,
                 replicas: ReplicaCounts | None = None):
        self.engine = model
        super().__init__(handle, timeout_s, replicas)

    async def prepare_voice(self, reference: ReferenceAudio, max_reference_duration_sec: float | None = None) -> bytes:
        return await self._call("prepare_voice", reference, max_reference_duration_sec)


class ConversionClient(EngineClient):
    """S3Gen speaks no text: `convert_pieces` beside `health`. The time limit holds for each piece, so a
    long input may take as long as its pieces need, while a replica that went away is noticed."""

    engine = "conversion"

    async def convert_pieces(self, request: S3GenRequest) -> AsyncIterator[ConvertedPiece]:
        generator = self._stream_handle.convert_stream.remote(request)
        try:
            while (piece := await self._next(generator)) is not None:
                self._count(len(piece.audio), piece.sample_rate)
                yield piece
        finally:
            generator.cancel()  # the caller left or the conversion ended: stop the engine's work
