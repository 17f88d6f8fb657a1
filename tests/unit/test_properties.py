"""Property tests (hypothesis) of the pure parts: text splitting, voice blends, and the audio decoders
against truncated and corrupted files."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audio.uploads import decode_upload
from deployments.chatterbox.text import split_chunks
from deployments.kokoro.text import TextSplitter
from deployments.kokoro.voices import VoiceCatalog
from ground.errors import InvalidRequest, PayloadTooLarge, UnknownVoice

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=9)
END = st.sampled_from([".", "!", "?", ",", ";", ""])
SENTENCES = st.lists(st.tuples(st.lists(WORD, min_size=1, max_size=30), END), min_size=1, max_size=8).map(
    lambda sentences: " ".join(" ".join(words) + end for words, end in sentences))


@given(text=SENTENCES, chunk_size=st.integers(1, 40), first=st.one_of(st.none(), st.integers(1, 40)))
@settings(max_examples=150, deadline=None)
def test_chatterbox_chunks_keep_every_word_once_in_order_and_within_size(text, chunk_size, first):
    chunks = split_chunks(text, chunk_size, first)
    assert " ".join(chunks).split() == text.split()
    assert all(1 <= len(chunk.split()) <= chunk_size for chunk in chunks)
    if first is not None and first < chunk_size:
        assert len(chunks[0].split()) <= first


# A phonemizer stand-in: one token a letter, so a piece's size is plain to see; TextSplitter itself is real.
VOCABULARY = {letter: index for index, letter in enumerate("abcdefghijklmnopqrstuvwxyz .,!?;", start=1)}


def letters(text: str) -> str:
    return text.lower()


@given(text=SENTENCES, limit=st.integers(12, 120), first=st.one_of(st.none(), st.integers(8, 40)))
@settings(max_examples=150, deadline=None)
def test_kokoro_pieces_keep_every_word_once_in_order_and_under_the_token_limit(text, limit, first):
    splitter = TextSplitter(VOCABULARY, max_tokens=limit)
    pieces = list(splitter.pieces(text, letters, first_piece_max_tokens=first))
    words = [word for piece in pieces for word in piece.text.split()]
    if max(len(word) for word in text.split()) <= min(limit, first or limit):  # every word fits a piece
        assert words == text.split()
    assert all(len(splitter.token_ids(piece.phonemes)) <= limit for piece in pieces)


PACKS = {name: np.full((4, 1, 2), index, dtype=np.float32) for index, name in enumerate(["af_a", "bm_b", "jf_c"], 1)}
NAMES = st.sampled_from(sorted(PACKS))


@given(parts=st.lists(st.tuples(NAMES, st.one_of(st.none(), st.floats(0.1, 10, allow_nan=False))), min_size=1,
                      max_size=4))
@settings(max_examples=100, deadline=None)
def test_a_blend_is_the_weighted_mean_of_its_packs(parts):
    catalog = VoiceCatalog(PACKS, {})
    spec = "+".join(name if weight is None else f"{name}({weight:.3f})" for name, weight in parts)
    weights = [1.0 if weight is None else float(f"{weight:.3f}") for _, weight in parts]
    expected = sum(PACKS[name] * w for (name, _), w in zip(parts, weights, strict=True)) / sum(weights)
    np.testing.assert_allclose(catalog.resolve(spec), expected, rtol=1e-5)


@given(spec=st.text(max_size=30))
@settings(max_examples=200, deadline=None)
def test_any_voice_spec_resolves_or_is_a_clear_400(spec):
    catalog = VoiceCatalog(PACKS, {})
    try:
        pack = catalog.resolve(spec)
    except UnknownVoice as error:
        assert error.param == "voice" and "not found" in error.message
    except InvalidRequest as error:
        assert error.param == "voice" and re.search(r"blend|voice name", error.message)
    else:
        assert pack.shape == (4, 1, 2)


def _clip(audio_format: str) -> bytes:
    tone = (0.3 * np.sin(np.arange(8000) / 8000 * 2 * np.pi * 220)).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, tone, 16_000, format=audio_format)
    return buffer.getvalue()


CLIPS = {name: _clip(name) for name in ("WAV", "FLAC", "OGG", "MP3")}


@pytest.mark.parametrize("audio_format", sorted(CLIPS))
@given(data=st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_truncated_or_corrupted_audio_decodes_or_is_a_clear_400(audio_format, data):
    clip = bytearray(CLIPS[audio_format])
    cut = data.draw(st.integers(0, len(clip)), label="cut")
    damage = data.draw(st.lists(st.tuples(st.integers(0, len(clip) - 1), st.integers(0, 255)), max_size=20),
                       label="damage")
    for offset, value in damage:
        clip[offset] = value
    try:
        decoded = decode_upload(bytes(clip[:cut]), max_bytes=1 << 20, max_duration_s=5, param="file")
    except PayloadTooLarge:
        pytest.fail("a clip under the size limit is never too large")
    except InvalidRequest as error:
        assert error.param == "file" and error.message
    else:
        assert decoded.samples.dtype == np.float32 and decoded.samples.size > 0
        assert np.isfinite(decoded.samples).all() and decoded.sample_rate >= 8000


def test_an_mp3_whose_channel_count_changes_midway_decodes_to_mono():
    # Found by the property above on CI's run: two zeroed bytes made later frames stereo, and joining
    # mono and stereo frames raised (a 500) instead of decoding or a 400.
    clip = bytearray(CLIPS["MP3"])
    clip[0] = clip[1263] = 0
    decoded = decode_upload(bytes(clip[:1300]), max_bytes=1 << 20, max_duration_s=5, param="file")
    assert decoded.samples.ndim == 1 and decoded.samples.size > 0 and np.isfinite(decoded.samples).all()
