"""Who the work in hand is for: the front end sets it for each request, the engine clients tag usage with it."""

from __future__ import annotations

from contextvars import ContextVar

# A short digest of the client's API key ("key:..."), or its address when auth is off ("address:...").
current_client: ContextVar[str] = ContextVar("chorus_client", default="unknown")
