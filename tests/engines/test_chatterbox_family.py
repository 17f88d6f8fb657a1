"""Chatterbox Turbo and Multilingual without Ray, each on its random-weight checkpoint (tests/helpers/
chatterbox_checkpoint.py), through the engine code the original uses.

Random weights make noise: these tests check tokens, plumbing, batching and lengths, not words.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from deployments.chatterbox.protocol import CHATTERBOX_MODELS, LANGUAGES, MULTILINGUAL, TURBO, ChatterboxParams
from deployments.chatterbox.text import split_chunks
from ground.errors import InvalidRequest
from tests.helpers.chatterbox_checkpoint import harmonic_clip
from tests.helpers.chatterbox_engines import chatterbox_engine
from tests.helpers.settings import CHATTERBOX_MAX_NEW_TOKENS, S3GEN_STEPS

MAX_NEW_TOKENS = CHATTERBOX_MAX_NEW_TOKENS  # the engines' cap (tests/helpers/chatterbox_engines.py)
TEXT = "Hello there. How are you?"
SAMPLES_PER_TOKEN = 960  # 40 ms of 24 kHz audio per S3 token, two mel frames
# A voice's reference may have a mel frame more or less than twice its tokens, and the audio past it one frame more.
SAMPLES_PER_FRAME = 480
# A short sentence in each language Multilingual speaks (the words do not matter to random weights; the scripts do).
GREETINGS = {
    "ar": "مرحبا بكم", "da": "Hej med dig", "de": "Guten Tag", "el": "Γειά σου κόσμε", "en": "Hello there",
    "es": "Hola amigo", "fi": "Hyvää päivää", "fr": "Bonjour à tous", "he": "שלום עולם", "hi": "नमस्ते दुनिया",
    "it": "Ciao a tutti", "ja": "日本語を話します", "ko": "안녕하세요", "ms": "Selamat pagi", "nl": "Goedendag",
    "no": "Hei på deg", "pl": "Dzień dobry", "pt": "Olá a todos", "ru": "Привет мир", "sv": "Hej på dig",
    "sw": "Habari yako", "tr": "Günaydın", "zh": "你好世界",
}


@pytest.fixture(scope="module")
def turbo(turbo_checkpoint):
    """Loaded once, for this module's tests only (no other module uses Turbo in-process)."""
    yield from chatterbox_engine(turbo_checkpoint, TURBO)


@pytest.fixture(scope="module")
def multilingual(multilingual_checkpoint):
    """Loaded once, for this module's tests only."""
    yield from chatterbox_engine(multilingual_checkpoint, MULTILINGUAL)


def speak(engine, text=TEXT, language=None, **params) -> list[np.ndarray]:
    defaults = CHATTERBOX_MODELS[engine.settings.model].defaults.model_dump()
    return list(engine.generate(text, engine.builtin_voice, ChatterboxParams(**{**defaults, **params}), language))


@pytest.mark.parametrize("name", ["turbo", "multilingual"])
def test_each_model_streams_a_chunk_per_sentence(name, request):
    engine = request.getfixturevalue(name)
    chunks = speak(engine, seed=1, chunk_size=3)
    assert engine.sr == 24_000 and len(chunks) == 2
    extra = 3 if name == "turbo" else 0  # Turbo's three tokens of trailing silence, as the package adds them
    for chunk in chunks:  # of the capped tokens, those S3Gen can speak (random weights also draw T3's own tokens)
        assert chunk.dtype == np.float32 and len(chunk) % SAMPLES_PER_FRAME == 0
        assert extra < len(chunk) / SAMPLES_PER_TOKEN <= MAX_NEW_TOKENS + extra + 1
    assert engine.s3gen_batcher._steps == (2 if name == "turbo" else S3GEN_STEPS)


@pytest.mark.parametrize("name", ["turbo", "multilingual"])
def test_a_seeded_request_sounds_the_same_alone_and_in_a_batch(name, request):
    engine = request.getfixturevalue(name)
    alone = np.concatenate(speak(engine, seed=5))
    passes = len(engine.s3gen_batcher.batch_sizes)
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda seed: np.concatenate(speak(engine, seed=seed)), [5, 6, 5]))
    assert max(engine.s3gen_batcher.batch_sizes[passes:]) > 1  # the three shared S3Gen passes
    for batched in (results[0], results[2]):
        assert len(batched) == len(alone) and np.corrcoef(alone, batched)[0, 1] > 0.999
    assert np.corrcoef(alone, results[1])[0, 1] < 0.99  # another seed is other audio


