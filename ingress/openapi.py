"""The gateway's OpenAPI document: FastAPI's own, amended by each part that knows more, built once."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from ingress.settings import GatewaySettings


def amend_openapi(app: FastAPI, amend: Callable[[dict], None]) -> None:
    """`amend(schema)` changes the document in place when it is first built; later amendments run after
    earlier ones, and the result is cached as FastAPI caches its own."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = build()
            amend(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi


def document_text_limits(app: FastAPI, settings: GatewaySettings) -> None:
    """The text limits are settings, so the document gets them when the app is made, not from the models."""
    limits = {("SpeechRequest", "input"): settings.max_input_chars,
              ("CaptionedSpeechRequest", "input"): settings.max_input_chars,
              ("SynthesizeRequest", "text"): settings.max_simple_text_chars}

    def amend(schema: dict) -> None:
        models = schema.get("components", {}).get("schemas", {})
        for (model, field), limit in limits.items():
            if model in models:
                models[model]["properties"][field]["maxLength"] = limit

    amend_openapi(app, amend)
