"""Both serve configs are valid Ray Serve deploy configs whose `args` the builder accepts."""

from pathlib import Path

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from ingress.settings import AppArgs

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["serve_config.yaml", "serve_config.local.yaml"])
def test_config_is_valid(name):
    config = yaml.safe_load((ROOT / name).read_text())
    ServeDeploySchema.model_validate(config)
    (app,) = config["applications"]
    assert app["import_path"] == "ingress.app:build_app"
    AppArgs.model_validate(app["args"])
    assert {d["name"] for d in app["deployments"]} == {"Gateway", "Kokoro", "Chatterbox", "Conversion"}


def test_unknown_args_are_refused():
    with pytest.raises(ValueError):
        AppArgs.model_validate({"kokoro": {"backend": "onnx", "threads": 2}})
