"""The README's layout table names every package of the code, and names none that is not there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = ("ground", "audio", "stores", "deployments", "operations", "ingress")


def layout_table() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("| layer | package | what it holds |")
    return readme[start:readme.index("\n\n", start)]


def test_every_package_has_a_row_and_every_row_a_package():
    rows = [line.split("|")[2] for line in layout_table().splitlines()[2:]]
    named = {path.rstrip("/") for row in rows for path in re.findall(r"`([a-z0-9_/]+/)`", row)}
    packages = {str(init.parent.relative_to(ROOT)) for top in TOP_LEVEL for init in (ROOT / top).rglob("__init__.py")}
    packages -= {"deployments", "stores"}  # namespaces of their subpackages, each with its own row
    assert named == packages, (sorted(packages - named), sorted(named - packages))
