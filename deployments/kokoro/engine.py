"""The Kokoro pipeline without Ray: text -> pieces -> phoneme tokens -> audio.

The Ray Serve deployment wraps this; benchmarks call it directly to measure the engine
alone. Backends only turn token ids, a style vector and a speed into samples.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from deployments.errors import InvalidRequest
from deployments.kokoro import weights
from deployments.kokoro.g2p import Phonemizer
from deployments.kokoro.protocol import SAMPLE_RATE, SpeechRequest, VoiceInfo
from deployments.kokoro.text import Piece, TextSplitter
from deployments.kokoro.voices import VoiceCatalog


class Backend(Protocol):
    name: str

    def infer(self, token_ids: list[int], style: np.ndarray, speed: float) -> np.ndarray: ...


@dataclass(frozen=True)
class PlannedPiece:
    """A piece with everything the backend needs, ready to run on any worker thread."""

    index: int
    text: str
    token_ids: list[int]
    style: np.ndarray
    speed: float
    pause_after_s: float
    # Mid-sentence cuts: the model pads every piece with silence, which would be heard as a gap.
    trim_start: bool = False
    trim_end: bool = False


SILENCE_LEVEL = 0.003
CUT_MARGIN_S = 0.02


def trim_silence(audio: np.ndarray, start: bool, end: bool) -> np.ndarray:
    """Drop near-silent samples at the chosen ends, keeping a short margin."""
    voiced = np.flatnonzero(np.abs(audio) > SILENCE_LEVEL)
    if voiced.size == 0:
        return audio
    margin = int(CUT_MARGIN_S * SAMPLE_RATE)
    first = max(voiced[0] - margin, 0) if start else 0
    last = min(voiced[-1] + margin + 1, len(audio)) if end else len(audio)
    return audio[first:last]


class KokoroEngine:
    def __init__(self, backend: Backend, voices: VoiceCatalog, sentence_pause_s: float = 0.15):
        self.backend = backend
        self.voices = voices
        self.sentence_pause_s = sentence_pause_s
        self.phonemizer = Phonemizer()
        self.splitter = TextSplitter(weights.phoneme_vocabulary())

    @classmethod
    def from_packages(
        cls, backend: Backend, voice_dirs: list[Path], aliases: dict[str, str], sentence_pause_s: float = 0.15
    ) -> KokoroEngine:
        catalog = VoiceCatalog.load(weights.bundled_voice_packs_file(), voice_dirs, aliases)
        return cls(backend, catalog, sentence_pause_s)

    def voice_list(self) -> list[VoiceInfo]:
        aliases: dict[str, list[str]] = {}
        for alias, target in self.voices.aliases.items():
            aliases.setdefault(target, []).append(alias)
        return [VoiceInfo(name, sorted(aliases.get(name, []))) for name in self.voices.names()]

    def plan(self, request: SpeechRequest) -> Iterator[PlannedPiece]:
        """Resolve the voice at once (so errors come before any audio), then yield pieces lazily."""
        pack = self.voices.resolve(request.voice)
        if not request.text.strip():
            raise InvalidRequest("Input text is empty", param="input")
        return self._planned_pieces(request, pack)

    def _planned_pieces(self, request: SpeechRequest, pack: np.ndarray) -> Iterator[PlannedPiece]:
        def phonemize(text: str) -> str:
            return self.phonemizer(text, request.lang_code)

        produced = 0
        for index, piece in enumerate(self.splitter.pieces(request.text, phonemize, request.first_piece_max_tokens)):
            produced += 1
            yield self._prepare(index, piece, pack, request.speed)
        if not produced:
            raise InvalidRequest("Input has nothing to speak (no pronounceable words)", param="input")

    def _prepare(self, index: int, piece: Piece, pack: np.ndarray, speed: float) -> PlannedPiece:
        token_ids = self.splitter.token_ids(piece.phonemes)
        style = pack[max(len(token_ids) - 1, 0)].reshape(256)
        pause = self.sentence_pause_s / speed if piece.ends_sentence else 0.0
        return PlannedPiece(index, piece.text, token_ids, style, speed, pause,
                            trim_start=not piece.starts_sentence, trim_end=not piece.ends_sentence)

    def render(self, planned: PlannedPiece) -> np.ndarray:
        """Run the backend for one piece and append its pause; safe to call from worker threads."""
        audio = self.backend.infer(planned.token_ids, planned.style, planned.speed)
        if planned.trim_start or planned.trim_end:
            audio = trim_silence(audio, planned.trim_start, planned.trim_end)
        if planned.pause_after_s:
            audio = np.concatenate([audio, np.zeros(int(planned.pause_after_s * SAMPLE_RATE), np.float32)])
        return audio

    def synthesize(self, request: SpeechRequest) -> np.ndarray:
        """Whole text at once, in this thread: the engine-direct path benchmarks measure."""
        return np.concatenate([self.render(piece) for piece in self.plan(request)])
