"""The RunPod job dialect: a job's `input` translated into an operations-core call, its result into the `output`.

Nothing is implemented here that HTTP also does: routing, voice lookup, decoding, target rules
and cloning are the core's. This module keeps only the job API's own field names, limits and
output shapes (the hosted Chatterbox API's).

Operations are idempotent: a job handed out twice (its first consumer died) computes the same
output again. voice_cloning, the one operation that stores something, asks the core to answer
with the voice a first delivery already stored (same name, same clip) instead of refusing the name.
"""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from functools import partial

import numpy as np

from audio.output import AudioOutput
from audio.uploads import AudioUpload
from deployments.chatterbox.protocol import ChatterboxParams
from deployments.conversion.protocol import ConvertedPiece
from ground.errors import ServiceError, is_final
from ground.replies import AudioChunk
from ingress.jobs.control import JobControl
from ingress.jobs.payloads import (
    AudioResponse,
    ClonedVoiceInfo,
    ConversionJobRequest,
    ConvertedAudio,
    JobFailed,
    ListLocalVoicesRequest,
    LocalVoice,
    LocalVoicesResponse,
    TtsRequest,
    VoiceCloningRequest,
    VoiceCloningResponse,
    VoiceStats,
    parse_input,
)
from ingress.jobs.settings import JobsSettings
from ingress.streaming import Framing, WholeFile, write_stream
from operations.conversion import ConvertRequest
from operations.core import Operations
from operations.speech import SpeakRequest
from operations.voices import CloneRequest

SAMPLE_TEXT_INPUT = "Your text here"


def encoded_wav(audio: np.ndarray, sample_rate: int, output_rate: int | None = None,
                normalization: str | None = None) -> tuple[str, int]:
    output = AudioOutput("wav", sample_rate, output_rate, normalization)
    return base64.b64encode(output.whole(audio)).decode("ascii"), output.sample_rate


class _Progress(Framing[bytes]):
    """A streaming tts job reports how much of its text is spoken so far, chunk by chunk."""

    def __init__(self, text: str, control: JobControl):
        self.text, self.control = text, control
        self.chunks, self.spoken_chars, self.audio_seconds = 0, 0, 0.0

    async def chunk(self, data: bytes, chunk: AudioChunk) -> list[bytes]:
        self.chunks += 1
        self.spoken_chars += len(chunk.text)
        self.audio_seconds += len(chunk.audio) / chunk.sample_rate
        await asyncio.to_thread(self.control.report, chunks=self.chunks, audio_seconds=round(self.audio_seconds, 2),
                                percent=min(99, round(100 * self.spoken_chars / len(self.text))))
        return []


