"""Text arriving in pieces, cut into complete sentences with pysbd.

All but the last segment pysbd finds in the buffer are complete sentences: the last one may still grow
("Dr." is not yet a sentence end), so it waits for more text, a flush or the end of the input.
"""

from __future__ import annotations

import itertools

import pysbd


class SentenceBuffer:
    def __init__(self, language: str = "en"):
        self._segmenter = pysbd.Segmenter(language=language, clean=False, char_span=True)
        self.text = ""

    def __len__(self) -> int:
        return len(self.text)

    def add(self, text: str) -> list[str]:
        """Append `text`; return the sentences it completed (and remove them from the buffer)."""
        self.text += text
        if not self.text.strip():
            return []
        spans = self._segmenter.segment(self.text)
        if len(spans) < 2:
            return []
        cut = spans[-1].start
        # Each sentence runs to the next one's start, so nothing between them (spaces, newlines) is lost.
        starts = [span.start for span in spans]
        sentences = [self.text[start:end] for start, end in itertools.pairwise(starts)]
        self.text = self.text[cut:]
        return [sentence for sentence in sentences if sentence.strip()]

    def take(self) -> str:
        """Everything buffered (at a flush or the end of the input)."""
        text, self.text = self.text, ""
        return text if text.strip() else ""
