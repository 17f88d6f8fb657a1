"""Batched Chatterbox, engine parts alone: T3 decode throughput against concurrent streams, S3Gen
throughput against batch size, and time to first audio of concurrent streams (T3 then S3Gen).

Random weights at the released model's shapes (T3's depth is an option: 30 is the released one);
random weights never emit T3's stop token, so every stream decodes exactly --tokens tokens.
Serial figures run the same work one item at a time, in the same run, through the same code.

    python -m bench.chatterbox_batching                      # this CPU: make bench-chatterbox
    python -m bench.chatterbox_batching --device cuda --half # a GPU: part of make bench-gpu
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from bench.service import ROOT
from deployments.chatterbox.checkpoint import t3_with_layers
from deployments.chatterbox.limits import T3Limits
from deployments.chatterbox.t3_batcher import T3Batcher, T3Stream
from deployments.chatterbox.t3_sampling import Sampling
from deployments.s3gen.batcher import S3GenBatcher, S3GenItem, render
from deployments.s3gen.limits import S3GenLimits

SPEECH_RATE = 25  # S3 tokens a second of audio
SAMPLE_RATE = 24_000


def machine(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads"


PROMPT_TOKENS = 180  # a voice's conditioning (about 150) plus a sentence of text


def t3_streams(t3, count: int, tokens: int, dtype, prompt_tokens: int) -> list[T3Stream]:
    generator = torch.Generator().manual_seed(count)
    return [T3Stream(torch.randn(2, prompt_tokens, 1024, generator=generator).to(t3.device, dtype), Sampling(),
                     seed=i, max_new_tokens=tokens) for i in range(count)]


def t3_table(t3, sizes: list[int], tokens: int, dtype, prompt_tokens: int) -> list[str]:
    batcher = T3Batcher(t3, T3Limits(max_batch_rows=2 * max(sizes), kv_cache_tokens=2**22, max_new_tokens=tokens))
    batcher.submit(t3_streams(t3, 1, 4, dtype, prompt_tokens)[0]).result()  # warm-up
    rows = ["| concurrent streams | batched tokens/s | serial tokens/s | ratio | KV cache MB |",
            "|---:|---:|---:|---:|---:|"]
    for size in sizes:
        streams = t3_streams(t3, size, tokens, dtype, prompt_tokens)
        started = time.perf_counter()
        for stream in streams:  # the same streams one at a time, through the same batcher
            batcher.submit(stream).result()
        serial = size * tokens / (time.perf_counter() - started)
        started = time.perf_counter()
        futures = [batcher.submit(stream) for stream in streams]
        peak = 0
        while not all(f.done() for f in futures):
            peak = max(peak, batcher.cache_bytes)
            time.sleep(0.001)
        rate = size * tokens / (time.perf_counter() - started)
        rows.append(f"| {size} | {rate:,.0f} | {serial:,.0f} | {rate / serial:.1f}x | {peak / 2**20:,.0f} |")
        print(rows[-1], flush=True)
    batcher.close()
    return rows


def s3gen_table(s3gen, reference: dict, sizes: list[int], seconds: float) -> list[str]:
    tokens = torch.randint(0, 6561, (int(seconds * SPEECH_RATE),), generator=torch.Generator().manual_seed(0))
    render(s3gen, [S3GenItem(tokens[:10], reference, 0)])  # warm-up
    rows = ["| batch | batched audio s/s | serial audio s/s | ratio |", "|---:|---:|---:|---:|"]
    for size in sizes:
        jobs = [S3GenItem(tokens, reference, seed) for seed in range(size)]
        started = time.perf_counter()
        for job in jobs:
            render(s3gen, [job])
        serial = size * seconds / (time.perf_counter() - started)
        started = time.perf_counter()
        render(s3gen, jobs)
        rate = size * seconds / (time.perf_counter() - started)
        rows.append(f"| {size} | {rate:,.1f} | {serial:,.1f} | {rate / serial:.2f}x |")
        print(rows[-1], flush=True)
    return rows


def first_audio_table(t3, s3gen, reference: dict, streams: int, first_tokens: int, dtype,
                      prompt_tokens: int) -> list[str]:
    """`streams` concurrent first chunks of `first_tokens` tokens: when each one's audio is ready."""
    t3_batcher = T3Batcher(t3, T3Limits(max_batch_rows=2 * streams, kv_cache_tokens=2**22,
                                        max_new_tokens=first_tokens))
    s3gen_batcher = S3GenBatcher(s3gen, S3GenLimits(s3gen_max_batch=8))
    started = time.perf_counter()
    decoding = [t3_batcher.submit(stream) for stream in t3_streams(t3, streams, first_tokens, dtype, prompt_tokens)]
    rendering = [s3gen_batcher.submit(S3GenItem(f.result().clamp(max=6560), reference, i))
                 for i, f in enumerate(decoding)]
    ready = []
    for future in rendering:
        future.result()
        ready.append(time.perf_counter() - started)
    t3_batcher.close()
    s3gen_batcher.close()
    audio_s = streams * first_tokens / SPEECH_RATE
    return ["| streams | first chunk | p50 first audio s | p95 first audio s | aggregate x real time |",
            "|---:|---:|---:|---:|---:|",
            (f"| {streams} | {first_tokens / SPEECH_RATE:.1f} s | {statistics.median(ready):.2f} | "
            f"{np.percentile(ready, 95):.2f} | {audio_s / max(ready):.1f} |")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--half", action="store_true", help="T3 in bf16 (GPU)")
    parser.add_argument("--t3-layers", type=int, default=30)
    parser.add_argument("--tokens", type=int, default=8, help="speech tokens each T3 stream decodes")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--s3gen-batches", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--s3gen-seconds", type=float, default=2.0, help="audio per S3Gen item")
    parser.add_argument("--s3gen-long-seconds", type=float, default=10.0,
                        help="audio per item of a second S3Gen table (0: none), where a CPU pass is compute-bound")
    parser.add_argument("--s3gen-long-batches", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--first-audio-streams", type=int, default=16)
    parser.add_argument("--first-chunk-tokens", type=int, default=50, help="a first chunk of about 8 words")
    parser.add_argument("--prompt-tokens", type=int, default=PROMPT_TOKENS)
    parser.add_argument("--reference-seconds", type=float, default=5.0, help="the voice S3Gen imitates")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "chatterbox_batching_cpu.md")
    args = parser.parse_args()

    from chatterbox.models.s3gen import S3Gen

    from tests.helpers.chatterbox_checkpoint import harmonic_clip

    dtype = torch.bfloat16 if args.half else torch.float32
    torch.manual_seed(0)
    t3 = t3_with_layers(args.t3_layers).to(args.device, dtype).eval()
    s3gen = S3Gen().to(args.device).eval()
    with torch.inference_mode():
        reference = s3gen.embed_ref(harmonic_clip(args.reference_seconds, SAMPLE_RATE, f0=140), SAMPLE_RATE)
    # S3Gen stays in float32 (HiFT's STFT has no bf16 kernels); on a GPU its matmuls use TF32.
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True

    lines = [f"# Batched Chatterbox on {machine(args.device)}", "",
             (f"Random weights; T3 with {args.t3_layers} layers, {dtype}; prompts of {args.prompt_tokens} tokens, "
             f"guided (two rows a stream); S3Gen imitates {args.reference_seconds:g} s of reference; serial = the "
             "same work one item at a time, in this run."), "",
             f"## T3 decode, {args.tokens} tokens a stream", ""]
    lines += t3_table(t3, args.streams, args.tokens, dtype, args.prompt_tokens)
    lines += ["", f"## S3Gen, {args.s3gen_seconds:g} s of audio an item", ""]
    lines += s3gen_table(s3gen, reference, args.s3gen_batches, args.s3gen_seconds)
    if args.s3gen_long_seconds:
        lines += ["", f"## S3Gen, {args.s3gen_long_seconds:g} s of audio an item", ""]
        lines += s3gen_table(s3gen, reference, args.s3gen_long_batches, args.s3gen_long_seconds)
    lines += ["", "## First audio of concurrent streams (T3 then S3Gen, both batched)", ""]
    lines += first_audio_table(t3, s3gen, reference, args.first_audio_streams, args.first_chunk_tokens, dtype,
                               args.prompt_tokens)
    if args.device == "cuda":
        lines += ["", f"Peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
