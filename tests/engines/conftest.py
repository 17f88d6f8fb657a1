"""Fixtures of the engine tier: the engines on the random checkpoint, loaded once per run.

Package-scoped, not session-scoped: only these tests use them, and the gigabytes they hold are freed before
the served tier loads the same checkpoint into its replicas.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="package")
def chatterbox_engine(chatterbox_checkpoint):
    """The original Chatterbox's engine on the random checkpoint, loaded once for every engine test that
    needs it (tests/helpers/chatterbox_engines.py): a test that changes its batch limits puts them back."""
    from tests.helpers.chatterbox_engines import chatterbox_engine

    yield from chatterbox_engine(chatterbox_checkpoint)


@pytest.fixture(scope="package")
def conversion_engine(chatterbox_checkpoint):
    """The conversion engine on the random checkpoint's S3Gen, loaded once for every in-process test that needs
    it (tests/helpers/chatterbox_engines.py): a test that changes its batch limits puts them back."""
    from tests.helpers.chatterbox_engines import conversion_engine

    yield from conversion_engine(chatterbox_checkpoint)
