"""Convert: recorded speech re-spoken by S3Gen in a library voice or in the voice of a second recording.

The target rules hold on every front end: exactly one target, and a `transfer_mode` (the hosted
Chatterbox API's voice transfer) that, when given, agrees with it. The target is checked, and a
library voice found, before any audio is decoded. A long input comes back from the engine piece by
piece, and is joined here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from audio.uploads import AudioUpload
from deployments.conversion.pieces import joined
from deployments.conversion.protocol import MIN_INPUT_SEC, ConvertedPiece, S3GenRequest
from deployments.s3gen.protocol import LibraryVoice, ReferenceAudio
from ground.errors import AudioTooLong, InvalidRequest
from ground.replies import SynthesisResult
from operations.engines import ConversionClient
from operations.voices import VoiceOperations, not_found

TransferMode = Literal["embedding", "audio"]
_MODE_TARGETS = {"embedding": "'voice_name' (or 'voice_id'): transfer_mode 'embedding' converts into a library voice",
                 "audio": "'target_audio' (or 'target_speaker'): transfer_mode 'audio' converts into the voice of a "
                          "recording"}


class TransferInfo(BaseModel):
    transfer_mode: TransferMode = Field(description="embedding: a library voice; audio: a one-off recording.")
    target_voice: str = Field(description="The library voice's name, or the field that carried the recording.")
    voice_id: str | None = Field(description="The library voice's id; null for a recording.")
    source: Literal["voice_library", "target_audio"]


@dataclass(frozen=True)
class ConvertRequest:
    audio: AudioUpload
    voice_name: str | None = None
    voice_id: str | None = None
    target_audio: AudioUpload | None = None
    transfer_mode: TransferMode | None = None
    no_watermark: bool = False
    max_reference_duration_sec: float | None = None
    max_input_s: float = 300  # the front end's limit on the input's length
    longer_input: str | None = None  # where a front end sends input over its limit (told in the error)


@dataclass(frozen=True)
class Converted:
    result: SynthesisResult  # as long as the input; `pieces` says how many pieces it was converted in
    input_duration: float
    transfer_info: TransferInfo


class ConversionOperations:
    def __init__(self, conversion: ConversionClient, voices: VoiceOperations):
        self.conversion = conversion
        self.voices = voices

    async def convert(self, request: ConvertRequest,
                      on_piece: Callable[[ConvertedPiece], Awaitable[None]] | None = None) -> Converted:
        """`on_piece` hears of each piece as it is done (a job reports progress, and stops if cancelled)."""
        mode = _transfer_mode(request)
        if mode == "embedding":
            target, info = await self._library_target(request)
        try:
            speech = await self.voices.decode(request.audio, min_duration_s=MIN_INPUT_SEC,
                                              max_duration_s=request.max_input_s)
        except AudioTooLong as error:
            if request.longer_input is None:
                raise
            raise AudioTooLong(f"{error.message}: {request.longer_input}", error.param) from error
        if mode == "audio":
            # As long as a cloning reference may be; the engine cuts it to max_reference_duration_sec.
            clip = await self.voices.decode(request.target_audio, max_duration_s=self.voices.settings.max_clone_s)
            target = ReferenceAudio(clip.samples, clip.sample_rate)
            info = TransferInfo(transfer_mode="audio", target_voice=request.target_audio.param, voice_id=None,
                                source="target_audio")
        pieces = []
        async for piece in self.conversion.convert_pieces(S3GenRequest(
                speech.samples, speech.sample_rate, target, no_watermark=request.no_watermark,
                max_reference_duration_sec=request.max_reference_duration_sec)):
            pieces.append(piece)
            if on_piece is not None:
                await on_piece(piece)
        result = SynthesisResult(joined(pieces), pieces[0].sample_rate, len(pieces), 0)
        return Converted(result, speech.duration_s, info)

    async def _library_target(self, request: ConvertRequest) -> tuple[LibraryVoice, TransferInfo]:
        by_id = request.voice_id is not None
        param, key = ("voice_id", request.voice_id) if by_id else ("voice_name", request.voice_name)
        entry = await self.voices.find_stored(key, by_id=by_id)
        if entry is None:  # Kokoro packs are not targets: S3Gen imitates a recorded voice
            raise not_found(key, param, by_id=by_id, resource=True)
        voice = self.voices.chatterbox_voice(entry, key, param, "conversion targets are")
        return voice, TransferInfo(transfer_mode="embedding", target_voice=entry.speaker_name, voice_id=entry.voice_id,
                                   source="voice_library")


def _transfer_mode(request: ConvertRequest) -> TransferMode:
    """embedding (a library voice) or audio (a recording): exactly one target, and transfer_mode agreeing."""
    given = [name for name in ("voice_name", "voice_id") if getattr(request, name) is not None]
    if request.target_audio is not None:
        given.append(request.target_audio.param)
    if not given:
        if request.transfer_mode is not None:
            raise InvalidRequest(f"Missing required field: {_MODE_TARGETS[request.transfer_mode]}",
                                 param="transfer_mode")
        raise InvalidRequest("Name the target voice: give one of voice_name, voice_id or target_speaker "
                             "(target_audio)", param="voice_name")
    if len(given) > 1:
        raise InvalidRequest(f"Give exactly one target voice, not {' and '.join(given)}", param=given[1])
    mode = "audio" if request.target_audio is not None else "embedding"
    if request.transfer_mode not in (None, mode):
        raise InvalidRequest(f"Missing required field: {_MODE_TARGETS[request.transfer_mode]}", param="transfer_mode")
    return mode
