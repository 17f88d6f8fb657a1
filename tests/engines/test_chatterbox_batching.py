"""Batched Chatterbox without Ray: T3's continuous batching and S3Gen's batched passes give every item
exactly what it gets alone.

T3 is the package's, shrunk to two layers and randomly initialised (the width and vocabularies are
the released model's), with either backbone: the original's Llama and Turbo's GPT-2. S3Gen is full
size at random init, in its ten-step and its meanflow (Turbo's two-step) form. Random T3 weights never emit the stop
token, so streams end at their caps.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from deployments.chatterbox.checkpoint import t3_with_layers
from deployments.chatterbox.limits import T3Limits
from deployments.chatterbox.protocol import ORIGINAL, TURBO
from deployments.chatterbox.t3_batcher import T3Batcher, T3Stream
from deployments.chatterbox.t3_decoder import decoder_for
from deployments.chatterbox.t3_sampling import Sampling
from deployments.s3gen.batcher import S3GenBatcher, S3GenItem, render
from deployments.s3gen.limits import S3GenLimits
from ground.errors import InvalidRequest
from tests.helpers.chatterbox_checkpoint import harmonic_clip
from tests.helpers.settings import S3GEN_STEPS

DIM = 1024


@pytest.fixture(scope="module")
def t3():
    torch.manual_seed(0)
    return t3_with_layers(ORIGINAL, 2).eval()


@pytest.fixture(scope="module")
def turbo_t3():
    torch.manual_seed(0)
    return t3_with_layers(TURBO, 2).eval()


@pytest.fixture
def batcher(t3):
    batcher = T3Batcher(t3, T3Limits(max_new_tokens=24))
    yield batcher
    batcher.close()


def stream(prompt_tokens: int, guided: bool, seed: int | None, cap: int | None = None, **sampling) -> T3Stream:
    """A stream with a random prompt of its own (the same for the same length and guidance)."""
    generator = torch.Generator().manual_seed(prompt_tokens * 2 + guided)
    prompt = torch.randn(2 if guided else 1, prompt_tokens, DIM, generator=generator)
    return T3Stream(prompt, Sampling(cfg_weight=sampling.pop("cfg_weight", 0.5 if guided else 0.0), **sampling),
                    seed, cap)


MIXED = [
    {"prompt_tokens": 20, "guided": True, "seed": 1},
    {"prompt_tokens": 33, "guided": False, "seed": 2, "temperature": 1.3},
    {"prompt_tokens": 50, "guided": True, "seed": 3, "cfg_weight": 1.0, "top_p": 0.8, "min_p": 0.0},
    {"prompt_tokens": 12, "guided": False, "seed": 4, "repetition_penalty": 1.8, "cap": 9},
    {"prompt_tokens": 27, "guided": True, "seed": 5, "temperature": 0.5, "cap": 17},
]


@pytest.mark.parametrize("backbone", ["t3", "turbo_t3"])
def test_the_decoder_computes_what_the_backbone_computes(backbone, request):
    t3 = request.getfixturevalue(backbone)
    decoder = decoder_for(t3)
    prompt = torch.randn(2, 37, DIM)
    token, index = torch.tensor([5, 9]), torch.tensor([3, 3])
    with torch.inference_mode():
        following = t3.speech_emb(token) + (0 if t3.is_gpt else t3.speech_pos_emb.emb(index))
        whole = t3.tfmr(inputs_embeds=torch.cat([prompt, following[:, None]], 1), use_cache=False).last_hidden_state
        logits, keys, values = decoder.prefill(prompt)
        cache = decoder.new_cache()
        cache.add(keys, values)
        stepped = decoder.decode(cache, token, index, torch.full((2, 1), 37))
        prefix = t3.tfmr(inputs_embeds=prompt, use_cache=False).last_hidden_state
        assert torch.allclose(logits, t3.speech_head(prefix[:, -1]), atol=1e-5)
        assert torch.allclose(stepped, t3.speech_head(whole[:, -1]), atol=1e-4)
    assert cache.lengths == [38, 38]


TURBO_MIXED = [  # Turbo's sampling: no guidance, top-k and top-p, the penalty after them
    {"prompt_tokens": 20, "guided": False, "seed": 1, "top_k": 1000, "top_p": 0.95, "penalty_last": True},
    {"prompt_tokens": 33, "guided": False, "seed": 2, "top_k": 50, "temperature": 1.3, "penalty_last": True},
    {"prompt_tokens": 12, "guided": False, "seed": 3, "top_k": 1000, "repetition_penalty": 1.8, "cap": 9,
     "penalty_last": True, "min_p": 0.0},
]


def test_turbo_streams_batched_get_their_solo_tokens(turbo_t3):
    batcher = T3Batcher(turbo_t3, T3Limits(max_new_tokens=24))
    try:
        alone = [batcher.submit(stream(**spec)).result(timeout=60) for spec in TURBO_MIXED]
        together = [f.result(timeout=60) for f in [batcher.submit(stream(**spec)) for spec in TURBO_MIXED]]
        assert batcher.peak_rows == len(TURBO_MIXED)  # one row each: Turbo has no guidance
        for spec, solo, batched in zip(TURBO_MIXED, alone, together, strict=True):
            assert len(solo) == spec.get("cap", 24) and torch.equal(solo, batched), spec
    finally:
        batcher.close()


def test_top_k_keeps_only_the_k_likeliest_tokens():
    from deployments.chatterbox.t3_sampling import StreamDraws, next_tokens

    logits = torch.linspace(0, 10, 100)[None].repeat(2, 1)
    draws = [StreamDraws(100, 0, seed, "cpu") for seed in (1, 2)]
    picked = {int(token) for _ in range(200) for token in next_tokens(
        logits, logits, [Sampling(cfg_weight=0, temperature=5.0, min_p=0, top_k=3, penalty_last=True)] * 2, draws)}
    assert picked <= {97, 98, 99} and len(picked) > 1


def test_a_mixed_batch_gives_every_stream_its_solo_tokens(batcher):
    alone = [batcher.submit(stream(**spec)).result(timeout=60) for spec in MIXED]
    assert batcher.peak_rows == 2  # one stream at a time so far
    together = [future.result(timeout=60) for future in [batcher.submit(stream(**spec)) for spec in MIXED]]
    assert batcher.peak_rows > 2
    for spec, solo, batched in zip(MIXED, alone, together, strict=True):
        assert len(solo) == spec.get("cap", 24)
        assert torch.equal(solo, batched), spec
    assert not torch.equal(alone[0], alone[2])


def test_seeds_decide_the_tokens_and_unseeded_streams_differ(batcher):
    same = [batcher.submit(stream(20, True, seed=7)) for _ in range(2)]
    other = batcher.submit(stream(20, True, seed=8))
    unseeded = [batcher.submit(stream(20, True, seed=None)) for _ in range(2)]
    first, second = (f.result(timeout=60) for f in same)
    assert torch.equal(first, second) and not torch.equal(first, other.result(timeout=60))
    assert not torch.equal(*(f.result(timeout=60) for f in unseeded))


def test_a_stream_joins_a_running_batch_and_one_leaves_early(batcher):
    long_spec = {"prompt_tokens": 40, "guided": True, "seed": 11}
    short_spec = {"prompt_tokens": 15, "guided": False, "seed": 12, "cap": 4}
    long_alone = batcher.submit(stream(**long_spec)).result(timeout=60)
    short_alone = batcher.submit(stream(**short_spec)).result(timeout=60)
    steps_before = batcher.steps
    long_future = batcher.submit(stream(**long_spec))
    while batcher.steps < steps_before + 5:  # the long stream is well under way
        time.sleep(0.005)
    short = batcher.submit(stream(**short_spec)).result(timeout=60)
    assert not long_future.done()  # the short one joined late and left first
    assert torch.equal(short, short_alone)
    assert torch.equal(long_future.result(timeout=60), long_alone)


def test_cancelling_frees_the_rows_at_the_next_step(t3):
    batcher = T3Batcher(t3, T3Limits(max_new_tokens=4000))
    try:
        endless = batcher.submit(stream(30, True, seed=1))
        while batcher.live_rows < 2:
            time.sleep(0.005)
        endless.cancel()
        deadline = time.monotonic() + 10
        while batcher.live_rows:
            assert time.monotonic() < deadline, "the cancelled stream kept its rows"
            time.sleep(0.005)
        # The batcher goes on serving.
        assert len(batcher.submit(stream(10, False, seed=2, cap=3)).result(timeout=60)) == 3
    finally:
        batcher.close()


def test_a_full_kv_cache_makes_streams_wait_instead_of_failing(t3):
    # Room for two guided streams of 40 prompt tokens plus 24 new ones: 4 rows of 128 columns (the
    # cache grows in granules of 4 rows and 128 columns).
    batcher = T3Batcher(t3, T3Limits(max_new_tokens=24, kv_cache_tokens=4 * 128))
    try:
        futures = [batcher.submit(stream(40, True, seed=seed)) for seed in range(3)]
        deadline = time.monotonic() + 30
        while batcher.live_rows < 4:
            assert time.monotonic() < deadline, "the first two streams never ran together"
            time.sleep(0.001)
        assert batcher.waiting == 1  # the third waits while the first two decode
        results = [f.result(timeout=60) for f in futures]
        assert all(len(r) == 24 for r in results) and batcher.peak_rows == 4
        too_big = batcher.submit(stream(600, True, seed=1))
        with pytest.raises(InvalidRequest, match="KV cache budget"):
            too_big.result(timeout=60)
    finally:
        batcher.close()


def test_new_limits_apply_to_the_next_admissions(batcher):
    batcher.configure(T3Limits(max_batch_rows=2, max_new_tokens=6))
    futures = [batcher.submit(stream(20, True, seed=seed)) for seed in range(3)]
    assert [len(f.result(timeout=60)) for f in futures] == [6, 6, 6]
    assert batcher.peak_rows == 2 and batcher.limits.max_batch_rows == 2


# -- S3Gen ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3gen():
    from chatterbox.models.s3gen import S3Gen

    torch.manual_seed(0)
    return S3Gen().eval()


@pytest.fixture(scope="module")
def meanflow_s3gen():
    from chatterbox.models.s3gen import S3Gen

    torch.manual_seed(0)
    return S3Gen(meanflow=True).eval()


@pytest.fixture(scope="module")
def references(s3gen) -> list[dict]:
    with torch.inference_mode():
        return [s3gen.embed_ref(harmonic_clip(1.0, 24_000, f0=f0, seed=i), 24_000) for i, f0 in enumerate((110, 220))]


@pytest.mark.parametrize("model", ["s3gen", "meanflow_s3gen"])
def test_s3gen_renders_each_item_of_a_batch_as_it_renders_it_alone(model, references, request):
    s3gen = request.getfixturevalue(model)
    generator = torch.Generator().manual_seed(5)
    lengths = (6, 15) if s3gen.meanflow else (6, 15, 25)  # the meanflow decoder shares the rest of the code
    jobs = [S3GenItem(torch.randint(0, 6561, (length,), generator=generator), references[i % 2], seed=i)
            for i, length in enumerate(lengths)]
    steps = 2 if s3gen.meanflow else S3GEN_STEPS
    alone = [render(s3gen, [job], steps)[0] for job in jobs]
    together = render(s3gen, jobs, steps)
    for job, solo, batched in zip(jobs, alone, together, strict=True):
        assert len(solo) == len(batched) == len(job.tokens) * 960  # 40 ms of 24 kHz audio a token
        assert np.corrcoef(solo, batched)[0, 1] > 0.999
        # Encoder, decoder and vocoder all batched: on a CPU the same samples but for rounding.
        np.testing.assert_allclose(batched, solo, atol=1e-5)
    reseeded = render(s3gen, [S3GenItem(jobs[0].tokens, jobs[0].reference, seed=99)], steps)[0]
    assert np.corrcoef(alone[0], reseeded)[0, 1] < 0.99  # the seed is the item's own noise


def test_the_s3gen_batcher_groups_what_arrives_together(s3gen, references):
    batcher = S3GenBatcher(s3gen, S3GenLimits(s3gen_max_batch=8), steps=S3GEN_STEPS)
    try:
        tokens = torch.arange(100, 110)
        futures = [batcher.submit(S3GenItem(tokens, references[0], seed=seed)) for seed in range(3)]
        outputs = [f.result(timeout=120) for f in futures]
        assert sum(batcher.batch_sizes) == 3 and max(batcher.batch_sizes) >= 2
        assert all(len(out) == 9600 for out in outputs)
    finally:
        batcher.close()


def test_the_s3gen_batcher_fills_a_pass_up_to_its_frame_budget(s3gen, references):
    tokens = torch.arange(100, 110)
    job = S3GenItem(tokens, references[0], seed=0)
    batcher = S3GenBatcher(s3gen, S3GenLimits(s3gen_max_batch=8, s3gen_max_batch_frames=2 * job.frames),
                           steps=S3GEN_STEPS)
    try:
        futures = batcher.submit_all([S3GenItem(tokens, references[0], seed=seed) for seed in range(3)])
        assert all(len(f.result(timeout=120)) == 9600 for f in futures)
        assert batcher.batch_sizes == [2, 1]  # two jobs fill the budget; the third waits for the next pass
        batcher.limits = S3GenLimits(s3gen_max_batch=8, s3gen_max_batch_frames=1)
        futures = batcher.submit_all([S3GenItem(tokens, references[0], seed=seed) for seed in range(2)])
        assert all(len(f.result(timeout=120)) == 9600 for f in futures)
        assert batcher.batch_sizes[2:] == [1, 1]  # a job over the budget still renders, alone
    finally:
        batcher.close()
