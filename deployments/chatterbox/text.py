"""Text -> chunks of whole sentences, each generated in one go and streamed as one piece of audio."""

from __future__ import annotations

import math
import re
from itertools import pairwise

import pysbd

# A word, where a short bracketed tag (Turbo's "[clear throat]") counts as part of one and is never cut.
_WORD = re.compile(r"(?:\[[^\[\]\n]{1,30}\]|\S)+")


def split_chunks(text: str, chunk_size: int, first_chunk_size: int | None = None) -> list[str]:
    """Sentences packed in order into chunks of at most `chunk_size` words.

    A sentence longer than that is cut at words into near-equal chunks of its own: T3 reads a
    chunk at once, and even cuts avoid a stub of a word or two spoken on its own. The first chunk
    sets how soon audio starts, so it may be held to `first_chunk_size` words: a first sentence
    longer than that is cut there and its rest is packed as usual.
    """
    sentences = [_WORD.findall(sentence) for sentence in pysbd.Segmenter(language="en", clean=False).segment(text)]
    sentences = [words for words in sentences if words]
    head: list[str] = []
    if first_chunk_size and first_chunk_size < chunk_size and sentences:
        while sentences and len(head) + len(sentences[0]) <= first_chunk_size:
            head += sentences.pop(0)
        if not head:  # a long first sentence: its first words are the first chunk
            head, sentences[0] = sentences[0][:first_chunk_size], sentences[0][first_chunk_size:]
    chunks: list[list[str]] = [head] if head else []
    current: list[str] = []
    for words in sentences:
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
