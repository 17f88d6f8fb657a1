"""Gateway configuration and the application's `args` in the serve config."""

from __future__ import annotations

from functools import partial

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from deployments.chatterbox.protocol import MULTILINGUAL, ORIGINAL, TURBO
from deployments.chatterbox.settings import ChatterboxSettings
from deployments.conversion.settings import ConversionSettings
from deployments.kokoro.settings import KokoroSettings
from ingress.jobs.settings import JobsSettings
from operations.speech import Engine
from stores.voice_library.settings import VoiceLibrarySettings


class GatewaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_input_chars: int = Field(4096, ge=1, description="Longest `input` on /v1/audio/speech (OpenAI's limit).")
    websocket_models: dict[str, Engine] = Field(
        default_factory=dict, description="The stream-input WebSocket's ElevenLabs model ids and the Chorus model each "
        "speaks with (for example eleven_turbo_v2_5: chatterbox-turbo); an eleven_* id not listed speaks with Kokoro.")
    max_simple_text_chars: int = Field(10_000, ge=1, description="Longest `text` on /synthesize.")
    max_body_bytes: int = Field(1 << 20, ge=1024, description="Largest JSON request body; larger gets a 413.")
    require_auth: bool = Field(True, description="Refuse to start without API keys (off only on the local default).")
    api_key_hashes: list[str] = Field([], description="SHA-256 hex digests of accepted bearer keys.")
    api_key_hashes_env: str = Field("CHORUS_API_KEY_HASHES", description="Env var with more digests, comma-separated.")
    max_concurrent_requests: int = Field(32, ge=1, description="Requests in flight per gateway replica; more get a 503.")
    max_concurrent_per_client: int | None = Field(None, ge=1, description="Requests in flight per gateway replica "
                                                  "from one client (its API key, or its address when auth is off); "
                                                  "more get a 429. Unset: half of max_concurrent_requests.")
    retry_after_s: int = Field(2, ge=1, description="Retry-After sent with capacity 503s and over-share 429s.")
    max_websockets: int = Field(64, ge=1, description="Open stream-input WebSockets per gateway replica; past it a "
                                "socket is closed with 1013 (try again later). Each counts against its client's "
                                "share while open, and holds a request slot while it has synthesis in flight.")
    stall_timeout_s: float = Field(30, gt=0, description="A stream (HTTP or WebSocket) whose client takes no bytes "
                                   "for this long is cut and its engine work stopped (enforced in Ray Serve's proxy "
                                   "by ingress.proxy_guard; no playing client comes near it).")
    request_timeout_s: float = Field(120, gt=0, description="Longest wait for an engine's answer (or next chunk).")
    max_conversion_input_s: float = Field(300, gt=0, description="Longest input on /v1/audio/conversions (60 s "
                                          "or less converts best; longer input is converted in pieces). Keep it "
                                          "to what converts within request_timeout_s: longer input is pointed "
                                          "to the job API, which has no request timeout.")
    cors_allowed_origins: list[str] = Field([], description="Origins whose browser pages may call the API "
                                            "(CORS, preflight answered); none unless configured.")
    cors_allowed_origin_regex: str | None = Field(None, description="A regular expression of further allowed "
                                                  "origins, for example any port on localhost.")

    def per_client_limit(self) -> int:
        return self.max_concurrent_per_client or max(1, self.max_concurrent_requests // 2)


# The config's section of each Chatterbox model.
CHATTERBOX_SECTIONS = {"chatterbox": ORIGINAL, "chatterbox_turbo": TURBO, "chatterbox_multilingual": MULTILINGUAL}


class AppArgs(BaseModel):
    """The `args` of the Chorus application in serve_config.yaml."""

    model_config = ConfigDict(extra="forbid")

    # Factories, not instances: paths resolve when a config is validated, against that process's data root.
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    kokoro: KokoroSettings = Field(default_factory=KokoroSettings)
    chatterbox: ChatterboxSettings = Field(default_factory=ChatterboxSettings, description="The original Chatterbox. "
                                           "Without a checkpoint it reports unavailable and its requests answer 503; "
                                           "the rest keeps serving.")
    chatterbox_turbo: ChatterboxSettings = Field(default_factory=partial(ChatterboxSettings, model=TURBO),
                                                 description="Chatterbox Turbo, a deployment of its own; as above.")
    chatterbox_multilingual: ChatterboxSettings = Field(default_factory=partial(ChatterboxSettings, model=MULTILINGUAL),
                                                        description="Chatterbox Multilingual, a deployment of its own; "
                                                        "as above.")
    conversion: ConversionSettings = Field(default_factory=ConversionSettings, description="Voice conversion with S3Gen from "
                                           "Chatterbox's checkpoint; without it /v1/audio/conversions answers 503.")
    voice_library: VoiceLibrarySettings = Field(default_factory=VoiceLibrarySettings)
    jobs: JobsSettings | None = Field(None, description="The job API (/run, /status) and its consumers; off when unset.")

    @field_validator(*CHATTERBOX_SECTIONS, mode="before")
    @classmethod
    def _each_section_serves_its_model(cls, value, info: ValidationInfo):
        """A Chatterbox section serves the model its key names; `model` may be left out of it."""
        model = CHATTERBOX_SECTIONS[info.field_name]
        if isinstance(value, dict) and value.setdefault("model", model) != model:
            raise ValueError(f"the {info.field_name} section serves {model}, not {value['model']}")
        return value

    def chatterbox_sections(self) -> dict[str, ChatterboxSettings]:
        """Each Chatterbox model's settings, by model name."""
        return {model: getattr(self, key) for key, model in CHATTERBOX_SECTIONS.items()}
