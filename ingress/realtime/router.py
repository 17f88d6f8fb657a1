"""The WebSocket route of ElevenLabs' text-in streaming: GET /v1/text-to-speech/{voice_id}/stream-input.

The HTTP guards (ingress/guards.py) see only http scopes, so the socket authenticates itself (service.py).
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from ingress.realtime.service import StreamInputService

router = APIRouter(tags=["ElevenLabs stream-input"])


def stream_input_service(websocket: WebSocket) -> StreamInputService:
    return websocket.app.state.stream_input


@router.websocket("/v1/text-to-speech/{voice_id}/stream-input")
async def stream_input(websocket: WebSocket, voice_id: str) -> None:
    """Send {"text": ...} messages (settings in the first, "flush": true to speak what is buffered, "" to end);
    receive {"audio", "alignment", "normalizedAlignment"} messages, then {"isFinal": true}.

    Query: model_id, output_format (pcm_8000 ... pcm_48000, mp3_22050_32, mp3_44100_128), inactivity_timeout (s),
    and xi-api-key for clients that cannot set headers."""
    await stream_input_service(websocket).session(websocket, voice_id).run()
