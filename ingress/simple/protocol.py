"""Wire models of the simple API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SynthesizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="Text to speak.")
    voice: str | None = Field(None, description="Voice name (see GET /voices); default when omitted.")
    format: Literal["wav"] = Field("wav", description="Only WAV is produced by this API.")

    @field_validator("text")
    @classmethod
    def _has_words(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("text must contain text to speak")
        return text


class VoicesResponse(BaseModel):
    voices: list[str]
    default: str
