"""The gateway tier: the FastAPI app in-process over fake engines (tests/helpers/gateway.py)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.helpers.gateway import UNSET_KEYS_ENV, Served, serve_gateway


@pytest.fixture(autouse=True)
def _no_keys_in_the_environment(monkeypatch):
    monkeypatch.delenv(UNSET_KEYS_ENV, raising=False)


@pytest.fixture
def gw(tmp_path) -> Served:
    return serve_gateway(tmp_path)


@pytest.fixture
def client(gw) -> TestClient:
    """This tier's client: the in-process gateway's (the served tiers' `client` speaks to the real app)."""
    return gw.client
