"""Text -> chunks of whole sentences, each generated in one go and streamed as one piece of audio."""

from __future__ import annotations

import math
from itertools import pairwise

import pysbd


def split_chunks(text: str, chunk_size: int) -> list[str]:
    """Sentences packed in order into chunks of at most `chunk_size` words.

    A sentence longer than that is cut at words into near-equal chunks of its own: T3 reads a
    chunk at once (the first one sets how soon audio starts), and even cuts avoid a stub of a
    word or two spoken on its own.
    """
    sentences = pysbd.Segmenter(language="en", clean=False).segment(text)
    chunks: list[list[str]] = []
    current: list[str] = []
    for words in (sentence.split() for sentence in sentences):
        if current and len(current) + len(words) > chunk_size:
            chunks.append(current)
            current = []
        if len(words) <= chunk_size:
            current += words
            continue
        pieces = math.ceil(len(words) / chunk_size)
        bounds = [round(i * len(words) / pieces) for i in range(pieces + 1)]
        chunks += [words[start:end] for start, end in pairwise(bounds)]
    if current:
        chunks.append(current)
    return [" ".join(words) for words in chunks]
