"""Wire models of /v1/voices (fields as the hosted Chatterbox API names them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from deployments.s3gen.protocol import ReferenceSeconds
from ingress.json_body import JsonBody
from stores.voice_library import Description, Gender, VoiceEntry, VoiceName, VoiceStats


class VoiceList(BaseModel):
    voices: list[VoiceEntry]
    total_voices: int
    stats: VoiceStats


class CloneVoiceRequest(JsonBody):
    """JSON form of POST /v1/voices; a multipart upload carries the same fields plus the clip as `file`."""

    model_config = ConfigDict(extra="forbid")

    name: VoiceName = Field(description="Unique name (case-insensitive) to speak with as `voice`.")
    reference_audio: str | None = Field(None, description="Base64 reference clip, 5-60 s (15-30 s works best) "
                                        "in any common format (JSON requests).")
    description: Description = ""
    gender: Gender = "unknown"
    save_to_library: bool = Field(True, description="Store the voice; false only returns its sample.")
    max_reference_duration_sec: ReferenceSeconds | None = None


class ClonedVoice(BaseModel):
    voice_info: VoiceEntry
    sample_audio: str = Field(description="Base64 WAV of a short sentence spoken in the new voice.")
    sample_rate: int
    saved_to_library: bool
    usage_instructions: str


class VoiceUpdate(JsonBody):
    model_config = ConfigDict(extra="forbid")

    name: VoiceName | None = None
    description: Description | None = None


class DeletedVoice(BaseModel):
    deleted: bool = True
    voice_info: VoiceEntry
