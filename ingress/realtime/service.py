"""One stream-input socket: text in as it arrives, sentences to the operations core, audio out in order.

Three tasks per socket: the receiver reads messages (settings, text, flush, the end of input) and cuts the
text into sentences; the starter hands them to `operations.speech.stream` as soon as they are complete (at
most LOOKAHEAD requests in flight: the one being sent and the next, already rendering); the sender forwards
each request's chunks, in order, as ElevenLabs' audio messages. An open socket counts against its client's
share of the replica (and the replica's `max_websockets`), and each synthesis holds one of the replica's
request slots, as an HTTP request does. A protocol error is an error message and a
1008 close; a client that leaves cancels every synthesis task, which closes the engine streams.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

from pydantic import BaseModel, ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from audio.output import AudioOutput
from deployments.chatterbox.protocol import CHATTERBOX_MODELS, MULTILINGUAL
from ground.clients import current_client
from ground.errors import InvalidRequest, ServiceError, UnknownVoice, describe_validation_error
from ground.replies import AudioChunk
from ingress import metrics
from ingress.auth import BearerKeys
from ingress.guards import Admission
from ingress.realtime.alignment import character_alignment
from ingress.realtime.protocol import (
    OUTPUT_FORMATS,
    AudioChunkResponse,
    FinalResponse,
    StreamErrorResponse,
    StreamInputQuery,
    TextChunkRequest,
)
from ingress.realtime.sentences import SentenceBuffer
from ingress.settings import GatewaySettings
from ingress.speech.protocol import KOKORO_MODEL_NAMES, MODEL_NAMES
from ingress.streaming import Framing, write_stream
from operations.core import Operations
from operations.speech import Engine, SpeakRequest, Speech

logger = logging.getLogger("ray.serve")

CLOSE_NORMAL, CLOSE_POLICY_VIOLATION, CLOSE_SERVER_ERROR, CLOSE_TRY_AGAIN_LATER = 1000, 1008, 1011, 1013
LOOKAHEAD = 2  # requests in flight per socket: the one being sent and the next one
TIMESTAMPS_PARAM = "return_timestamps"  # what Kokoro names when its backend reports no word timings
_END = object()  # an utterance's last queue item


class Refusal(Exception):
    """The client broke the protocol (or may not use it): an error message, then a close."""

    def __init__(self, message: str, error: str = "invalid_input_message", code: int = CLOSE_POLICY_VIOLATION):
        super().__init__(message)
        self.message, self.error, self.code = message, error, code


class ClientLeft(Exception):
    pass


def engine_for(model_id: str | None, models: dict[str, str]) -> Engine | None:
    """The model a `model_id` names: a Chorus model, or an ElevenLabs id through the gateway's `models` map
    (other eleven_* ids speak with Kokoro); none lets the voice decide."""
    if model_id is None:
        return None
    model_id = models.get(model_id, model_id)
    if model_id in CHATTERBOX_MODELS:
        return model_id
    if model_id in KOKORO_MODEL_NAMES or model_id.startswith("eleven_"):
        return "kokoro"
    raise Refusal(f"Model '{model_id}' not found. Use an eleven_* model id or one of {', '.join(MODEL_NAMES)}",
                  error="model_not_found")


def has_words(text: str) -> bool:
    return any(character.isalnum() for character in text)


def _first_error(error: ValidationError) -> str:
    return describe_validation_error(error.errors()[0], noun="field")[0]


class StreamInputService:
    """What every socket of one gateway app shares, including whether Kokoro reports word timings."""

    def __init__(self, operations: Operations, settings: GatewaySettings, keys: BearerKeys, admission: Admission):
        self.operations = operations
        self.settings = settings
        self.keys = keys
        self.admission = admission
        self.engine_gives_timings: bool | None = None  # learnt from the first request that asks

    def session(self, websocket: WebSocket, voice_id: str) -> StreamInputSession:
        return StreamInputSession(self, websocket, voice_id)


@dataclass
class _Utterance:
    """One request to the engine: its text, and its chunks as they come (then _END, or the exception)."""

    text: str
    chunks: asyncio.Queue = field(default_factory=asyncio.Queue)
    task: asyncio.Task | None = None


class StreamInputSession:
    def __init__(self, service: StreamInputService, websocket: WebSocket, voice_id: str):
        self.service = service
        self.websocket = websocket
        self.voice_id = voice_id
        self.limit = service.settings.max_input_chars
        self.buffer = SentenceBuffer()
        self.pending: deque[str] = deque()  # complete text not yet handed to the engine
        self.pending_chars = 0
        self.ended = False  # the client sent the end of input
        self.ready = asyncio.Event()  # pending text or the end of input for the starter
        self.room = asyncio.Event()  # set while pending text is within the limit: the receiver reads on
        self.room.set()
        self.slots = asyncio.Semaphore(LOOKAHEAD)
        self.utterances: asyncio.Queue[_Utterance | None] = asyncio.Queue()  # in the order they are sent
        self.started: list[_Utterance] = []
        self.tasks: list[asyncio.Task] = []
        self.engine: Engine | None = None
        self.language: str | None = None
        self.speed = 1.0
        self.timeout_s = 0.0
        self.audio_format, self.sample_rate = "pcm", 0

    # -- the socket's life -----------------------------------------------------------------------

    async def run(self) -> None:
        admission, client = self.service.admission, current_client.get()
        refusal = admission.socket_refusal(client)
        if refusal is not None:  # told in the close, as ElevenLabs tells its errors, rather than a bare 403
            await self.websocket.accept()
            return await self._close(CLOSE_TRY_AGAIN_LATER, StreamErrorResponse(
                message=refusal.message, error=refusal.code, code=CLOSE_TRY_AGAIN_LATER))
        with admission.websocket(client):  # held before the handshake's await, so sockets opening together count
            await self.websocket.accept()
            await self._serve_and_close()

    async def _serve_and_close(self) -> None:
        closing: tuple[int, StreamErrorResponse | None] | None = None
        try:
            await self._serve()
            closing = (CLOSE_NORMAL, None)
        except Refusal as refusal:
            closing = (refusal.code, StreamErrorResponse(message=refusal.message, error=refusal.error, code=refusal.code))
        except ServiceError as error:
            code = CLOSE_POLICY_VIOLATION if error.http_status < 500 else CLOSE_SERVER_ERROR
            closing = (code, StreamErrorResponse(message=error.message, error=error.code or _error_name(error), code=code))
        except ClientLeft:
            pass
        except Exception:
            logger.exception("stream-input socket failed")
            closing = (CLOSE_SERVER_ERROR, StreamErrorResponse(message="Synthesis failed", error="internal_error",
                                                               code=CLOSE_SERVER_ERROR))
        finally:
            await self._stop()  # before any error message, so no audio follows it
        if closing is not None:
            await self._close(*closing)

    async def _serve(self) -> None:
        try:
            query = StreamInputQuery.model_validate(dict(self.websocket.query_params))
        except ValidationError as error:
            raise Refusal(_first_error(error)) from None
        self.engine = engine_for(query.model_id, self.service.settings.websocket_models)
        self.language = query.language_code
        self.audio_format, self.sample_rate = OUTPUT_FORMATS[query.output_format]
        self.timeout_s = query.inactivity_timeout
        authorized = self._authorize_connection(query)
        first = await self._next_message()
        if not authorized:
            self._authorize(first.authorization, f"Bearer {first.xi_api_key}" if first.xi_api_key else None)
        if first.voice_settings is not None and first.voice_settings.speed is not None:
            self.speed = first.voice_settings.speed
        receiver = asyncio.create_task(self._receive(first))
        starter = asyncio.create_task(self._start_utterances())
        sender = asyncio.create_task(self._send())
        self.tasks += [receiver, starter, sender]
        waiting = {receiver, starter, sender}
        while sender in waiting:
            done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # the receiver ends only by raising (a bad message, a timeout, the client leaving)

    async def _stop(self) -> None:
        """Cancel every task of this socket; a cancelled synthesis task closes its engine stream."""
        tasks = [*self.tasks, *(utterance.task for utterance in self.started if utterance.task is not None)]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _close(self, code: int, error: StreamErrorResponse | None) -> None:
        if error is not None:  # counted as the HTTP errors are, by its close code
            metrics.errors.inc(tags={"status": str(code), "type": error.error})
        with contextlib.suppress(Exception):  # the client may be gone already
            if error is not None:
                await self.websocket.send_text(error.model_dump_json())
            # A close reason holds at most 123 bytes.
            reason = error.message.encode()[:123].decode(errors="ignore") if error is not None else None
            await self.websocket.close(code, reason)

    # -- authentication ---------------------------------------------------------------------------

    def _authorize_connection(self, query: StreamInputQuery) -> bool:
        """True when no key is needed or the headers or query carry a valid one; False: the first message may."""
        if not self.service.keys.enabled:
            return True
        headers = self.websocket.headers
        keys = (headers.get("xi-api-key"), query.xi_api_key)
        credentials = [c for c in (headers.get("authorization"), query.authorization) if c]
        credentials += [f"Bearer {key}" for key in keys if key]
        if not credentials:
            return False
        self._authorize(*credentials)
        return True

    def _authorize(self, *credentials: str | None) -> None:
        """Any one valid credential will do."""
        if not any(self.service.keys.allows(credential) for credential in credentials):
            raise Refusal("Missing or invalid API key: send the 'xi-api-key' header (or 'Authorization: Bearer "
                          "<key>'), the xi-api-key query parameter, or xi_api_key in the first message",
                          error="invalid_api_key")

    # -- receiving ---------------------------------------------------------------------------------

    async def _next_message(self) -> TextChunkRequest:
        try:
            message = await asyncio.wait_for(self.websocket.receive(), self.timeout_s)
        except TimeoutError:
            raise Refusal(f"Have not received a new text input within the timeout of {self.timeout_s:g} seconds. "
                          "Streaming input terminated. Send text in time (\" \" keeps the socket open), or send "
                          "the end of input (text \"\") when done.", error="input_timeout_exceeded") from None
        if message["type"] == "websocket.disconnect":
            raise ClientLeft
        raw = message.get("text")
        if raw is None:
            raw = message.get("bytes") or b""
        try:
            payload = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Refusal("Could not parse input message: send a JSON object such as {\"text\": \"Hello \"}") from None
        if not isinstance(payload, dict):
            raise Refusal("Could not parse input message: it must be a JSON object")
        try:
            return TextChunkRequest.model_validate(payload)
        except ValidationError as error:
            raise Refusal(f"Invalid input message: {_first_error(error)}") from None

    async def _receive(self, first: TextChunkRequest) -> None:
        self._take(first)
        while not self.ended:
            await self.room.wait()  # backpressure: the engine is behind by more than the text limit
            self._take(await self._next_message())
        while True:  # input ended: listen on only to notice a client that leaves mid-synthesis
            if (await self.websocket.receive())["type"] == "websocket.disconnect":
                raise ClientLeft

    def _take(self, message: TextChunkRequest) -> None:
        if message.text == "":
            self._queue([self.buffer.take()])
            self.ended = True
            self.ready.set()
            return
        sentences = self.buffer.add(message.text)
        if message.flush:
            sentences.append(self.buffer.take())
        longest = max([len(self.buffer), *map(len, sentences)])
        if longest > self.limit:
            raise Refusal(f"Text is {longest} characters without a sentence end; the limit is {self.limit}: "
                          "send a sentence end or flush sooner", error="max_character_limit_exceeded")
        self._queue(sentences)

    def _queue(self, texts: list[str]) -> None:
        texts = [text for text in texts if has_words(text)]  # "..." or " " alone has nothing to speak
        self.pending.extend(texts)
        self.pending_chars += sum(map(len, texts))
        if self.pending_chars > self.limit:
            self.room.clear()
        if texts:
            self.ready.set()

    # -- synthesis ---------------------------------------------------------------------------------

    async def _start_utterances(self) -> None:
        """Each complete sentence goes to the engine at once, while a slot is free; whatever piled up while
        none was free goes as one request (up to the text limit)."""
        while True:
            await self.slots.acquire()
            while not self.pending and not self.ended:
                self.ready.clear()
                await self.ready.wait()
            if not self.pending:
                self.utterances.put_nowait(None)
                return
            utterance = _Utterance(self._take_pending())
            utterance.task = asyncio.create_task(self._synthesize(utterance))
            self.started.append(utterance)
            self.utterances.put_nowait(utterance)

    def _take_pending(self) -> str:
        parts, size = [], 0
        while self.pending and (not parts or size + len(self.pending[0]) <= self.limit):
            parts.append(self.pending.popleft())
            size += len(parts[-1])
        self.pending_chars -= size
        if self.pending_chars <= self.limit:
            self.room.set()
        return "".join(parts).strip()

    async def _synthesize(self, utterance: _Utterance) -> None:
        """One request to the engine, holding one of the replica's request slots while it renders."""
        try:
            async with self.service.admission.synthesis():
                speech = await self._speak(utterance.text)
                async with contextlib.aclosing(speech.chunks) as chunks:
                    async for chunk in chunks:
                        utterance.chunks.put_nowait(chunk)
            utterance.chunks.put_nowait(_END)
        except Exception as error:  # noqa: BLE001 -- handed to the sender, which reports it; cancellation is no Exception
            utterance.chunks.put_nowait(error)

    async def _speak(self, text: str) -> Speech:
        service = self.service
        timings = self.engine not in CHATTERBOX_MODELS and service.engine_gives_timings is not False
        request = SpeakRequest(text=text, engine=self.engine, voice=self.voice_id, voice_param="voice_id",
                               speed=self.speed, word_timestamps=timings, language_param="language_code",
                               # ElevenLabs' language_code is a hint the models that speak one language ignore.
                               language=self.language if self.engine == MULTILINGUAL else None)
        try:
            speech = await service.operations.speech.stream(request)
        except InvalidRequest as error:
            if not timings or error.param != TIMESTAMPS_PARAM:
                raise
            service.engine_gives_timings = False  # this engine reports no word timings: ask no more
            return await service.operations.speech.stream(replace(request, word_timestamps=False))
        if timings and speech.engine == "kokoro":
            service.engine_gives_timings = True
        return speech

    # -- sending -----------------------------------------------------------------------------------

    async def _send(self) -> None:
        """Every request's chunks, in order, as one encoded stream of audio messages, then the final message."""
        frames = write_stream(self._chunks_in_order(), lambda rate: AudioOutput(self.audio_format, rate, self.sample_rate),
                              _AudioMessages())
        async for message in frames:
            await self._send_json(message)

    async def _chunks_in_order(self) -> AsyncIterator[AudioChunk]:
        while (utterance := await self.utterances.get()) is not None:
            try:
                while (item := await utterance.chunks.get()) is not _END:
                    if isinstance(item, BaseException):
                        raise item
                    yield item
            finally:
                self.slots.release()
                self.started.remove(utterance)

    async def _send_json(self, message: BaseModel) -> None:
        try:
            await self.websocket.send_text(message.model_dump_json(by_alias=True))
        except (WebSocketDisconnect, RuntimeError):  # gone, or the socket is already closed
            raise ClientLeft from None


class _AudioMessages(Framing[BaseModel]):
    """ElevenLabs' audio messages, with character timings counted from the start of each request's audio."""

    def __init__(self):
        self.elapsed_s = 0.0

    async def chunk(self, data: bytes, chunk: AudioChunk) -> list[BaseModel]:
        if chunk.index == 0:  # the first chunk of the next request
            self.elapsed_s = 0.0
        duration_s = len(chunk.audio) / chunk.sample_rate
        alignment = character_alignment(chunk.text, chunk.words, self.elapsed_s, duration_s)
        self.elapsed_s += duration_s
        return [_audio_message(data, alignment)] if data or alignment is not None else []

    async def tail(self, data: bytes) -> list[BaseModel]:
        return [_audio_message(data)] if data else []

    async def end(self) -> list[BaseModel]:
        return [FinalResponse()]


def _audio_message(data: bytes, alignment=None) -> AudioChunkResponse:
    return AudioChunkResponse(audio=base64.b64encode(data).decode(), normalized_alignment=alignment, alignment=alignment)


def _error_name(error: ServiceError) -> str:
    if isinstance(error, UnknownVoice):
        return "voice_not_found"
    return "invalid_request" if error.http_status < 500 else "engine_error"