class JobDialect:
    def __init__(self, operations: Operations, settings: JobsSettings):
        self.operations = operations
        self.settings = settings
        self.handlers = {"tts": (TtsRequest, self.tts),
                         "list_local_voices": (ListLocalVoicesRequest, self.list_local_voices),
                         "voice_cloning": (VoiceCloningRequest, self.voice_cloning),
                         "voice_conversion": (ConversionJobRequest, self.convert),
                         "voice_transfer": (ConversionJobRequest, self.convert)}

    async def run(self, job_input: dict, control: JobControl) -> dict:
        """The job's output; JobFailed when it cannot be done as asked. Other errors are worth a retry."""
        operation = job_input.get("operation")
        if operation is None:
            raise JobFailed("Missing required field: 'operation'")
        if operation not in self.handlers:
            raise JobFailed(f"Unknown operation: {operation}")
        model, handler = self.handlers[operation]
        try:
            return (await handler(parse_input(model, job_input), control)).model_dump(mode="json")
        except ServiceError as error:
            if is_final(error):
                raise JobFailed(error.message) from None
            raise

    async def tts(self, request: TtsRequest, control: JobControl) -> AudioResponse:
        if len(request.text) > self.settings.max_text_chars:
            raise JobFailed(f"Invalid value for 'text': {len(request.text)} characters; "
                            f"the limit is {self.settings.max_text_chars}")
        by_id = request.voice_id is not None
        # Every ChatterboxParams field is a field of the job too (an added one fails here until it is).
        params = {name: getattr(request, name) for name in ChatterboxParams.model_fields
                  if getattr(request, name) is not None}
        engine = request.model or ("chatterbox" if request.mode == "streaming_voice_cloning" else None)
        speak = SpeakRequest(
            text=request.text, engine=engine, voice=request.voice_id if by_id else request.voice_name,
            voice_by_id=by_id, voice_param="voice_id" if by_id else "voice_name",
            reference_audio=AudioUpload(request.reference_audio, "reference_audio") if request.reference_audio else None,
            speed=request.speed, lang_code=request.lang_code, language=request.language, chatterbox_params=params,
            max_reference_duration_sec=request.max_reference_duration_sec)
        if request.mode == "basic":
            spoken = await self.operations.speech.synthesize(speak)
            engine, result = spoken.engine, spoken.result
            encoded, output_rate = encoded_wav(result.audio, result.sample_rate, request.sample_rate,
                                               request.audio_normalization)
            duration = len(result.audio) / result.sample_rate
        else:
            speech = await self.operations.speech.stream(speak)
            progress = _Progress(request.text, control)
            wav = b"".join([frame async for frame in write_stream(
                speech.chunks, lambda rate: WholeFile(AudioOutput("wav", rate, request.sample_rate,
                                                                  request.audio_normalization)), progress)])
            engine, encoded, output_rate = speech.engine, base64.b64encode(wav).decode("ascii"), request.sample_rate
            duration = progress.audio_seconds
        return AudioResponse(audio=encoded, sample_rate=output_rate, duration=round(duration, 2), model=engine,
                             operation="tts")

    @staticmethod
    async def _piece_done(piece: ConvertedPiece, control: JobControl) -> None:
        """A conversion reports how many of its pieces are done."""
        await asyncio.to_thread(control.report, pieces=piece.index + 1, of=piece.count,
                                percent=min(99, round(100 * (piece.index + 1) / piece.count)))

    async def list_local_voices(self, request: ListLocalVoicesRequest, control: JobControl) -> LocalVoicesResponse:
        entries = await self.operations.voices.list()
        voices = [LocalVoice(voice_id=entry.voice_id, speaker_name=entry.speaker_name, gender=entry.gender,
                             duration=entry.duration, original_file=entry.original_file, type=entry.type,
                             aliases=entry.aliases) for entry in entries]
        return LocalVoicesResponse(
            local_voices=voices, total_local_voices=len(voices),
            stats=VoiceStats(total_voices=len(voices), gender_distribution=dict(Counter(v.gender for v in voices))))

    async def voice_cloning(self, request: VoiceCloningRequest, control: JobControl) -> VoiceCloningResponse:
        cloned = await self.operations.voices.clone(CloneRequest(
            request.voice_name, AudioUpload(request.reference_audio, "reference_audio"), gender=request.gender,
            description=request.voice_description, save_to_library=request.save_to_library,
            max_reference_duration_sec=request.max_reference_duration_sec, reuse_identical=True))
        entry = cloned.entry
        info = ClonedVoiceInfo(voice_id=entry.voice_id if cloned.saved else None, voice_name=entry.speaker_name,
                               description=entry.description, gender=entry.gender, duration=entry.duration,
                               sample_rate=entry.sample_rate, created_at=f"{entry.created_at:%Y-%m-%d %H:%M:%S}")
        target = {"voice_name": entry.speaker_name} if cloned.saved else {"reference_audio": "<the same base64 clip>"}
        sample_audio, rate = encoded_wav(cloned.sample.audio, cloned.sample.sample_rate)
        usage = {name: {"operation": "tts", "mode": mode, "text": SAMPLE_TEXT_INPUT, **target}
                 for name, mode in (("tts_basic", "basic"), ("tts_streaming", "streaming_voice_cloning"))}
        return VoiceCloningResponse(voice_info=info, sample_audio=sample_audio, sample_rate=rate,
                                    saved_to_library=cloned.saved, usage_instructions=usage,
                                    message=f"Voice '{info.voice_name}' cloned successfully")

    async def convert(self, request: ConversionJobRequest, control: JobControl) -> ConvertedAudio:
        if request.operation == "voice_transfer" and request.transfer_mode is None:
            raise JobFailed("Missing required field: 'transfer_mode'")  # the reference requires it for transfers
        target_audio = AudioUpload(request.target_audio, "target_audio") if request.target_audio else None
        converted = await self.operations.conversion.convert(ConvertRequest(
            AudioUpload(request.input_audio, "input_audio"), voice_name=request.voice_name, voice_id=request.voice_id,
            target_audio=target_audio, transfer_mode=request.transfer_mode, no_watermark=request.no_watermark,
            max_reference_duration_sec=request.max_reference_duration_sec,
            max_input_s=self.settings.max_conversion_input_s), on_piece=partial(self._piece_done, control=control))
        result = converted.result
        encoded, rate = encoded_wav(result.audio, result.sample_rate, request.sample_rate)
        return ConvertedAudio(audio=encoded, sample_rate=rate, duration=round(len(result.audio) / result.sample_rate, 2),
                              model="s3gen", operation=request.operation,
                              input_duration=round(converted.input_duration, 2), transfer_info=converted.transfer_info)
