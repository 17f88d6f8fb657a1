"""A real multi-node Ray cluster on one machine (`ray.cluster_utils.Cluster`: a head and worker raylets),
Chorus deployed on it declaratively with `serve deploy` (the REST path KubeRay uses), and a Redis of
its own for the job queue.

Worker nodes carry custom resources, and the config derived from serve_config.local.yaml pins
deployments to them: ENGINE_NODE hosts Kokoro and Chatterbox, and the head (HEAD_NODE) the Gateway
and Conversion, beside the proxy and the Serve controller. The JobWorker has two replicas, one on
each worker node (CONSUMER_SLOT): removing the engine node is a node loss that takes the engines and
one of the two job consumers, with the jobs it was running, and leaves the gateway and the other
consumer standing.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import yaml
from ray.cluster_utils import Cluster

from ground.network import free_port
from tests.helpers.job_redis import JobRedis

ROOT = Path(__file__).resolve().parents[2]
SERVE = str(Path(sys.executable).parent / "serve")
ENGINE_NODE = "chorus_engine_node"
CONSUMER_SLOT = "chorus_consumer_slot"  # one on each worker node: a JobWorker replica on each
HEAD_NODE = "chorus_head_node"
APP = "chorus"


def cluster_config(http_port: int, redis_url: str, data_dir: Path, checkpoint_dir: Path | None) -> dict:
    """serve_config.local.yaml, moved onto the cluster: engines on ENGINE_NODE, a consumer on each worker node,
    the queue in `redis_url`, data under `data_dir`, Chatterbox on `checkpoint_dir`'s weights (None:
    Chatterbox idles without weights), and one thread per Kokoro inference (every raylet here shares
    two cores)."""
    config = yaml.safe_load((ROOT / "serve_config.local.yaml").read_text())
    config["http_options"]["port"] = http_port
    (app,) = config["applications"]
    args = app["args"]
    args["kokoro"].update(intra_op_threads=1, inference_workers=1)
    args["chatterbox"] = {"checkpoint_dir": str(checkpoint_dir or data_dir / "no-chatterbox-weights"),
                          "max_reference_duration_sec": 1,
                          "first_chunk_size": 12, "s3gen_steps": 2}
    args["conversion"] = {"checkpoint_dir": str(data_dir / "no-conversion-weights")}  # not under test: idle
    for section in ("chatterbox_turbo", "chatterbox_multilingual"):  # not under test here: idle too
        args[section] = {"checkpoint_dir": str(data_dir / f"no-{section}-weights")}
    args["voice_library"] = {"root": str(data_dir / "voices")}  # one directory, as a shared volume would be
    # A lost consumer's job is handed out again within visibility_timeout_s (live consumers renew it), far
    # sooner than max_job_s, which leaves room for jobs redone on the two shared cores after a node loss.
    args["jobs"] = {"redis_url": redis_url, "embedded_redis": False, "max_job_s": 240, "visibility_timeout_s": 10,
                    "restore_interval_s": 1, "max_retries": 2, "runsync_wait_s": 20,
                    "consumer_concurrency": 2}
    deployments = {d["name"]: d for d in app["deployments"]}
    for name in ("Gateway", "Conversion"):
        deployments[name]["ray_actor_options"]["resources"] = {HEAD_NODE: 1}
    deployments["Kokoro"]["ray_actor_options"] = {"num_cpus": 0.5, "resources": {ENGINE_NODE: 1}}
    deployments["Kokoro"]["user_config"] = {"max_batch_size": 16, "batch_wait_timeout_s": 0.01}
    deployments["Chatterbox"]["ray_actor_options"] = {"num_cpus": 0.1, "resources": {ENGINE_NODE: 1}}
    # Placed on the engine node and running from the start: the laptop's scale-from-zero is not what is under test.
    del deployments["Chatterbox"]["autoscaling_config"]
    deployments["Chatterbox"]["num_replicas"] = 1
    deployments["Chatterbox"]["user_config"] = {"max_new_tokens": 10}
    app["deployments"].append({"name": "JobWorker", "num_replicas": 2, "max_ongoing_requests": 2,
                               "ray_actor_options": {"num_cpus": 0.1, "resources": {CONSUMER_SLOT: 1}}})
    return config


class ChorusCluster:
    """The cluster, its Redis and the deployed app; `deploy` applies a config as `serve deploy` does."""

    def __init__(self, data_dir: Path, checkpoint_dir: Path | None):
        self.data_dir = data_dir
        self.redis = JobRedis(data_dir / "redis-data")
        self.dashboard_port = free_port()
        self.http_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.http_port}"
        self.http = httpx.Client(base_url=self.base_url, timeout=30)  # for the job API's short calls
        self.config = cluster_config(self.http_port, self.redis.url, data_dir, checkpoint_dir)
        self.engines = ("kokoro", "chatterbox") if checkpoint_dir else ("kokoro",)  # those that must be ready
        self.cluster: Cluster | None = None
        self.engine_node = None
        self.jobs_node = None

    def start(self) -> None:
        self.redis.start()
        self.cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 1, "resources": {HEAD_NODE: 4}, "include_dashboard": True, "dashboard_port": self.dashboard_port,
            "dashboard_host": "127.0.0.1"})
        self.jobs_node = self.cluster.add_node(num_cpus=1, resources={CONSUMER_SLOT: 1})
        self.add_engine_node()
        self.deploy(self.config)
        self.wait_healthy(timeout_s=300)

    def add_engine_node(self) -> None:
        # Room for a second Kokoro replica beside the first and Chatterbox (the replica-count update).
        self.engine_node = self.cluster.add_node(num_cpus=2, resources={ENGINE_NODE: 4, CONSUMER_SLOT: 1})

    def remove_engine_node(self) -> None:
        """The engine node is lost at once, as a crashed machine is (no graceful drain)."""
        self.cluster.remove_node(self.engine_node, allow_graceful=False)
        self.engine_node = None

    def _serve_cli(self, *args: str, check: bool = True) -> None:
        """The `serve` command against this cluster's dashboard (the REST API KubeRay also uses)."""
        subprocess.run([SERVE, *args, "--address", f"http://127.0.0.1:{self.dashboard_port}"], check=check,
                       capture_output=True, env={**os.environ, "RAY_AUTH_MODE": "disabled"}, timeout=300)

    def deploy(self, config: dict) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="chorus-cluster-") as file:
            yaml.safe_dump(config, file)
            file.flush()
            self._serve_cli("deploy", file.name)

    def applications(self) -> dict:
        """Serve's REST view of the applications: each deployment's status, config and replicas with their nodes."""
        url = f"http://127.0.0.1:{self.dashboard_port}/api/serve/applications/"
        return httpx.get(url, timeout=10).json()["applications"]

    def replicas(self, deployment: str) -> list[dict]:
        return self.applications()[APP]["deployments"][deployment]["replicas"]

    def wait_for(self, condition, timeout_s: float, what: str, every_s: float = 0.5):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if result := condition():
                    return result
            except (httpx.HTTPError, KeyError, ValueError):  # not up yet: no app, or a proxy page that is not JSON
                pass
            time.sleep(every_s)
        raise TimeoutError(f"{what} within {timeout_s:g} s")

    def health(self) -> dict:
        return httpx.get(f"{self.base_url}/health", timeout=10).json()

    def wait_healthy(self, timeout_s: float) -> None:
        """Until every deployment runs and each of `self.engines` answers ready."""
        def healthy():
            app = self.applications()[APP]
            engines = self.health()["engines"]
            return app["status"] == "RUNNING" and all(engines[e]["status"] == "ready" for e in self.engines)
        self.wait_for(healthy, timeout_s, "Chorus did not become healthy")

    def shutdown(self) -> None:
        if self.cluster is not None:
            self._serve_cli("shutdown", "--yes", check=False)
            self.cluster.shutdown()
        self.redis.stop()
        self.http.close()

    def config_of(self, deployment: str) -> dict:
        """The deployed config's entry for `deployment`."""
        return next(d for d in self.config["applications"][0]["deployments"] if d["name"] == deployment)

    def derived(self, **changes) -> dict:
        """A copy of the deployed config with `changes` applied to named deployments' entries."""
        config = copy.deepcopy(self.config)
        for deployment in config["applications"][0]["deployments"]:
            deployment.update(changes.get(deployment["name"], {}))
        return config



class Repeating:
    """`probe()` again and again on a thread, `every_s` apart, for the length of a `with` block."""

    every_s = 0.5

    def __init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.is_set():
            self.probe()
            self._stop.wait(self.every_s)

    def probe(self) -> None:
        raise NotImplementedError
