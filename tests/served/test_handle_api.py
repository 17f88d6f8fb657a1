"""Another Ray Serve application calls the Kokoro deployment by handle, with typed requests."""

import numpy as np
from ray import serve

from deployments.kokoro.protocol import KokoroRequest
from ground.replies import AudioChunk, SynthesisResult


@serve.deployment(ray_actor_options={"num_cpus": 0.1})
class Narrator:
    def __init__(self):
        self.kokoro = serve.get_deployment_handle("Kokoro", app_name="chorus")

    async def __call__(self, text: str) -> tuple[SynthesisResult, list[AudioChunk], list[str]]:
        request = KokoroRequest(text=text, voice="jm_kumo")
        whole = await self.kokoro.synthesize.remote(request)
        chunks = [chunk async for chunk in self.kokoro.options(stream=True).stream.remote(request)]
        voices = [voice.name for voice in await self.kokoro.voices.remote()]
        return whole, chunks, voices


def test_second_application_calls_kokoro_by_handle(base_url):
    handle = serve.run(Narrator.bind(), name="narrator", route_prefix=None)
    whole, chunks, voices = handle.remote("First sentence here. And a second one.").result(timeout_s=120)
    assert whole.sample_rate == 24_000 and whole.audio.dtype == np.float32
    assert [chunk.index for chunk in chunks] == list(range(len(chunks))) and len(chunks) >= 2
    streamed = np.concatenate([chunk.audio for chunk in chunks])
    # The stream's short opening piece is cut mid-sentence; trimming the cut keeps the lengths close.
    assert abs(len(streamed) - len(whole.audio)) < 0.45 * 24_000
    assert "jm_kumo" in voices
    serve.delete("narrator")
