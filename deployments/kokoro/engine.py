"""The Kokoro pipeline without Ray: text -> pieces -> phoneme tokens -> audio.

The Ray Serve deployment wraps this; benchmarks call it directly to measure the engine
alone. Backends only turn token ids, a style vector and a speed into samples.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from deployments.kokoro import weights
from deployments.kokoro.g2p import Phonemizer, SpokenWord
from deployments.kokoro.protocol import SAMPLE_RATE, KokoroRequest, VoiceInfo
from deployments.kokoro.text import Piece, TextSplitter
from ground.errors import InvalidRequest
from ground.replies import WordTiming

if TYPE_CHECKING:  # importing torch is slow; the onnx backend does not need it
    from deployments.kokoro.torch_backend import TimedAudio
from deployments.kokoro.voices import VoiceCatalog


class Backend(Protocol):
    """What the engine and the deployment ask of a backend; the flags say which calls apply."""

    name: str
    # synthesize_batch works and gives per-token durations: word timestamps need them.
    returns_durations: bool
    # One forward pass takes many pieces well: the deployment routes pieces through the request
    # batcher (@serve.batch) instead of running one at a time on the scheduler's threads.
    batches_requests: bool

    def infer(self, token_ids: list[int], style: np.ndarray, speed: float, cores_shared: bool = False) -> np.ndarray:
        """One piece's samples; `cores_shared`: another inference runs beside it (a CPU backend may use fewer
        threads)."""
        ...

    def synthesize_batch(self, items: Sequence[tuple[list[int], np.ndarray, float]]) -> list[TimedAudio]:
        """Audio with per-token durations, one pass for all items; only where returns_durations."""
        ...


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
    # Asked for word timestamps: the piece's tokens, whose phonemes joined are exactly its phonemes.
    words: tuple[SpokenWord, ...] = ()


@dataclass(frozen=True)
class RenderedPiece:
    audio: np.ndarray  # float32 mono, the trailing pause included
    words: list[WordTiming]  # seconds from the start of this piece

SILENCE_LEVEL = 0.003
CUT_MARGIN_S = 0.02


def voiced_span(audio: np.ndarray, start: bool, end: bool) -> slice:
    """The samples to keep when near-silence is dropped at the chosen ends, with a short margin."""
    voiced = np.flatnonzero(np.abs(audio) > SILENCE_LEVEL)
    if voiced.size == 0:
        return slice(0, len(audio))
    margin = int(CUT_MARGIN_S * SAMPLE_RATE)
    first = max(voiced[0] - margin, 0) if start else 0
    last = min(voiced[-1] + margin + 1, len(audio)) if end else len(audio)
    return slice(first, last)


def word_timings(words: Sequence[SpokenWord], token_spans: np.ndarray, token_count) -> list[WordTiming]:
    """Each heard word's start and end from the spans (seconds) of the piece's phoneme tokens."""
    timings, offset = [], 0
    for word in words:
        phonemes = token_count(word.phonemes)
        if word.is_word and phonemes and offset + phonemes <= len(token_spans):
            start, end = token_spans[offset, 0], token_spans[offset + phonemes - 1, 1]
            timings.append(WordTiming(word.text, float(start), float(end)))
        offset += phonemes + token_count(word.whitespace)
    return timings


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

    def plan(self, request: KokoroRequest) -> Iterator[PlannedPiece]:
        """Resolve the voice at once (so errors come before any audio), then yield pieces lazily."""
        pack = self.voices.resolve(request.voice)
        if not request.text.strip():
            raise InvalidRequest("Input text is empty", param="input")
        if request.word_timestamps and not self.phonemizer.has_word_timing(request.lang_code):
            raise InvalidRequest(f"Word timestamps are available for English only (lang_code 'a' or 'b'), "
                                 f"not lang_code {request.lang_code!r}", param="lang_code")
        if request.word_timestamps and not self.backend.returns_durations:
            raise InvalidRequest(
                f"Word timestamps need Kokoro's torch backend; this deployment runs {self.backend.name}",
                param="return_timestamps",
            )
        return self._planned_pieces(request, pack)

    def _planned_pieces(self, request: KokoroRequest, pack: np.ndarray) -> Iterator[PlannedPiece]:
        def phonemize(text: str) -> str:
            return self.phonemizer(text, request.lang_code)

        produced = 0
        for index, piece in enumerate(self.splitter.pieces(request.text, phonemize, request.first_piece_max_tokens)):
            produced += 1
            # The splitter only keeps phoneme strings; timestamps need them per word, so phonemize again.
            words = tuple(self.phonemizer.words(piece.text, request.lang_code)) if request.word_timestamps else ()
            yield self._prepare(index, piece, pack, request.speed, words)
        if not produced:
            raise InvalidRequest("Input has nothing to speak (no pronounceable words)", param="input")

    def _prepare(self, index: int, piece: Piece, pack: np.ndarray, speed: float,
                 words: tuple[SpokenWord, ...]) -> PlannedPiece:
        token_ids = self.splitter.token_ids(piece.phonemes)
        style = pack[max(len(token_ids) - 1, 0)].reshape(256)
        pause = self.sentence_pause_s / speed if piece.ends_sentence else 0.0
        return PlannedPiece(index, piece.text, token_ids, style, speed, pause,
                            trim_start=not piece.starts_sentence, trim_end=not piece.ends_sentence, words=words)

    def render(self, planned: PlannedPiece, cores_shared: bool = False) -> RenderedPiece:
        """One piece; safe to call from worker threads. `cores_shared`: another render runs beside this one."""
        if self.backend.returns_durations:  # the piece may ask for word timestamps
            return self.render_batch([planned])[0]
        audio = self.backend.infer(planned.token_ids, planned.style, planned.speed, cores_shared)
        return self._finish(planned, audio, None)

    def render_batch(self, pieces: Sequence[PlannedPiece]) -> list[RenderedPiece]:
        """Many pieces in one forward pass (backends that return durations); each keeps its own length."""
        results = self.backend.synthesize_batch([(p.token_ids, p.style, p.speed) for p in pieces])
        return [self._finish(p, r.audio, r.token_spans()) for p, r in zip(pieces, results, strict=True)]

    def _finish(self, planned: PlannedPiece, audio: np.ndarray, token_spans: np.ndarray | None) -> RenderedPiece:
        """Trim mid-sentence cuts, place the words on the trimmed audio, append the pause."""
        kept = voiced_span(audio, planned.trim_start, planned.trim_end)
        audio = audio[kept]
        words = []
        if planned.words and token_spans is not None:
            shift, length = kept.start / SAMPLE_RATE, len(audio) / SAMPLE_RATE
            words = [
                WordTiming(w.word, min(max(w.start - shift, 0.0), length), min(max(w.end - shift, 0.0), length))
                for w in word_timings(planned.words, token_spans, lambda p: len(self.splitter.token_ids(p)))
            ]
        if planned.pause_after_s:
            audio = np.concatenate([audio, np.zeros(int(planned.pause_after_s * SAMPLE_RATE), np.float32)])
        return RenderedPiece(audio, words)

    def synthesize(self, request: KokoroRequest) -> np.ndarray:
        """Whole text at once, in this thread: the engine-direct path benchmarks measure."""
        return np.concatenate([self.render(piece).audio for piece in self.plan(request)])
