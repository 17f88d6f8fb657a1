"""The operations core as one object: what every front end holds and calls."""

from __future__ import annotations

from ray.serve.handle import DeploymentHandle

from operations.conversion import ConversionOperations
from operations.engines import ChatterboxClient, ConversionClient, EngineClient, KokoroClient
from operations.speech import SpeechOperations
from operations.voices import VoiceOperations
from stores.voice_library import VoiceLibrary
from stores.voice_library.settings import VoiceLibrarySettings


class Operations:
    def __init__(self, kokoro: KokoroClient, chatterbox: ChatterboxClient, conversion: ConversionClient,
                 library_settings: VoiceLibrarySettings):
        self.engines: tuple[EngineClient, ...] = (kokoro, chatterbox, conversion)
        self.voices = VoiceOperations(VoiceLibrary(library_settings.root), library_settings, kokoro, chatterbox)
        self.speech = SpeechOperations(kokoro, chatterbox, self.voices)
        self.conversion = ConversionOperations(conversion, self.voices)

    @classmethod
    def from_handles(cls, handles: dict[str, DeploymentHandle], library_settings: VoiceLibrarySettings,
                     timeout_s: float) -> Operations:
        """`handles`: the kokoro, chatterbox and conversion deployments; `timeout_s` bounds every engine call."""
        return cls(KokoroClient(handles["kokoro"], timeout_s), ChatterboxClient(handles["chatterbox"], timeout_s),
                   ConversionClient(handles["conversion"], timeout_s), library_settings)
