"""The gateway in-process: the real app from ingress.gateway.create_api, the real operations core and voice
library (in a temporary directory), and the fakes of tests/helpers/fake_engines.py behind
Operations.from_handles. No Ray cluster and no models."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ingress.auth import BearerKeys
from ingress.gateway import create_api
from ingress.settings import GatewaySettings
from operations.core import Operations
from operations.replicas import ReplicaCounts
from stores.voice_library.settings import VoiceLibrarySettings
from tests.helpers.audio import wav_bytes
from tests.helpers.fake_engines import (
    SAMPLE_RATE,
    SECONDS_PER_WORD,
    FakeChatterbox,
    FakeConversion,
    FakeKokoro,
    chatterbox_family,
    fake_handles,
    sentences,
)
from tests.helpers.voices import clone

UNSET_KEYS_ENV = "CHORUS_TEST_GATEWAY_ROUTES_NO_KEYS"


@dataclass
class Served:
    app: FastAPI
    client: TestClient
    kokoro: FakeKokoro
    chatterbox: FakeChatterbox  # the original
    conversion: FakeConversion
    library: Path
    chatterbox_models: dict[str, FakeChatterbox]  # every model of the family, the original included

    def stored(self) -> list[str]:
        """The voice library's directory, as names (to show that a failure stored nothing)."""
        return sorted(path.name for path in self.library.iterdir() if path.name != ".lock")

    def texts(self, engine: FakeKokoro | FakeChatterbox | None = None) -> list[str]:
        """The texts `engine` (Kokoro unless given) was asked to stream, in order."""
        return [request.text for request in (engine or self.kokoro).requests("stream")]


def serve_gateway(tmp_path: Path, kokoro: FakeKokoro | None = None, chatterbox: FakeChatterbox | None = None,
                  conversion: FakeConversion | None = None, keys: BearerKeys | None = None,
                  chatterbox_models: dict[str, FakeChatterbox] | None = None, replicas: ReplicaCounts | None = None,
                  **gateway) -> Served:
    """The gateway over fakes; `chatterbox_models` replaces the fakes of Turbo and Multilingual (by model name);
    `replicas`: the replica counts health reads (None: every engine runs, and health calls it)."""
    kokoro, chatterbox = kokoro or FakeKokoro(), chatterbox or FakeChatterbox()
    models = chatterbox_family(chatterbox, chatterbox_models)
    conversion = conversion or FakeConversion()
    library = VoiceLibrarySettings(root=tmp_path / "voices")
    settings = GatewaySettings(require_auth=False, **gateway)
    operations = Operations.from_handles(fake_handles(kokoro, models, conversion), library,
                                         settings.request_timeout_s, replicas)
    if keys is None:
        keys = BearerKeys.from_settings([], UNSET_KEYS_ENV)
    app = create_api(settings, operations, library, keys)  # jobs=None: no Redis in this tier
    client = TestClient(app, raise_server_exceptions=False)  # a bug shows as its 500, not as a traceback
    return Served(app, client, kokoro, chatterbox, conversion, library.root, models)


def read_wav(data: bytes) -> tuple[np.ndarray, int]:
    return soundfile.read(io.BytesIO(data), dtype="float32")


def spoken_samples(text: str, speed: float = 1.0) -> int:
    """How many samples the fake Kokoro speaks for `text` (one sine per sentence)."""
    return sum(max(int(len(s.split()) * SECONDS_PER_WORD / speed * SAMPLE_RATE), 1) for s in sentences(text))


def cloned(client: TestClient, name: str, seconds: float = 6) -> dict:
    """A voice cloned into the library from a tone of `seconds`: its voice_info."""
    response = clone(client, name, wav_bytes(seconds))
    assert response.status_code == 201, response.text
    return response.json()["voice_info"]


SPEECH = "/v1/audio/speech"
CAPTIONED = "/dev/captioned_speech"
CONVERSIONS = "/v1/audio/conversions"
KOKORO_PACKS = {"jf_alpha", "jm_kumo"}  # the fake Kokoro's voice packs
