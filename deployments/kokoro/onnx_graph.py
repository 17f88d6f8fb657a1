"""Rewrite the int8 Kokoro graph so that its convolutions run as float32 Conv.

onnxruntime's dynamic quantizer turned every Conv of the model into

    x_q, x_scale, x_zp = DynamicQuantizeLinear(x)
    y = Mul(Cast(Add(ConvInteger(x_q, W_q, x_zp, W_zp), bias_q)), x_scale * W_scale)
    where bias_q = Reshape(Cast(Floor(Div(bias, x_scale * W_scale))))   (no Add without a bias)

ConvInteger takes about two thirds of the CPU run time. A float Conv on the dequantized weight
is faster, and faster still as a 2-D Conv of height 1: onnxruntime runs 2-D float convolutions
with its blocked-layout (NCHWc) kernels but 1-D ones through im2col and a GEMM. The float path
also skips quantizing the activations, so it stays closer to the original float model.

MatMulInteger is left alone: onnxruntime fuses it into DynamicQuantizeMatMul, which costs well
under 1% of the run time.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ground.atomic_files import atomic_path

# Bump when the rewrite changes, so that models built by an older rewrite are not reused.
REWRITE_VERSION = 1
# Unsqueeze/Squeeze axes that turn a 1-D convolution's (N, C, L) into (N, C, 1, L) and back.
_HEIGHT_AXIS = "onnx_graph_height_axis"


def dequantized_conv_model_path(int8_path: Path, cache_dir: Path) -> Path:
    """Return the int8 model with float32 convolutions, building it in `cache_dir` if needed."""
    int8_path, cache_dir = Path(int8_path), Path(cache_dir)
    with int8_path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    target = cache_dir / f"{int8_path.stem}.float-conv-v{REWRITE_VERSION}-{digest[:16]}.onnx"
    if target.exists():
        return target
    model = onnx.load(int8_path)
    rewrite_quantized_convs(model)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Checked before it takes the target's name: a crash or a concurrent replica never sees a bad model.
    with atomic_path(target) as tmp:
        onnx.save(model, tmp)
        onnx.checker.check_model(tmp)
    return target


def rewrite_quantized_convs(model: onnx.ModelProto) -> int:
    """Replace each dynamically quantized Conv by a float32 Conv, in place; return how many."""
    graph = model.graph
    if any(attr.g.node or attr.graphs for node in graph.node for attr in node.attribute):
        # Dead-node removal below follows only the main graph's edges.
        raise ValueError("models with control-flow subgraphs are not supported")
    index = _GraphIndex(graph)
    matches = [m for node in graph.node if node.op_type == "ConvInteger" if (m := _match(node, index))]
    float_weights: dict[tuple[str, str, str], str] = {}
    replacements: dict[str, list[onnx.NodeProto]] = {}
    for match in matches:
        key = (match.weight, match.weight_zero_point, match.weight_scale)
        if key not in float_weights:
            float_weights[key] = _add_float_weight(graph, index, *key)
        one_dimensional = len(index.initializers[match.weight].dims) == 3
        replacements[match.output] = _float_conv(match, float_weights[key], one_dimensional)
    # Added once for all lifted convolutions; dropped again below if none was lifted.
    graph.initializer.append(numpy_helper.from_array(np.array([2], dtype=np.int64), _HEIGHT_AXIS))
    # The float Conv takes the place of the final Mul: its input x is computed before the
    # DynamicQuantizeLinear and its output is read after the Mul, so the order stays valid.
    nodes = [new for node in graph.node for new in replacements.get(node.output[0], [node])]
    del graph.node[:]
    graph.node.extend(nodes)
    _remove_dead_nodes(graph)
    _remove_unused_initializers(graph)
    _remove_stale_value_info(graph)
    return len(matches)


class _GraphIndex:
    """Who produces and who reads each tensor, and the initializers by name."""

    def __init__(self, graph: onnx.GraphProto):
        self.producer = {name: node for node in graph.node for name in node.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for node in graph.node:
            for name in node.input:
                self.consumers[name].append(node)
        self.initializers = {init.name: init for init in graph.initializer}
        self.graph_outputs = {output.name for output in graph.output}

    def produced_by(self, name: str, op_type: str) -> onnx.NodeProto | None:
        node = self.producer.get(name)
        return node if node is not None and node.op_type == op_type else None

    def sole_consumer(self, name: str, op_type: str) -> onnx.NodeProto | None:
        """The only node reading `name`, if it has that type: then `name` dies with the rewrite."""
        readers = self.consumers[name]
        if name in self.graph_outputs or len(readers) != 1 or readers[0].op_type != op_type:
            return None
        return readers[0]


@dataclass
class _QuantizedConv:
    conv: onnx.NodeProto  # the ConvInteger, whose attributes the float Conv keeps
    x: str  # the float activation that DynamicQuantizeLinear quantized
    weight: str
    weight_zero_point: str
    weight_scale: str
    bias: str | None  # the float bias initializer
    output: str  # output of the final Mul, which the float Conv produces instead


def _match(conv: onnx.NodeProto, index: _GraphIndex) -> _QuantizedConv | None:
    """Recognise the quantizer's scaffolding around `conv`; None leaves the node as it is."""
    if len(conv.input) != 4:
        return None
    x_q, weight, x_zero_point, weight_zero_point = conv.input
    quantize = index.produced_by(x_q, "DynamicQuantizeLinear")
    if quantize is None or quantize.output[2] != x_zero_point:
        return None
    if weight not in index.initializers or weight_zero_point not in index.initializers:
        return None
    integer = conv.output[0]
    bias_add = index.sole_consumer(integer, "Add")
    if bias_add is not None:
        integer = bias_add.output[0]
    cast = index.sole_consumer(integer, "Cast")
    if cast is None or _attribute(cast, "to") != onnx.TensorProto.FLOAT:
        return None
    rescale = index.sole_consumer(cast.output[0], "Mul")
    if rescale is None:
        return None
    scale = _other_input(rescale, cast.output[0])
    weight_scale = _weight_scale(index, scale, x_scale=quantize.output[1])
    if weight_scale is None:
        return None
    bias = None
    if bias_add is not None:
        bias = _float_bias(index, _other_input(bias_add, conv.output[0]), scale)
        if bias is None:
            return None
    return _QuantizedConv(conv, quantize.input[0], weight, weight_zero_point, weight_scale, bias, rescale.output[0])


