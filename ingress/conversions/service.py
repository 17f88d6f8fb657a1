"""Serving logic for /v1/audio/conversions: check the target, decode the audio, convert, encode."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from deployments.chatterbox.protocol import LibraryVoice, ReferenceAudio
from deployments.chatterbox.voices import library_voice
from deployments.conversion.protocol import MIN_INPUT_SEC
from deployments.conversion.protocol import S3GenRequest
from deployments.errors import VoiceNotFound
from deployments.voice_library import VoiceLibrary
from deployments.voice_library.settings import VoiceLibrarySettings
from audio.output import AudioOutput
from audio.uploads import DecodedAudio, decode_base64_audio, decode_upload
from ingress.conversions.protocol import ConversionRequest, TransferInfo
from ingress.engines import ConversionClient
from ingress.errors import APIError
from ingress.settings import GatewaySettings

TARGET_FIELDS = ("voice_name", "voice_id", "target_speaker")
_MODE_TARGETS = {"embedding": "voice_name or voice_id", "audio": "target_speaker (or target_audio)"}


@dataclass
class Upload:
    """Audio as the request carried it: a file's bytes, or base64 text from a JSON field."""

    data: bytes | str
    param: str  # the request field it came in, named in errors


@dataclass
class Converted:
    audio: bytes  # in the requested response format
    sample_rate: int
    input_duration: float
    output_duration: float
    pieces: int
    transfer_info: TransferInfo


class ConversionService:
    def __init__(self, conversion: ConversionClient, library: VoiceLibrary, library_settings: VoiceLibrarySettings,
                 settings: GatewaySettings):
        self.conversion = conversion
        self.library = library
        self.library_settings = library_settings
        self.settings = settings

    async def convert(self, request: ConversionRequest, audio: Upload, target_file: Upload | None) -> Converted:
        """Check the target (and find a library voice) before any audio is decoded, then decode, convert, encode."""
        target_upload = self._target_upload(request, target_file)
        if target_upload is None:
            target, info = await self._library_target(request)
        limits = {"max_bytes": self.library_settings.max_upload_bytes}
        decoded = await _decoded(audio, min_duration_s=MIN_INPUT_SEC,
                                 max_duration_s=self.settings.max_conversion_input_s, **limits)
        if target_upload is not None:
            # As long as a cloning reference may be; the engine cuts it to max_reference_duration_sec.
            clip = await _decoded(target_upload, max_duration_s=self.library_settings.max_clone_s, **limits)
            target = ReferenceAudio(clip.samples, clip.sample_rate)
            info = TransferInfo(transfer_mode="audio", target_voice="target_speaker", voice_id=None,
                                source="target_audio")
        result = await self.conversion.convert(EngineRequest(
            decoded.samples, decoded.sample_rate, target, no_watermark=request.no_watermark,
            max_reference_duration_sec=request.max_reference_duration_sec))
        output = AudioOutput(request.response_format, result.sample_rate, request.sample_rate)
        encoded = await asyncio.to_thread(output.whole, result.audio)  # minutes of audio: off the event loop
        return Converted(encoded, output.sample_rate, decoded.duration_s,
                         len(result.audio) / result.sample_rate, result.pieces, info)

    @staticmethod
    def _target_upload(request: ConversionRequest, target_file: Upload | None) -> Upload | None:
        """The target recording, if that is the target; 400 unless exactly one target is given and
        `transfer_mode` (if given) takes it."""
        given = [name for name in TARGET_FIELDS if getattr(request, name) is not None]
        if target_file is not None:
            given.append(target_file.param)
        if not given:
            raise APIError(400, "Name the target voice: give one of voice_name, voice_id or target_speaker",
                           param="voice_name")
        if len(given) > 1:
            raise APIError(400, f"Give exactly one target voice, not {' and '.join(given)}", param=given[1])
        mode = "embedding" if given[0] in ("voice_name", "voice_id") else "audio"
        if request.transfer_mode not in (None, mode):
            raise APIError(400, f"transfer_mode '{request.transfer_mode}' takes {_MODE_TARGETS[request.transfer_mode]} "
                           "as the target", param="transfer_mode")
        if request.target_speaker is not None:
            return Upload(request.target_speaker, "target_speaker")
        return target_file

    async def _library_target(self, request: ConversionRequest) -> tuple[LibraryVoice, TransferInfo]:
        param, key = ("voice_id", request.voice_id) if request.voice_id is not None else ("voice_name", request.voice_name)
        try:
            entry = await asyncio.to_thread(self.library.get, key)
        except VoiceNotFound as missing:
            raise APIError(404, missing.message, param=param, code="voice_not_found") from None
        if param == "voice_id" and entry.voice_id != key:  # the library also finds voices by name
            raise APIError(404, f"No voice has the id '{key}'", param=param, code="voice_not_found")
        voice = library_voice(entry, key, param, "conversion targets are")
        info = TransferInfo(transfer_mode="embedding", target_voice=entry.speaker_name, voice_id=entry.voice_id,
                            source="voice_library")
        return voice, info


async def _decoded(upload: Upload, **limits) -> DecodedAudio:
    decode = decode_upload if isinstance(upload.data, bytes) else decode_base64_audio
    return await asyncio.to_thread(decode, upload.data, param=upload.param, **limits)
