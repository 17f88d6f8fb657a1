"""The application builder named by serve_config.yaml: `import_path: ingress.app:build_app`."""

from __future__ import annotations

from ray.serve import Application

from deployments.kokoro.deployment import KokoroDeployment
from ingress.gateway import Gateway
from ingress.settings import AppArgs


def build_app(args: dict | None = None) -> Application:
    """Validate the config's `args` and bind the deployment graph."""
    config = AppArgs.model_validate(args or {})
    kokoro = KokoroDeployment.bind(config.kokoro.model_dump(mode="json"))
    return Gateway.bind(kokoro, config.gateway.model_dump(mode="json"))
