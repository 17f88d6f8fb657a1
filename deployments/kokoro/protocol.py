"""Typed handle API of the Kokoro deployment: what other Ray Serve applications send and get.

Replies use the engine-neutral types of ground.replies (audio, stream chunks, health)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

SAMPLE_RATE = 24_000
# Kokoro's languages: a American and b British English, e Spanish, f French, h Hindi, i Italian,
# j Japanese, p Brazilian Portuguese, z Mandarin Chinese (deployments/kokoro/g2p.py).
LangCode = Literal["a", "b", "e", "f", "h", "i", "j", "p", "z"]
LANG_NAMES = {"a": "American English", "b": "British English", "e": "Spanish", "f": "French", "h": "Hindi",
              "i": "Italian", "j": "Japanese", "p": "Brazilian Portuguese", "z": "Mandarin Chinese"}
# Kokoro's speaking rate, the one bound every dialect uses (OpenAI `speed`, ElevenLabs `voice_settings.speed`).
Speed = Annotated[float, Field(ge=0.25, le=4.0, description="Speaking rate multiplier, 0.25 to 4.0 (1.0 normal).")]


class KokoroRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, description="Text to speak.")
    voice: str = Field(description="Pack name, alias, or weighted blend such as 'jf_alpha(2)+jm_kumo(1)'.")
    speed: Speed = 1.0
    lang_code: LangCode = Field("a", description="'a' American English (default), 'b' British English, 'e' Spanish, "
                                "'f' French, 'h' Hindi, 'i' Italian, 'j' Japanese, 'p' Brazilian Portuguese, "
                                "'z' Mandarin Chinese.")
    first_piece_max_tokens: int | None = Field(
        None, ge=8, description="Streaming: cap on the first piece's phoneme tokens so audio starts sooner."
    )
    word_timestamps: bool = Field(False, description="Also return each word's start and end (torch backend).")


@dataclass
class VoiceInfo:
    name: str
    aliases: list[str] = field(default_factory=list)
