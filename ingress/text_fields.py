"""Constrained text types shared by the wire models of every API surface."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, ValidationInfo


def _has_words(text: str, info: ValidationInfo) -> str:
    if not text.strip():
        raise ValueError(f"{info.field_name} must contain text to speak")
    return text


SpokenText = Annotated[str, AfterValidator(_has_words)]
