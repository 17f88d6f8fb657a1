"""The job operations: a job's `input` in, its `output` out, engines called through their handles.

Operations are idempotent: a job handed out twice (its first consumer died) computes the same
output again and writes nothing else but its own record. The one operation that stores
something, voice_cloning, finds the voice a first delivery already stored (same name, same
clip) and answers with it instead of storing a second one.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from datetime import UTC, datetime

import numpy as np

from deployments.chatterbox.protocol import ChatterboxParams, ChatterboxRequest, PreparedVoice, ReferenceAudio
from deployments.chatterbox.voices import clip_fields, library_voice, store_clone
from deployments.conversion.protocol import MIN_INPUT_SEC, ConversionRequest
from deployments.errors import EngineError, VoiceNotFound
from deployments.jobs.control import JobControl
from deployments.jobs.engines import ChatterboxCalls, ConversionCalls, KokoroCalls
from deployments.jobs.protocol import (
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
from deployments.jobs.settings import JobsSettings
from deployments.kokoro.protocol import SAMPLE_RATE  # Chatterbox and S3Gen speak at 24 kHz too
from deployments.kokoro.protocol import KokoroRequest
from deployments.voice_library import VoiceEntry, VoiceLibrary, is_kokoro_name
from deployments.voice_library.settings import VoiceLibrarySettings
from audio.output import AudioOutput  # a pure encoder, shared with the gateway
from audio.uploads import DecodedAudio, decode_base64_audio  # pure decoders, shared with the gateway
from ingress.conversions.protocol import TransferInfo

KOKORO_GENDERS = {"f": "female", "m": "male"}
SAMPLE_TEXT_INPUT = "Your text here"


def voice_id(name: str) -> str:
    """A short id that stays the same for the same voice name."""
    return hashlib.sha256(f"kokoro:{name}".encode()).hexdigest()[:8]


def gender(name: str) -> str:
    """Kokoro pack names start with a language letter and a gender letter: jf_alpha, jm_kumo."""
    return KOKORO_GENDERS.get(name[1:2], "unknown") if name[2:3] == "_" else "unknown"


def not_found(key: str) -> JobFailed:
    return JobFailed(f"Voice '{key}' not found in any library")


def encoded_wav(audio: np.ndarray, sample_rate: int, output_rate: int | None = None,
                normalization: str | None = None) -> tuple[str, int]:
    output = AudioOutput("wav", sample_rate, output_rate, normalization)
    return base64.b64encode(output.whole(audio)).decode("ascii"), output.sample_rate


class Operations:
    def __init__(self, kokoro: KokoroCalls, chatterbox: ChatterboxCalls, conversion: ConversionCalls,
                 library_settings: VoiceLibrarySettings, settings: JobsSettings):
        self.kokoro = kokoro
        self.chatterbox = chatterbox
        self.conversion = conversion
        self.library = VoiceLibrary(library_settings.root)
        self.library_settings = library_settings
        self.settings = settings
        self.handlers = {"tts": (TtsRequest, self.tts), "list_local_voices": (ListLocalVoicesRequest, self.list_local_voices),
                         "voice_cloning": (VoiceCloningRequest, self.voice_cloning),
                         "voice_conversion": (ConversionJobRequest, self.convert),
                         "voice_transfer": (ConversionJobRequest, self.convert)}

    def run(self, job_input: dict, control: JobControl) -> dict:
        operation = job_input.get("operation")
        if operation is None:
            raise JobFailed("Missing required field: 'operation'")
        if operation not in self.handlers:
            raise JobFailed(f"Unknown operation: {operation}")
        model, handler = self.handlers[operation]
        try:
            return handler(parse_input(model, job_input), control).model_dump(mode="json")
        except EngineError as error:  # raised here, not by an engine: bad audio, a library refusal
            raise JobFailed(error.message) from None

    # tts

    def tts(self, request: TtsRequest, control: JobControl) -> AudioResponse:
        if len(request.text) > self.settings.max_text_chars:
            raise JobFailed(f"Invalid value for 'text': {len(request.text)} characters; "
                            f"the limit is {self.settings.max_text_chars}")
        voice = self._chatterbox_voice(request)
        if voice is not None or request.mode == "streaming_voice_cloning":
            engine, model = self.chatterbox, "chatterbox"
            chunking = {"chunk_size": request.chunk_size} if "chunk_size" in request.model_fields_set else {}
            params = ChatterboxParams(exaggeration=request.exaggeration, cfg_weight=request.cfg_weight,
                                      temperature=request.temperature, **chunking)
            engine_request = ChatterboxRequest(request.text, voice, params, request.max_reference_duration_sec)
        else:
            engine, model = self.kokoro, "kokoro"
            engine_request = EngineRequest(text=request.text, voice=self._kokoro_voice(request, control))
        if request.mode == "basic":
            audio = engine.synthesize(engine_request, control).audio
        else:
            audio = self._streamed(engine, engine_request, request.text, control)
        encoded, rate = encoded_wav(audio, SAMPLE_RATE, request.sample_rate, request.audio_normalization)
        return AudioResponse(audio=encoded, sample_rate=rate, duration=round(len(audio) / SAMPLE_RATE, 2),
                             model=model, operation="tts")

    def _chatterbox_voice(self, request: TtsRequest):
        """The Chatterbox voice a tts job names (a clip, or a library voice), or None: Kokoro's, or the default."""
        key = request.voice_id or request.voice_name
        if request.reference_audio is not None:
            if key is not None:
                raise JobFailed("Give either voice_name (or voice_id) or reference_audio, not both")
            clip = self._decode(request.reference_audio, "reference_audio", max_duration_s=self.library_settings.max_clone_s)
            return ReferenceAudio(clip.samples, clip.sample_rate)
        entry = self._library_entry(request.voice_id, request.voice_name)
        if entry is not None:
            return library_voice(entry, key, "voice_name", "Chatterbox speaks only")
        if key is not None and request.mode == "streaming_voice_cloning":
            raise JobFailed(f"Voice '{key}' not found in any library of cloned voices; mode 'streaming_voice_cloning' "
                            "speaks voices cloned for Chatterbox (see voice_cloning)")
        return None

    def _library_entry(self, by_id: str | None, by_name: str | None) -> VoiceEntry | None:
        key = by_id or by_name
        if key is None:
            return None
        try:
            entry = self.library.get(key)
        except VoiceNotFound:
            return None
        return entry if by_id is None or entry.voice_id == by_id else None  # the library also finds names

    def _streamed(self, engine: KokoroCalls | ChatterboxCalls, request, text: str, control: JobControl) -> np.ndarray:
        """Piece by piece, reporting how much of the text is spoken so far."""
        pieces, spoken_chars = [], 0
        for chunk in engine.stream(request, control):
            pieces.append(chunk.audio)
            spoken_chars += len(chunk.text)
            control.report(chunks=len(pieces), audio_seconds=round(sum(map(len, pieces)) / SAMPLE_RATE, 2),
                           percent=min(99, round(100 * spoken_chars / len(text))))
        return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)

    def _kokoro_voice(self, request: TtsRequest, control: JobControl) -> str:
        if request.voice_id is not None:
            by_id = {voice_id(voice.name): voice.name for voice in self.kokoro.voices(control)}
            if request.voice_id not in by_id:
                raise not_found(request.voice_id)
            return by_id[request.voice_id]
        return request.voice_name or self.kokoro.default_voice(control)

    # voices

    def list_local_voices(self, request: ListLocalVoicesRequest, control: JobControl) -> LocalVoicesResponse:
        voices = [LocalVoice(voice_id=entry.voice_id, speaker_name=entry.speaker_name, gender=entry.gender,
                             duration=entry.duration, original_file=entry.original_file, type=entry.type)
                  for entry in self.library.list()]
        voices += [LocalVoice(voice_id=voice_id(voice.name), speaker_name=voice.name, gender=gender(voice.name),
                              type="kokoro_voice_pack", aliases=voice.aliases)
                   for voice in self.kokoro.voices(control)]
        return LocalVoicesResponse(
            local_voices=voices, total_local_voices=len(voices),
            stats=VoiceStats(total_voices=len(voices), gender_distribution=dict(Counter(v.gender for v in voices))))

    def voice_cloning(self, request: VoiceCloningRequest, control: JobControl) -> VoiceCloningResponse:
        """Prepare the voice, speak a sample with it, and only then store it: a failure stores nothing."""
        name = request.voice_name
        if is_kokoro_name(name, self.kokoro.voices(control)):
            raise JobFailed(f"'{name}' is a Kokoro voice name; choose another voice_name")
        clip = self._decode(request.reference_audio, "reference_audio", min_duration_s=self.library_settings.min_clone_s,
                            max_duration_s=self.library_settings.max_clone_s)
        stored = self._stored_clone(name, clip) if request.save_to_library else None
        if stored is not None:  # a redelivered job (or the same request again): that voice, not a second one
            voice = library_voice(stored, name, "voice_name", "Chatterbox speaks only")
        else:
            conditionals = self.chatterbox.prepare_voice(ReferenceAudio(clip.samples, clip.sample_rate),
                                                         request.max_reference_duration_sec, control)
            voice = PreparedVoice(conditionals)
        sample = self.chatterbox.synthesize(ChatterboxRequest(self.library_settings.sample_text, voice), control)
        if stored is None and request.save_to_library:
            stored = store_clone(self.library, name, clip, conditionals, gender=request.gender,
                                 description=request.voice_description)
        if stored is not None:
            info = ClonedVoiceInfo(voice_id=stored.voice_id, voice_name=stored.speaker_name,
                                   description=stored.description, gender=stored.gender, duration=stored.duration,
                                   sample_rate=stored.sample_rate, created_at=f"{stored.created_at:%Y-%m-%d %H:%M:%S}")
            target = {"voice_name": stored.speaker_name}
        else:
            info = ClonedVoiceInfo(voice_id=None, voice_name=name, created_at=f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S}",
                                   **clip_fields(clip, request.gender, request.voice_description))
            target = {"reference_audio": "<the same base64 clip>"}
        sample_audio, rate = encoded_wav(sample.audio, sample.sample_rate)
        usage = {name: {"operation": "tts", "mode": mode, "text": SAMPLE_TEXT_INPUT, **target}
                 for name, mode in (("tts_basic", "basic"), ("tts_streaming", "streaming_voice_cloning"))}
        return VoiceCloningResponse(voice_info=info, sample_audio=sample_audio, sample_rate=rate,
                                    saved_to_library=request.save_to_library, usage_instructions=usage,
                                    message=f"Voice '{info.voice_name}' cloned successfully")

    def _stored_clone(self, name: str, clip: DecodedAudio) -> VoiceEntry | None:
        """The voice stored under this name from this very clip, if any; a failure if another voice has the name."""
        try:
            entry = self.library.get(name)
        except VoiceNotFound:
            return None
        if entry.engine == "chatterbox" and self.library.original_clip_path(entry).read_bytes() == clip.data:
            return entry
        raise JobFailed(f"A voice named '{name}' already exists")

    # voice_conversion and voice_transfer

    def convert(self, request: ConversionJobRequest, control: JobControl) -> ConvertedAudio:
        mode = self._transfer_mode(request)
        speech = self._decode(request.input_audio, "input_audio", min_duration_s=MIN_INPUT_SEC,
                              max_duration_s=self.settings.max_conversion_input_s)
        if mode == "audio":
            clip = self._decode(request.target_audio, "target_audio", max_duration_s=self.library_settings.max_clone_s)
            target = ReferenceAudio(clip.samples, clip.sample_rate)
            info = TransferInfo(transfer_mode="audio", target_voice="target_audio", voice_id=None, source="target_audio")
        else:
            key, param = (request.voice_id, "voice_id") if request.voice_id is not None else (request.voice_name, "voice_name")
            entry = self._library_entry(request.voice_id, request.voice_name)
            if entry is None:
                raise not_found(key)
            target = library_voice(entry, key, param, "conversion targets are")
            info = TransferInfo(transfer_mode="embedding", target_voice=entry.speaker_name, voice_id=entry.voice_id,
                                source="voice_library")
        result = self.conversion.convert(ConversionRequest(
            speech.samples, speech.sample_rate, target, no_watermark=request.no_watermark,
            max_reference_duration_sec=request.max_reference_duration_sec), control)
        encoded, rate = encoded_wav(result.audio, result.sample_rate)
        return ConvertedAudio(audio=encoded, sample_rate=rate, duration=round(len(result.audio) / result.sample_rate, 2),
                              model="s3gen", operation=request.operation, input_duration=round(speech.duration_s, 2),
                              transfer_info=info)

    @staticmethod
    def _transfer_mode(request: ConversionJobRequest) -> str:
        """embedding (a library voice) or audio (target_audio); a failure unless the input names exactly that target."""
        named = request.voice_name is not None or request.voice_id is not None
        if request.operation == "voice_transfer" and request.transfer_mode is None:
            raise JobFailed("Missing required field: 'transfer_mode'")
        if request.transfer_mode is None and named and request.target_audio is not None:
            raise JobFailed("Give one target voice: voice_name, voice_id or target_speaker, not several")
        mode = request.transfer_mode or ("audio" if request.target_audio is not None else "embedding")
        if mode == "audio" and request.target_audio is None:
            raise JobFailed("Missing required field: 'target_audio' (transfer_mode 'audio')")
        if mode == "embedding" and not named:
            raise JobFailed("Missing required field: 'voice_name' (or 'voice_id')")
        return mode

    def _decode(self, text: str, param: str, **limits) -> DecodedAudio:
        return decode_base64_audio(text, param=param, max_bytes=self.library_settings.max_upload_bytes, **limits)
