"""Bearer API keys. Only SHA-256 digests are configured or kept; keys are never logged.

Digests come from the gateway settings and from the environment variable named there
(a Kubernetes Secret in a cluster). Print a key's digest with `python -m ingress.auth KEY`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
from collections.abc import Iterable

# Paths served without a key, as the app's routes see them (no trailing slash; "" is "/"): /health for probes,
# and the playground (ingress/web/): its page at / and /web and its static files. The API calls it makes carry the key.
OPEN_PATHS = frozenset({"/health", "", "/web", *(
    f"/web/static/{name}" for name in os.listdir(os.path.join(os.path.dirname(__file__), "web", "static")))})


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class BearerKeys:
    def __init__(self, digests: Iterable[str]):
        self._digests = tuple(d.strip().lower() for d in digests if d.strip())

    @classmethod
    def from_settings(cls, configured: list[str], env_var: str) -> BearerKeys:
        from_env = os.environ.get(env_var, "").split(",")
        return cls([*configured, *from_env])

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def allows(self, authorization: str | None) -> bool:
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return False
        digest = key_digest(key.strip())
        # Compare against every digest so timing reveals neither which nor whether one matched early.
        matches = [hmac.compare_digest(digest, known) for known in self._digests]
        return any(matches)


if __name__ == "__main__":
    print(key_digest(sys.argv[1]))
