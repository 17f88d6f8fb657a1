"""What every S3Gen-based Ray Serve deployment does alike (the Chatterbox models, voice conversion).

Settings validated from the serve config's `args`, an engine that may be unavailable, batch limits
from the `user_config`, `health` in the engine's batching terms, library voices read under a key that
changes with the voice, and threads that wait on the batchers for each ongoing request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import BaseModel

from deployments.s3gen.limits import S3GenLimits
from deployments.s3gen.loading import CheckpointEngine
from deployments.s3gen.protocol import CONDITIONALS, LibraryVoice
from deployments.s3gen.settings import CheckpointSettings
from ground.errors import EngineUnavailable
from ground.replies import EngineHealth
from stores.voice_library import VoiceLibrary


class S3GenDeploymentShell:
    """Subclasses set the class attributes and build their engine in `_engine`."""

    engine_name = ""  # the key in /health
    settings_model: type[CheckpointSettings] = CheckpointSettings
    limits_model: type[S3GenLimits] = S3GenLimits
    max_ongoing_requests = 16

    def __init__(self, settings: dict | BaseModel, library_root: Path | str):
        self.settings = self.settings_model.model_validate(settings)
        self.library = VoiceLibrary(Path(library_root))
        self.engine = self._engine(self.settings)
        self.user_config: dict | None = None
        # One thread per ongoing request, mostly waiting on its work in the batchers, so waiting
        # requests never queue behind each other for a thread.
        self._waiters = ThreadPoolExecutor(max_workers=self.max_ongoing_requests,
                                           thread_name_prefix=f"{self.engine_name}-waiter")

    def _engine(self, settings) -> CheckpointEngine:
        raise NotImplementedError

    def reconfigure(self, user_config: dict) -> None:
        """Batch limits from the serve config's `user_config`; Serve calls this on every change."""
        limits = self.limits_model.model_validate(user_config)
        self.user_config = limits.model_dump()
        if self.engine.available:
            self.engine.configure(limits)

    async def health(self) -> EngineHealth:
        return EngineHealth(engine=self.engine_name, status="ready" if self.engine.available else "unavailable",
                            backend=self.engine.device or "none", reason=self.engine.reason,
                            batching=self.engine.health_batching() if self.engine.available else {},
                            user_config=self.user_config)

    def _require_ready(self) -> None:
        if not self.engine.available:
            raise EngineUnavailable(f"{self.engine.service_name} is unavailable: {self.engine.reason}")

    async def _waiting(self, work, *args):
        """`work(*args)` on one of the waiter threads: the replica keeps answering while it waits."""
        return await asyncio.get_running_loop().run_in_executor(self._waiters, work, *args)

    def _library_voice(self, voice: LibraryVoice) -> tuple[str, Callable[[], bytes]]:
        """A library voice's cache key and the reader of its prepared artifact.

        Keyed by version too: a voice deleted and re-created under the same id is never served stale.
        """
        def read() -> bytes:
            return self.library.read_artifact(self.library.get(voice.voice_id), CONDITIONALS)

        return f"{voice.voice_id}@{voice.version}", read
