"""Gateway configuration and the application's `args` in the serve config."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from deployments.chatterbox.settings import ChatterboxSettings
from deployments.conversion.settings import ConversionSettings
from deployments.kokoro.settings import KokoroSettings
from ingress.jobs.settings import JobsSettings
from stores.voice_library.settings import VoiceLibrarySettings


class GatewaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_input_chars: int = Field(4096, ge=1, description="Longest `input` on /v1/audio/speech (OpenAI's limit).")
    max_simple_text_chars: int = Field(10_000, ge=1, description="Longest `text` on /synthesize.")
    max_body_bytes: int = Field(1 << 20, ge=1024, description="Largest JSON request body; larger gets a 413.")
    require_auth: bool = Field(True, description="Refuse to start without API keys (off only on the local default).")
    api_key_hashes: list[str] = Field([], description="SHA-256 hex digests of accepted bearer keys.")
    api_key_hashes_env: str = Field("CHORUS_API_KEY_HASHES", description="Env var with more digests, comma-separated.")
    max_concurrent_requests: int = Field(32, ge=1, description="Requests in flight per gateway replica; more get a 503.")
    retry_after_s: int = Field(2, ge=1, description="Retry-After sent with capacity 503s.")
    request_timeout_s: float = Field(120, gt=0, description="Longest wait for an engine's answer (or next chunk).")
    max_conversion_input_s: float = Field(300, gt=0, description="Longest input on /v1/audio/conversions (60 s "
                                          "or less converts best; longer input is converted in pieces). Keep it "
                                          "to what converts within request_timeout_s: longer input is pointed "
                                          "to the job API, which has no request timeout.")
    cors_allowed_origins: list[str] = Field([], description="Origins whose browser pages may call the API "
                                            "(CORS, preflight answered); none unless configured.")
    cors_allowed_origin_regex: str | None = Field(None, description="A regular expression of further allowed "
                                                  "origins, for example any port on localhost.")


class AppArgs(BaseModel):
    """The `args` of the Chorus application in serve_config.yaml."""

    model_config = ConfigDict(extra="forbid")

    # Factories, not instances: paths resolve when a config is validated, against that process's data root.
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    kokoro: KokoroSettings = Field(default_factory=KokoroSettings)
    chatterbox: ChatterboxSettings = Field(default_factory=ChatterboxSettings, description="Without a checkpoint it reports "
                                           "unavailable and its routes answer 503; the rest keeps serving.")
    conversion: ConversionSettings = Field(default_factory=ConversionSettings, description="Voice conversion with S3Gen from "
                                           "Chatterbox's checkpoint; without it /v1/audio/conversions answers 503.")
    voice_library: VoiceLibrarySettings = Field(default_factory=VoiceLibrarySettings)
    jobs: JobsSettings | None = Field(None, description="The job API (/run, /status) and its consumers; off when unset.")
