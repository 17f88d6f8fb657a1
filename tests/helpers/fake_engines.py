"""Small fakes of the engine deployments' handles, for testing the gateway in-process (no Ray, no models).

A fake engine is a plain object with the deployment's handle API (health, synthesize, stream, ...);
`FakeHandle` wraps it the way operations/engines.py calls a DeploymentHandle:
`await handle.<method>.remote(*args)`, and for streams
`gen = handle.options(stream=True).stream.remote(request)`, `await gen.__anext__()`, `gen.cancel()`.

Every call is recorded (`engine.calls`) so a test can assert what the gateway sent. Errors are the
engines' own (ground/errors.py), raised as a replica raises them; Ray delivers such an error as
an exception that is also an instance of the original class, so raising it directly is what the
gateway sees.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from deployments.chatterbox.protocol import CHATTERBOX_MODELS, MULTILINGUAL, ORIGINAL, TURBO, ChatterboxRequest
from deployments.conversion.protocol import ConvertedPiece, S3GenRequest
from deployments.kokoro.protocol import KokoroRequest, VoiceInfo
from deployments.kokoro.voices import VoiceCatalog
from ground.errors import EngineUnavailable, InvalidRequest
from ground.replies import AudioChunk, EngineHealth, SynthesisResult, WordTiming

SAMPLE_RATE = 24_000
SECONDS_PER_WORD = 0.05
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Call:
    method: str
    args: tuple


def sentences(text: str) -> list[str]:
    return [part for part in (" ".join(s.split()) for s in _SENTENCE_END.split(text)) if part]


def sine(seconds: float, frequency: float = 220.0) -> np.ndarray:
    t = np.arange(max(int(seconds * SAMPLE_RATE), 1)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


class FakeEngine:
    """What every fake shares: its name, the calls it got, and ways to be down.

    `unavailable`: a reason; health reports it and every other call raises EngineUnavailable, as an engine
    without its model does. `broken`: an exception every call raises (health too), as a replica that Ray
    cannot reach does. `delay_s`: every call waits this long first (for time limits and admission).
    """

    engine = ""
    service_name = ""
    backend = "fake"
    handle_api: tuple[str, ...] = ("health",)  # the deployment's methods a handle may call

    def __init__(self, unavailable: str | None = None, broken: BaseException | None = None, delay_s: float = 0):
        self.unavailable = unavailable
        self.broken = broken
        self.delay_s = delay_s
        self.calls: list[Call] = []
        self.cancelled_streams = 0
        self.pieces_rendered = 0

    def requests(self, method: str | None = None) -> list[Any]:
        """The first argument of each recorded call (of `method`, if given), in order."""
        return [call.args[0] for call in self.calls if method in (None, call.method) and call.args]

    def methods(self) -> list[str]:
        return [call.method for call in self.calls]

    async def _enter(self, check_ready: bool = True) -> None:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.broken is not None:
            raise self.broken
        if check_ready and self.unavailable:
            raise EngineUnavailable(f"{self.service_name} is unavailable: {self.unavailable}")

    async def health(self) -> EngineHealth:
        await self._enter(check_ready=False)
        return EngineHealth(engine=self.engine, status="unavailable" if self.unavailable else "ready",
                            backend=self.backend, reason=self.unavailable)


class FakeKokoro(FakeEngine):
    """Kokoro with two packs. Voices resolve through the real VoiceCatalog (packs, aliases, blends, and the
    engine's errors); each sentence is a short sine, SECONDS_PER_WORD a word, divided by the speed."""

    engine = "kokoro"
    service_name = "Kokoro"
    backend = "torch"
    PACKS = ("jf_alpha", "jm_kumo")
    ALIASES: ClassVar[dict[str, str]] = {"alloy": "jf_alpha", "onyx": "jm_kumo"}
    DEFAULT_VOICE = "jf_alpha"
    handle_api = ("health", "voices", "default_voice", "synthesize", "stream")

    def __init__(self, returns_durations: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.returns_durations = returns_durations  # False: like the onnx backend, no word timestamps
        self.catalog = VoiceCatalog({name: np.full(1, index, np.float32) for index, name in enumerate(self.PACKS)},
                                    self.ALIASES)

    async def voices(self) -> list[VoiceInfo]:
        await self._enter()
        aliases: dict[str, list[str]] = {}
        for alias, target in self.catalog.aliases.items():
            aliases.setdefault(target, []).append(alias)
        return [VoiceInfo(name, sorted(aliases.get(name, []))) for name in self.catalog.names()]

    async def default_voice(self) -> str:
        await self._enter(check_ready=False)  # as the deployment: from its settings, even while unavailable
        return self.DEFAULT_VOICE

    def _pieces(self, request: KokoroRequest) -> Iterator[AudioChunk]:
        """One piece per sentence, rendered only when it is asked for, as the real engine renders them: a
        stream nobody reads costs nothing past what it was asked for."""
        assert isinstance(request, KokoroRequest), request
        self.catalog.resolve(request.voice)
        if request.word_timestamps and not self.returns_durations:
            raise InvalidRequest("Word timestamps need Kokoro's torch backend; this deployment runs onnx",
                                 param="return_timestamps")
        elapsed = 0.0
        for index, text in enumerate(sentences(request.text)):
            words = text.split()
            audio = sine(len(words) * SECONDS_PER_WORD / request.speed)
            step = len(audio) / SAMPLE_RATE / len(words)
            timings = [WordTiming(word, elapsed + i * step, elapsed + (i + 1) * step) for i, word in enumerate(words)]
            self.pieces_rendered += 1
            yield AudioChunk(audio, SAMPLE_RATE, text, index, len(text), timings if request.word_timestamps else [])
            elapsed += len(audio) / SAMPLE_RATE
        if not elapsed:
            raise InvalidRequest("Input has nothing to speak (no pronounceable words)", param="input")

    async def synthesize(self, request: KokoroRequest) -> SynthesisResult:
        await self._enter()
        chunks = list(self._pieces(request))
        return SynthesisResult(np.concatenate([c.audio for c in chunks]), SAMPLE_RATE, len(chunks),
                               sum(c.tokens for c in chunks), [w for c in chunks for w in c.words])

    async def stream(self, request: KokoroRequest) -> AsyncIterator[AudioChunk]:
        await self._enter()
        for chunk in self._pieces(request):
            yield chunk
            await asyncio.sleep(0)  # a real engine awaits its replica between pieces


class MidStreamFailingKokoro(FakeKokoro):
    """A FakeKokoro whose stream fails after its first piece, when the response has started (its status sent)."""

    async def stream(self, request: KokoroRequest) -> AsyncIterator[AudioChunk]:
        async for chunk in super().stream(request):
            yield chunk
            raise RuntimeError("the replica died mid-stream")


class FakeChatterbox(FakeEngine):
    """Chatterbox: `prepare_voice` gives some bytes; speech is one short sine per sentence."""

    engine = "chatterbox"
    backend = "cpu"
    handle_api = ("health", "prepare_voice", "synthesize", "stream")

    def __init__(self, has_default_voice: bool = True, model: str = "chatterbox", **kwargs):
        self.service_name = CHATTERBOX_MODELS[model].title  # before the base class words its unavailability
        super().__init__(**kwargs)
        self.engine = model
        self.has_default_voice = has_default_voice

    async def prepare_voice(self, reference, max_reference_duration_sec: float | None = None) -> bytes:
        await self._enter()
        return f"conditionals of {len(reference.samples)} samples at {reference.sample_rate} Hz".encode()

    def _chunks(self, request: ChatterboxRequest) -> list[AudioChunk]:
        assert isinstance(request, ChatterboxRequest), request
        if request.voice is None and not self.has_default_voice:
            raise InvalidRequest("Chatterbox needs a voice: name a library voice or send reference_audio",
                                 param="voice")
        return [AudioChunk(sine(len(text.split()) * SECONDS_PER_WORD, 330.0), SAMPLE_RATE, "", index, 0)
                for index, text in enumerate(sentences(request.text))]

    async def synthesize(self, request: ChatterboxRequest) -> SynthesisResult:
        await self._enter()
        chunks = self._chunks(request)
        return SynthesisResult(np.concatenate([c.audio for c in chunks]), SAMPLE_RATE, len(chunks), 0)

    async def stream(self, request: ChatterboxRequest) -> AsyncIterator[AudioChunk]:
        await self._enter()
        for chunk in self._chunks(request):
            yield chunk


class FakeConversion(FakeEngine):
    """S3Gen: the answer is a sine as long as the input, at 24 kHz, streamed in pieces of a second."""

    engine = "conversion"
    service_name = "Voice conversion"
    backend = "cpu"
    handle_api = ("health", "convert_stream")

    async def convert_stream(self, request: S3GenRequest) -> AsyncIterator[ConvertedPiece]:
        await self._enter()
        assert isinstance(request, S3GenRequest), request
        seconds = len(request.samples) / request.sample_rate
        audio = sine(seconds, 440.0)[:round(seconds * SAMPLE_RATE)]
        starts = range(0, len(audio), SAMPLE_RATE)
        for index, start in enumerate(starts):
            yield ConvertedPiece(audio[start:start + SAMPLE_RATE], SAMPLE_RATE, start, len(audio), index, len(starts))


class _Method:
    """`handle.<method>`: `.remote(*args)` records the call and starts it."""

    def __init__(self, engine: FakeEngine, name: str, streaming: bool):
        self._engine = engine
        self._name = name
        self._streaming = streaming

    def remote(self, *args):
        self._engine.calls.append(Call(self._name, args))
        method = getattr(self._engine, self._name)
        return FakeResponseGenerator(self._engine, method(*args)) if self._streaming else method(*args)


class FakeResponseGenerator:
    """What `handle.options(stream=True).<method>.remote()` returns: an async iterator with `cancel()`."""

    def __init__(self, engine: FakeEngine, generator: AsyncIterator):
        self._engine = engine
        self._generator = generator
        self.cancelled = False
        self.finished = False

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self.cancelled:
            raise StopAsyncIteration
        try:
            return await self._generator.__anext__()
        except StopAsyncIteration:
            self.finished = True
            raise

    def cancel(self) -> None:
        """Counted only for a stream cut short: closing one that has ended stops no work."""
        if not self.cancelled and not self.finished:
            self.cancelled = True
            self._engine.cancelled_streams += 1


class FakeHandle:
    """A DeploymentHandle over a fake engine."""

    app_name = "fakes"

    def __init__(self, engine: FakeEngine, streaming: bool = False):
        self.engine = engine
        self.deployment_name = engine.engine
        self._streaming = streaming

    def options(self, *, stream: bool = False, **_) -> FakeHandle:
        return FakeHandle(self.engine, streaming=stream)

    def __getattr__(self, name: str) -> _Method:
        if name.startswith("_") or name not in self.engine.handle_api:
            raise AttributeError(f"the fake {self.engine.engine} deployment has no method {name!r}")
        return _Method(self.engine, name, self._streaming)


def chatterbox_family(original: FakeChatterbox, others: dict[str, FakeChatterbox] | None = None
                      ) -> dict[str, FakeChatterbox]:
    """A fake per Chatterbox model: `original`, those in `others` (by model name), a new one for the rest."""
    return {TURBO: FakeChatterbox(model=TURBO), MULTILINGUAL: FakeChatterbox(model=MULTILINGUAL), **(others or {}),
            ORIGINAL: original}


def fake_handles(kokoro: FakeKokoro, chatterbox: FakeChatterbox | dict[str, FakeChatterbox],
                 conversion: FakeConversion) -> dict[str, FakeHandle]:
    """The `handles` Operations.from_handles takes; `chatterbox`: the original's fake, or one per model."""
    models = chatterbox if isinstance(chatterbox, dict) else chatterbox_family(chatterbox)
    return {"kokoro": FakeHandle(kokoro), **{model: FakeHandle(fake) for model, fake in models.items()},
            "conversion": FakeHandle(conversion)}
