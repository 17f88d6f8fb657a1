"""Errors in OpenAI's shape, as every tier checks them, and the bad requests more than one tier sends."""

from __future__ import annotations

import httpx

JSON = {"Content-Type": "application/json"}
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
               405: "invalid_request_error", 413: "invalid_request_error", 429: "rate_limit_error",
               503: "service_unavailable", 504: "timeout_error"}


def assert_error(response: httpx.Response, status: int, param: str | None = None, words: str = "",
                 code: str | None = None) -> dict:
    """An error in OpenAI's shape, with the type its status gets and (when given) the code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == ERROR_TYPES[status]
    assert error["param"] == param, error
    assert words.lower() in error["message"].lower(), error
    if code is not None:
        assert error["code"] == code, error
    return error


BAD_SPEECH_REQUESTS = [
    ({"input": ""}, "input", "text"),
    ({"input": " \n\t "}, "input", "text"),
    ({"input": "x" * 4097}, "input", "limit"),
    ({"input": "hi", "voice": "nobody"}, "voice", "not found"),
    ({"input": "hi", "voice": "jf_alpha(2)+"}, "voice", "blend"),
    ({"input": "hi", "voice": "jf_alpha(abc)"}, "voice", "blend"),
    ({"input": "hi", "model": "whisper-1"}, "model", "not found"),
    ({"input": "hi", "response_format": "ogg"}, "response_format", "mp3"),
    ({"input": "hi", "stream_format": "chunks"}, "stream_format", "sse"),
    ({"input": "hi", "speed": 0.1}, "speed", "0.25"),
    ({"input": "hi", "speed": 4.5}, "speed", "4"),
    ({"input": "hi", "speed": "fast"}, "speed", "number"),
    ({"input": "hi", "sample_rate": 1000}, "sample_rate", "8000"),
    ({"input": "hi", "normalization": "loud"}, "normalization", "peak"),
    ({"input": "hi", "lang_code": "q"}, "lang_code", "'a'"),
    ({"input": "hi", "temperature": 5}, "temperature", "2"),
    ({"input": "hi", "top_k": 1001}, "top_k", "1000"),
    ({"input": "hi", "top_p": 1.5}, "top_p", "1"),
    ({"input": "hi", "repetition_penalty": 9}, "repetition_penalty", "2"),
    ({"voice": "alloy"}, "input", "missing"),
    ({"input": 42}, "input", "string"),
]
