"""`make gpu-kit`: what the GPU machine lacks for bench/gpu/run.sh, in one folder that travels with a call.

- wheels/: Python 3.12 manylinux wheels of the packages the image lacks, and only those (WHEELS, pinned;
  checked against bench/gpu/image_packages.txt, the image's list: a pinned name the image has fails the build,
  and so does a requirement of a pinned wheel that neither the image nor the kit provides);
- chorus/: Chorus's own code that the benchmarks import, and serve_config.yaml (the batch limits);
- inputs/kokoro_inputs.json: the benchmark sentences' tokens, styles and the int8 model's durations.

Prints its size and fails above 60 MiB (a call carries 64 MiB in all).

    python -m bench.gpu.kit [--out gpu-kit]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bench.gpu import kokoro_inputs

ROOT = Path(__file__).resolve().parents[2]
PYTHON312 = "/root/.pyenv/versions/3.12.1/bin/python3.12"
LIMIT_MIB = 60
# What the benchmarks import that the image lacks: the Kokoro model package, Chatterbox and what its
# modules import at load time, pydantic (Chorus's settings and limits).
WHEELS = {
    "kokoro": "0.9.4", "loguru": "0.7.3",
    "chatterbox-tts": "0.1.7", "s3tokenizer": "0.3.0", "conformer": "0.3.2", "resemble-perth": "1.0.1",
    "diffusers": "0.42.1", "omegaconf": "2.4.0", "antlr4-python3-runtime": "4.13.2",
    "librosa": "0.11.0", "audioread": "3.1.0", "soxr": "1.1.0", "soundfile": "0.14.0", "pooch": "1.9.0",
    "platformdirs": "4.14.9", "decorator": "5.3.2", "pyloudnorm": "0.2.0", "cffi": "2.1.1", "pycparser": "3.12",
    "pydantic": "2.14.4", "pydantic-core": "2.50.5", "annotated-types": "0.8.0", "typing-inspection": "0.4.5",
}
# Packages the image has, carried at another version: resemble-perth imports pkg_resources, which setuptools
# drops from 81 on (the image's version is not documented).
REPLACEMENTS = {"setuptools": "80.9.0"}
# Requirements of the pinned wheels that the benchmarks never reach (the models' own download and audio-file
# paths, Kokoro's G2P pipeline), so they need not travel:
# importlib-metadata: diffusers imports the standard library's on Python 3.8+; pykakasi and spacy-pkuseg:
# Multilingual's Japanese and Chinese text, imported when such text comes; pre-commit: s3tokenizer's development.
UNUSED = {"misaki", "pyworld", "gradio", "spacy", "numpy-minmax", "numpy-rms", "future", "importlib-metadata",
          "pykakasi", "spacy-pkuseg", "pre-commit"}
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64"]
CODE = ["bench", "deployments", "ground", "tests/__init__.py", "tests/helpers", "serve_config.yaml"]


def image_packages() -> set[str]:
    lines = (ROOT / "bench" / "gpu" / "image_packages.txt").read_text().splitlines()
    return {canonicalize_name(line) for line in lines if line.strip() and not line.startswith("#")}


def download(folder: Path) -> list[Path]:
    folder.mkdir(parents=True)
    platforms = [flag for platform in PLATFORMS for flag in ("--platform", platform)]
    subprocess.run([PYTHON312, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", *platforms, "--dest", str(folder),
                    *(f"{name}=={version}" for name, version in {**WHEELS, **REPLACEMENTS}.items())], check=True)
    return sorted(folder.glob("*.whl"))


def requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1]
        message = Parser().parsestr(archive.read(metadata).decode())
    return [Requirement(line) for line in message.get_all("Requires-Dist") or []]


def check(wheels: list[Path]) -> None:
    """Fail on a wheel the image already has, a wheel twice, or a requirement nothing provides."""
    image = image_packages()
    names = [canonicalize_name(wheel.name.split("-")[0]) for wheel in wheels]
    if len(set(names)) != len(names):
        raise SystemExit(f"two versions of one package: {sorted(names)}")
    if duplicated := sorted(set(names) & image - set(REPLACEMENTS)):
        raise SystemExit(f"the image already has {duplicated}: drop them from WHEELS")
    environment = {**default_environment(), "python_version": "3.12", "python_full_version": "3.12.3",
                   "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64", "extra": ""}
    missing = set()
    for wheel in wheels:
        for requirement in requirements(wheel):
            if requirement.marker is None or requirement.marker.evaluate(environment):
                name = canonicalize_name(requirement.name)
                if name not in image and name not in names and name not in UNUSED:
                    missing.add(f"{name} (for {wheel.name})")
    if missing:
        raise SystemExit(f"required but neither in the image nor the kit: {sorted(missing)}")


def copy_code(folder: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "results")
    for path in CODE:
        source, target = ROOT / path, folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        else:
            shutil.copy2(source, target)


def size_mib(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def build(out: Path) -> float:
    if out.exists():
        shutil.rmtree(out)
    wheels = download(out / "wheels")
    check(wheels)
    copy_code(out / "chorus")
    kokoro_inputs.write_inputs(out / "inputs" / "kokoro_inputs.json")
    (out / "MANIFEST.json").write_text(json.dumps({"wheels": [w.name for w in wheels], "code": CODE,
                                                   "inputs": ["inputs/kokoro_inputs.json"]}, indent=1))
    return size_mib(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "gpu-kit")
    out = parser.parse_args().out
    size = build(out)
    for part in sorted(out.iterdir()):
        print(f"{size_mib(part) if part.is_dir() else part.stat().st_size / 2**20:6.1f} MiB  {part.name}")
    print(f"{size:6.1f} MiB  {out} (limit {LIMIT_MIB} MiB)")
    if size > LIMIT_MIB:
        sys.exit(f"the kit is {size:.1f} MiB, over {LIMIT_MIB} MiB")


if __name__ == "__main__":
    main()
