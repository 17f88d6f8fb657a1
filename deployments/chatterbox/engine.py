"""The Chatterbox engine without Ray, for any model of the family (settings.model): voices from reference
audio, text -> chunks -> audio.

Without its model it stays up as unavailable (deployments.s3gen.loading).

Generation is batched across every concurrent call: each chunk of text becomes a T3 stream in the
replica's T3 batcher (continuous batching of the decode), and its speech tokens an S3Gen item in the
S3Gen batcher. A call's next chunk starts in T3 while S3Gen renders the one before; a call its caller
abandons cancels its work at the next step. Voice preparation takes a lock of its own.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from typing import TYPE_CHECKING

import numpy as np

from audio.clips import checked_clip
from deployments.chatterbox.limits import ChatterboxLimits
from deployments.chatterbox.protocol import CHATTERBOX_MODELS, ChatterboxParams, check_language
from deployments.chatterbox.settings import ChatterboxSettings
from deployments.chatterbox.text import split_chunks
from deployments.s3gen.loading import CheckpointEngine, Unavailable
from ground.errors import InvalidRequest
from ground.voice_cache import VoiceCache

if TYPE_CHECKING:
    from chatterbox.tts import Conditionals

    from deployments.chatterbox.model import ChatterboxModel
    from deployments.chatterbox.t3_batcher import T3Batcher
    from deployments.s3gen.batcher import S3GenBatcher


class ChatterboxEngine(CheckpointEngine):
    def __init__(self, settings: ChatterboxSettings):
        self.spec = CHATTERBOX_MODELS[settings.model]
        self.model_name = self.service_name = self.spec.title
        self._voices: VoiceCache[Conditionals] | None = None
        self._lock = threading.Lock()  # voice preparation and the watermarker are not thread-safe
        self.t3_batcher: T3Batcher | None = None
        self.s3gen_batcher: S3GenBatcher | None = None
        super().__init__(settings)

    def _build(self) -> ChatterboxModel:
        try:
            from deployments.chatterbox import checkpoint
            from deployments.chatterbox.model import model_for, voice_nbytes
            from deployments.chatterbox.t3_batcher import T3Batcher
            from deployments.s3gen.batcher import CFM_STEPS, MEANFLOW_STEPS, S3GenBatcher
        except ImportError as exc:
            raise Unavailable(f"chatterbox-tts is not installed ({exc})") from exc
        name = self.settings.model
        model = model_for(name, self._checkpoint_dir(checkpoint.REQUIRED_FILES[name]), self.device)
        self._voices = VoiceCache(int(self.settings.voice_cache_mb * 2**20), voice_nbytes)
        limits = self.settings.batching
        self.t3_batcher = T3Batcher(model.t3, limits)
        steps = self.settings.s3gen_steps or (MEANFLOW_STEPS if model.s3gen.meanflow else CFM_STEPS)
        self.s3gen_batcher = S3GenBatcher(model.s3gen, limits, steps)
        return model

    def configure(self, batching: ChatterboxLimits) -> None:
        """New batch limits for the running batchers (the deployment's user_config)."""
        self._ready()
        self.t3_batcher.configure(batching)
        self.s3gen_batcher.limits = batching

    def health_batching(self) -> dict[str, float]:
        return {"t3_rows_per_step": self.t3_batcher.limits.max_batch_rows, **super().health_batching()}

    @property
    def sr(self) -> int:
        """Sample rate of the generated audio (24 kHz)."""
        return self._ready().sr

    @property
    def builtin_voice(self) -> Conditionals | None:
        """The checkpoint's own voice (conds.pt), if it ships one."""
        return self._ready().builtin_voice

    # -- voices --------------------------------------------------------------------------------

    def prepare_voice(self, audio: np.ndarray, sample_rate: int,
                      max_reference_duration_sec: float | None = None) -> bytes:
        """A voice from a reference clip (float32 mono), serialized for the voice library.

        The clip is cut to `max_reference_duration_sec`, never beyond the deployment's setting.
        """
        model = self._ready()
        wav = checked_clip(audio, sample_rate, param="reference_audio", min_sec=self.spec.min_reference_sec,
                           max_sec=self._reference_limit(max_reference_duration_sec))
        with self._lock:
            voice = model.prepare_voice(wav, sample_rate)
        return model.save_voice(voice)

    def load_voice(self, data: bytes) -> Conditionals:
        """A voice from the bytes `prepare_voice` made, on this replica's device."""
        model = self._ready()
        try:
            return model.load_voice(data)
        except Exception as exc:
            raise InvalidRequest(f"voice data could not be read: {exc}", param="voice") from exc

    def voice(self, key: str, load: Callable[[], bytes]) -> Conditionals:
        """The voice cached under `key` (for example voice id and version), else `load()` read and cached."""
        self._ready()
        return self._voices.get_or_load(key, lambda: self.load_voice(load()))

    # -- speech --------------------------------------------------------------------------------

    def generate(self, text: str, voice: Conditionals, params: ChatterboxParams | None = None,
                 language: str | None = None) -> SpeechChunks:
        """Float32 mono audio at `sr`, one array per chunk of text, each as soon as it is made.

        Text, language and parameters are checked here, before the first chunk is asked for; unset
        parameters are the model's defaults.
        """
        model = self._ready()
        check_language(self.spec, language)
        params = params or self.spec.defaults
        chunks = split_chunks(text, params.chunk_size or self.settings.chunk_size, self.settings.first_chunk_size)
        if not chunks:
            raise InvalidRequest("text has nothing to say", param="text")
        tokens = [model.text_tokens(chunk, language) for chunk in chunks]
        if max(t.shape[-1] for t in tokens) > model.max_text_tokens:
            raise InvalidRequest(f"a chunk of text is over the {model.max_text_tokens} tokens the model reads at once: "
                                 "use a smaller chunk_size", param="chunk_size")
        return self._stream(model, tokens, voice, params)

    def _stream(self, model: ChatterboxModel, tokens: list, voice: Conditionals,
                params: ChatterboxParams) -> SpeechChunks:
        watermark = None if params.no_watermark else self._watermark
        return SpeechChunks(self.t3_batcher, self.s3gen_batcher, model, tokens, voice, params, watermark)

    def _watermark(self, audio: np.ndarray) -> np.ndarray:
        with self._lock:
            return self._ready().watermark(audio)


class SpeechChunks:
    """The audio of a text's chunks, in order: an iterator whose `cancel` (from any thread: a client gone,
    a job cancelled) drops the work in flight at the batchers' next step and ends the iteration.

    T3 decodes the next chunk while S3Gen renders the one before.
    """

    def __init__(self, t3_batcher: T3Batcher, s3gen_batcher: S3GenBatcher, model: ChatterboxModel, tokens: list,
                 voice: Conditionals, params: ChatterboxParams, watermark: Callable[[np.ndarray], np.ndarray] | None):
        self._t3, self._s3gen, self._model = t3_batcher, s3gen_batcher, model
        self._tokens, self._voice, self._params, self._watermark = tokens, voice, params, watermark
        self._seeds = chunk_seeds(params.seed, len(tokens))
        self._next = 0
        self._lock = threading.Lock()
        self._cancelled = False
        self._decoding: Future | None = None
        self._rendering: Future | None = None
        self._decode(0)

    def __iter__(self) -> SpeechChunks:
        return self

    def __next__(self) -> np.ndarray:
        index = self._next
        if index >= len(self._tokens) or self._cancelled:
            raise StopIteration
        self._next += 1
        try:
            speech = self._model.speech_tokens(self._decoding.result())
            self._decode(index + 1)
            if len(speech) == 0:  # T3 stopped at once; S3Gen fails on no tokens
                return np.zeros(0, dtype=np.float32)
            with self._lock:
                if self._cancelled:
                    raise StopIteration
                self._rendering = self._s3gen.submit(self._model.s3gen_item(speech, self._voice, self._seeds[index]))
            audio = self._rendering.result()
        except CancelledError:
            raise StopIteration from None
        return audio if self._watermark is None else self._watermark(audio)

    def _decode(self, index: int) -> None:
        with self._lock:
            self._decoding = None
            if index < len(self._tokens) and not self._cancelled:
                self._decoding = self._t3.submit(self._model.t3_stream(self._tokens[index], self._voice, self._params,
                                                                       self._seeds[index]))

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            for future in (self._decoding, self._rendering):
                if future is not None:
                    future.cancel()

    close = cancel  # as a generator's close: the caller is done with it


def chunk_seeds(seed: int | None, count: int) -> list[int]:
    """A seed for each chunk: derived from the request's seed (same seed, same audio), else fresh."""
    if seed is None:
        return [secrets.randbits(63) for _ in range(count)]
    return [int(state) for state in np.random.SeedSequence(seed).generate_state(count, dtype=np.uint64) >> 1]
