"""Serving logic for /v1/voices: the shared library on disk, Kokoro's packs, cloning through Chatterbox."""

from __future__ import annotations

import asyncio
import base64
import secrets
from datetime import UTC, datetime
from pathlib import Path

from deployments.chatterbox.protocol import ChatterboxRequest, PreparedVoice, ReferenceAudio
from deployments.chatterbox.voices import clip_fields, store_clone
from deployments.errors import EngineError, VoiceNotFound
from deployments.kokoro.protocol import VoiceInfo
from deployments.voice_library import VoiceEntry, VoiceLibrary, is_kokoro_name, kokoro_pack_entries, voice_stats
from deployments.voice_library.settings import VoiceLibrarySettings
from audio.output import AudioOutput
from audio.uploads import DecodedAudio
from ingress.engines import ChatterboxClient, KokoroClient
from ingress.errors import APIError
from ingress.voices.protocol import ClonedVoice, CloneVoiceRequest, DeletedVoice, VoiceList, VoiceUpdate


class VoiceService:
    def __init__(self, library: VoiceLibrary, settings: VoiceLibrarySettings, kokoro: KokoroClient,
                 chatterbox: ChatterboxClient):
        self.library = library
        self.settings = settings
        self.kokoro = kokoro
        self.chatterbox = chatterbox

    async def _kokoro_voices(self) -> list[VoiceInfo]:
        """Kokoro's packs; none when Kokoro is down (the library still lists)."""
        try:
            return await self.kokoro.voices()
        except (APIError, EngineError):
            return []

    async def list(self) -> VoiceList:
        packs = kokoro_pack_entries([voice.name for voice in await self._kokoro_voices()])
        entries = await asyncio.to_thread(self.library.list) + packs
        return VoiceList(voices=entries, total_voices=len(entries), stats=voice_stats(entries))

    async def get(self, id_or_name: str) -> VoiceEntry:
        try:
            return await asyncio.to_thread(self.library.get, id_or_name)
        except VoiceNotFound as missing:
            packs = {voice.name for voice in await self._kokoro_voices()}
            if id_or_name in packs:
                return kokoro_pack_entries([id_or_name])[0]
            raise _not_found(missing) from None

    async def clone(self, request: CloneVoiceRequest, clip: DecodedAudio) -> ClonedVoice:
        """Prepare the voice, speak a sample with it, and only then store it: a failure stores nothing."""
        if is_kokoro_name(request.name, await self._kokoro_voices()):
            raise APIError(400, f"'{request.name}' is a Kokoro voice name; choose another", param="name")
        conditionals = await self.chatterbox.prepare_voice(ReferenceAudio(clip.samples, clip.sample_rate),
                                                           request.max_reference_duration_sec)
        sample = await self.chatterbox.synthesize(ChatterboxRequest(self.settings.sample_text, PreparedVoice(conditionals)))
        if request.save_to_library:
            entry = await asyncio.to_thread(store_clone, self.library, request.name, clip, conditionals,
                                            gender=request.gender, description=request.description)
            usage = f"Speak with it: POST /v1/audio/speech with model 'chatterbox' and voice '{entry.speaker_name}' " \
                    f"(or '{entry.voice_id}')."
        else:
            entry = VoiceEntry(voice_id=f"unsaved-{secrets.token_hex(4)}", speaker_name=request.name,
                               type="user_cloned_voice", engine="chatterbox", created_at=datetime.now(UTC),
                               **clip_fields(clip, request.gender, request.description))
            usage = "Not saved: send the same clip as reference_audio to speak with this voice, or clone it again " \
                    "with save_to_library true."
        audio = AudioOutput("wav", sample.sample_rate).whole(sample.audio)
        return ClonedVoice(voice_info=entry, sample_audio=base64.b64encode(audio).decode(),
                           sample_rate=sample.sample_rate, saved_to_library=request.save_to_library,
                           usage_instructions=usage)

    async def update(self, id_or_name: str, update: VoiceUpdate) -> VoiceEntry:
        if update.name is not None and is_kokoro_name(update.name, await self._kokoro_voices()):
            raise APIError(400, f"'{update.name}' is a Kokoro voice name; choose another", param="name")
        return await self._stored(self.library.update, id_or_name, name=update.name, description=update.description)

    async def delete(self, id_or_name: str) -> DeletedVoice:
        return DeletedVoice(voice_info=await self._stored(self.library.delete, id_or_name))

    async def original_clip(self, id_or_name: str) -> tuple[VoiceEntry, Path]:
        entry = await self._stored(self.library.get, id_or_name)
        return entry, self.library.original_clip_path(entry)

    async def _stored(self, operation, *args, **kwargs):
        """A library operation on a stored voice; Kokoro packs are read-only."""
        try:
            return await asyncio.to_thread(operation, *args, **kwargs)
        except VoiceNotFound as missing:
            raise _not_found(missing) from None


def _not_found(missing: VoiceNotFound) -> APIError:
    return APIError(404, missing.message, param="voice_id", code="voice_not_found")
