"""Voices: one listing over the library and Kokoro's packs, lookup by one key, and cloning.

A voice key is a library voice's id or name (any case) or a Kokoro pack's name, which is also
that pack's id: the ids `list` gives work wherever a voice is named, on every front end.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from audio.uploads import AudioUpload, DecodedAudio, decode_audio_upload
from deployments.chatterbox.protocol import ChatterboxRequest, PreparedVoice
from deployments.kokoro.protocol import VoiceInfo
from deployments.s3gen.protocol import CONDITIONALS, LibraryVoice, ReferenceAudio
from ground.errors import InvalidRequest, ServiceError, UnknownVoice, VoiceNotFound
from ground.replies import SynthesisResult
from operations.engines import ChatterboxClient, KokoroClient
from stores.voice_library import VoiceEntry, VoiceLibrary, kokoro_pack_entries, name_key
from stores.voice_library.settings import VoiceLibrarySettings


def not_found(key: str, param: str, by_id: bool = False, resource: bool = False) -> UnknownVoice:
    """The one wording of an unknown voice; `resource`: looked up as a thing of its own (a 404)."""
    error = VoiceNotFound if resource else UnknownVoice
    return error(f"Voice '{key}' not found in any library" + (" (no voice has that id)" if by_id else ""), param)


@dataclass(frozen=True)
class CloneRequest:
    name: str
    clip: AudioUpload
    gender: str = "unknown"
    description: str = ""
    save_to_library: bool = True
    max_reference_duration_sec: float | None = None
    # Answer with the voice already stored under this name from this very clip instead of refusing
    # the name: a job that is delivered twice must not fail the second time.
    reuse_identical: bool = False


@dataclass(frozen=True)
class ClonedVoice:
    entry: VoiceEntry  # an unsaved voice has an `unsaved-...` id that nothing resolves
    saved: bool
    sample: SynthesisResult  # the library's sample text spoken in the new voice


class VoiceOperations:
    def __init__(self, library: VoiceLibrary, settings: VoiceLibrarySettings, kokoro: KokoroClient,
                 chatterbox: ChatterboxClient):
        self.library = library
        self.settings = settings
        self.kokoro = kokoro
        self.chatterbox = chatterbox

    async def kokoro_packs(self) -> list[VoiceInfo]:
        """Kokoro's packs; none while Kokoro is down (the library still lists)."""
        try:
            return await self.kokoro.voices()
        except ServiceError:
            return []

    async def list(self) -> list[VoiceEntry]:
        """Stored voices, oldest first, then Kokoro's packs with their aliases."""
        packs = await self.kokoro_packs()
        pack_entries = kokoro_pack_entries([pack.name for pack in packs], {pack.name: pack.aliases for pack in packs})
        return await asyncio.to_thread(self.library.list) + pack_entries

    async def find_stored(self, key: str, by_id: bool = False) -> VoiceEntry | None:
        """The library voice `key` names (by id only when `by_id`), or None."""
        try:
            entry = await asyncio.to_thread(self.library.get, key)
        except UnknownVoice:
            return None
        return entry if not by_id or entry.voice_id == key else None  # the library also finds names

    async def get(self, key: str) -> VoiceEntry:
        """A library voice or a Kokoro pack, as a resource."""
        entry = await self.find_stored(key)
        if entry is not None:
            return entry
        packs = await self.kokoro_packs()
        if key in {pack.name for pack in packs}:
            return kokoro_pack_entries([key], {pack.name: pack.aliases for pack in packs})[0]
        raise not_found(key, "voice_id", resource=True)

    async def update(self, key: str, name: str | None = None, description: str | None = None) -> VoiceEntry:
        if name is not None:
            await self._check_not_kokoro(name)
        return await self._stored(self.library.update, key, name=name, description=description)

    async def delete(self, key: str) -> VoiceEntry:
        return await self._stored(self.library.delete, key)

    async def original_clip(self, key: str) -> tuple[VoiceEntry, Path]:
        entry = await self._stored(self.library.get, key)
        return entry, self.library.original_clip_path(entry)

    async def _stored(self, operation, *args, **kwargs):
        """A library operation on a stored voice; Kokoro packs are read-only, so they are not found here."""
        try:
            return await asyncio.to_thread(operation, *args, **kwargs)
        except VoiceNotFound:
            raise
        except UnknownVoice:
            raise not_found(args[0], "voice_id", resource=True) from None

    async def _check_not_kokoro(self, name: str) -> None:
        """A clone may not shadow a Kokoro pack or alias (names compare as library names do)."""
        packs = await self.kokoro_packs()
        if name_key(name) in {name_key(alias) for pack in packs for alias in (pack.name, *pack.aliases)}:
            raise InvalidRequest(f"'{name}' is a Kokoro voice name; choose another", param="name")

    @staticmethod
    def chatterbox_voice(entry: VoiceEntry, requested: str, param: str, use: str) -> LibraryVoice:
        """The voice a Chatterbox or conversion request carries; InvalidRequest for a voice another engine speaks."""
        if entry.engine != "chatterbox":
            raise InvalidRequest(f"Voice '{requested}' is a {entry.engine} voice; {use} library voices cloned for "
                                 "Chatterbox", param)
        return LibraryVoice(entry.voice_id, entry.created_at.isoformat())

    async def decode(self, upload: AudioUpload, **limits) -> DecodedAudio:
        """An upload decoded and checked off the event loop, under the library's size limit."""
        return await asyncio.to_thread(decode_audio_upload, upload, max_bytes=self.settings.max_upload_bytes, **limits)

    async def clone(self, request: CloneRequest) -> ClonedVoice:
        """Prepare the voice, speak a sample with it, and only then store it: a failure stores nothing."""
        await self._check_not_kokoro(request.name)
        clip = await self.decode(request.clip, min_duration_s=self.settings.min_clone_s,
                                 max_duration_s=self.settings.max_clone_s)
        stored = await self._identical_clone(request, clip) if request.reuse_identical else None
        if stored is not None:
            voice = self.chatterbox_voice(stored, request.name, "name", "Chatterbox speaks only")
        else:
            conditionals = await self.chatterbox.prepare_voice(ReferenceAudio(clip.samples, clip.sample_rate),
                                                               request.max_reference_duration_sec)
            voice = PreparedVoice(conditionals)
        sample = await self.chatterbox.synthesize(ChatterboxRequest(self.settings.sample_text, voice))
        if stored is not None:
            return ClonedVoice(stored, True, sample)
        fields = {"gender": request.gender, "description": request.description,
                  "duration": round(clip.duration_s, 3), "sample_rate": clip.sample_rate}
        if request.save_to_library:
            entry = await asyncio.to_thread(
                self.library.create, request.name, engine="chatterbox", clip_bytes=clip.data, clip_ext=clip.format,
                artifacts={CONDITIONALS: conditionals}, **fields)
        else:
            entry = VoiceEntry(voice_id=f"unsaved-{secrets.token_hex(4)}", speaker_name=request.name,
                               type="user_cloned_voice", engine="chatterbox", created_at=datetime.now(UTC), **fields)
        return ClonedVoice(entry, request.save_to_library, sample)

    async def _identical_clone(self, request: CloneRequest, clip: DecodedAudio) -> VoiceEntry | None:
        """The voice stored under this name from this very clip, if any; another voice with the name is refused."""
        entry = await self.find_stored(request.name)
        if entry is None or not request.save_to_library:
            return None
        path = self.library.original_clip_path(entry)
        if entry.engine == "chatterbox" and await asyncio.to_thread(path.read_bytes) == clip.data:
            return entry
        raise InvalidRequest(f"A voice named '{request.name}' already exists", param="name")
