"""A benchmark's table: printed, and written where bench/results keeps it."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def publish(lines: list[str], path: Path) -> None:
    text = "\n".join(lines) + "\n"
    print(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def cpu_name() -> str:
    """The processor's model name and core count (platform.processor() is empty on Linux)."""
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
             if line.startswith("model name")] if cpuinfo.exists() else []
    return f"{names[0] if names else platform.processor() or platform.machine()}, {os.cpu_count()} cores"
