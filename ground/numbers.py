"""Whole numbers as JSON Schema counts them: 2.0 is the integer 2 (a strict pydantic int refuses it), 2.5 is not."""

from __future__ import annotations

from pydantic import BeforeValidator


def _integral(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Annotate every integer field of a wire model with it, after its Field (so the document keeps the bounds):
# Annotated[int, Field(ge=1), Integral].
Integral = BeforeValidator(_integral)
