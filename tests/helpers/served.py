"""Building blocks for the served tier: more Serve applications beside the session's shared one."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.settings import APP_NAME


def gateway_over_test_engines(gateway: dict, library: Path, **own_engines):
    """A second application that is a Gateway with its own settings, calling the test app's engines (handles
    across applications) but for `own_engines` (bound deployments, by engine name): a front-end test then
    deploys one replica or two, not a whole graph."""
    from ray import serve

    from deployments.chatterbox.deployment import DEPLOYMENT_NAMES
    from ingress.gateway import Gateway
    from ingress.settings import GatewaySettings
    from stores.voice_library.settings import VoiceLibrarySettings

    deployments = {"kokoro": "Kokoro", **DEPLOYMENT_NAMES, "conversion": "Conversion"}
    engines = {name: serve.get_deployment_handle(deployment, app_name=APP_NAME)
               for name, deployment in deployments.items()}
    return Gateway.options(ray_actor_options={"num_cpus": 0.1}).bind(
        {**engines, **own_engines}, GatewaySettings.model_validate(gateway), VoiceLibrarySettings(root=library))
