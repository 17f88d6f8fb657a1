"""Copy serve_config.yaml into the `serveConfigV2` block of k8s/rayservice.yaml.

KubeRay takes the Serve config as a string inside the RayService, while serve_config.yaml stays
the one file people edit. This rewrites only the lines of that block string; every other byte
of rayservice.yaml (comments, layout) is kept.

    python k8s/sync_serve_config.py           # rewrite the block
    python k8s/sync_serve_config.py --check   # exit 1 if the block is out of date (for CI)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAYSERVICE = ROOT / "k8s" / "rayservice.yaml"
SERVE_CONFIG = ROOT / "serve_config.yaml"

# `serveConfigV2: |` as a literal block scalar, optionally followed by a comment.
BLOCK_KEY = re.compile(r"^(?P<indent> *)serveConfigV2: *\|[-+]?(?: +#.*)?$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def render(rayservice: str, serve_config: str) -> str:
    """Return `rayservice` with its serveConfigV2 block replaced by `serve_config`."""
    lines = rayservice.splitlines(keepends=True)
    keys = [i for i, line in enumerate(lines) if BLOCK_KEY.match(line.rstrip("\n"))]
    if len(keys) != 1:
        raise ValueError(f"expected one `serveConfigV2: |` line in the RayService, found {len(keys)}")
    start = keys[0]
    key_indent = _indent(lines[start])

    # The block runs over blank lines and lines indented deeper than its key.
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > key_indent):
        end += 1
    # Blank lines right before whatever follows are layout, not part of the block.
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1

    pad = " " * (key_indent + 2)
    body = [pad + line if line.strip() else "\n" for line in serve_config.splitlines(keepends=True)]
    if body and not body[-1].endswith("\n"):
        body[-1] += "\n"
    return "".join(lines[: start + 1] + body + lines[end:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether the block is up to date")
    args = parser.parse_args(argv)

    current = RAYSERVICE.read_text()
    wanted = render(current, SERVE_CONFIG.read_text())
    if current == wanted:
        print(f"{RAYSERVICE.relative_to(ROOT)} is up to date with {SERVE_CONFIG.name}")
        return 0
    if args.check:
        print(f"{RAYSERVICE.relative_to(ROOT)} differs from {SERVE_CONFIG.name}: run python k8s/sync_serve_config.py")
        return 1
    RAYSERVICE.write_text(wanted)
    print(f"rewrote serveConfigV2 in {RAYSERVICE.relative_to(ROOT)} from {SERVE_CONFIG.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
