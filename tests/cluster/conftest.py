"""One multi-node cluster for the whole group (tests/helpers/cluster.py): starting it and deploying
Chorus takes a minute or more on two cores, so every test shares it and leaves it as it found it."""

from __future__ import annotations

import os

import pytest

from tests.helpers.cluster import ChorusCluster

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def chorus(request, tmp_path_factory) -> ChorusCluster:
    """Chatterbox gets the random-weight checkpoint of tests/conftest.py only when a selected test is marked
    `needs_chatterbox`: building and loading it is a good part of the start-up (`make test` runs one test
    here that does not need it)."""
    checkpoint = None
    if any(item.get_closest_marker("needs_chatterbox") for item in request.session.items):
        checkpoint = request.getfixturevalue("chatterbox_checkpoint")
    chorus = ChorusCluster(tmp_path_factory.mktemp("cluster-data"), checkpoint)
    try:
        chorus.start()
        yield chorus
    finally:
        chorus.shutdown()
