"""Gateway configuration and the application's `args` in the serve config."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from deployments.kokoro.settings import KokoroSettings


class GatewaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_input_chars: int = Field(4096, ge=1, description="Longest `input` on /v1/audio/speech (OpenAI's limit).")
    max_simple_text_chars: int = Field(10_000, ge=1, description="Longest `text` on /synthesize.")
    max_body_bytes: int = Field(1 << 20, ge=1024, description="Largest JSON request body; larger gets a 413.")


class AppArgs(BaseModel):
    """The `args` of the Chorus application in serve_config.yaml."""

    model_config = ConfigDict(extra="forbid")

    gateway: GatewaySettings = GatewaySettings()
    kokoro: KokoroSettings = KokoroSettings()
