"""Resolving the futures the Chatterbox engine loops (T3 batcher, S3Gen batcher) hand to callers."""

from __future__ import annotations

from concurrent.futures import Future, InvalidStateError


def settle(future: Future, result=None, exception: BaseException | None = None) -> None:
    """Resolve a future unless its caller cancelled it meanwhile (a cancel may land at any moment)."""
    try:
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass
