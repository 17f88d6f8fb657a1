"""The job payloads: the `input` of each operation and the `output` it produces.

Shapes follow the hosted Chatterbox job API that clients already speak. Inputs ignore fields
they do not know, as that API does (clients send one payload shape for several modes).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from audio.formats import OutputRate
from audio.processing import Normalization
from deployments.chatterbox.protocol import (
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
from ground.errors import describe_validation_error
from ingress.text_fields import SpokenText
from operations.conversion import TransferInfo, TransferMode
from operations.speech import Engine
from stores.voice_library import Description, Gender, VoiceName

TtsMode = Literal["basic", "streaming", "streaming_voice_cloning"]


class JobFailed(Exception):
    """The job cannot be done as asked. Its message becomes the job's `error`; it is not retried."""


class TtsRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    operation: Literal["tts"]
    mode: TtsMode = Field(description="basic, streaming, or streaming_voice_cloning (Chatterbox).")
    text: SpokenText = Field(description="Text to speak.")
    voice_name: str | None = Field(None, description="A voice from list_local_voices (its speaker_name).")
    voice_id: str | None = Field(None, description="A voice by its voice_id, instead of voice_name.")
    sample_rate: OutputRate = 24_000
    audio_normalization: Normalization | None = Field(None, description="peak, rms, or none.")
    reference_audio: str | None = Field(None, description="Base64 audio to clone a voice from (Chatterbox).")
    max_reference_duration_sec: ReferenceSeconds | None = None
    # Chorus's extensions: which model speaks (unset: the voice decides, and streaming_voice_cloning is the original
    # Chatterbox), and Chatterbox Multilingual's language.
    model: Engine | None = Field(None, description="kokoro, chatterbox, chatterbox-turbo or chatterbox-multilingual.")
    language: Language | None = None
    # Kokoro's, as /v1/audio/speech takes them.
    speed: Speed = 1.0
    lang_code: LangCode = "a"
    # Chatterbox's generation parameters, with its bounds; unset: the model's defaults (Kokoro splits at sentences).
    exaggeration: Exaggeration | None = None
    cfg_weight: CfgWeight | None = None
    temperature: Temperature | None = None
    repetition_penalty: RepetitionPenalty | None = None
    min_p: MinP | None = None
    top_p: TopP | None = None
    top_k: TopK | None = None
    seed: Seed | None = None
    chunk_size: ChunkSize | None = None
    no_watermark: NoWatermark = False
    print_metrics: bool = Field(True, description="Accepted for compatibility.")


class ListLocalVoicesRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    operation: Literal["list_local_voices"]


class VoiceCloningRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    operation: Literal["voice_cloning"]
    reference_audio: str = Field(min_length=1, description="Base64 audio of the voice, 5-60 s (15-30 s is best).")
    voice_name: VoiceName = Field(description="Name of the new voice, unique regardless of case.")
    voice_description: Description = Field("", description="Free text about the voice.")
    gender: Gender = Field("unknown", description="male, female, neutral or unknown (counted in list_local_voices).")
    save_to_library: bool = Field(True, description="Store the voice for later tts jobs.")
    max_reference_duration_sec: ReferenceSeconds | None = None  # unset: the deployment's cap, as on /v1/voices


class ConversionJobRequest(BaseModel):
    """voice_conversion and voice_transfer: the same engine call, the target named in one of three ways."""

    model_config = ConfigDict(extra="ignore")

    operation: Literal["voice_conversion", "voice_transfer"]
    input_audio: str = Field(min_length=1, description="Base64 audio to re-speak in the target voice.")
    transfer_mode: TransferMode | None = Field(None, description="voice_transfer: embedding (a library voice) or "
                                               "audio (target_audio).")
    voice_name: str | None = Field(None, min_length=1, description="Target: a library voice by name.")
    voice_id: str | None = Field(None, min_length=1, description="Target: a library voice by id.")
    target_audio: str | None = Field(None, min_length=1, validation_alias=AliasChoices("target_audio", "target_speaker"),
                                     description="Target: base64 audio of the voice (also as target_speaker).")
    no_watermark: NoWatermark = False
    max_reference_duration_sec: ReferenceSeconds | None = None
    sample_rate: OutputRate | None = None  # unset: S3Gen's own 24 kHz


class AudioResponse(BaseModel):
    audio: str = Field(description="Base64-encoded WAV file.")
    sample_rate: int = Field(description="Sample rate of the WAV in Hz.")
    duration: float = Field(description="Length of the audio in seconds.")
    format: Literal["wav"] = Field("wav", description="Always wav.")
    model: str = Field(description="The engine that spoke it.")
    operation: str = Field(description="The job's operation.")


class ConvertedAudio(AudioResponse):
    input_duration: float = Field(description="Length of the input audio in seconds.")
    transfer_info: TransferInfo = Field(description="The target voice and where it came from.")


class ClonedVoiceInfo(BaseModel):
    voice_id: str | None = Field(description="The new voice's id, usable as `voice_id`; null when not saved.")
    voice_name: str = Field(description="Its name, usable as `voice_name`.")
    description: str = Field(description="Free text about the voice.")
    gender: str = Field(description="male, female, neutral or unknown.")
    duration: float = Field(description="Length of the reference clip in seconds.")
    sample_rate: int = Field(description="Sample rate of the reference clip in Hz.")
    created_at: str = Field(description="When it was created, UTC: YYYY-MM-DD HH:MM:SS.")
    type: Literal["user_cloned_voice"] = "user_cloned_voice"


class VoiceCloningResponse(BaseModel):
    success: bool = True
    voice_info: ClonedVoiceInfo
    sample_audio: str = Field(description="Base64 WAV of a short sentence in the new voice.")
    sample_rate: int
    saved_to_library: bool
    operation: Literal["voice_cloning"] = "voice_cloning"
    message: str
    usage_instructions: dict[str, dict] = Field(description="tts job inputs that speak with the voice.")


class LocalVoice(BaseModel):
    voice_id: str = Field(description="Stable id, usable as `voice_id` in tts jobs.")
    speaker_name: str = Field(description="The name to use as `voice_name`.")
    gender: str = Field(description="male, female or unknown.")
    duration: float | None = Field(None, description="Length of the voice's source audio, when known.")
    original_file: str | None = Field(None, description="The voice's source file, when known.")
    type: str = Field(description="What kind of voice this is.")
    aliases: list[str] = Field([], description="Other names that select this voice.")


class VoiceStats(BaseModel):
    total_voices: int = Field(description="Number of voices.")
    gender_distribution: dict[str, int] = Field(description="Voices per gender.")


class LocalVoicesResponse(BaseModel):
    local_voices: list[LocalVoice] = Field(description="Every voice this deployment can speak with.")
    total_local_voices: int = Field(description="Number of voices.")
    stats: VoiceStats = Field(description="Counts over the voices.")


def parse_input(model: type[BaseModel], job_input: dict) -> BaseModel:
    """Validate a job's input; a problem becomes a JobFailed naming the field, in the reference's wording."""
    try:
        return model.model_validate(job_input)
    except ValidationError as error:
        raise JobFailed(describe_validation_error(error.errors()[0], noun="field")[0]) from None
