"""The operations core as one object: what every front end holds and calls."""

from __future__ import annotations

from ray.serve.handle import DeploymentHandle

from deployments.chatterbox.protocol import CHATTERBOX_MODELS, ORIGINAL
from operations.conversion import ConversionOperations
from operations.engines import ChatterboxClient, ConversionClient, EngineClient, KokoroClient
from operations.replicas import ReplicaCounts
from operations.speech import SpeechOperations
from operations.voices import VoiceOperations
from stores.voice_library import VoiceLibrary
from stores.voice_library.settings import VoiceLibrarySettings


class Operations:
    def __init__(self, kokoro: KokoroClient, chatterbox: dict[str, ChatterboxClient], conversion: ConversionClient,
                 library_settings: VoiceLibrarySettings):
        """`chatterbox`: a client per model of the family, by model name (the original's voices are the library's)."""
        self.engines: tuple[EngineClient, ...] = (kokoro, *chatterbox.values(), conversion)
        self.voices = VoiceOperations(VoiceLibrary(library_settings.root), library_settings, kokoro,
                                      chatterbox[ORIGINAL])
        self.speech = SpeechOperations(kokoro, chatterbox, self.voices)
        self.conversion = ConversionOperations(conversion, self.voices)

    @classmethod
    def from_handles(cls, handles: dict[str, DeploymentHandle], library_settings: VoiceLibrarySettings,
                     timeout_s: float, replicas: ReplicaCounts | None = None) -> Operations:
        """`handles`: the kokoro and conversion deployments and one per Chatterbox model (by its name);
        `timeout_s` bounds every engine call; `replicas`: where health reads how many replicas each engine has."""
        chatterbox = {model: ChatterboxClient(handles[model], timeout_s, model, replicas)
                      for model in CHATTERBOX_MODELS}
        return cls(KokoroClient(handles["kokoro"], timeout_s, replicas), chatterbox,
                   ConversionClient(handles["conversion"], timeout_s, replicas), library_settings)
