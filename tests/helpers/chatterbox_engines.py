"""The in-process S3Gen-based engines the engine tests share, on the random-weight checkpoints
(tests/helpers/chatterbox_checkpoint.py), with the suite's reduced settings (tests/helpers/settings.py).

Loading one is a good part of its tests' time (a checkpoint's S3Gen alone is about a gigabyte), so
tests/engines/conftest.py loads the original's engine and the conversion engine once per run and every test
that needs one shares it: a test that changes an engine's batch limits puts them back (`restored_limits`),
and one that counts S3Gen passes counts those since it started. Tests of loading itself (no checkpoint, an
incomplete one, torch_threads) build engines of their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deployments.chatterbox.engine import ChatterboxEngine
from deployments.chatterbox.protocol import ORIGINAL, TURBO
from deployments.chatterbox.settings import ChatterboxSettings
from deployments.conversion.engine import ConversionEngine
from deployments.conversion.settings import ConversionSettings
from deployments.s3gen.loading import CheckpointEngine
from tests.helpers.settings import CHATTERBOX_MAX_NEW_TOKENS, CONVERSION_PIECE_SEC, S3GEN_STEPS


def chatterbox_engine(checkpoint: Path, model: str = ORIGINAL) -> Iterator[ChatterboxEngine]:
    """A Chatterbox model's engine, its batchers closed when done (for a fixture to `yield from`). Turbo's
    meanflow S3Gen takes its own 2 steps; the others take the suite's reduced count. Random T3 weights never
    stop: every chunk is capped at CHATTERBOX_MAX_NEW_TOKENS speech tokens."""
    steps = {} if model == TURBO else {"s3gen_steps": S3GEN_STEPS}
    engine = ChatterboxEngine(ChatterboxSettings(model=model, checkpoint_dir=checkpoint,
                                                 batching={"max_new_tokens": CHATTERBOX_MAX_NEW_TOKENS}, **steps))
    assert engine.available, engine.reason
    try:
        yield engine
    finally:
        engine.t3_batcher.close()
        engine.s3gen_batcher.close()


def conversion_engine(checkpoint: Path) -> Iterator[ConversionEngine]:
    """The conversion engine on the checkpoint's S3Gen, in pieces of CONVERSION_PIECE_SEC (5 s: an input of a
    few seconds tests the joins), its batcher closed when done."""
    engine = ConversionEngine(ConversionSettings(checkpoint_dir=checkpoint, piece_sec=CONVERSION_PIECE_SEC,
                                                 s3gen_steps=S3GEN_STEPS))
    assert engine.available, engine.reason
    try:
        yield engine
    finally:
        engine.s3gen_batcher.close()


@contextmanager
def restored_limits(engine: CheckpointEngine) -> Iterator[CheckpointEngine]:
    """The shared engine, its batch limits put back afterwards to those it was loaded with (its settings'), so
    that a test's `configure` reaches no other test."""
    try:
        yield engine
    finally:
        engine.configure(engine.settings.batching)
