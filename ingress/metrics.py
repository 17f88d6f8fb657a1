"""The gateway's own Prometheus metric, exported through Ray's metrics agent beside Ray Serve's.

Ray prefixes every name with `ray_`, so it appears as `ray_chorus_errors`. Audio and first-audio
metrics are the operations core's (operations/metrics.py): they count every front end's calls.
"""

from __future__ import annotations

from ray.serve import metrics

errors = metrics.Counter(
    "chorus_errors", description="Error responses by status and type.", tag_keys=("status", "type"))
