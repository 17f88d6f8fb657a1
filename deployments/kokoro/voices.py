"""Kokoro voice packs, weighted blends and alias names.

A pack is float32 [510, 1, 256]: row `n - 1` is the style vector for an utterance of
`n` phoneme tokens. A blend such as `jf_alpha(2)+jm_kumo(1)` is the weighted mean of
its packs.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ground.errors import InvalidRequest, UnknownVoice

PACK_SHAPE = (510, 1, 256)
_BLEND_PART = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*(?:\(\s*([0-9]*\.?[0-9]+)\s*\))?\s*$")


def load_pack_file(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        pack = np.load(path)
    else:
        import torch  # only `.pt` packs need torch

        pack = torch.load(path, map_location="cpu", weights_only=True).numpy()
    pack = np.asarray(pack, dtype=np.float32)
    if pack.shape != PACK_SHAPE:
        raise ValueError(f"voice pack {path} has shape {pack.shape}, expected {PACK_SHAPE}")
    return pack


class VoiceCatalog:
    def __init__(self, packs: dict[str, np.ndarray], aliases: dict[str, str]):
        self.packs = packs
        unknown = {alias: target for alias, target in aliases.items() if target not in packs}
        if unknown:
            raise ValueError(f"voice aliases point at unknown packs: {unknown}")
        self.aliases = aliases

    @classmethod
    def load(cls, bundled_npz: Path, extra_dirs: list[Path], aliases: dict[str, str]) -> VoiceCatalog:
        with np.load(bundled_npz) as bundle:
            packs = {name: np.asarray(bundle[name], dtype=np.float32) for name in bundle.files}
        for directory in extra_dirs:
            for path in sorted(Path(directory).glob("*")):
                if path.suffix in (".pt", ".npy"):
                    packs[path.stem] = load_pack_file(path)
        return cls(packs, aliases)

    def names(self) -> list[str]:
        return sorted(self.packs)

    def resolve(self, spec: str) -> np.ndarray:
        """The pack for a voice name, alias or blend; raises a 400-class error otherwise."""
        parts = spec.split("+")
        weighted: list[tuple[np.ndarray, float]] = []
        for part in parts:
            match = _BLEND_PART.match(part)
            if not match:
                raise InvalidRequest(
                    f"Invalid voice '{spec}': expected a voice name or a blend like 'jf_alpha(2)+jm_kumo(1)'",
                    param="voice",
                )
            name, weight = match.group(1), float(match.group(2) or 1.0)
            if weight <= 0:
                raise InvalidRequest(f"Invalid voice '{spec}': blend weights must be positive", param="voice")
            weighted.append((self._pack(name), weight))
        if len(weighted) == 1:
            return weighted[0][0]
        total = sum(weight for _, weight in weighted)
        return sum(pack * (weight / total) for pack, weight in weighted).astype(np.float32)

    def _pack(self, name: str) -> np.ndarray:
        key = self.aliases.get(name.lower(), name)
        if key not in self.packs:
            # The voice library's words, so every front end reports an unknown voice alike.
            raise UnknownVoice(f"Voice '{name}' not found in any library. Kokoro voices: {', '.join(self.names())}")
        return self.packs[key]
