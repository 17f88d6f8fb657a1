"""The base of every HTTP request body: JSON values must have the type the API document gives them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class JsonBody(BaseModel):
    """Strict, as OpenAI's API is: `"speed": "1.5"` or `"exaggeration": false` is a 400, not a number.
    An integer still counts as a number. Multipart forms carry only text, so their fields are
    parsed laxly instead (`validated(..., from_form=True)`)."""

    model_config = ConfigDict(strict=True)
