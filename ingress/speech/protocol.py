"""Wire models of OpenAI's /v1/audio/speech, with Chorus's extensions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from audio.formats import AudioFormat, check_encodable
from audio.processing import Normalization
from deployments.kokoro.protocol import LangCode
from ingress.json_body import JsonBody
from ingress.text_fields import SpokenText, VoiceKey

KOKORO_MODEL_NAMES = ("kokoro", "tts-1", "tts-1-hd", "gpt-4o-mini-tts")
CHATTERBOX_MODEL = "chatterbox"
MODEL_NAMES = (*KOKORO_MODEL_NAMES, CHATTERBOX_MODEL)

Speed = Field(1.0, ge=0.25, le=4.0, description="Speaking rate, 0.25 to 4.0.")
SampleRate = Field(None, ge=8000, le=48000, description="Output sample rate in Hz (resampled); default 24000. "
                   "mp3 and aac take 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100 or 48000; opus "
                   "8000, 12000, 16000, 24000 or 48000.")


def encodable_rate(rate: int | None, info: ValidationInfo) -> int | None:
    """A model's `sample_rate` validator: the rate its `response_format` (declared before it) can be encoded at."""
    return check_encodable(info.data.get("response_format"), rate)


class SpeechRequest(JsonBody):
    # Newer OpenAI clients send fields we do not know yet; accept and ignore them.
    model_config = ConfigDict(extra="allow")

    model: str = Field("kokoro", description=f"One of {', '.join(MODEL_NAMES)}.")
    input: SpokenText = Field(description="The text to speak.")
    voice: VoiceKey | None = Field(None, description="Kokoro: voice name, OpenAI alias (alloy, nova, ...) or blend "
                                   "'a(2)+b(1)'. Chatterbox: a library voice's name or id. Also as {\"id\": ...}.")
    response_format: AudioFormat = Field("mp3", description="mp3, opus, aac, flac, wav, pcm or aiff.")
    speed: float = Speed
    stream_format: Literal["audio", "sse"] = Field("audio", description="Raw audio bytes, or server-sent events.")
    stream: bool = Field(True, description="Send audio as it is generated (chunked) rather than all at the end.")
    instructions: str | None = Field(None, description="Accepted for compatibility; Kokoro does not use it.")
    sample_rate: int | None = SampleRate
    normalization: Normalization | None = Field(None, description="Loudness normalization: peak or rms.")
    audio_normalization: Normalization | None = Field(None, description="The hosted Chatterbox API's name for "
                                                      "`normalization`.")
    lang_code: LangCode | None = Field(
        None, description="'a' American (default) or 'b' British English, 'e' Spanish, 'f' French, 'h' Hindi, "
        "'i' Italian, 'j' Japanese, 'p' Brazilian Portuguese, 'z' Mandarin Chinese.")
    temperature: float | None = Field(None, gt=0, le=2, description="Sampling temperature (engines that sample).")
    top_k: int | None = Field(None, ge=1, le=1000, description="Top-k sampling (engines that sample).")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling (engines that sample).")
    repetition_penalty: float | None = Field(None, ge=1, le=2, description="Repetition penalty (engines that sample).")
    # Chatterbox (model "chatterbox"); the meanings are those of the hosted Chatterbox API.
    exaggeration: float | None = Field(None, ge=0, le=2, description="Chatterbox: emotion intensity (0.5).")
    cfg_weight: float | None = Field(None, ge=0, le=1, description="Chatterbox: guidance weight (0.5); 0 turns it off.")
    min_p: float | None = Field(None, ge=0, le=1, description="Chatterbox: min-p sampling (0.05).")
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Chatterbox: the same seed gives the same audio.")
    chunk_size: int | None = Field(None, ge=1, le=100, description="Chatterbox: words per generated chunk.")
    no_watermark: bool = Field(False, description="Chatterbox: skip the Perth watermark (on by default).")
    reference_audio: str | None = Field(None, description="Chatterbox: base64 audio of a voice to clone for this "
                                        "request only (instead of `voice`).")
    max_reference_duration_sec: float | None = Field(None, gt=0, le=300, description="Chatterbox: cut "
                                                     "reference_audio to this many seconds (30).")

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


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
