"""HTTP routes of the voice library: list, clone (multipart or JSON), read, rename, delete, download."""

from __future__ import annotations

import base64
import mimetypes

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile

from audio.output import AudioOutput
from audio.uploads import AudioUpload
from ingress.dependencies import (
    FORM_TYPES,
    Core,
    form_properties,
    json_body,
    json_body_schema,
    media_type,
    unsupported_content_type,
    validated,
    validated_json,
)
from ingress.errors import APIError
from ingress.voices.protocol import ClonedVoice, CloneVoiceRequest, DeletedVoice, VoiceList, VoiceUpdate
from operations.voices import CloneRequest
from stores.voice_library import VoiceEntry, voice_stats

router = APIRouter(tags=["Voice library"])
_CLIP_FIELDS = ("file", "audio")  # the multipart field that carries the reference clip

# The document shows both forms with the model's own constraints: the clip is the file `file` in a form,
# and the required `reference_audio` in JSON.
_CLONE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["name", "file"], "additionalProperties": False,
                "properties": {"file": {"type": "string", "format": "binary", "description": "The reference clip."},
                               **form_properties(CloneVoiceRequest, leave_out=("reference_audio",))}}},
            "application/json": {"schema": json_body_schema(CloneVoiceRequest, ("reference_audio",))},
        },
    }
}


@router.get("/v1/voices")
async def list_voices(core: Core) -> VoiceList:
    entries = await core.voices.list()
    return VoiceList(voices=entries, total_voices=len(entries), stats=voice_stats(entries))


@router.post("/v1/voices", status_code=201, openapi_extra=_CLONE_BODY)
async def clone_voice(http: Request, core: Core) -> ClonedVoice:
    """Clone a voice from a 5-60 s reference clip; the answer carries a short sample spoken in it."""
    request, clip = await _clone_input(http)
    cloned = await core.voices.clone(CloneRequest(
        request.name, clip, gender=request.gender, description=request.description,
        save_to_library=request.save_to_library, max_reference_duration_sec=request.max_reference_duration_sec))
    entry = cloned.entry
    if cloned.saved:
        usage = f"Speak with it: POST /v1/audio/speech with model 'chatterbox' and voice '{entry.speaker_name}' " \
                f"(or '{entry.voice_id}')."
    else:
        usage = "Not saved: send the same clip as reference_audio to speak with this voice, or clone it again " \
                "with save_to_library true."
    sample = cloned.sample
    audio = AudioOutput("wav", sample.sample_rate).whole(sample.audio)
    return ClonedVoice(voice_info=entry, sample_audio=base64.b64encode(audio).decode(), sample_rate=sample.sample_rate,
                       saved_to_library=cloned.saved, usage_instructions=usage)


async def _clone_input(http: Request) -> tuple[CloneVoiceRequest, AudioUpload]:
    """The request's fields and the clip, from a multipart form or a JSON body; decoding is the core's."""
    content_type = media_type(http)
    if content_type in FORM_TYPES:
        # Closing the form removes any upload Starlette spooled to a temporary file.
        async with http.form(max_files=1, max_fields=10) as form:
            uploads = [form[name] for name in _CLIP_FIELDS if isinstance(form.get(name), UploadFile)]
            if not uploads:
                raise APIError(400, "Attach the reference clip as the multipart field 'file'", param="file")
            data = await uploads[0].read()
            fields = {key: value for key, value in form.items() if key not in _CLIP_FIELDS}
        request = validated(CloneVoiceRequest, fields, from_form=True)
        if request.reference_audio is not None:
            raise APIError(400, "Send the clip once: as the file or as reference_audio", param="reference_audio")
        return request, AudioUpload(data, "file")
    if content_type == "application/json":
        request = await validated_json(http, CloneVoiceRequest)
        if request.reference_audio is None:
            raise APIError(400, "Missing required parameter: 'reference_audio'", param="reference_audio")
        return request, AudioUpload(request.reference_audio, "reference_audio")
    raise unsupported_content_type("multipart/form-data or application/json", content_type)


@router.get("/v1/voices/{voice}")
async def get_voice(voice: str, core: Core) -> VoiceEntry:
    """A voice by id or by name (any case); Kokoro packs by their name."""
    return await core.voices.get(voice)


@router.patch("/v1/voices/{voice}", dependencies=[Depends(json_body)])
async def update_voice(voice: str, update: VoiceUpdate, core: Core) -> VoiceEntry:
    """Rename a stored voice or change its description."""
    return await core.voices.update(voice, name=update.name, description=update.description)


@router.delete("/v1/voices/{voice}")
async def delete_voice(voice: str, core: Core) -> DeletedVoice:
    return DeletedVoice(voice_info=await core.voices.delete(voice))


@router.get("/v1/voices/{voice}/audio", response_class=FileResponse,
            responses={200: {"content": {"audio/*": {}}}})
async def download_reference_clip(voice: str, core: Core) -> FileResponse:
    """The reference clip the voice was cloned from, as it was uploaded."""
    entry, path = await core.voices.original_clip(voice)
    extension = path.suffix
    media_type = mimetypes.guess_type(f"clip{extension}")[0] or "application/octet-stream"
    return FileResponse(path, media_type=media_type, filename=f"{entry.speaker_name}{extension}")
