"""The one streaming writer every surface uses: engine chunks in, the dialect's frames out.

A surface (OpenAI speech as raw audio or server-sent events, captioned speech, the simple API, the
WebSocket, a streaming job) decodes its request into an operations-core call and hands the started
stream here with a `Framing`: how it frames a chunk's encoded bytes, the encoder's tail, the end, and a
failure after the stream opened. The writer encodes every chunk, always finishes the encoder (resampler
tail, encoder flush, container trailer) and always closes the engine stream, so work stops when the
client does.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Generic, Protocol, TypeVar

import numpy as np

from audio.output import AudioOutput
from ground.replies import AudioChunk

logger = logging.getLogger("ray.serve")
Frame = TypeVar("Frame")


class Encoder(Protocol):
    def process(self, audio: np.ndarray) -> bytes: ...

    def finish(self) -> bytes: ...


class Framing(Generic[Frame]):
    """A dialect's frames; each method returns the frames to send (none is fine). Subclasses override what
    their wire has."""

    async def chunk(self, data: bytes, chunk: AudioChunk) -> list[Frame]:
        return [data] if data else []

    async def tail(self, data: bytes) -> list[Frame]:
        """The encoder's last bytes (also when a new encoder starts after a change of sample rate)."""
        return [data] if data else []

    async def end(self) -> list[Frame]:
        return []

    def failed(self, error: Exception) -> list[Frame] | None:
        """Frames that report a failure in band after the stream opened; None: the wire has no such frame,
        so the error propagates and the connection is cut."""
        return None


class WholeFile:
    """An Encoder that sends nothing until the end, then one complete file: for dialects that answer with a
    file (a job's base64 WAV) yet take the audio as it is made. Its normalization sees the whole clip."""

    def __init__(self, output: AudioOutput):
        self._output = output
        self._parts: list[np.ndarray] = []

    def process(self, audio: np.ndarray) -> bytes:
        self._parts.append(audio)
        return b""

    def finish(self) -> bytes:
        return self._output.whole(np.concatenate(self._parts) if self._parts else np.zeros(0, np.float32))


async def write_stream(chunks: AsyncGenerator[AudioChunk, None], encoder_for: Callable[[int], Encoder],
                       framing: Framing[Frame]) -> AsyncIterator[Frame]:
    """The frames of a started stream. `encoder_for(sample_rate)` makes the encoder at the first chunk (and
    again should the engine's rate change mid-stream, after finishing the one before)."""
    encoder: Encoder | None = None
    source_rate = 0
    try:
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                if encoder is None or chunk.sample_rate != source_rate:
                    if encoder is not None:
                        for frame in await framing.tail(encoder.finish()):
                            yield frame
                    encoder, source_rate = encoder_for(chunk.sample_rate), chunk.sample_rate
                for frame in await framing.chunk(encoder.process(chunk.audio), chunk):
                    yield frame
        if encoder is not None:
            for frame in await framing.tail(encoder.finish()):
                yield frame
        for frame in await framing.end():
            yield frame
    except Exception as error:
        frames = framing.failed(error)
        if frames is None:
            raise
        logger.exception("stream failed after it opened")  # in band only: the status line is long gone
        for frame in frames:
            yield frame
