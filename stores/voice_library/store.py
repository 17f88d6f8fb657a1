"""The persistent voice library: one directory per voice, shared by every replica and process.

    root/.lock                     held (flock) by every change, from start to end
    root/<voice_id>/meta.json      the VoiceEntry
    root/<voice_id>/original.<ext> the reference clip as uploaded, beside the engine's artifacts
    root/.tmp-<random>/            a voice being written or deleted; readers never look inside

A voice appears by renaming a complete, fsynced staging directory into place and leaves
by being renamed out of sight before removal, so a reader never sees half a voice. As
every writer holds the lock while its staging directory exists, one found by a lock
holder was left by a writer that died: it is removed then. The library is nothing but
the directory, so it survives restarts and any process with the path can use it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from ground.atomic_files import write_atomically
from ground.errors import InvalidRequest, UnknownVoice, describe_validation_error
from stores.voice_library.entry import VoiceEntry, name_key

logger = logging.getLogger("ray.serve")

_VOICE_ID = re.compile(r"[0-9a-f]{10}")
_ARTIFACT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_CLIP_EXT = re.compile(r"[a-z0-9]{1,8}")
_META = "meta.json"
_STAGING_PREFIX = ".tmp-"
_PARAMS = {"speaker_name": "name"}  # entry fields as the API calls them


class VoiceLibrary:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def create(self, name: str, *, gender: str = "unknown", description: str = "", engine: str = "chatterbox",
               clip_bytes: bytes, clip_ext: str, duration: float, sample_rate: int,
               artifacts: Mapping[str, bytes]) -> VoiceEntry:
        """Store a new voice: its reference clip (kept as `original.<clip_ext>`) and the engine's artifacts."""
        if not _CLIP_EXT.fullmatch(clip_ext):
            raise ValueError(f"clip extension {clip_ext!r} is not a short lowercase extension")
        original_file = f"original.{clip_ext}"
        for artifact in artifacts:
            if not _ARTIFACT_NAME.fullmatch(artifact) or artifact in (_META, original_file):
                raise ValueError(f"artifact name {artifact!r} is not a plain file name of its own")
        with self._lock():
            self._remove_staging()
            entry = _validated_entry(
                voice_id=self._unused_id(), speaker_name=name, gender=gender, description=description,
                duration=duration, original_file=original_file, sample_rate=sample_rate,
                type="user_cloned_voice", engine=engine, created_at=datetime.now(UTC).replace(microsecond=0))
            self._check_name_free(entry.speaker_name)
            staging = self._staging_path()
            staging.mkdir()
            try:
                files = {**artifacts, original_file: clip_bytes, _META: entry.model_dump_json(indent=2).encode()}
                for file_name, content in files.items():
                    write_atomically(staging / file_name, content)
                _fsync_directory(staging)
                staging.rename(self.root / entry.voice_id)
                _fsync_directory(self.root)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return entry

    def get(self, id_or_name: str) -> VoiceEntry:
        """A voice by its exact id, or by its name in any case."""
        if _VOICE_ID.fullmatch(id_or_name) and (entry := self._load(self.root / id_or_name)):
            return entry
        key = name_key(id_or_name)
        for entry in self.list():
            if name_key(entry.speaker_name) == key:
                return entry
        raise UnknownVoice(f"Voice '{id_or_name}' not found in any library")

    def list(self) -> list[VoiceEntry]:
        """Stored voices, oldest first; staging directories and anything unreadable are skipped."""
        entries = [self._load(path) for path in self.root.iterdir() if _VOICE_ID.fullmatch(path.name)]
        return sorted((entry for entry in entries if entry),
                      key=lambda entry: (entry.created_at, name_key(entry.speaker_name)))

    def read_artifact(self, entry: VoiceEntry, name: str) -> bytes:
        if not _ARTIFACT_NAME.fullmatch(name):
            raise ValueError(f"artifact name {name!r} is not a plain file name")
        path = self._voice_dir(entry) / name
        try:
            return path.read_bytes()
        except FileNotFoundError:
            self._voice_dir(entry)  # deleted meanwhile: UnknownVoice rather than a missing file
            raise

    def original_clip_path(self, entry: VoiceEntry) -> Path:
        return self._voice_dir(entry) / entry.original_file

    def update(self, id_or_name: str, *, name: str | None = None, description: str | None = None) -> VoiceEntry:
        """Rename a voice or change its description; the metadata file is replaced atomically."""
        with self._lock():
            entry = self.get(id_or_name)
            changes = {"speaker_name": name, "description": description}
            updated = _validated_entry(**(entry.model_dump() | {k: v for k, v in changes.items() if v is not None}))
            if name_key(updated.speaker_name) != name_key(entry.speaker_name):
                self._check_name_free(updated.speaker_name)
            voice_dir = self._voice_dir(entry)
            write_atomically(voice_dir / _META, updated.model_dump_json(indent=2).encode())
            _fsync_directory(voice_dir)
        return updated

    def delete(self, id_or_name: str) -> VoiceEntry:
        with self._lock():
            entry = self.get(id_or_name)
            doomed = self._staging_path()
            self._voice_dir(entry).rename(doomed)
            _fsync_directory(self.root)
            shutil.rmtree(doomed)
        return entry

    @contextmanager
    def _lock(self) -> Iterator[None]:
        # flock is per open file, so it excludes other threads of this process as well as other processes.
        with open(self.root / ".lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            yield

    def _remove_staging(self) -> None:
        for path in self.root.glob(f"{_STAGING_PREFIX}*"):
            logger.warning("Voice library: removing %s, left by an interrupted write", path)
            shutil.rmtree(path, ignore_errors=True)

    def _check_name_free(self, name: str) -> None:
        key = name_key(name)
        if any(name_key(entry.speaker_name) == key for entry in self.list()):
            raise InvalidRequest(f"A voice named '{name}' already exists", param="name")

    def _unused_id(self) -> str:
        voice_id = secrets.token_hex(5)
        while (self.root / voice_id).exists():  # 40 random bits: a clash is all but impossible, yet cheap to rule out
            voice_id = secrets.token_hex(5)
        return voice_id

    def _staging_path(self) -> Path:
        return self.root / f"{_STAGING_PREFIX}{secrets.token_hex(8)}"

    def _voice_dir(self, entry: VoiceEntry) -> Path:
        """The directory of a stored voice; UnknownVoice for Kokoro packs and deleted voices."""
        path = self.root / entry.voice_id
        if not _VOICE_ID.fullmatch(entry.voice_id) or not path.is_dir():
            raise UnknownVoice(f"Voice '{entry.speaker_name}' not found in any library")
        return path

    def _load(self, voice_dir: Path) -> VoiceEntry | None:
        try:
            return VoiceEntry.model_validate_json((voice_dir / _META).read_bytes())
        except (FileNotFoundError, NotADirectoryError):  # deleted meanwhile, or a stray file
            return None
        except ValidationError as error:
            logger.warning("Voice library: skipping %s, unreadable metadata: %s", voice_dir, error)
            return None


def _validated_entry(**fields) -> VoiceEntry:
    """A VoiceEntry, with a validation failure reported as a 400 naming the API's field."""
    try:
        return VoiceEntry(**fields)
    except ValidationError as error:
        problem = error.errors()[0]
        field = str(problem["loc"][0])
        message, param = describe_validation_error({**problem, "loc": (_PARAMS.get(field, field),)})
        raise InvalidRequest(message, param) from error


def _fsync_directory(path: Path) -> None:
    """Makes renames and new entries in a directory durable."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
