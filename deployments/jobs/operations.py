"""The job operations: a job's `input` in, its `output` out, engines called through their handles.

Operations are idempotent: a job handed out twice (its first consumer died) computes the same
output again and writes nothing else but its own record.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter

import numpy as np

from deployments.jobs.control import JobControl
from deployments.jobs.engines import KokoroCalls
from deployments.jobs.protocol import (
    CHATTERBOX_OPERATIONS,
    AudioResponse,
    JobFailed,
    ListLocalVoicesRequest,
    LocalVoice,
    LocalVoicesResponse,
    TtsRequest,
    VoiceStats,
    parse_input,
)
from deployments.kokoro.protocol import SAMPLE_RATE
from deployments.kokoro.protocol import SpeechRequest as EngineRequest
from ingress.audio.output import AudioOutput  # a pure encoder, shared with the gateway

KOKORO_GENDERS = {"f": "female", "m": "male"}


def chatterbox_unavailable(what: str) -> JobFailed:
    return JobFailed(f"{what} needs the Chatterbox engine, which is unavailable on this deployment; "
                     f"use operation 'tts' with mode 'basic' or 'streaming' and a Kokoro voice")


def voice_id(name: str) -> str:
    """A short id that stays the same for the same voice name."""
    return hashlib.sha256(f"kokoro:{name}".encode()).hexdigest()[:8]


def gender(name: str) -> str:
    """Kokoro pack names start with a language letter and a gender letter: jf_alpha, jm_kumo."""
    return KOKORO_GENDERS.get(name[1:2], "unknown") if name[2:3] == "_" else "unknown"


class Operations:
    def __init__(self, kokoro: KokoroCalls, max_text_chars: int):
        self.kokoro = kokoro
        self.max_text_chars = max_text_chars

    def run(self, job_input: dict, control: JobControl) -> dict:
        operation = job_input.get("operation")
        if operation is None:
            raise JobFailed("Missing required field: 'operation'")
        if operation in CHATTERBOX_OPERATIONS:
            raise chatterbox_unavailable(f"Operation '{operation}'")
        if operation == "tts":
            return self.tts(parse_input(TtsRequest, job_input), control).model_dump()
        if operation == "list_local_voices":
            parse_input(ListLocalVoicesRequest, job_input)
            return self.list_local_voices(control).model_dump()
        raise JobFailed(f"Unknown operation: {operation}")

    def tts(self, request: TtsRequest, control: JobControl) -> AudioResponse:
        if request.mode == "streaming_voice_cloning":
            raise chatterbox_unavailable("Mode 'streaming_voice_cloning'")
        if request.reference_audio is not None:
            raise chatterbox_unavailable("Voice cloning from 'reference_audio'")
        if len(request.text) > self.max_text_chars:
            raise JobFailed(f"Invalid value for 'text': {len(request.text)} characters; the limit is {self.max_text_chars}")
        engine_request = EngineRequest(text=request.text, voice=self._voice(request, control))
        if request.mode == "basic":
            audio = self.kokoro.synthesize(engine_request, control).audio
        else:
            audio = self._streamed(engine_request, control)
        output = AudioOutput("wav", SAMPLE_RATE, request.sample_rate, request.audio_normalization)
        return AudioResponse(audio=base64.b64encode(output.whole(audio)).decode("ascii"),
                             sample_rate=output.sample_rate, duration=round(len(audio) / SAMPLE_RATE, 2),
                             model="kokoro", operation="tts")

    def _streamed(self, request: EngineRequest, control: JobControl) -> np.ndarray:
        """Sentence by sentence, reporting how much of the text is spoken so far."""
        pieces, spoken_chars = [], 0
        for chunk in self.kokoro.stream(request, control):
            pieces.append(chunk.audio)
            spoken_chars += len(chunk.text)
            control.report(chunks=len(pieces), audio_seconds=round(sum(map(len, pieces)) / SAMPLE_RATE, 2),
                           percent=min(99, round(100 * spoken_chars / len(request.text))))
        return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)

    def _voice(self, request: TtsRequest, control: JobControl) -> str:
        if request.voice_id is not None:
            by_id = {voice_id(voice.name): voice.name for voice in self.kokoro.voices(control)}
            if request.voice_id not in by_id:
                raise JobFailed(f"Voice '{request.voice_id}' not found in any library")
            return by_id[request.voice_id]
        return request.voice_name or self.kokoro.default_voice(control)

    def list_local_voices(self, control: JobControl) -> LocalVoicesResponse:
        voices = [LocalVoice(voice_id=voice_id(voice.name), speaker_name=voice.name, gender=gender(voice.name),
                             type="kokoro_voice_pack", aliases=voice.aliases)
                  for voice in self.kokoro.voices(control)]
        return LocalVoicesResponse(
            local_voices=voices, total_local_voices=len(voices),
            stats=VoiceStats(total_voices=len(voices), gender_distribution=dict(Counter(v.gender for v in voices))))
