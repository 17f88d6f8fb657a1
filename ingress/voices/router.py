"""HTTP routes of the voice library: list, clone (multipart or JSON), read, rename, delete, download."""

from __future__ import annotations

import asyncio
import mimetypes
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile

from deployments.voice_library import VoiceEntry
from audio.uploads import DecodedAudio, decode_base64_audio, decode_upload
from ingress.dependencies import FORM_TYPES, json_body, media_type, unsupported_content_type, validated, validated_json
from ingress.errors import APIError
from ingress.voices.protocol import ClonedVoice, CloneVoiceRequest, DeletedVoice, VoiceList, VoiceUpdate
from ingress.voices.service import VoiceService

router = APIRouter(tags=["Voice library"])
_CLIP_FIELDS = ("file", "audio")  # the multipart field that carries the reference clip


def voice_service(request: Request) -> VoiceService:
    return request.app.state.voices


Voices = Annotated[VoiceService, Depends(voice_service)]

_CLONE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["name", "file"],
                "properties": {"file": {"type": "string", "format": "binary"}, "name": {"type": "string"},
                               "description": {"type": "string"}, "gender": {"type": "string"},
                               "save_to_library": {"type": "boolean"}}}},
            "application/json": {"schema": CloneVoiceRequest.model_json_schema()},
        },
    }
}


@router.get("/v1/voices")
async def list_voices(voices: Voices) -> VoiceList:
    return await voices.list()


@router.post("/v1/voices", status_code=201, openapi_extra=_CLONE_BODY)
async def clone_voice(http: Request, voices: Voices) -> ClonedVoice:
    """Clone a voice from a 5-60 s reference clip; the answer carries a short sample spoken in it."""
    request, clip = await _clone_input(http, voices)
    return await voices.clone(request, clip)


async def _clone_input(http: Request, voices: Voices) -> tuple[CloneVoiceRequest, DecodedAudio]:
    settings = voices.settings
    limits = {"max_bytes": settings.max_upload_bytes, "min_duration_s": settings.min_clone_s,
              "max_duration_s": settings.max_clone_s}
    content_type = media_type(http)
    if content_type in FORM_TYPES:
        # Closing the form removes any upload Starlette spooled to a temporary file.
        async with http.form(max_files=1, max_fields=10) as form:
            uploads = [form[name] for name in _CLIP_FIELDS if isinstance(form.get(name), UploadFile)]
            if not uploads:
                raise APIError(400, "Attach the reference clip as the multipart field 'file'", param="file")
            data = await uploads[0].read()
            fields = {key: value for key, value in form.items() if key not in _CLIP_FIELDS}
        request = validated(CloneVoiceRequest, fields)
        if request.reference_audio is not None:
            raise APIError(400, "Send the clip once: as the file or as reference_audio", param="reference_audio")
        return request, await asyncio.to_thread(decode_upload, data, param="file", **limits)
    if content_type == "application/json":
        request = await validated_json(http, CloneVoiceRequest)
        if request.reference_audio is None:
            raise APIError(400, "Missing required parameter: 'reference_audio'", param="reference_audio")
        return request, await asyncio.to_thread(decode_base64_audio, request.reference_audio,
                                                param="reference_audio", **limits)
    raise unsupported_content_type("multipart/form-data or application/json", content_type)


@router.get("/v1/voices/{voice}")
async def get_voice(voice: str, voices: Voices) -> VoiceEntry:
    """A voice by id or by name (any case); Kokoro packs by their name."""
    return await voices.get(voice)


@router.patch("/v1/voices/{voice}", dependencies=[Depends(json_body)])
async def update_voice(voice: str, update: VoiceUpdate, voices: Voices) -> VoiceEntry:
    """Rename a stored voice or change its description."""
    return await voices.update(voice, update)


@router.delete("/v1/voices/{voice}")
async def delete_voice(voice: str, voices: Voices) -> DeletedVoice:
    return await voices.delete(voice)


@router.get("/v1/voices/{voice}/audio", response_class=FileResponse,
            responses={200: {"content": {"audio/*": {}}}})
async def download_reference_clip(voice: str, voices: Voices) -> FileResponse:
    """The reference clip the voice was cloned from, as it was uploaded."""
    entry, path = await voices.original_clip(voice)
    extension = path.suffix
    media_type = mimetypes.guess_type(f"clip{extension}")[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, filename=f"{entry.speaker_name}{extension}")
