"""Kokoro's torch backend on the device: random-init KModel weights, rendering exactly the frames the
real model would.

The device has no Kokoro weights (the int8 export is 92 MB) and speed does not depend on weight values,
only on the shapes and the frames rendered. So the KModel here is built at random init (kokoro's own
modules and loader, a random state dict written to a temporary folder), and the durations the real model
predicts for the benchmark sentences (bench/gpu/kokoro_inputs.py, computed from the int8 export and
carried in the kit) are injected where the model predicts them: `InjectedDurations` replaces the
predictor's duration head, the Linear whose max_dur sigmoid outputs are summed into each token's duration.
Its outputs sum to the carried duration times the speed, so the model's own rounding, alignment and
padded decoder (padded_forward.forward_batch) render exactly those frames. The text side still runs in
full, so its cost is measured too.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
import tempfile
import time
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ground.batch_loop import BatchLoop

SAMPLE_RATE = 24_000
# A logit whose sigmoid is 1 (or, negated, 0) in float32 and float16.
SATURATED = 30.0


def import_kmodel():
    """kokoro's KModel. The kokoro package's __init__ also imports its text pipeline (misaki's G2P, which
    the device lacks and the model never uses): where misaki is missing, the package is registered without
    running __init__ and its model modules are imported from the installed package as they are."""
    if importlib.util.find_spec("misaki") is None and "kokoro" not in sys.modules:
        spec = importlib.util.find_spec("kokoro")
        if spec is None or spec.submodule_search_locations is None:
            raise ImportError("the kokoro package is not installed")
        package = types.ModuleType("kokoro")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["kokoro"] = package
        from kokoro.model import KModel

        package.KModel = KModel
        from loguru import logger

        logger.disable("kokoro")  # as the package's __init__ does
    from kokoro import KModel

    return KModel


class InjectedDurations(torch.nn.Module):
    """Stands in for ProsodyPredictor.duration_proj: for the batch set with `set`, its max_dur logits give
    sigmoids that sum to duration x speed for each token (the whole part at 1, the fraction in one output,
    the rest at 0), which the model divides by the speed and rounds back to the duration."""

    def __init__(self, max_dur: int):
        super().__init__()
        self.max_dur = max_dur
        self._sums: torch.Tensor | None = None

    def set(self, durations: list[list[int]], speeds: list[float]) -> None:
        longest = max(len(d) for d in durations)
        sums = torch.ones(len(durations), longest, dtype=torch.float64)
        for row, (item, speed) in enumerate(zip(durations, speeds, strict=True)):
            sums[row, : len(item)] = torch.tensor(item, dtype=torch.float64) * speed
        if float(sums.max()) > self.max_dur:
            raise ValueError(f"a duration needs more than the head's {self.max_dur} outputs")
        self._sums = sums

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._sums is None or tuple(self._sums.shape) != tuple(x.shape[:2]):
            raise RuntimeError(f"durations set for {None if self._sums is None else tuple(self._sums.shape)}, "
                               f"the pass has {tuple(x.shape[:2])} tokens")
        sums = self._sums.to(x.device).unsqueeze(-1)
        slots = torch.arange(self.max_dur, device=x.device, dtype=torch.float64)
        fraction = (sums - slots).clamp(0, 1)  # 1 for the whole part, the remainder once, then 0
        logits = torch.logit(fraction, eps=1e-12).clamp(-SATURATED, SATURATED)
        return logits.to(x.dtype)


def inject(model) -> InjectedDurations:
    """Replace the model's duration head by an InjectedDurations of the same width; return it."""
    head = model.predictor.duration_proj
    width = head.linear_layer.out_features if hasattr(head, "linear_layer") else head.out_features
    injected = InjectedDurations(width)
    model.predictor.duration_proj = injected
    return injected


def random_backend(config: dict, device: str, half: bool, seed: int = 0):
    """The deployment's TorchBackend on a random-init KModel of the real shapes (kokoro's own loader reads
    it from the official file names in a temporary folder)."""
    import_kmodel()
    from deployments.kokoro import torch_weights
    from deployments.kokoro.torch_backend import TorchBackend

    torch.manual_seed(seed)
    skeleton = torch_weights._skeleton(config)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / torch_weights.CONFIG_FILENAME).write_text(json.dumps(config))
        torch.save({name: module.state_dict() for name, module in skeleton.named_children()},
                   Path(folder) / torch_weights.OFFICIAL_FILENAME)
        return TorchBackend(weights_dir=folder, device=device, half=half, seed=seed)


@dataclass
class Item:
    token_ids: list[int]
    style: np.ndarray
    speed: float
    durations: list[int]

    @classmethod
    def load(cls, entry: dict) -> Item:
        return cls(entry["token_ids"], np.asarray(entry["style"], np.float32), entry["speed"], entry["durations"])