def test_turbo_ignores_the_fields_it_does_not_use(turbo):
    plain = np.concatenate(speak(turbo, seed=3))
    ignored = np.concatenate(speak(turbo, seed=3, cfg_weight=1.0, exaggeration=2.0, min_p=0.5))
    np.testing.assert_array_equal(plain, ignored)
    assert not np.array_equal(plain, np.concatenate(speak(turbo, seed=3, top_k=1)))  # top_k it does use


def test_turbo_reads_each_tag_as_one_token_and_the_chunker_keeps_tags_whole(turbo):
    model = turbo._ready()
    plain = len(model.text_tokens("Well then.")[0])
    for tag in CHATTERBOX_MODELS[TURBO].tags:
        tokens = model.text_tokens(f"Well {tag} then.")[0].tolist()
        # The tag is one token of its own (and a space more than the plain text).
        assert model._tts.tokenizer.convert_tokens_to_ids(tag) in tokens and len(tokens) == plain + 2, tag
    text = "So I said [clear throat] that we would all go out [laugh] and then nobody came along at all."
    chunks = split_chunks(text, 4)
    assert "[clear throat]" in " ".join(chunks) and "[laugh]" in " ".join(chunks)
    assert all(chunk.count("[") == chunk.count("]") for chunk in chunks)


def test_turbo_needs_a_reference_longer_than_five_seconds(turbo):
    with pytest.raises(InvalidRequest, match="5 s") as refused:
        turbo.prepare_voice(harmonic_clip(3.0, 24_000, f0=150), 24_000)
    assert refused.value.param == "reference_audio"
    voice = turbo.load_voice(turbo.prepare_voice(harmonic_clip(6.0, 24_000, f0=150), 24_000))
    assert len(list(turbo.generate("Hi.", voice, None))) == 1


def test_multilingual_speaks_every_language(multilingual):
    model = multilingual._ready()
    vocab = model._tts.tokenizer.tokenizer.get_vocab()
    for code, text in GREETINGS.items():
        tokens = model.text_tokens(text, code)[0].tolist()
        assert tokens[0] == vocab[f"[{code}]"], code  # the language's token first
        assert len(tokens) > 2, code
    assert set(GREETINGS) == set(LANGUAGES)
    with ThreadPoolExecutor(8) as pool:  # all 23 in a few shared batches
        spoken = dict(zip(GREETINGS, pool.map(lambda item: speak(multilingual, item[1], item[0], seed=1),
                                              GREETINGS.items())))
    for code, chunks in spoken.items():
        samples = sum(map(len, chunks))
        assert samples % SAMPLES_PER_FRAME == 0 and 0 < samples <= (MAX_NEW_TOKENS + 1) * SAMPLES_PER_TOKEN, code


def test_languages_are_checked_against_the_model(multilingual, turbo):
    with pytest.raises(InvalidRequest, match="fr, he") as unknown:
        multilingual.generate("Hallo.", multilingual.builtin_voice, None, "xx")
    assert unknown.value.param == "language"
    with pytest.raises(InvalidRequest, match="English only") as english:
        turbo.generate("Bonjour.", turbo.builtin_voice, None, "fr")
    assert english.value.param == "language"


@pytest.mark.parametrize("name", ["turbo", "multilingual"])
def test_cancelling_a_stream_frees_its_rows(name, request):
    engine = request.getfixturevalue(name)
    chunks = engine.generate("One two. Three four. Five six. Seven eight.",
                             engine.builtin_voice, ChatterboxParams(chunk_size=2))
    next(chunks)
    chunks.cancel()
    deadline = time.monotonic() + 30
    while engine.t3_batcher.live_rows and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine.t3_batcher.live_rows == 0 and engine.t3_batcher.cache_bytes == 0
    assert list(chunks) == []
