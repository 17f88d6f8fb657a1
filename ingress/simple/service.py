"""The simple API's dialect over the operations core: Kokoro voices only, WAV only, built in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator

from audio.output import AudioOutput
from ground.errors import InvalidRequest
from ingress.settings import GatewaySettings
from ingress.simple.protocol import SynthesizeRequest, VoicesResponse
from ingress.streaming import Framing, write_stream
from operations.core import Operations
from operations.speech import SpeakRequest


class SimpleService:
    def __init__(self, operations: Operations, settings: GatewaySettings):
        self.operations = operations
        self.settings = settings

    def speak_request(self, request: SynthesizeRequest) -> SpeakRequest:
        limit = self.settings.max_simple_text_chars
        if len(request.text) > limit:
            raise InvalidRequest(f"text is {len(request.text)} characters; the limit is {limit}", param="text")
        return SpeakRequest(text=request.text, engine="kokoro", voice=request.voice)

    async def voices(self) -> VoicesResponse:
        kokoro = self.operations.speech.kokoro
        return VoicesResponse(voices=[voice.name for voice in await kokoro.voices()],
                              default=await kokoro.default_voice())

    async def whole(self, request: SynthesizeRequest) -> bytes:
        result = (await self.operations.speech.synthesize(self.speak_request(request))).result
        return AudioOutput("wav", result.sample_rate).whole(result.audio)

    async def stream(self, request: SynthesizeRequest) -> AsyncIterator[bytes]:
        """Start synthesis now (errors before the first byte); the iterator yields WAV bytes."""
        speech = await self.operations.speech.stream(self.speak_request(request))
        return write_stream(speech.chunks, lambda rate: AudioOutput("wav", rate), Framing())
