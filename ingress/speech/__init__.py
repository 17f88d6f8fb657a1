"""OpenAI-compatible speech: POST /v1/audio/speech."""
