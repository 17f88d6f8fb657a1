"""Wire models of ElevenLabs' stream-input WebSocket: the query, the client's messages, the server's answers.

Like ElevenLabs, unknown fields are ignored (clients send more than this server uses), but a known field
of the wrong type is refused: the client messages are validated strictly (no "true" for true, no 5 for "5").
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from deployments.kokoro.protocol import Speed

# ElevenLabs' output_format -> (Chorus format, sample rate). MP3 bitrates are the encoder's (LAME's default for
# mono at that rate: 32 kbps at 22.05 kHz, 64 kbps at 44.1 kHz), not the one in the name.
OUTPUT_FORMATS: dict[str, tuple[str, int]] = {
    "pcm_8000": ("pcm", 8000),
    "pcm_16000": ("pcm", 16000),
    "pcm_22050": ("pcm", 22050),
    "pcm_24000": ("pcm", 24000),
    "pcm_44100": ("pcm", 44100),
    "pcm_48000": ("pcm", 48000),
    "mp3_22050_32": ("mp3", 22050),
    "mp3_44100_128": ("mp3", 44100),
}
DEFAULT_OUTPUT_FORMAT = "mp3_44100_128"  # ElevenLabs' default, and the SDK's
DEFAULT_INACTIVITY_TIMEOUT_S = 20.0
MAX_INACTIVITY_TIMEOUT_S = 180.0  # ElevenLabs' maximum


class StreamInputQuery(BaseModel):
    """The query string of the WebSocket URL (strings, so numbers are parsed)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    model_id: str | None = Field(None, description="A Chorus model (kokoro, chatterbox, chatterbox-turbo, "
                                 "chatterbox-multilingual), or an ElevenLabs id: those in the gateway's "
                                 "websocket_models map speak with the model it names, other eleven_* ids with "
                                 "Kokoro; none: the voice decides.")
    language_code: str | None = Field(None, description="ISO 639-1 language: chatterbox-multilingual's `language`; "
                                      "the models that speak one language ignore it.")
    output_format: str = Field(DEFAULT_OUTPUT_FORMAT, description=f"One of {', '.join(OUTPUT_FORMATS)}.")
    inactivity_timeout: float = Field(DEFAULT_INACTIVITY_TIMEOUT_S, gt=0, le=MAX_INACTIVITY_TIMEOUT_S,
                                      description="Seconds without a message before the server closes the socket.")
    xi_api_key: str | None = Field(None, validation_alias=AliasChoices("xi-api-key", "xi_api_key"),
                                   description="A Chorus API key, for clients that cannot set headers.")
    authorization: str | None = Field(None, description="'Bearer <key>', for clients that cannot set headers.")

    @field_validator("output_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in OUTPUT_FORMATS:
            raise ValueError(f"output format '{value}' is not supported here; use one of {', '.join(OUTPUT_FORMATS)}")
        return value


class VoiceSettings(BaseModel):
    """ElevenLabs' voice settings. Only `speed` has a Chorus equivalent; the rest are accepted and ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)

    stability: float | None = Field(None, description="Ignored (no Chorus equivalent).")
    similarity_boost: float | None = Field(None, description="Ignored (no Chorus equivalent).")
    style: float | None = Field(None, description="Ignored (no Chorus equivalent).")
    use_speaker_boost: bool | None = Field(None, description="Ignored (no Chorus equivalent).")
    speed: Speed | None = None


class GenerationConfig(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    chunk_length_schedule: list[float] | None = Field(None, description="Accepted and ignored: Chorus cuts the "
                                                      "text at sentence ends, at flush and at the end of input.")


class TextChunkRequest(BaseModel):
    """Every client message: the first one may also carry settings and a key; `text: ""` ends the input."""

    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=True)

    text: str = Field(description="More text to speak (often ending in a space); \"\" ends the input.")
    flush: bool | None = Field(None, description="Speak all buffered text now, even an unfinished sentence.")
    try_trigger_generation: bool | None = Field(None, description="Accepted and ignored: every complete sentence "
                                                "is spoken at once anyway.")
    voice_settings: VoiceSettings | None = Field(None, description="First message only; later ones are ignored.")
    generation_config: GenerationConfig | None = Field(None, description="First message only; see GenerationConfig.")
    xi_api_key: str | None = Field(None, validation_alias=AliasChoices("xi_api_key", "xi-api-key"),
                                   description="First message only: a Chorus API key, when no header carried one.")
    authorization: str | None = Field(None, description="First message only: 'Bearer <key>'.")


class CharacterAlignment(BaseModel):
    """When each character of the chunk's text is heard, in ms from the start of this message's audio."""

    chars: list[str] = Field(description="The characters of the text spoken in this message.")
    char_start_times_ms: list[int] = Field(serialization_alias="charStartTimesMs", description="Start of each character.")
    char_durations_ms: list[int] = Field(serialization_alias="charDurationsMs", description="Length of each character.")


class AudioChunkResponse(BaseModel):
    audio: str = Field(description="Base64 audio in the requested output format; may be empty.")
    is_final: Literal[False] = Field(False, serialization_alias="isFinal", description="Always false here.")
    normalized_alignment: CharacterAlignment | None = Field(
        None, serialization_alias="normalizedAlignment",
        description="Character timings where the engine reports word timings (Kokoro's torch backend); else null.")
    alignment: CharacterAlignment | None = Field(None, description="The same timings (Chorus does not normalize).")


class FinalResponse(BaseModel):
    is_final: Literal[True] = Field(True, serialization_alias="isFinal", description="All audio has been sent.")


class StreamErrorResponse(BaseModel):
    """What ElevenLabs sends before it closes a socket on an error."""

    message: str = Field(description="What went wrong, for people.")
    error: str = Field(description="A short code: invalid_input_message, input_timeout_exceeded, ...")
    code: int = Field(description="The WebSocket close code that follows (1008 policy violation, 1011 server error, "
                      "1013 try again later: the replica's socket limit or the client's share).")
