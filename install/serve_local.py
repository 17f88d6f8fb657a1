"""`make serve`: Ray Serve's own `serve run` of a config, on a Ray cluster this process starts on one machine.

Ray's defaults suit a cluster; on the embedded default every idle wake-up takes CPU from the cores
Kokoro renders on. So, unless the environment already says otherwise:
- the dashboard's web UI and its modules stay off; `CHORUS_DASHBOARD=1` turns them on (port 8265).
  Prometheus metrics come from each node's agent either way;
- Serve's controller runs its control loop every 0.5 s instead of every 0.1 s;
- replicas and the proxy hand their cached metrics to Ray every second instead of every 0.1 s.
Measured idle on a 2-core machine, one `serve run` with Ray's defaults against one with these (a probe of
2026-12-07; bench/results/kokoro_cpu.md's "CPU idle" table has the latter): Ray's dashboard 1.5% of the
cores against 0.2%, the controller 2.1% against 0.9%, Ray's GCS 0.9% against 0.4%.
"""

from __future__ import annotations

import os
import sys

QUIET_SERVE_DEFAULTS = {
    "RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "0.5",
    "RAY_SERVE_METRICS_EXPORT_INTERVAL_MS": "1000",
}


def start_ray() -> None:
    """A local Ray for `serve run`, started with the embedded default's quieter settings (every Ray process
    it starts inherits this environment)."""
    for name, value in QUIET_SERVE_DEFAULTS.items():
        os.environ.setdefault(name, value)
    import ray

    ray.init(address="local", namespace="serve", include_dashboard=os.environ.get("CHORUS_DASHBOARD") == "1")


def main(arguments: list[str]) -> None:
    """`serve run` with `arguments` (a config path, options), on the Ray that start_ray() starts."""
    start_ray()
    from ray.serve.scripts import cli

    cli.main(["run", *arguments])


if __name__ == "__main__":
    main(sys.argv[1:])
