"""Wire models of POST /v1/audio/conversions (field names as the hosted Chatterbox API has them)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from audio.formats import AudioFormat, OutputRate
from deployments.s3gen.protocol import ReferenceSeconds
from ingress.json_body import JsonBody
from ingress.speech.protocol import encodable_rate
from ingress.text_fields import RequiredVoiceKey
from operations.conversion import TransferInfo, TransferMode


class ConversionRequest(JsonBody):
    """JSON form of the request; a multipart upload carries the same fields, with the input as the file
    `file` and a target recording, if any, as the file `target_speaker`."""

    model_config = ConfigDict(extra="forbid")

    audio: str | None = Field(None, validation_alias=AliasChoices("audio", "input_audio"),
                              description="Base64 speech to convert, in any common format (JSON requests; "
                              "`input_audio` is accepted too). 60 s or less converts best.")
    voice_name: RequiredVoiceKey | None = Field(None, description="Target: a library voice by name (any "
                                        "case); {\"id\": ...} names the same voice.")
    voice_id: RequiredVoiceKey | None = Field(None, description="Target: a library voice by id.")
    target_speaker: str | None = Field(None, validation_alias=AliasChoices("target_speaker", "target_audio"),
                                       description="Target: base64 recording of the voice to convert into "
                                       "(`target_audio` is accepted too), cut to max_reference_duration_sec.")
    transfer_mode: TransferMode | None = Field(None, description="Voice transfer as the hosted Chatterbox API "
                                               "names it: `embedding` takes a library voice as target, `audio` "
                                               "a recording. Optional: the target decides the mode.")
    response_format: AudioFormat = Field("wav", description="mp3, opus, aac, flac, wav, pcm or aiff.")
    sample_rate: OutputRate | None = None
    no_watermark: bool = Field(False, description="Skip the Perth watermark that marks the audio as generated.")
    max_reference_duration_sec: ReferenceSeconds | None = None
    return_json: bool = Field(False, description="Answer with JSON (base64 audio, durations, transfer_info) as the "
                              "hosted Chatterbox API does, instead of the audio bytes.")

    _encodable = field_validator("sample_rate")(encodable_rate)


class ConversionResponse(BaseModel):
    """The answer when `return_json` is set; otherwise the same facts come as X-* headers beside the audio."""

    audio: str = Field(description="Base64 of the converted audio in `format`.")
    format: AudioFormat
    sample_rate: int
    duration: float = Field(description="Seconds of converted audio.")
    input_duration: float = Field(description="Seconds of input audio.")
    pieces: int = Field(description="How many pieces the input was converted in (cut at pauses when long).")
    model: Literal["s3gen"] = "s3gen"
    transfer_info: TransferInfo
