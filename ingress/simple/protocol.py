"""Wire models of the simple API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ingress.json_body import JsonBody
from ingress.text_fields import SpokenText, VoiceKey


class SynthesizeRequest(JsonBody):
    model_config = ConfigDict(extra="forbid")

    text: SpokenText = Field(description="Text to speak.")
    voice: VoiceKey | None = Field(None, description="Voice name (see GET /voices), also as {\"id\": ...}; "
                                   "default when omitted.")
    format: Literal["wav"] = Field("wav", description="Only WAV is produced by this API.")


class VoicesResponse(BaseModel):
    voices: list[str]
    default: str
