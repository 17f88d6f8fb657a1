"""The int8 Kokoro model rewritten with float32 convolutions (deployments/kokoro/onnx_graph.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest

from deployments.kokoro import onnx_graph, weights
from tests.helpers.audio import spectral_magnitudes

# "Hello, nice weather today, isn't it?" in the Japanese phonemes Kokoro was trained on.
PHONEMES = "koɲɲiʨiwa, kʲoːwa ii tenki desɯ ne."


@pytest.fixture(scope="module")
def int8_model() -> Path:
    return weights.onnx_model_path()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-graph-cache")


@pytest.fixture(scope="module")
def float_conv_model(int8_model: Path, cache_dir: Path) -> Path:
    return onnx_graph.dequantized_conv_model_path(int8_model, cache_dir)


def synthesize(model: Path, phonemes: str) -> np.ndarray:
    vocabulary = weights.phoneme_vocabulary()
    ids = [vocabulary[symbol] for symbol in phonemes]
    style = np.load(weights.bundled_voice_packs_file())["jf_alpha"][len(ids) - 1].reshape(1, 256)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    session = onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    (audio,) = session.run(
        None,
        {
            "tokens": np.array([[0, *ids, 0]], dtype=np.int64),
            "style": style.astype(np.float32),
            "speed": np.array([1.0], dtype=np.float32),
        },
    )
    return audio.reshape(-1)


def test_no_conv_integer_remains(float_conv_model: Path) -> None:
    op_types = {node.op_type for node in onnx.load(float_conv_model).graph.node}
    assert "ConvInteger" not in op_types
    assert "Conv" in op_types


def test_sounds_like_the_int8_model(int8_model: Path, float_conv_model: Path) -> None:
    expected = synthesize(int8_model, PHONEMES)
    actual = synthesize(float_conv_model, PHONEMES)
    # Same durations; the waveforms themselves drift apart in phase (the int8 model quantizes
    # the activations, the float one does not), so compare the spectrograms' magnitudes.
    assert len(actual) == len(expected)
    correlation = np.corrcoef(spectral_magnitudes(actual).ravel(), spectral_magnitudes(expected).ravel())[0, 1]
    assert correlation > 0.99


def test_reuses_the_cached_model(int8_model: Path, float_conv_model: Path, cache_dir: Path) -> None:
    built_at = float_conv_model.stat().st_mtime_ns
    assert onnx_graph.dequantized_conv_model_path(int8_model, cache_dir) == float_conv_model
    assert float_conv_model.stat().st_mtime_ns == built_at
    assert [path.name for path in cache_dir.iterdir()] == [float_conv_model.name]  # no temporary files left
