"""Wire models of OpenAI's /v1/audio/speech, with Chorus's extensions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from audio.formats import AudioFormat, OutputRate, check_encodable
from audio.processing import Normalization
from deployments.chatterbox.protocol import (
    CHATTERBOX_MODELS,
    CfgWeight,
    ChunkSize,
    Exaggeration,
    Language,
    MinP,
    RepetitionPenalty,
    Seed,
    Temperature,
    TopK,
    TopP,
)
from deployments.kokoro.protocol import LangCode, Speed
from deployments.s3gen.protocol import NoWatermark, ReferenceSeconds
from ground.replies import EngineStatus
from ingress.json_body import JsonBody
from ingress.text_fields import SpokenText, VoiceKey

KOKORO_MODEL_NAMES = ("kokoro", "tts-1", "tts-1-hd", "gpt-4o-mini-tts")
MODEL_NAMES = (*KOKORO_MODEL_NAMES, *CHATTERBOX_MODELS)



def encodable_rate(rate: int | None, info: ValidationInfo) -> int | None:
    """A model's `sample_rate` validator: the rate its `response_format` (declared before it) can be encoded at."""
    return check_encodable(info.data.get("response_format"), rate)


class SpeechRequest(JsonBody):
    # Newer OpenAI clients send fields we do not know yet; accept and ignore them.
    model_config = ConfigDict(extra="allow")

    # A plain string with the names as the document's enum: an unknown model keeps its own 400 (model_not_found).
    model: str = Field("kokoro", description=f"One of {', '.join(MODEL_NAMES)}.",
                       json_schema_extra={"enum": list(MODEL_NAMES)})
    input: SpokenText = Field(description="The text to speak.")
    voice: VoiceKey | None = Field(None, description="Kokoro: voice name, OpenAI alias (alloy, nova, ...) or blend "
                                   "'a(2)+b(1)'. Chatterbox: a library voice's name or id. Also as {\"id\": ...}.")
    response_format: AudioFormat = Field("mp3", description="mp3, opus, aac, flac, wav, pcm or aiff.")
    speed: Speed = 1.0
    stream_format: Literal["audio", "sse"] = Field("audio", description="Raw audio bytes, or server-sent events.")
    stream: bool = Field(True, description="Send audio as it is generated (chunked) rather than all at the end.")
    instructions: str | None = Field(None, description="Accepted for compatibility; Kokoro does not use it.")
    sample_rate: OutputRate | None = None
    normalization: Normalization | None = Field(None, description="Loudness normalization: peak or rms.")
    audio_normalization: Normalization | None = Field(None, description="The hosted Chatterbox API's name for "
                                                      "`normalization`.")
    lang_code: LangCode | None = Field(
        None, description="'a' American (default) or 'b' British English, 'e' Spanish, 'f' French, 'h' Hindi, "
        "'i' Italian, 'j' Japanese, 'p' Brazilian Portuguese, 'z' Mandarin Chinese.")
    # Sampling (Chatterbox; Kokoro does not sample). Unset: the engine's default (ChatterboxParams).
    temperature: Temperature | None = None
    top_k: TopK | None = None
    top_p: TopP | None = None
    repetition_penalty: RepetitionPenalty | None = None
    language: Language | None = None
    # Chatterbox (the chatterbox-* models); the meanings are those of the hosted Chatterbox API. A field a
    # model does not use is accepted and ignored (the README's table says which model uses which).
    exaggeration: Exaggeration | None = None
    cfg_weight: CfgWeight | None = None
    min_p: MinP | None = None
    seed: Seed | None = None
    chunk_size: ChunkSize | None = None
    no_watermark: NoWatermark = False  # Chatterbox only
    reference_audio: str | None = Field(None, description="Chatterbox: base64 audio of a voice to clone for this "
                                        "request only (instead of `voice`).")
    max_reference_duration_sec: ReferenceSeconds | None = None

    _encodable = field_validator("sample_rate")(encodable_rate)


class CaptionedSpeechRequest(SpeechRequest):
    """Kokoro-FastAPI's /dev/captioned_speech: the speech request plus word timestamps."""

    return_timestamps: bool = Field(True, description="Include each word's start and end time.")


class WordTimestamp(BaseModel):
    word: str
    start_time: float = Field(description="Seconds from the start of the audio.")
    end_time: float = Field(description="Seconds from the start of the audio.")


class CaptionedSpeech(BaseModel):
    """The whole answer, or (streaming) one line of newline-delimited JSON per spoken piece."""

    audio: str = Field(description="Base64 of the audio bytes in `audio_format` (in a stream: the next bytes).")
    audio_format: AudioFormat
    timestamps: list[WordTimestamp] = Field(description="Words in order (in a stream: the words of this piece).")


class SpeechAudioDelta(BaseModel):
    type: Literal["speech.audio.delta"] = "speech.audio.delta"
    audio: str = Field(description="Base64 of the next bytes of audio in the response format.")


class SpeechUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int


class SpeechAudioDone(BaseModel):
    type: Literal["speech.audio.done"] = "speech.audio.done"
    usage: SpeechUsage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "chorus"
    engine: str = Field(description="The engine deployment that speaks it (kokoro, or a chatterbox-* model).")
    ready: bool = Field(description="Whether that engine can speak now (a model without its checkpoint is not).")
    status: EngineStatus = Field(
        description="That engine's state, as /health says it: idle (no replica running: the next request starts "
                    "one), starting, ready or unavailable.")
    language_field: str | None = Field(description="The request field that chooses its language (lang_code, "
                                       "language), if it speaks more than one.")
    languages: dict[str, str] = Field(description="The values of that field, with their names.")
    default_language: str | None = Field(description="The language when a request names none.")
    parameters: list[str] = Field(description="The sampling fields it uses; it ignores the others.")
    defaults: dict[str, float] = Field(description="What each of those fields is when a request leaves it out "
                                       "(each model has its own: Turbo's differ from the original's).")
    tags: list[str] = Field(description="Tags it reads in the text, such as [laugh].")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
