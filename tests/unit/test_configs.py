"""Both serve configs are valid Ray Serve deploy configs whose `args` the builder accepts."""

from pathlib import Path

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from ingress.settings import AppArgs

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["serve_config.yaml", "serve_config.local.yaml"])
def test_config_is_valid(name):
    config = yaml.safe_load((ROOT / name).read_text())
    ServeDeploySchema.model_validate(config)
    (app,) = config["applications"]
    assert app["import_path"] == "ingress.app:build_app"
    AppArgs.model_validate(app["args"])
    assert {d["name"] for d in app["deployments"]} == {"Gateway", "Kokoro", "Chatterbox", "ChatterboxTurbo",
                                                           "ChatterboxMultilingual", "Conversion"}


def test_unknown_args_are_refused():
    with pytest.raises(ValueError):
        AppArgs.model_validate({"kokoro": {"backend": "onnx", "threads": 2}})


def test_the_local_default_fits_a_two_core_laptop():
    """`serve run` gives Ray as many logical CPUs as cores: replicas that ask for more never start."""
    config = yaml.safe_load((ROOT / "serve_config.local.yaml").read_text())
    (app,) = config["applications"]
    args = AppArgs.model_validate(app["args"])
    most = [d.get("autoscaling_config", {}).get("max_replicas", d.get("num_replicas", 1)) for d in app["deployments"]]
    reserved = sum(n * d["ray_actor_options"]["num_cpus"] for n, d in zip(most, app["deployments"], strict=True))
    reserved += args.jobs.consumer_replicas * args.jobs.consumer_num_cpus
    assert reserved <= 2


def test_autoscaled_replicas_are_given_time_to_finish_their_streams():
    """Serve kills a replica that autoscaling removes after its graceful_shutdown_timeout_s (default 20 s): set
    on every autoscaled deployment, and no shorter than the proxy lets a request (a stream) run."""
    config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    longest_request_s = config["http_options"]["request_timeout_s"]
    (app,) = config["applications"]
    for deployment in app["deployments"]:
        if "autoscaling_config" in deployment:
            assert deployment.get("graceful_shutdown_timeout_s", 0) >= longest_request_s, deployment["name"]
