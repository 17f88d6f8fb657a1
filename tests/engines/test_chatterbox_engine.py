"""The Chatterbox engine without Ray, on a random-weight checkpoint (tests/helpers/chatterbox_checkpoint.py).

Random weights make noise, not speech: these tests check plumbing (voices, chunks, seeds,
guidance, watermark, isolation between requests), not how the audio sounds.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from deployments.chatterbox.engine import ChatterboxEngine
from deployments.chatterbox.limits import ChatterboxLimits
from deployments.chatterbox.protocol import ChatterboxParams
from deployments.chatterbox.settings import ChatterboxSettings
from deployments.chatterbox.text import split_chunks
from ground.errors import EngineUnavailable, InvalidRequest
from ground.voice_cache import VoiceCache
from tests.helpers.chatterbox_checkpoint import BUILTIN_VOICE_SR, builtin_voice_clip, harmonic_clip
from tests.helpers.settings import CHATTERBOX_MAX_NEW_TOKENS

# Short references and few speech tokens keep S3Gen, the slow part on a CPU, to about 2 s a chunk.
REFERENCE_SEC = 1.5
MAX_NEW_TOKENS = CHATTERBOX_MAX_NEW_TOKENS  # the session engine's cap
TEXT = "Hello there."


@pytest.fixture(scope="module")
def engine(chatterbox_engine) -> ChatterboxEngine:
    """The engine tier's engine (tests/engines/conftest.py), loaded once: every test here puts back what it changes."""
    return chatterbox_engine


@pytest.fixture(scope="module")
def voice_a(engine):
    return engine.load_voice(engine.prepare_voice(harmonic_clip(REFERENCE_SEC, 24_000, f0=110, seed=1), 24_000))


@pytest.fixture(scope="module")
def voice_b(engine):
    return engine.load_voice(engine.prepare_voice(harmonic_clip(REFERENCE_SEC, 16_000, f0=220, seed=2), 16_000))


def speak(engine, voice, **params) -> np.ndarray:
    return np.concatenate(list(engine.generate(TEXT, voice, ChatterboxParams(**params))))


@pytest.fixture(scope="module")
def speech_a(engine, voice_a) -> np.ndarray:
    return speak(engine, voice_a, seed=1)


def test_without_a_checkpoint_the_engine_is_unavailable_with_its_reason(tmp_path):
    engine = ChatterboxEngine(ChatterboxSettings())
    assert not engine.available and engine.device is None
    assert "checkpoint" in engine.reason
    calls = [
        lambda: engine.prepare_voice(np.zeros(24_000, np.float32), 24_000),
        lambda: engine.load_voice(b""),
        lambda: engine.voice("v1", lambda: b""),
        lambda: engine.generate(TEXT, None),
        lambda: engine.sr,
    ]
    for call in calls:
        with pytest.raises(EngineUnavailable, match="checkpoint"):
            call()

    incomplete = ChatterboxEngine(ChatterboxSettings(checkpoint_dir=tmp_path))
    assert not incomplete.available
    assert "t3_cfg.safetensors" in incomplete.reason and "tokenizer.json" in incomplete.reason


def test_prepared_voice_loads_back(engine, voice_a):
    assert engine.available and engine.device == "cpu"
    data = engine.prepare_voice(harmonic_clip(REFERENCE_SEC, 24_000, f0=110, seed=1), 24_000)
    assert isinstance(data, bytes)
    voice = engine.load_voice(data)
    assert voice.t3.speaker_emb.shape == (1, 256)
    assert set(voice.gen) >= {"prompt_token", "prompt_feat", "embedding"}
    assert voice.t3.speaker_emb.equal(voice_a.t3.speaker_emb)


def test_the_checkpoint_voice_is_the_builtin_voice(engine):
    same_clip = engine.load_voice(engine.prepare_voice(builtin_voice_clip(), BUILTIN_VOICE_SR))
    assert engine.builtin_voice.t3.speaker_emb.equal(same_clip.t3.speaker_emb)
    assert engine.builtin_voice.gen["prompt_token"].equal(same_clip.gen["prompt_token"])


def test_reference_is_cut_to_the_maximum_duration(engine):
    clip = harmonic_clip(2 * REFERENCE_SEC, 24_000, f0=150)
    cut = engine.prepare_voice(clip, 24_000, max_reference_duration_sec=REFERENCE_SEC)
    assert engine.load_voice(cut).t3.speaker_emb.equal(
        engine.load_voice(engine.prepare_voice(clip[:int(REFERENCE_SEC * 24_000)], 24_000)).t3.speaker_emb
    )


def test_bad_references_and_voice_data_are_rejected(engine):
    with pytest.raises(InvalidRequest, match="mono"):
        engine.prepare_voice(np.zeros((2, 24_000), np.float32), 24_000)
    with pytest.raises(InvalidRequest, match="at least"):
        engine.prepare_voice(np.zeros(1_000, np.float32), 24_000)
    with pytest.raises(InvalidRequest, match="voice data"):
        engine.load_voice(b"not a voice")


