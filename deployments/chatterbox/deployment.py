"""Ray Serve deployment for one model of the Chatterbox family (its settings' `model`): voices from the shared
library or a one-off clip, text in chunks. The application binds the class once per model, each under its
own deployment name (DEPLOYMENT_NAMES), so each is scaled on its own.

Concurrent requests share the replica's batched T3 decode and S3Gen passes (deployments.chatterbox.
engine), so a replica takes many requests at once: max_ongoing_requests should leave room for a
full batch (max_batch_rows, two rows per guided stream). Batch limits are the user_config.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from functools import partial

import numpy as np
from ray import serve

from audio.uploads import decode_upload
from deployments.chatterbox.engine import ChatterboxEngine
from deployments.chatterbox.limits import ChatterboxLimits
from deployments.chatterbox.protocol import (  # noqa: F401 - DEPLOYMENT_NAMES is read from here too
    DEPLOYMENT_NAMES,
    MULTILINGUAL,
    ORIGINAL,
    TURBO,
    ChatterboxRequest,
    PreparedVoice,
)
from deployments.chatterbox.settings import ChatterboxSettings
from deployments.s3gen.protocol import LibraryVoice, ReferenceAudio
from deployments.s3gen.shell import S3GenDeploymentShell
from ground.errors import InvalidRequest
from ground.replies import AudioChunk, SynthesisResult

logger = logging.getLogger("ray.serve")


# TQDM_DISABLE: T3 draws a progress bar per chunk into the replica log otherwise.
MAX_ONGOING_REQUESTS = 32


@serve.deployment(name="Chatterbox", max_ongoing_requests=MAX_ONGOING_REQUESTS,
                  ray_actor_options={"num_cpus": 1, "runtime_env": {"env_vars": {"TQDM_DISABLE": "1"}}})
class ChatterboxDeployment(S3GenDeploymentShell):
    settings_model = ChatterboxSettings
    limits_model = ChatterboxLimits
    max_ongoing_requests = MAX_ONGOING_REQUESTS

    @property
    def engine_name(self) -> str:
        return self.settings.model

    def _engine(self, settings: ChatterboxSettings) -> ChatterboxEngine:
        return ChatterboxEngine(settings)

    async def prepare_voice(self, reference: ReferenceAudio, max_reference_duration_sec: float | None = None) -> bytes:
        """The prepared voice (serialized conditionals) for a reference clip, ready to store in the library."""
        return await asyncio.to_thread(self.engine.prepare_voice, reference.samples, reference.sample_rate,
                                       max_reference_duration_sec)

    async def synthesize(self, request: ChatterboxRequest) -> SynthesisResult:
        chunks = [chunk.audio async for chunk in self.stream(request)]
        return SynthesisResult(np.concatenate(chunks), self.engine.sr, len(chunks), 0)

    async def stream(self, request: ChatterboxRequest) -> AsyncIterator[AudioChunk]:
        """Each chunk of text is generated and sent as soon as it is done."""
        self._require_ready()
        voice = await asyncio.to_thread(self._voice, request)
        audio = await asyncio.to_thread(self.engine.generate, request.text, voice, request.params, request.language)
        index = 0
        try:
            while True:
                started = time.perf_counter()
                samples = await self._waiting(next, audio, None)
                if samples is None:
                    return
                logger.debug("chunk %d: %.2f s of audio in %.2f s", index, len(samples) / self.engine.sr,
                             time.perf_counter() - started)
                yield AudioChunk(samples, self.engine.sr, "", index, 0)
                index += 1
        finally:  # the client went away: its chunk in flight leaves the batch at the next step
            audio.cancel()

    def _voice(self, request: ChatterboxRequest):
        voice = request.voice
        if isinstance(voice, ReferenceAudio):
            data = self.engine.prepare_voice(voice.samples, voice.sample_rate, request.max_reference_duration_sec)
            return self.engine.load_voice(data)
        if isinstance(voice, PreparedVoice):
            return self.engine.load_voice(voice.conditionals)
        if isinstance(voice, LibraryVoice):
            return self._library_conditionals(voice)
        if self.settings.default_voice:
            entry = self.library.get(self.settings.default_voice)
            return self._library_conditionals(LibraryVoice(entry.voice_id, entry.created_at.isoformat()))
        if self.engine.builtin_voice is not None:
            return self.engine.builtin_voice
        raise InvalidRequest("Chatterbox needs a voice: name a library voice or send reference_audio", param="voice")

    def _library_conditionals(self, voice: LibraryVoice):
        key, read = self._library_voice(voice)
        if self.settings.model != ORIGINAL:
            # The library keeps the original's conditionals; the other models prepare their own from the
            # stored clip on first use, and the replica's voice cache keeps them.
            read = partial(self._prepared_from_clip, voice)
        return self.engine.voice(key, read)

    def _prepared_from_clip(self, voice: LibraryVoice) -> bytes:
        entry = self.library.get(voice.voice_id)
        data = self.library.original_clip_path(entry).read_bytes()
        clip = decode_upload(data, max_bytes=len(data), param="voice")
        seconds, shortest = len(clip.samples) / clip.sample_rate, self.engine.spec.min_reference_sec
        if seconds <= shortest:
            raise InvalidRequest(f"voice '{entry.speaker_name}' was cloned from a {seconds:.1f} s clip; "
                                 f"{self.engine.spec.title} needs one longer than {shortest:g} s", param="voice")
        return self.engine.prepare_voice(clip.samples, clip.sample_rate)
