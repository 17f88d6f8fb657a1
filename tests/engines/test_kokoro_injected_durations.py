"""The Kokoro GPU benchmark's injected durations (bench/gpu/kokoro.py, kokoro_inputs.py), on real weights:
the durations carried from the int8 export are the real model's (the torch conversion's continuous
prediction rounds to them, but for a token that sits on a rounding edge between int8 and float arithmetic),
a model with durations injected renders exactly those frames, and injecting a model's own prediction
gives the audio of the model left alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.gpu import kokoro as gpu_kokoro
from bench.gpu.kokoro_inputs import benchmark_items, duration_session, onnx_durations
from deployments.kokoro import padded_forward, torch_weights, weights
from tests.helpers import kokoro_durations

SAMPLES_PER_UNIT = 600


@pytest.fixture(scope="module")
def items() -> list[gpu_kokoro.Item]:
    # The two shortest sentences keep the real-weight renders quick.
    return [gpu_kokoro.Item.load(entry) for entry in sorted(benchmark_items(), key=lambda e: len(e["token_ids"]))[:2]]


@pytest.fixture(scope="module")
def real_model(tmp_path_factory):
    return torch_weights.load_kmodel(cache_dir=tmp_path_factory.mktemp("kokoro-cache"))


def inputs(items):
    return ([[0, *item.token_ids, 0] for item in items], torch.from_numpy(np.stack([item.style for item in items])),
            [item.speed for item in items])


def test_carried_durations_are_the_real_models(items, real_model):
    continuous = [kokoro_durations.continuous(real_model, [0, *item.token_ids, 0], item.style, item.speed)
                  for item in items]
    carried = [torch.tensor(item.durations, dtype=torch.float32) for item in items]
    for prediction, durations in zip(continuous, carried, strict=True):
        # The int8 export and the float conversion may round a token sitting on x.5 apart, never more.
        assert float((prediction.clamp(min=1) - durations).abs().max()) < 0.6
        assert float((torch.round(prediction).clamp(min=1) == durations).float().mean()) >= 0.9


def test_injected_durations_render_exactly_the_carried_frames(items, real_model):
    ids, styles, speeds = inputs(items)
    plain = padded_forward.forward_batch(real_model, ids, styles, speeds, seeds=[0, 0])
    original_head = real_model.predictor.duration_proj
    try:
        head = gpu_kokoro.inject(real_model)
        head.set([alone.durations.tolist() for alone in plain], speeds)  # the model's own prediction
        same = padded_forward.forward_batch(real_model, ids, styles, speeds, seeds=[0, 0])
        head.set([item.durations for item in items], speeds)
        carried = padded_forward.forward_batch(real_model, ids, styles, speeds, seeds=[0, 0])
    finally:
        real_model.predictor.duration_proj = original_head
    for alone, forced in zip(plain, same, strict=True):
        assert forced.durations.tolist() == alone.durations.tolist()
        torch.testing.assert_close(forced.audio, alone.audio, rtol=0, atol=1e-4)
    for item, forced in zip(items, carried, strict=True):
        assert forced.durations.tolist() == item.durations
        assert len(forced.audio) == sum(item.durations) * SAMPLES_PER_UNIT


def test_injection_overrides_a_random_model(items):
    backend = gpu_kokoro.random_backend(torch_weights.kmodel_config(), "cpu", half=False)
    own = [kokoro_durations.rounded(backend.model, [0, *item.token_ids, 0], item.style, item.speed).tolist()
           for item in items]
    assert own != [item.durations for item in items]
    renderer = gpu_kokoro.Renderer(backend, items)
    assert renderer.render(items) == pytest.approx(gpu_kokoro.audio_seconds(items, SAMPLES_PER_UNIT))


def test_speeds_other_than_one_round_back(items):
    session = duration_session(weights.onnx_model_path())
    item = items[0]
    slow = gpu_kokoro.Item(item.token_ids, item.style, 0.8, onnx_durations(session, item.token_ids, item.style, 0.8))
    head = gpu_kokoro.InjectedDurations(50)
    head.set([slow.durations], [slow.speed])
    x = torch.zeros(1, len(slow.durations), 640)
    sums = torch.sigmoid(head(x)).sum(-1) / slow.speed
    assert torch.round(sums).clamp(min=1).long()[0].tolist() == slow.durations
