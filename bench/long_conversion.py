"""A long voice conversion on this CPU, end to end: the HTTP route's answer, and the same input as a job.

Run with `make bench-long-conversion`. The embedded default (`serve run serve_config.local.yaml`)
with the random-weight checkpoint of tests/helpers/chatterbox_checkpoint.py in its Chatterbox directory (the
same work per second as the released weights; noise out). The input, 90 s by default, is sent as
Opus so that it fits the JSON body limit; the target is a 5 s recording.
- POST /v1/audio/conversions answers at once with the 400 that points to the job API (the route
  takes at most its max_conversion_input_s);
- POST /run with the voice_conversion operation runs it through to the end: no request timeout.
Prints a Markdown table and writes it to bench/results/long_conversion_cpu.md.
"""

from __future__ import annotations

import argparse
import base64
import io
import platform
import tempfile
import time
from pathlib import Path

import av
import httpx
import numpy as np

from bench.service import ROOT, ServeRun
from tests.helpers.chatterbox_checkpoint import build_checkpoint, harmonic_clip

INPUT_RATE = 16_000


def opus(samples: np.ndarray, rate: int) -> bytes:
    """Mono float32 samples as an Ogg Opus file (small enough for a JSON body)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=48_000, layout="mono")
        stream.bit_rate = 24_000
        resampled = av.AudioResampler(format="s16", layout="mono", rate=48_000)
        frame = av.AudioFrame.from_ndarray((samples * 32767).astype(np.int16)[None], format="s16", layout="mono")
        frame.sample_rate = rate
        for piece in resampled.resample(frame) + resampled.resample(None):
            container.mux(stream.encode(piece))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "long_conversion_cpu.md")
    args = parser.parse_args()
    speech = opus(harmonic_clip(args.seconds, INPUT_RATE, f0=140, seed=7), INPUT_RATE)
    target = opus(harmonic_clip(5, INPUT_RATE, f0=200, seed=8), INPUT_RATE)
    job_input = {"operation": "voice_conversion", "input_audio": base64.b64encode(speech).decode(),
                 "transfer_mode": "audio", "target_audio": base64.b64encode(target).decode()}
    with tempfile.TemporaryDirectory() as scratch:
        checkpoint = build_checkpoint(Path(scratch))
        with ServeRun(checkpoint_dir=checkpoint) as service, httpx.Client(base_url=service.base_url,
                                                                         timeout=600) as client:
            threads = service.config["applications"][0]["args"]["conversion"].get("torch_threads", "Ray's")
            started = time.perf_counter()
            route = client.post("/v1/audio/conversions", files={"file": ("speech.ogg", speech),
                                                                "target_speaker": ("target.ogg", target)})
            route_s = time.perf_counter() - started
            started = time.perf_counter()
            job_id = client.post("/run", json={"input": job_input}).json()["id"]
            while (status := client.get(f"/status/{job_id}").json())["status"] not in ("COMPLETED", "FAILED"):
                time.sleep(2)
            job_s = time.perf_counter() - started
    output = status.get("output", {})
    lines = [(f"# A {args.seconds:g} s voice conversion on {platform.processor() or platform.machine()}, "
             f"Conversion replica on {threads} torch threads (random S3Gen weights, full size; 5 s target "
             "recording)"), "",
             "| path | status | answered after | output | x real time |", "|---|---|---:|---:|---:|",
             f"| POST /v1/audio/conversions | {route.status_code} | {route_s:.1f} s | - | - |",
             (f"| POST /run + GET /status | {status['status']} | {job_s:.0f} s | {output.get('duration', 0):.1f} s | "
             f"{args.seconds / job_s:.2f}x |"), "",
             f"The route's answer: {route.json()['error']['message'] if route.status_code != 200 else 'audio'}"]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
