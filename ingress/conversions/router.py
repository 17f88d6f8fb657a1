"""HTTP route of voice conversion: POST /v1/audio/conversions, multipart upload or JSON with base64 audio."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from audio.formats import MEDIA_TYPES
from ingress.conversions.protocol import ConversionRequest, ConversionResponse
from ingress.conversions.service import ConversionService, Converted, Upload
from ingress.dependencies import FORM_TYPES, media_type, unsupported_content_type, validated, validated_json
from ingress.errors import APIError

router = APIRouter(tags=["Voice conversion"])
# Multipart file fields (the first present is used): the input, and a target recording; the hosted API's names too.
_INPUT_FILES = ("file", "audio", "input_audio")
_TARGET_FILES = ("target_speaker", "target_audio")


def conversion_service(request: Request) -> ConversionService:
    return request.app.state.conversions


Conversions = Annotated[ConversionService, Depends(conversion_service)]

_FORM_FIELDS = {name: schema for name, schema in ConversionRequest.model_json_schema()["properties"].items()
                if name not in ("audio", "target_speaker")}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary", "description": "Speech to convert."},
                               "target_speaker": {"type": "string", "format": "binary",
                                                  "description": "Target: a recording of the voice to convert into."},
                               **_FORM_FIELDS}}},
            "application/json": {"schema": ConversionRequest.model_json_schema()},
        },
    }
}
_HEADERS = {
    "X-Input-Duration": "Seconds of input audio.",
    "X-Output-Duration": "Seconds of converted audio (the same as the input).",
    "X-Transfer-Mode": "embedding (a library voice) or audio (a one-off recording).",
    "X-Target": "The library voice's id, or 'target_speaker' for a recording.",
    "X-Pieces": "How many pieces the input was converted in (long input is cut at pauses).",
}
_RESPONSES = {200: {
    "model": ConversionResponse,
    "description": "The converted audio in `response_format`, with the X-* headers below; with `return_json`, "
                   "a JSON object instead.",
    "content": {media: {} for media in MEDIA_TYPES.values()},
    "headers": {name: {"description": text, "schema": {"type": "string"}} for name, text in _HEADERS.items()},
}}


@router.post("/v1/audio/conversions", openapi_extra=_BODY, responses=_RESPONSES, response_class=Response)
async def convert_voice(http: Request, service: Conversions) -> Response:
    """Re-speak recorded speech in another voice (S3Gen): a library voice (`voice_name` or `voice_id`, the
    hosted API's `embedding` transfer mode) or the voice of a second recording (`target_speaker`, mode
    `audio`). Exactly one target. The output is as long as the input; input over 60 s is converted in
    pieces cut at pauses. Up to 10 MB of audio in any common format."""
    request, audio, target_file = await _conversion_input(http)
    converted = await service.convert(request, audio, target_file)
    if request.return_json:
        body = ConversionResponse(
            audio=base64.b64encode(converted.audio).decode(), format=request.response_format,
            sample_rate=converted.sample_rate, duration=round(converted.output_duration, 3),
            input_duration=round(converted.input_duration, 3), pieces=converted.pieces,
            transfer_info=converted.transfer_info)
        return Response(body.model_dump_json(), media_type="application/json")
    headers = {"Content-Disposition": f"attachment; filename=converted.{request.response_format}",
               **_info_headers(converted)}
    return Response(converted.audio, media_type=MEDIA_TYPES[request.response_format], headers=headers)


def _info_headers(converted: Converted) -> dict[str, str]:
    info = converted.transfer_info
    return {"X-Input-Duration": f"{converted.input_duration:.3f}", "X-Output-Duration": f"{converted.output_duration:.3f}",
            "X-Transfer-Mode": info.transfer_mode, "X-Target": info.voice_id or info.target_voice,
            "X-Pieces": str(converted.pieces)}


async def _conversion_input(http: Request) -> tuple[ConversionRequest, Upload, Upload | None]:
    """The request's fields, the audio to convert and a target recording sent as a file (if any)."""
    content_type = media_type(http)
    if content_type in FORM_TYPES:
        # Closing the form removes any upload Starlette spooled to a temporary file.
        async with http.form(max_files=2, max_fields=20) as form:
            files = {name: value for name, value in form.items() if isinstance(value, UploadFile)}
            audio, target = [await _file(files, names) for names in (_INPUT_FILES, _TARGET_FILES)]
            fields = {key: value for key, value in form.items() if key not in files}
        request = validated(ConversionRequest, fields)
        if audio is None:
            raise APIError(400, "Attach the audio to convert as the multipart field 'file'", param="file")
        if request.audio is not None:
            raise APIError(400, "Send the audio once: as the file or as audio", param="audio")
        return request, audio, target
    if content_type == "application/json":
        request = await validated_json(http, ConversionRequest)
        if request.audio is None:
            raise APIError(400, "Missing required parameter: 'audio'", param="audio")
        return request, Upload(request.audio, "audio"), None
    raise unsupported_content_type("multipart/form-data or application/json", content_type)


async def _file(files: dict[str, UploadFile], names: tuple[str, ...]) -> Upload | None:
    name = next((name for name in names if name in files), None)
    return Upload(await files[name].read(), name) if name else None
