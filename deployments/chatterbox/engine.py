"""The Chatterbox engine without Ray: voices from reference audio, text -> chunks -> audio.

Without its model it stays up as unavailable (deployments.chatterbox.loading).

One model instance serves one call at a time (T3 and S3Gen keep per-call state and the random
generator is process-wide), so calls take a lock. A stream takes it per chunk: concurrent streams
take turns chunk by chunk, and a stream that its caller abandons holds nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from audio.clips import checked_clip
from deployments.chatterbox.loading import MIN_REFERENCE_SEC, CheckpointEngine, Unavailable
from deployments.chatterbox.protocol import ChatterboxParams
from deployments.chatterbox.settings import ChatterboxSettings
from deployments.chatterbox.text import split_chunks
from deployments.chatterbox.voice_cache import VoiceCache
from deployments.errors import InvalidRequest

if TYPE_CHECKING:
    from chatterbox.tts import Conditionals

    from deployments.chatterbox.model import ChatterboxModel


class ChatterboxEngine(CheckpointEngine):
    model_name = "Chatterbox"
    service_name = "Chatterbox"

    def __init__(self, settings: ChatterboxSettings):
        self._voices: VoiceCache[Conditionals] | None = None
        self._lock = threading.Lock()
        super().__init__(settings)

    def _build(self) -> ChatterboxModel:
        try:
            from deployments.chatterbox import checkpoint
            from deployments.chatterbox.model import ChatterboxModel, voice_nbytes
        except ImportError as exc:
            raise Unavailable(f"chatterbox-tts is not installed ({exc})") from exc
        model = ChatterboxModel(self._checkpoint_dir(checkpoint.REQUIRED_FILES), self.device)
        self._voices = VoiceCache(int(self.settings.voice_cache_mb * 2**20), voice_nbytes)
        return model

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
        wav = checked_clip(audio, sample_rate, param="reference_audio", min_sec=MIN_REFERENCE_SEC,
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

    def generate(self, text: str, voice: Conditionals, params: ChatterboxParams | None = None) -> Iterator[np.ndarray]:
        """Float32 mono audio at `sr`, one array per chunk of text, each as soon as it is made.

        Text and parameters are checked here, before the first chunk is asked for.
        """
        model = self._ready()
        params = params or ChatterboxParams()
        chunks = split_chunks(text, params.chunk_size or self.settings.chunk_size)
        if not chunks:
            raise InvalidRequest("text has nothing to say", param="text")
        tokens = [model.text_tokens(chunk) for chunk in chunks]
        if max(t.shape[-1] for t in tokens) > model.max_text_tokens:
            raise InvalidRequest(f"a chunk of text is over the {model.max_text_tokens} tokens the model reads at once: "
                                 "use a smaller chunk_size", param="chunk_size")
        return self._stream(model, tokens, voice, params)

    def _stream(self, model: ChatterboxModel, tokens: list, voice: Conditionals,
                params: ChatterboxParams) -> Iterator[np.ndarray]:
        for chunk_tokens in tokens:
            with self._lock:
                audio = model.synthesize(chunk_tokens, voice, params, self.settings.max_new_tokens)
            yield audio