def test_generate_streams_one_float32_chunk_per_text_chunk(engine, voice_a):
    text = "One two three four. Five six seven eight. Nine ten eleven."
    chunks = list(engine.generate(text, voice_a, ChatterboxParams(chunk_size=8, no_watermark=True)))
    assert split_chunks(text, 8) == ["One two three four. Five six seven eight.", "Nine ten eleven."]
    assert len(chunks) == 2
    assert engine.sr == 24_000
    for chunk in chunks:
        assert chunk.dtype == np.float32 and chunk.ndim == 1 and len(chunk) > 0
        assert np.isfinite(chunk).all()


def test_seed_and_voice_decide_the_audio_and_no_voice_leaks(engine, voice_a, voice_b, speech_a):
    speech_b = speak(engine, voice_b, seed=1)
    again_a = speak(engine, voice_a, seed=1)  # after B: nothing of B may stay behind
    assert np.array_equal(again_a, speech_a)
    assert not np.array_equal(speech_b[:len(speech_a)], speech_a[:len(speech_b)])
    other_seed = speak(engine, voice_a, seed=2)
    assert not np.array_equal(other_seed[:len(speech_a)], speech_a[:len(other_seed)])


def test_cfg_weight_zero_works(engine, voice_a):
    audio = speak(engine, voice_a, seed=1, cfg_weight=0.0)
    assert len(audio) > 0 and np.isfinite(audio).all()


def test_no_watermark_skips_the_watermark(engine, voice_a, speech_a):
    plain = speak(engine, voice_a, seed=1, no_watermark=True)
    # Same seed, so the same speech underneath: only the watermark differs.
    assert plain.shape == speech_a.shape
    assert not np.array_equal(plain, speech_a)


def test_voices_come_from_the_cache_until_evicted(engine, voice_a):
    loads = []

    def load():
        loads.append(1)
        return engine.prepare_voice(harmonic_clip(REFERENCE_SEC, 24_000, f0=110, seed=1), 24_000)

    first = engine.voice("a:v1", load)
    assert engine.voice("a:v1", load) is first and len(loads) == 1


def test_voice_cache_drops_the_least_recently_used_beyond_its_bound():
    cache = VoiceCache(max_bytes=10, size_of=len)
    cache.put("a", b"xxxx")
    cache.put("b", b"xxxx")
    assert cache.get("a") == b"xxxx"  # b is now the least recently used
    cache.put("c", b"xxxx")
    assert "b" not in cache and "a" in cache and "c" in cache and len(cache) == 2
    cache.put("big", b"x" * 11)  # larger than the whole bound: not kept
    assert "big" not in cache and len(cache) == 2
    assert cache.get_or_load("d", lambda: b"xx") == b"xx"
    assert all(key in cache for key in "acd")  # 10 bytes: the bound, the refused value took no room


@pytest.mark.parametrize("bad", [
    {"exaggeration": 2.5}, {"cfg_weight": -0.1}, {"cfg_weight": 1.5}, {"temperature": 0}, {"min_p": 1.2},
    {"top_p": 1.1}, {"repetition_penalty": 0.5}, {"seed": -1}, {"chunk_size": 0}, {"voice": "x"},
])
def test_invalid_params_are_rejected(bad):
    with pytest.raises(ValidationError):
        ChatterboxParams(**bad)


def test_text_with_nothing_to_say_is_rejected(engine, voice_a):
    with pytest.raises(InvalidRequest, match="nothing to say"):
        engine.generate("   ", voice_a)


def test_long_sentences_are_cut_at_words_into_even_chunks():
    text = "A b. One two three four five six seven eight nine ten eleven. Twelve."
    assert split_chunks(text, 5) == ["A b.", "One two three four", "five six seven", "eight nine ten eleven.", "Twelve."]


def test_the_first_chunk_is_held_short_so_audio_starts_soon():
    text = "Hi. Good to see you again after all this time. How was the trip?"
    assert split_chunks(text, 50, first_chunk_size=4) == ["Hi.", "Good to see you again after all this time. How was the trip?"]
    long_first = "One two three four five six seven eight. Nine ten."
    assert split_chunks(long_first, 50, first_chunk_size=3) == ["One two three", "four five six seven eight. Nine ten."]
    assert split_chunks(long_first, 50) == [long_first]


def test_health_says_how_the_engine_batches_in_its_own_terms(engine):
    """T3 rows per decode step, S3Gen items and frames per pass: the limits in force, changed by configure."""
    defaults = ChatterboxLimits(max_new_tokens=MAX_NEW_TOKENS)
    assert engine.health_batching() == {"t3_rows_per_step": defaults.max_batch_rows,
                                 "s3gen_items_per_pass": defaults.s3gen_max_batch,
                                 "s3gen_frames_per_pass": defaults.s3gen_max_batch_frames}
    engine.configure(ChatterboxLimits(max_batch_rows=6, s3gen_max_batch=3, s3gen_max_batch_frames=900,
                                      max_new_tokens=MAX_NEW_TOKENS))
    try:
        assert engine.health_batching() == {"t3_rows_per_step": 6, "s3gen_items_per_pass": 3, "s3gen_frames_per_pass": 900}
    finally:
        engine.configure(defaults)
