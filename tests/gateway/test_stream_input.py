"""ElevenLabs' stream-input WebSocket (GET /v1/text-to-speech/{voice_id}/stream-input), in process over fake
engines: authentication, routing by model_id, sentences spoken while text still arrives, cancellation, and
the character alignment built from word timings. Against the real Serve app: tests/served/test_stream_input.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time

import numpy as np
import pytest

from ground.replies import AudioChunk, WordTiming
from ingress.auth import BearerKeys, key_digest
from ingress.realtime.alignment import character_alignment
from ingress.realtime.sentences import SentenceBuffer
from tests.helpers.fake_engines import FakeKokoro
from tests.helpers.gateway import cloned, serve_gateway
from tests.helpers.stream_input import LONG_TEXT, PATH, RATE, closed_with, pcm, until_final


class SlowKokoro(FakeKokoro):
    """Each chunk takes a while, as a long text does on a real engine; counts the chunks it made and the
    streams not yet closed."""

    def __init__(self, seconds_per_chunk: float = 0.05, **kwargs):
        super().__init__(**kwargs)
        self.seconds_per_chunk = seconds_per_chunk
        self.chunks_made = 0
        self.open_streams = 0

    async def stream(self, request):
        self.open_streams += 1
        try:
            async for chunk in super().stream(request):
                await asyncio.sleep(self.seconds_per_chunk)
                self.chunks_made += 1
                yield chunk
        finally:
            self.open_streams -= 1


@pytest.mark.parametrize("how", ["xi-api-key header", "authorization header", "query", "first message",
                                 "one of two headers"])
def test_a_configured_key_is_accepted_the_elevenlabs_ways(tmp_path, how):
    app = serve_gateway(tmp_path, keys=BearerKeys([key_digest("k")]))
    headers = {"xi-api-key": "k"} if how == "xi-api-key header" else {
        "Authorization": "Bearer k"} if how == "authorization header" else {
        "Authorization": "Bearer for-a-proxy", "xi-api-key": "k"} if how == "one of two headers" else {}
    query = "?xi-api-key=k" if how == "query" else ""
    first = {"text": " ", "xi_api_key": "k"} if how == "first message" else {"text": " "}
    with app.client.websocket_connect(PATH.format(voice="jf_alpha") + query, headers=headers) as ws:
        ws.send_json(first)
        ws.send_json({"text": "Hello there. "})
        ws.send_json({"text": ""})
        messages = until_final(ws)
    assert any(m.get("audio") for m in messages)
    assert app.texts() == ["Hello there."]


@pytest.mark.parametrize("headers, first", [
    ({}, {"text": " "}),
    ({"xi-api-key": "wrong"}, {"text": " "}),
    ({}, {"text": " ", "xi_api_key": "wrong"}),
])
def test_without_a_valid_key_the_socket_is_refused(tmp_path, headers, first):
    app = serve_gateway(tmp_path, keys=BearerKeys([key_digest("k")]))
    with app.client.websocket_connect(PATH.format(voice="jf_alpha"), headers=headers) as ws:
        ws.send_json(first)
        ws.send_json({"text": "Hello there. "})
        error, code = closed_with(ws)
    assert (code, error["error"]) == (1008, "invalid_api_key")
    assert app.texts() == []  # nothing was spoken


def test_sentences_are_spoken_while_text_still_arrives(tmp_path):
    app = serve_gateway(tmp_path)
    with app.client.websocket_connect(PATH.format(voice="jf_alpha") + "?output_format=pcm_24000") as ws:
        ws.send_json({"text": " ", "voice_settings": {"speed": 1.25, "stability": 0.5}})
        for word in ["Dr.", "Smith", "came", "home.", "He", "was"]:
            ws.send_json({"text": word + " "})
        first = json.loads(ws.receive_text())  # audio of the first sentence, before the input ends
        assert first["audio"]
        assert app.texts() == ["Dr. Smith came home."]  # "Dr." did not end a sentence
        ws.send_json({"text": "tired", "flush": True})  # an unfinished sentence, spoken at the flush
        # The fake speaks "Dr." and "Smith came home." as two chunks; then comes the flushed sentence.
        assert all(json.loads(ws.receive_text())["audio"] for _ in range(2))
        assert app.texts() == ["Dr. Smith came home.", "He was tired"]
        ws.send_json({"text": "Bye. "})
        ws.send_json({"text": ""})
        rest = until_final(ws)
    assert app.texts() == ["Dr. Smith came home.", "He was tired", "Bye."]
    assert {request.speed for request in app.kokoro.requests("stream")} == {1.25}
    assert rest[-1] == {"isFinal": True}


@pytest.mark.parametrize("model_id, voice, engine", [
    ("chatterbox", "cloned", "chatterbox"), (None, "cloned", "chatterbox"), ("eleven_flash_v2_5", "jf_alpha", "kokoro"),
    ("eleven_multilingual_v2", "jf_alpha", "kokoro"), ("kokoro", "jf_alpha", "kokoro"), (None, "jf_alpha", "kokoro")])
def test_model_id_chooses_the_engine(tmp_path, model_id, voice, engine):
    """eleven_* ids are Kokoro, "chatterbox" is Chatterbox; without a model_id the voice decides."""
    app = serve_gateway(tmp_path)
    if voice == "cloned":
        voice = cloned(app.client, "Narrator")["voice_id"]
    query = f"?model_id={model_id}" if model_id else ""
    with app.client.websocket_connect(PATH.format(voice=voice) + query) as ws:
        ws.send_json({"text": "One sentence. ", "flush": True})
        ws.send_json({"text": ""})
        assert any(m.get("audio") for m in until_final(ws))
    chosen = app.chatterbox if engine == "chatterbox" else app.kokoro
    other = app.kokoro if engine == "chatterbox" else app.chatterbox
    assert app.texts(chosen) == ["One sentence."] and app.texts(other) == []


@pytest.mark.parametrize("output_format, rate", [("pcm_16000", 16_000), ("pcm_44100", 44_100)])
def test_pcm_formats_are_resampled(tmp_path, output_format, rate):
    app = serve_gateway(tmp_path)
    with app.client.websocket_connect(PATH.format(voice="jf_alpha") + f"?output_format={output_format}") as ws:
        ws.send_json({"text": "one two three four five six seven eight nine ten. "})
        ws.send_json({"text": ""})
        messages = until_final(ws)
    # FakeKokoro speaks 0.05 s a word at 24 kHz; resampled, the length in seconds stays.
    assert abs(len(pcm(messages)) / rate - 10 * 0.05) < 0.02


def test_mp3_is_the_default_format(tmp_path):
    app = serve_gateway(tmp_path)
    with app.client.websocket_connect(PATH.format(voice="jf_alpha")) as ws:
        ws.send_json({"text": "An mp3 stream by default, as ElevenLabs sends. "})
        ws.send_json({"text": ""})
        data = b"".join(base64.b64decode(m["audio"]) for m in until_final(ws) if m.get("audio"))
    assert data[:3] == b"ID3" or data[0] == 0xFF and data[1] & 0xE0 == 0xE0  # an MP3 frame sync


def test_alignment_comes_from_the_engines_word_timings(tmp_path):
    app = serve_gateway(tmp_path, kokoro=FakeKokoro(returns_durations=True))
    with app.client.websocket_connect(PATH.format(voice="jf_alpha") + "?output_format=pcm_24000") as ws:
        ws.send_json({"text": "Short words come first. Then a second sentence follows. ", "flush": True})
        ws.send_json({"text": ""})
        audio = [m for m in until_final(ws) if m.get("audio")]
    # Sentences complete at the same moment go as one request; the fake speaks it in two chunks.
    assert [request.word_timestamps for request in app.kokoro.requests("stream")] == [True]
    assert len(audio) == 2
    for message in audio:
        alignment = message["alignment"]
        assert alignment == message["normalizedAlignment"]
        starts, durations = alignment["charStartTimesMs"], alignment["charDurationsMs"]
        assert len(alignment["chars"]) == len(starts) == len(durations)
        assert starts == sorted(starts) and min(durations) >= 0
        assert starts[0] == 0  # relative to this message's audio, not to the whole stream
        seconds = len(base64.b64decode(message["audio"])) / 2 / RATE
        assert abs((starts[-1] + durations[-1]) / 1000 - seconds) < 0.002


def test_without_engine_timings_alignment_is_null_and_not_asked_again(tmp_path):
    app = serve_gateway(tmp_path, kokoro=FakeKokoro(returns_durations=False))
    for _ in range(2):
        with app.client.websocket_connect(PATH.format(voice="jf_alpha") + "?output_format=pcm_24000") as ws:
            ws.send_json({"text": "No timings here. ", "flush": True})
            ws.send_json({"text": ""})
            audio = [m for m in until_final(ws) if m.get("audio")]
        assert audio and all(m["alignment"] is None for m in audio)
    # The first request asked and was told no; then the engine was asked without timestamps only.
    assert [request.word_timestamps for request in app.kokoro.requests("stream")] == [True, False, False]


def test_leaving_mid_synthesis_cancels_the_engine_streams(tmp_path):
    kokoro = SlowKokoro(seconds_per_chunk=0.05)
    app = serve_gateway(tmp_path, kokoro=kokoro)
    with app.client.websocket_connect(PATH.format(voice="jf_alpha") + "?output_format=pcm_24000") as ws:
        ws.send_json({"text": LONG_TEXT, "flush": True})
        assert json.loads(ws.receive_text())["audio"]
    made = kokoro.chunks_made
    # A closed stream makes no more chunks: once none is open, the count is final, with no quiet spell to wait out.
    deadline = time.monotonic() + 10
    while kokoro.open_streams:
        assert time.monotonic() < deadline, "the engine stream outlived the client"
        time.sleep(0.01)
    assert kokoro.chunks_made == made < 15  # of fifteen sentences; nothing was rendered after the client left


def test_character_alignment_from_word_timings():
    words = [WordTiming("Hello", 1.00, 1.25), WordTiming("world", 1.40, 1.90)]
    alignment = character_alignment("Hello, world!", words, offset_s=1.0, duration_s=1.0)
    assert alignment.chars == list("Hello, world!")
    starts, durations = alignment.char_start_times_ms, alignment.char_durations_ms
    assert starts[:5] == [0, 50, 100, 150, 200] and durations[:5] == [50] * 5  # 250 ms over five letters
    assert starts[7] == 400 and starts[7 + 4] + durations[7 + 4] == 900  # "world": 1.40-1.90 s, shifted
    assert starts[-1] == 900 and starts[-1] + durations[-1] == 1000  # "!" runs to the chunk's end
    assert starts == sorted(starts)
    assert [s + d for s, d in zip(starts, durations, strict=True)] == [*starts[1:], 1000]
    assert character_alignment("Hello", [], 0.0, 1.0) is None
    assert character_alignment("Hello", [WordTiming("Bonjour", 0.0, 0.5)], 0.0, 1.0) is None


def test_sentence_buffer_keeps_the_unfinished_sentence():
    buffer = SentenceBuffer()
    assert buffer.add("  I met Mr. ") == []
    assert buffer.add("Smith at 3 p.m. today. ") == []  # the last segment may still grow
    assert buffer.add("He waved.\nThen") == ["I met Mr. Smith at 3 p.m. today. ", "He waved.\n"]
    assert buffer.take() == "Then" and buffer.take() == ""


def test_chunks_keep_their_order_when_requests_overlap(tmp_path):
    """Two requests in flight at once (the next renders while the first is sent); audio stays in order."""

    class Numbered(SlowKokoro):
        """Each sentence's audio is a constant level: its number (requests may hold several sentences)."""

        async def stream(self, request):
            async for chunk in super().stream(request):
                level = np.full(len(chunk.audio), int(chunk.text.split()[0]) / 100, np.float32)
                yield AudioChunk(level, chunk.sample_rate, chunk.text, chunk.index, chunk.tokens)

    app = serve_gateway(tmp_path, kokoro=Numbered(seconds_per_chunk=0.02))
    with app.client.websocket_connect(PATH.format(voice="jf_alpha") + "?output_format=pcm_24000") as ws:
        ws.send_json({"text": " "})
        for n in range(1, 7):
            ws.send_json({"text": f"{n} is a sentence of its own. "})
        ws.send_json({"text": ""})
        levels = [round(float(np.median(pcm([m]))) / 327.67) for m in until_final(ws) if m.get("audio")]
    assert levels == sorted(levels) and set(levels) == set(range(1, 7))


def test_a_socket_closed_on_an_error_is_counted_as_http_errors_are(tmp_path, monkeypatch):
    from ingress import metrics

    counted = []
    monkeypatch.setattr(metrics.errors, "inc", lambda value=1.0, tags=None: counted.append(tags))
    app = serve_gateway(tmp_path)
    with app.client.websocket_connect(PATH.format(voice="nobody") + "?model_id=kokoro") as ws:
        ws.send_json({"text": "Hello there. ", "flush": True})
        error, code = closed_with(ws)
    assert counted == [{"status": str(code), "type": error["error"]}] and code == 1008
