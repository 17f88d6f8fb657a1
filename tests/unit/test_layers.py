"""The layering contracts in pyproject.toml (import-linter) hold, and they do catch an upward import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ground", "audio", "stores", "deployments", "operations", "ingress")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(project: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], check=False, cwd=project, capture_output=True, text=True,
                          env={"PYTHONPATH": str(project), "PATH": ""}, timeout=120)


def test_imports_only_go_down():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_contracts(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with open(tmp_path / "deployments" / "kokoro" / "voices.py", "a") as engine_module:
        engine_module.write("\nfrom ingress.errors import APIError  # noqa: E402, F401\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "deployments.kokoro.voices -> ingress.errors" in result.stdout
