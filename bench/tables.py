"""A benchmark's table: printed, and written where bench/results keeps it."""

from __future__ import annotations

from pathlib import Path


def publish(lines: list[str], path: Path) -> None:
    text = "\n".join(lines) + "\n"
    print(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
