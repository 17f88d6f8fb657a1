"""Kokoro-82M text-to-speech engine."""
