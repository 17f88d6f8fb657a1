"""HTTP route of voice conversion: POST /v1/audio/conversions, multipart upload or JSON with base64 audio."""

from __future__ import annotations

import asyncio
import base64

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from audio.formats import MEDIA_TYPES
from audio.output import AudioOutput
from audio.uploads import AudioUpload
from ingress.conversions.protocol import ConversionRequest, ConversionResponse
from ingress.dependencies import (
    FORM_TYPES,
    Core,
    Settings,
    form_properties,
    json_body_schema,
    media_type,
    unsupported_content_type,
    validated,
    validated_json,
)
from ingress.errors import APIError
from operations.conversion import ConvertRequest

router = APIRouter(tags=["Voice conversion"])
# Multipart file fields (the first present is used): the input, and a target recording; the hosted API's names too.
_INPUT_FILES = ("file", "audio", "input_audio")
_TARGET_FILES = ("target_speaker", "target_audio")

_FORM_FIELDS = form_properties(ConversionRequest, leave_out=("audio", "target_speaker"))
_TARGET_MODES = {"voice_name": "embedding", "voice_id": "embedding", "target_speaker": "audio"}


def _one_target(nullable: bool) -> list[dict]:
    """The core's target rule (operations.conversion) for the document: exactly one of the targets, and
    a transfer_mode, if any, that agrees with it. A JSON null counts as left out; a form has no null."""
    left_out = {"type": "null"} if nullable else False
    return [{"required": [target],
             "properties": {**{other: left_out for other in _TARGET_MODES if other != target},
                            target: {"type": "string"},
                            "transfer_mode": {"enum": [mode, None] if nullable else [mode]}}}
            for target, mode in _TARGET_MODES.items()]


_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file"], "additionalProperties": False,
                "properties": {"file": {"type": "string", "format": "binary", "description": "Speech to convert."},
                               "target_speaker": {"type": "string", "format": "binary",
                                                  "description": "Target: a recording of the voice to convert into."},
                               **_FORM_FIELDS},
                "oneOf": _one_target(nullable=False)}},
            "application/json": {"schema": {**json_body_schema(ConversionRequest, ("audio",)),
                                            "oneOf": _one_target(nullable=True)}},
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


LONGER_INPUT = ("convert longer input as a job: POST /run with {\"input\": {\"operation\": \"voice_conversion\", "
                "\"input_audio\": <base64>, ...}}, then GET /status/{id}")


@router.post("/v1/audio/conversions", openapi_extra=_BODY, responses=_RESPONSES, response_class=Response)
async def convert_voice(http: Request, core: Core, settings: Settings) -> Response:
    """Re-speak recorded speech in another voice (S3Gen): a library voice (`voice_name` or `voice_id`, the
    hosted API's `embedding` transfer mode) or the voice of a second recording (`target_speaker`, mode
    `audio`). Exactly one target. The output is as long as the input; input over 60 s is converted in
    pieces cut at pauses. Up to 10 MB of audio in any common format, and up to the deployment's
    `max_conversion_input_s`: longer input is converted as a job (`POST /run` with the
    `voice_conversion` operation, then `GET /status/{id}`), which no request timeout cuts short; the
    400 for a longer input says so."""
    request, audio, target_file = await _conversion_input(http)
    if request.target_speaker is not None:
        if target_file is not None:
            raise APIError(400, "Send the target recording once: as a file or as target_speaker", param="target_speaker")
        target_file = AudioUpload(request.target_speaker, "target_speaker")
    converted = await core.conversion.convert(ConvertRequest(
        audio, voice_name=request.voice_name, voice_id=request.voice_id, target_audio=target_file,
        transfer_mode=request.transfer_mode, no_watermark=request.no_watermark,
        max_reference_duration_sec=request.max_reference_duration_sec, max_input_s=settings.max_conversion_input_s,
        longer_input=LONGER_INPUT))
    result = converted.result
    output = AudioOutput(request.response_format, result.sample_rate, request.sample_rate)
    encoded = await asyncio.to_thread(output.whole, result.audio)  # minutes of audio: off the event loop
    output_duration = len(result.audio) / result.sample_rate
    info = converted.transfer_info
    if request.return_json:
        body = ConversionResponse(
            audio=base64.b64encode(encoded).decode(), format=request.response_format, sample_rate=output.sample_rate,
            duration=round(output_duration, 3), input_duration=round(converted.input_duration, 3),
            pieces=result.pieces, transfer_info=info)
        return Response(body.model_dump_json(), media_type="application/json")
    headers = {"Content-Disposition": f"attachment; filename=converted.{request.response_format}",
               "X-Input-Duration": f"{converted.input_duration:.3f}", "X-Output-Duration": f"{output_duration:.3f}",
               "X-Transfer-Mode": info.transfer_mode, "X-Target": info.voice_id or info.target_voice,
               "X-Pieces": str(result.pieces)}
    return Response(encoded, media_type=MEDIA_TYPES[request.response_format], headers=headers)


async def _conversion_input(http: Request) -> tuple[ConversionRequest, AudioUpload, AudioUpload | None]:
    """The request's fields, the audio to convert and a target recording sent as a file (if any)."""
    content_type = media_type(http)
    if content_type in FORM_TYPES:
        # Closing the form removes any upload Starlette spooled to a temporary file.
        async with http.form(max_files=2, max_fields=20) as form:
            files = {name: value for name, value in form.items() if isinstance(value, UploadFile)}
            audio, target = [await _file(files, names) for names in (_INPUT_FILES, _TARGET_FILES)]
            fields = {key: value for key, value in form.items() if key not in files}
        request = validated(ConversionRequest, fields, from_form=True)
        if audio is None:
            raise APIError(400, "Attach the audio to convert as the multipart field 'file'", param="file")
        if request.audio is not None:
            raise APIError(400, "Send the audio once: as the file or as audio", param="audio")
        return request, audio, target
    if content_type == "application/json":
        request = await validated_json(http, ConversionRequest)
        if request.audio is None:
            raise APIError(400, "Missing required parameter: 'audio'", param="audio")
        return request, AudioUpload(request.audio, "audio"), None
    raise unsupported_content_type("multipart/form-data or application/json", content_type)


async def _file(files: dict[str, UploadFile], names: tuple[str, ...]) -> AudioUpload | None:
    name = next((name for name in names if name in files), None)
    return AudioUpload(await files[name].read(), name) if name else None
