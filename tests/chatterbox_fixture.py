"""Build a random-weight checkpoint of any Chatterbox model (tests/helpers/chatterbox_checkpoint.py):

    python -m tests.chatterbox_fixture DIR --model original|turbo|multilingual

The command stays here, wherever the test helpers move.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tests.helpers.chatterbox_checkpoint import MODEL_CHOICES, build_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--model", choices=MODEL_CHOICES, default="original")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(build_checkpoint(args.directory, args.seed, MODEL_CHOICES[args.model]))


if __name__ == "__main__":
    main()
