"""Make PyPI's torchaudio importable next to a CPU-only torch.

PyPI's torchaudio 2.11 wheel ships native extensions linked against CUDA. With a CPU build of
torch, `import torchaudio` then fails while loading them. Chatterbox only uses torchaudio's
pure-Python parts (resampling, mel filterbanks), which work once the extensions are gone: torchaudio
treats a missing `lib/*.so` as "extension not built". A CUDA build of torch needs none of this.

Run `python install/torchaudio_cpu.py` after installing torchaudio; running it again
does nothing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch


def native_extensions() -> list[Path]:
    # find_spec locates the package without importing it (which is what fails).
    spec = importlib.util.find_spec("torchaudio")
    if spec is None or spec.origin is None:
        return []
    return sorted((Path(spec.origin).parent / "lib").glob("*.so"))


def remove_native_extensions() -> list[Path]:
    """Delete torchaudio's native extensions when torch is a CPU build; return what was removed."""
    if torch.version.cuda is not None:
        return []
    removed = native_extensions()
    for path in removed:
        path.unlink()
    return removed


def main() -> None:
    if torch.version.cuda is not None:
        print(f"torch {torch.__version__} is a CUDA build: torchaudio left as installed")
        return
    removed = remove_native_extensions()
    for path in removed:
        print(f"removed {path}")
    if not removed:
        print("torchaudio has no native extensions left to remove")


if __name__ == "__main__":
    main()
