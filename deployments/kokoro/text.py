"""Split text into pieces Kokoro can speak in one forward pass.

A piece is at most `max_tokens` phoneme tokens (the model's context is 512 with two
padding tokens). Pieces follow sentence boundaries; a sentence that is too long is cut
at clause punctuation, then between words (or, in text without spaces, in halves). The same pieces are the unit of streaming,
and a stream may ask for a short first piece so that audio starts sooner.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pysbd

MODEL_MAX_TOKENS = 510
# Clause punctuation: Latin marks before a space; CJK full-width marks need none (those scripts use no spaces).
_CLAUSE_END = re.compile(r"(?<=[,;:\u2014\u2026])\s+|(?<=[\u3001\uff0c\uff1b\uff1a])")

Phonemize = Callable[[str], str]


@dataclass(frozen=True)
class Piece:
    text: str
    phonemes: str
    ends_sentence: bool
    starts_sentence: bool = True


class TextSplitter:
    def __init__(self, vocabulary: dict[str, int], max_tokens: int = MODEL_MAX_TOKENS):
        self._vocabulary = vocabulary
        self._max_tokens = max_tokens

    def token_ids(self, phonemes: str) -> list[int]:
        return [self._vocabulary[p] for p in phonemes if p in self._vocabulary]

    def pieces(self, text: str, phonemize: Phonemize, first_piece_max_tokens: int | None = None) -> Iterator[Piece]:
        """Yield pieces in reading order; phonemizes lazily so a stream can start early."""
        opening_due = True
        # A segmenter per text: pysbd's keeps the text it works on in the instance, so one shared by the
        # threads that plan concurrent requests would hand one request's sentences to another.
        for sentence in pysbd.Segmenter(language="en", clean=False).segment(text):
            sentence = " ".join(sentence.split())
            if not sentence:
                continue
            if not opening_due:
                yield from self._sentence(self._fit(sentence, self._max_tokens, phonemize), starts_sentence=True)
                continue
            # Only the opening piece is kept short. It is handed out before the rest of its sentence is
            # fitted: that costs G2P calls the stream's first audio would otherwise wait for.
            limit = min(first_piece_max_tokens or self._max_tokens, self._max_tokens)
            opening = next(self._fit(sentence, limit, phonemize), None)
            if opening is None:
                continue  # nothing to speak in this sentence: the next one opens
            opening_due = False
            rest = sentence[len(opening.text):].strip()
            yield Piece(opening.text, opening.phonemes, ends_sentence=not rest)
            if rest:
                yield from self._sentence(self._fit(rest, self._max_tokens, phonemize), starts_sentence=False)

    @staticmethod
    def _sentence(parts: Iterator[Piece], starts_sentence: bool) -> Iterator[Piece]:
        """Parts of one sentence, marked where it starts and ends."""
        parts = list(parts)
        for index, part in enumerate(parts):
            yield Piece(part.text, part.phonemes, ends_sentence=index == len(parts) - 1,
                        starts_sentence=starts_sentence and index == 0)

    def _fit(self, text: str, limit: int, phonemize: Phonemize) -> Iterator[Piece]:
        phonemes = phonemize(text)
        if len(self.token_ids(phonemes)) <= limit:
            if phonemes:
                yield Piece(text, phonemes, ends_sentence=True)
            return
        clauses = [clause for clause in _CLAUSE_END.split(text) if clause]
        units = clauses if len(clauses) > 1 else text.split()
        if len(units) > 1:
            yield from self._pack(units, limit, phonemize)
        elif len(text) > 1:
            # No clause and no space to cut at (Chinese, Japanese): halves, until each fits.
            middle = len(text) // 2
            yield from self._fit(text[:middle], limit, phonemize)
            yield from self._fit(text[middle:], limit, phonemize)
        else:
            yield Piece(text, phonemes[:limit], ends_sentence=True)  # one character over the limit: what fits

    def _pack(self, units: list[str], limit: int, phonemize: Phonemize) -> Iterator[Piece]:
        """Greedily join units (clauses or words) into pieces under `limit` tokens."""
        current: list[str] = []
        for unit in units:
            candidate = " ".join(current + [unit])
            if current and len(self.token_ids(phonemize(candidate))) > limit:
                yield from self._fit(" ".join(current), limit, phonemize)
                current = [unit]
            else:
                current.append(unit)
        if current:
            yield from self._fit(" ".join(current), limit, phonemize)
