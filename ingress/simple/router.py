"""HTTP routes of the simple API (the Flask Kokoro wrapper's): Kokoro voices only, WAV only.
Audio is built in memory: no temporary files."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response, StreamingResponse

from audio.output import AudioOutput
from ground.errors import InvalidRequest
from ingress.dependencies import Core, Settings, json_body
from ingress.simple.protocol import SynthesizeRequest, VoicesResponse
from operations.speech import SpeakRequest

router = APIRouter(tags=["Simple API"])
_WAV_HEADERS = {"Content-Disposition": "attachment; filename=speech.wav"}


def _speak_request(request: SynthesizeRequest, settings: Settings) -> SpeakRequest:
    limit = settings.max_simple_text_chars
    if len(request.text) > limit:
        raise InvalidRequest(f"text is {len(request.text)} characters; the limit is {limit}", param="text")
    return SpeakRequest(text=request.text, engine="kokoro", voice=request.voice)


@router.get("/voices")
async def voices(core: Core) -> VoicesResponse:
    kokoro = core.speech.kokoro
    return VoicesResponse(voices=[voice.name for voice in await kokoro.voices()], default=await kokoro.default_voice())


@router.post("/synthesize", dependencies=[Depends(json_body)], response_class=Response,
             responses={200: {"content": {"audio/wav": {}}}})
async def synthesize(request: SynthesizeRequest, core: Core, settings: Settings) -> Response:
    result = (await core.speech.synthesize(_speak_request(request, settings))).result
    return Response(AudioOutput("wav", result.sample_rate).whole(result.audio), media_type="audio/wav",
                    headers=_WAV_HEADERS)


@router.post("/synthesize/stream", dependencies=[Depends(json_body)], response_class=StreamingResponse,
             responses={200: {"content": {"audio/wav": {}}}})
async def synthesize_stream(request: SynthesizeRequest, core: Core, settings: Settings) -> StreamingResponse:
    speech = await core.speech.stream(_speak_request(request, settings))
    output = AudioOutput("wav", speech.sample_rate)

    async def body():
        async for chunk in speech.chunks:
            yield output.process(chunk.audio)

    return StreamingResponse(body(), media_type="audio/wav", headers=_WAV_HEADERS)