def _weight_scale(index: _GraphIndex, scale: str, x_scale: str) -> str | None:
    """The weight scale initializer, if `scale` is Mul(x_scale, weight_scale)."""
    product = index.produced_by(scale, "Mul")
    if product is None or x_scale not in product.input:
        return None
    weight_scale = _other_input(product, x_scale)
    return weight_scale if weight_scale in index.initializers else None


def _float_bias(index: _GraphIndex, quantized: str, scale: str) -> str | None:
    """The float bias initializer behind Reshape(Cast(Floor(Div(bias, scale)))), if that is what it is."""
    reshape = index.produced_by(quantized, "Reshape")
    cast = reshape and index.produced_by(reshape.input[0], "Cast")
    floor = cast and index.produced_by(cast.input[0], "Floor")
    divide = floor and index.produced_by(floor.input[0], "Div")
    if not divide or divide.input[1] != scale or divide.input[0] not in index.initializers:
        return None
    # Conv wants a 1-D bias, one value per output channel.
    return divide.input[0] if len(index.initializers[divide.input[0]].dims) == 1 else None


def _add_float_weight(graph: onnx.GraphProto, index: _GraphIndex, weight: str, zero_point: str, scale: str) -> str:
    """Add (W_q - W_zp) * W_scale as a float32 initializer, lifted to 2-D for 1-D convs; return its name."""
    quantized = numpy_helper.to_array(index.initializers[weight]).astype(np.int32)
    zero = numpy_helper.to_array(index.initializers[zero_point]).astype(np.int32)
    step = numpy_helper.to_array(index.initializers[scale]).astype(np.float32)
    # Per-channel zero points and scales run along the output channels, the weight's first axis.
    per_channel = (-1,) + (1,) * (quantized.ndim - 1)
    zero = zero.reshape(per_channel) if zero.size > 1 else zero
    step = step.reshape(per_channel) if step.size > 1 else step
    dequantized = (quantized - zero).astype(np.float32) * step
    if dequantized.ndim == 3:
        dequantized = dequantized[:, :, np.newaxis, :]  # (out, in, 1, kernel)
    name = f"{weight}_float"
    graph.initializer.append(numpy_helper.from_array(dequantized, name))
    return name


def _float_conv(match: _QuantizedConv, weight: str, one_dimensional: bool) -> list[onnx.NodeProto]:
    """The float Conv replacing `match`; a 1-D one runs as a 2-D Conv of height 1."""
    inputs = [weight] + ([match.bias] if match.bias else [])
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in match.conv.attribute}
    if not one_dimensional:
        return [onnx.helper.make_node("Conv", [match.x, *inputs], [match.output], name=match.conv.name, **attributes)]
    lifted_x, lifted_y = f"{match.output}_height1_input", f"{match.output}_height1"
    return [
        onnx.helper.make_node("Unsqueeze", [match.x, _HEIGHT_AXIS], [lifted_x], name=f"{match.conv.name}_unsqueeze"),
        onnx.helper.make_node(
            "Conv", [lifted_x, *inputs], [lifted_y], name=match.conv.name, **_lift_conv_attributes(attributes)
        ),
        onnx.helper.make_node("Squeeze", [lifted_y, _HEIGHT_AXIS], [match.output], name=f"{match.conv.name}_squeeze"),
    ]


def _lift_conv_attributes(attributes: dict) -> dict:
    """1-D Conv attributes for the same convolution over a height-1 image."""
    lifted = dict(attributes)
    for name in ("kernel_shape", "strides", "dilations"):
        if name in attributes:
            lifted[name] = [1, *attributes[name]]
    if "pads" in attributes:
        begin, end = attributes["pads"]
        lifted["pads"] = [0, begin, 0, end]
    return lifted


def _remove_dead_nodes(graph: onnx.GraphProto) -> None:
    """Drop the nodes none of whose outputs is read; the nodes are in topological order."""
    live = {output.name for output in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(name in live for name in node.output):
            kept.append(node)
            live.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))


def _remove_unused_initializers(graph: onnx.GraphProto) -> None:
    used = {name for node in graph.node for name in node.input} | {output.name for output in graph.output}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


def _remove_stale_value_info(graph: onnx.GraphProto) -> None:
    """Forget the recorded types of tensors that no node produces any more."""
    produced = {name for node in graph.node for name in node.output}
    kept = [info for info in graph.value_info if info.name in produced]
    del graph.value_info[:]
    graph.value_info.extend(kept)


def _attribute(node: onnx.NodeProto, name: str):
    return next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == name), None)


def _other_input(node: onnx.NodeProto, known: str) -> str:
    """The input of a two-input node that is not `known`."""
    first, second = node.input
    return second if first == known else first
