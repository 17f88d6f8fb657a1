"""ElevenLabs' text-in streaming WebSocket: GET /v1/text-to-speech/{voice_id}/stream-input."""
