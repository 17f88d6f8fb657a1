"""One multi-node cluster for the whole group (tests/cluster/harness.py): starting it and deploying
Chorus takes a minute or more on two cores, so every test shares it and leaves it as it found it."""

from __future__ import annotations

import os

import pytest

from tests.cluster.harness import ChorusCluster

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def chorus(tmp_path_factory, chatterbox_checkpoint) -> ChorusCluster:
    """`chatterbox_checkpoint`: the random-weight checkpoint of tests/conftest.py."""
    chorus = ChorusCluster(tmp_path_factory.mktemp("cluster-data"), chatterbox_checkpoint)
    try:
        chorus.start()
        yield chorus
    finally:
        chorus.shutdown()
