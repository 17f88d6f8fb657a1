"""Constrained types shared by the wire models of every API surface."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, ValidationInfo


def _has_words(text: str, info: ValidationInfo) -> str:
    if not text.strip():
        raise ValueError(f"{info.field_name} must contain text to speak")
    return text


# The document says it too: some character that is not white space (JSON Schema patterns are unanchored).
SpokenText = Annotated[str, AfterValidator(_has_words), Field(json_schema_extra={"pattern": r"\S"})]


def _voice_object(value):
    """Newer OpenAI clients send a custom voice as an object, {"id": "..."}; it names the same voice."""
    if isinstance(value, dict) and set(value) == {"id"}:
        return value["id"]
    return value


VoiceKey = Annotated[str, BeforeValidator(_voice_object)]
# A voice key that may not be empty ({"id": ""} neither).
RequiredVoiceKey = Annotated[str, StringConstraints(min_length=1), BeforeValidator(_voice_object)]
