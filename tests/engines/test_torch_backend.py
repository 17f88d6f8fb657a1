"""KModel on weights converted from the int8 ONNX export, true batching, and token timing.

(deployments/kokoro/torch_weights.py, padded_forward.py, torch_backend.py)
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("kokoro", reason="the torch backend needs the kokoro package (KModel)")

import onnx
import onnxruntime
import torch

from deployments.kokoro import torch_weights, weights
from deployments.kokoro.protocol import SAMPLE_RATE
from deployments.kokoro.torch_backend import TimedAudio, TorchBackend
from tests.helpers import kokoro_durations
from tests.helpers.audio import spectral_magnitudes

# Japanese and English phonemes of three lengths, each with its own voice and speed.
UTTERANCES = [
    ("koɲɲiʨiwa, kʲoːwa ii tenki desɯ ne.", "jf_alpha", 1.0),
    ("arigatoː.", "jm_kumo", 1.2),
    ("həlˈoʊ wˈɜːld.", "jf_nezumi", 0.9),
]
SEED = 1234
# Graph tensors of the predicted durations: continuous (sigmoid sum / speed), then Clip(Round(.), min=1).
ONNX_CONTINUOUS_DURATIONS = "/encoder/Div_output_0"
ONNX_DURATIONS = "/encoder/Clip_output_0"


def token_ids(phonemes: str) -> list[int]:
    vocabulary = weights.phoneme_vocabulary()
    return [vocabulary[symbol] for symbol in phonemes if symbol in vocabulary]


def style_for(voice: str, ids: list[int]) -> np.ndarray:
    return np.load(weights.bundled_voice_packs_file())[voice][len(ids) - 1].reshape(256).astype(np.float32)


@pytest.fixture(scope="session")
def items() -> list[tuple[list[int], np.ndarray, float]]:
    result = []
    for phonemes, voice, speed in UTTERANCES:
        ids = token_ids(phonemes)
        result.append((ids, style_for(voice, ids), speed))
    return result


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh cache: the session converts the ONNX model once, for real."""
    cache = tmp_path_factory.mktemp("torch-weights")
    torch_weights.converted_weights(cache)
    yield cache
    shutil.rmtree(cache)  # over 400 MB: not worth keeping among pytest's retained temp dirs


@pytest.fixture(scope="session")
def backend(cache_dir: Path) -> TorchBackend:
    # The whole batch in one decoder pass, as on a GPU: the padded, masked decoder is what is tested.
    return TorchBackend(cache_dir=cache_dir, device="cpu", seed=SEED, decoder_batch=64)


@pytest.fixture(scope="session")
def singles(backend: TorchBackend, items) -> list[TimedAudio]:
    """Each utterance synthesized on its own (batch of one: no padding, no masks)."""
    return [backend.synthesize(*item) for item in items]


