"""HTTP routes of the simple API. Audio is built in memory: no temporary files."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from deployments.kokoro.protocol import SAMPLE_RATE
from deployments.kokoro.protocol import KokoroRequest
from audio.output import AudioOutput
from ingress.dependencies import Kokoro, json_body
from ingress.errors import APIError
from ingress.simple.protocol import SynthesizeRequest, VoicesResponse

router = APIRouter(tags=["Simple API"])
_WAV_HEADERS = {"Content-Disposition": "attachment; filename=speech.wav"}


async def _engine_request(request: SynthesizeRequest, http: Request, kokoro: Kokoro) -> EngineRequest:
    limit = http.app.state.settings.max_simple_text_chars
    if len(request.text) > limit:
        raise APIError(400, f"text is {len(request.text)} characters; the limit is {limit}", param="text")
    return EngineRequest(text=request.text, voice=request.voice or await kokoro.default_voice())


@router.get("/voices")
async def voices(kokoro: Kokoro) -> VoicesResponse:
    return VoicesResponse(voices=[voice.name for voice in await kokoro.voices()], default=await kokoro.default_voice())


@router.post("/synthesize", dependencies=[Depends(json_body)], response_class=Response,
             responses={200: {"content": {"audio/wav": {}}}})
async def synthesize(request: SynthesizeRequest, http: Request, kokoro: Kokoro) -> Response:
    result = await kokoro.synthesize(await _engine_request(request, http, kokoro))
    return Response(AudioOutput("wav", result.sample_rate).whole(result.audio), media_type="audio/wav",
                    headers=_WAV_HEADERS)


@router.post("/synthesize/stream", dependencies=[Depends(json_body)], response_class=StreamingResponse,
             responses={200: {"content": {"audio/wav": {}}}})
async def synthesize_stream(request: SynthesizeRequest, http: Request,
                            kokoro: Kokoro) -> StreamingResponse:
    chunks = await kokoro.stream(await _engine_request(request, http, kokoro))
    output = AudioOutput("wav", SAMPLE_RATE)

    async def body():
        async for chunk in chunks:
            yield output.process(chunk.audio)

    return StreamingResponse(body(), media_type="audio/wav", headers=_WAV_HEADERS)