class Renderer:
    """Padded passes of carried items through padded_forward.forward_batch, the durations injected."""

    def __init__(self, backend, items: list[Item]):
        self.backend, self.items = backend, items
        self.head = inject(backend.model)
        self.samples_per_unit = backend.samples_per_unit

    def batch(self, size: int, offset: int = 0) -> list[Item]:
        return [self.items[(offset + i) % len(self.items)] for i in range(size)]

    def render(self, batch: list[Item]) -> float:
        """Audio seconds rendered; checks every item rendered exactly its carried frames."""
        from deployments.kokoro import padded_forward

        self.head.set([item.durations for item in batch], [item.speed for item in batch])
        styles = torch.from_numpy(np.stack([item.style for item in batch]))
        results = padded_forward.forward_batch(self.backend.model, [[0, *item.token_ids, 0] for item in batch], styles,
                                               [item.speed for item in batch], seeds=[0] * len(batch))
        for item, result in zip(batch, results, strict=True):
            if result.durations.tolist() != item.durations or len(result.audio) != sum(item.durations) * self.samples_per_unit:
                raise RuntimeError("the pass did not render the injected durations")
        return sum(len(r.audio) for r in results) / SAMPLE_RATE


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def peak_mib() -> float | None:
    """torch.cuda.max_memory_allocated since the last call, in MiB (None without a GPU)."""
    if not torch.cuda.is_available():
        return None
    peak = torch.cuda.max_memory_allocated() / 2**20
    torch.cuda.reset_peak_memory_stats()
    return peak


def batching_rows(renderer: Renderer, sizes: list[int], repeats: int, on_row) -> list[dict]:
    """Audio seconds a second and per-batch latency at each batch size; `on_row` gets each row as it lands."""
    renderer.render(renderer.batch(2))  # warm-up
    rows = []
    for size in sizes:
        batch = renderer.batch(size)
        renderer.render(batch)  # this shape's first pass (cuDNN picks its kernels)
        synchronize()
        peak_mib()
        walls, audio = [], 0.0
        for _ in range(repeats):
            started = time.perf_counter()
            audio += renderer.render(batch)
            synchronize()
            walls.append(time.perf_counter() - started)
        row = {"batch": size, "audio_s_per_s": audio / sum(walls), "latency_p50_s": statistics.median(walls),
               "latency_max_s": max(walls), "peak_mib": peak_mib()}
        row["vs_batch_1"] = row["audio_s_per_s"] / rows[0]["audio_s_per_s"] if rows else 1.0
        rows.append(row)
        on_row(row)
    return rows


class Passes(BatchLoop):
    """Concurrent streams' pieces into shared passes, as the deployment's batching forms them: a pass takes
    up to `max_batch` waiting pieces, waiting up to `wait_s` for a full one."""

    thread_name = "kokoro-passes"

    def __init__(self, renderer: Renderer, max_batch: int, wait_s: float):
        self.renderer, self.max_batch, self.wait_s = renderer, max_batch, wait_s
        self._start()

    def _take(self):
        deadline = time.monotonic() + self.wait_s
        while len(self._waiting) < self.max_batch and not self._closed and time.monotonic() < deadline:
            self._wake.wait(deadline - time.monotonic())
        return [self._waiting.popleft() for _ in range(min(self.max_batch, len(self._waiting)))]

    def _run(self, taken) -> None:
        try:
            self.renderer.render([item for item, _ in taken])
            synchronize()
        except Exception as error:  # noqa: BLE001 - every waiting stream gets the pass's error
            for _, future in taken:
                future.set_exception(error)
            return
        for _, future in taken:
            future.set_result(time.perf_counter())


def first_audio(renderer: Renderer, streams: int, rounds: int, max_batch: int, wait_s: float) -> dict:
    """`streams` streams starting together, `rounds` times: seconds until each one's first piece is rendered."""
    passes = Passes(renderer, max_batch, wait_s)
    waits = []
    try:
        passes.submit(renderer.items[0]).result()  # warm-up
        peak_mib()
        for round_ in range(rounds):
            started = time.perf_counter()
            futures = passes.submit_all(renderer.batch(streams, offset=round_))
            waits += [future.result() - started for future in futures]
    finally:
        passes.close()
    return {"streams": streams, "rounds": rounds, "p50_s": statistics.median(waits),
            "p95_s": float(np.percentile(waits, 95)), "peak_mib": peak_mib()}


def load_inputs(path: Path) -> tuple[dict, list[Item]]:
    inputs = json.loads(path.read_text())
    return inputs["kmodel_config"], [Item.load(entry) for entry in inputs["items"]]


def audio_seconds(items: list[Item], samples_per_unit: int) -> float:
    return sum(sum(item.durations) for item in items) * samples_per_unit / SAMPLE_RATE