@pytest.fixture(scope="session")
def onnx_results(cache_dir: Path, items) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(audio, durations, continuous durations) of the int8 ONNX model, durations exposed as extra outputs."""
    model = onnx.load(weights.onnx_model_path(cache_dir))
    for name in (ONNX_DURATIONS, ONNX_CONTINUOUS_DURATIONS):
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # leave the cores to torch
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    results = []
    for ids, style, speed in items:
        audio, durations, continuous = session.run(None, {
            "tokens": np.array([[0, *ids, 0]], dtype=np.int64),
            "style": style.reshape(1, 256),
            "speed": np.array([speed], dtype=np.float32),
        })
        results.append((audio.reshape(-1), durations.reshape(-1).astype(np.int64), continuous.reshape(-1)))
    return results


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_conversion_fills_every_parameter_and_is_reused(cache_dir: Path) -> None:
    manifest = json.loads((cache_dir / torch_weights.MANIFEST_FILENAME).read_text())
    checkpoint = torch.load(cache_dir / torch_weights.CONVERTED_FILENAME, weights_only=True)
    assert set(checkpoint) == set(torch_weights.COMPONENTS)
    assert sum(len(part) for part in checkpoint.values()) == manifest["tensors"] == 688
    assert all(torch.isfinite(t).all() for part in checkpoint.values() for t in part.values())
    # int8 rounding zeroed whole output channels in some weight-normalised convs: guarded, not NaN.
    assert manifest["weight_norm_convs_with_zeroed_channels"] > 0
    config = json.loads((cache_dir / torch_weights.CONFIG_FILENAME).read_text())
    assert config["n_token"] == 178 and config["vocab"] == weights.phoneme_vocabulary()

    built_at = (cache_dir / torch_weights.CONVERTED_FILENAME).stat().st_mtime_ns
    _, path, again = torch_weights.converted_weights(cache_dir)
    assert path.stat().st_mtime_ns == built_at and again["sha256"] == manifest["sha256"]
    assert not [p.name for p in cache_dir.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_weight_norm_split_survives_zeroed_channels() -> None:
    weight = np.random.default_rng(0).normal(size=(4, 3, 5)).astype(np.float32)
    weight[2] = 0
    g, v, zeroed = torch_weights._split_weight_norm(weight)
    rebuilt = torch._weight_norm(torch.from_numpy(v), torch.from_numpy(g), 0).numpy()
    assert zeroed == 1
    np.testing.assert_allclose(rebuilt, weight, atol=1e-6)


def test_official_weights_are_preferred_when_present(cache_dir: Path, tmp_path: Path) -> None:
    assert torch_weights.kmodel_files(tmp_path, cache_dir) == (
        cache_dir / torch_weights.CONFIG_FILENAME, cache_dir / torch_weights.CONVERTED_FILENAME
    )
    (tmp_path / torch_weights.CONFIG_FILENAME).symlink_to(cache_dir / torch_weights.CONFIG_FILENAME)
    (tmp_path / torch_weights.OFFICIAL_FILENAME).symlink_to(cache_dir / torch_weights.CONVERTED_FILENAME)
    assert torch_weights.kmodel_files(tmp_path, cache_dir) == (
        tmp_path / torch_weights.CONFIG_FILENAME, tmp_path / torch_weights.OFFICIAL_FILENAME
    )


def test_matches_the_onnx_model(singles: list[TimedAudio], onnx_results) -> None:
    onnx_audio, onnx_durations, _ = onnx_results[0]
    result = singles[0]
    np.testing.assert_array_equal(result.durations, onnx_durations)
    assert len(onnx_audio) == len(result.audio) == 600 * int(result.durations.sum())
    # The sine source's phases are random, so compare spectra, not waveforms.
    expected, actual = spectral_magnitudes(onnx_audio), spectral_magnitudes(result.audio)
    assert correlation(actual, expected) > 0.95
    assert correlation(np.log(actual + 1e-4), np.log(expected + 1e-4)) > 0.9


def test_durations_track_the_onnx_model(backend: TorchBackend, singles: list[TimedAudio], onnx_results,
                                       items) -> None:
    """float32 against int8 (whose activations are quantized too): a token whose continuous
    duration lies near a rounding boundary can round the other way, by one unit."""
    for (ids, style, speed), single, (_, onnx_durations, onnx_continuous) in zip(items, singles, onnx_results):
        continuous = kokoro_durations.continuous(backend.model, [0, *ids, 0], style, speed)
        assert np.max(np.abs(continuous.numpy() - onnx_continuous)) < 0.5
        differing = single.durations != onnx_durations
        assert np.all(np.abs(single.durations - onnx_durations) <= 1) and differing.mean() <= 0.1


@pytest.mark.parametrize("decoder_batch", [64, 2])
def test_batch_equals_single_synthesis(backend: TorchBackend, singles: list[TimedAudio], items,
                                       decoder_batch: int) -> None:
    """All items through one decoder pass, or two at a time (shortest first); each lands in its own place."""
    backend.decoder_batch = decoder_batch
    try:
        batch = backend.synthesize_batch(items)
    finally:
        backend.decoder_batch = 64
    assert len({len(result.audio) for result in batch}) == len(items)  # really mixed lengths
    for together, single in zip(batch, singles):
        assert together.audio.dtype == np.float32
        np.testing.assert_array_equal(together.durations, single.durations)
        assert len(together.audio) == len(single.audio)
        assert correlation(together.audio, single.audio) > 0.999
        assert np.max(np.abs(together.audio - single.audio)) < 0.05


def test_batched_path_equals_kmodel_forward(backend: TorchBackend, singles: list[TimedAudio], items) -> None:
    """The masked batched forward for one item is KModel.forward_with_tokens itself, up to rounding."""
    ids, style, speed = items[1]
    torch.manual_seed(SEED)
    reference, durations = backend.model.forward_with_tokens(
        torch.tensor([[0, *ids, 0]]), torch.from_numpy(style).reshape(1, 256), speed
    )
    result = singles[1]
    np.testing.assert_array_equal(result.durations, durations.numpy())
    assert correlation(result.audio, reference.numpy()) > 0.999


def test_infer_is_the_synthesized_audio(backend: TorchBackend, singles: list[TimedAudio], items) -> None:
    audio = backend.infer(*items[1])  # seeded: the same samples again
    assert audio.dtype == np.float32
    np.testing.assert_array_equal(audio, singles[1].audio)
    assert backend.synthesize_batch([]) == []


def test_token_timing(backend: TorchBackend, singles: list[TimedAudio], items) -> None:
    ids, style, speed = items[0]
    result = singles[0]
    assert backend.samples_per_unit == 600  # 2 (decoder) x 10 x 6 (generator) x 5 (iSTFT hop)
    assert len(result.audio) == result.samples_per_unit * int(result.durations.sum())
    spans = result.token_spans()
    assert spans.shape == (len(ids), 2)
    assert np.all(np.diff(spans[:, 0]) > 0) and np.allclose(spans[1:, 0], spans[:-1, 1])
    assert spans[-1, 1] < len(result.audio) / SAMPLE_RATE  # the trailing boundary token comes after
    predicted = kokoro_durations.rounded(backend.model, [0, *ids, 0], style, speed)
    np.testing.assert_array_equal(predicted.numpy(), result.durations)  # the model's own, without audio


def test_half_precision_decoder(cache_dir: Path, singles: list[TimedAudio], items) -> None:
    half = TorchBackend(cache_dir=cache_dir, device="cpu", half=True, seed=SEED)
    assert half.decoder_batch == 1  # the CPU default: one item per decoder pass
    result = half.synthesize(*items[1])
    np.testing.assert_array_equal(result.durations, singles[1].durations)  # the text side stays float32
    assert result.audio.dtype == np.float32 and len(result.audio) == len(singles[1].audio)
    assert correlation(result.audio, singles[1].audio) > 0.999
