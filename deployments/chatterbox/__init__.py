"""Chatterbox: expressive text-to-speech with zero-shot voice cloning (the chatterbox-tts package)."""
