"""Batched Chatterbox, engine parts alone, for each model of the family: T3 decode throughput against
concurrent streams, S3Gen throughput against batch size, and time to first audio of concurrent streams
(T3 then S3Gen), every model in one run and one results file.

Random weights at the released models' shapes (T3's depth is an option: by default the released one, 30
layers, Turbo's 24). Each model's T3 prompt has its real layout and length: the voice's conditioning
as the model's own encoder makes it (the Llama models' perceiver resamples the voice's 150 speech tokens
to 32; Turbo takes its 375 as they are), the text, the start-of-speech token(s); guided models (the
original, Multilingual) take two rows a stream, Turbo one, and each samples with its model's defaults.
Random weights hardly ever emit the stop token, so a stream decodes about --tokens tokens; the tables
count the tokens actually decoded. Each serial figure runs the same work one item at a time, through the
same code, right before the batched figure it is compared with. S3Gen renders in its model's steps
(ten; Turbo's meanflow two); Multilingual's S3Gen is the original's model, so one table serves both.

    python -m bench.chatterbox_batching                      # this CPU: make bench-chatterbox
    python -m bench.chatterbox_batching --device cuda --half # a GPU: part of make bench-gpu
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from bench.tables import cpu_name, publish
from deployments.chatterbox.checkpoint import t3_with_layers
from deployments.chatterbox.limits import ChatterboxLimits, T3Limits
from deployments.chatterbox.protocol import CHATTERBOX_MODELS, DEPLOYMENT_NAMES, MULTILINGUAL, ORIGINAL, TURBO
from deployments.chatterbox.t3_batcher import T3Batcher, T3Stream
from deployments.chatterbox.t3_sampling import Sampling
from deployments.s3gen.batcher import CFM_STEPS, MEANFLOW_STEPS, S3GenBatcher, S3GenItem, render

ROOT = Path(__file__).resolve().parents[1]
SPEECH_RATE = 25  # S3 tokens a second of audio
SAMPLE_RATE = 24_000
SPEECH_VOCAB = 6561  # S3Gen's tokens; T3's start and stop tokens come after them
MODELS = (ORIGINAL, TURBO, MULTILINGUAL)
RELEASED_LAYERS = {ORIGINAL: 30, TURBO: 24, MULTILINGUAL: 30}


def machine(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"{cpu_name()}, {torch.get_num_threads()} torch threads"


def peak_mib() -> str:
    """torch.cuda.max_memory_allocated since the last call, in MiB ('-' without a GPU); the peak is reset."""
    if not torch.cuda.is_available():
        return "-"
    peak = torch.cuda.max_memory_allocated() / 2**20
    torch.cuda.reset_peak_memory_stats()
    return f"{peak:,.0f}"


def served_limits(model: str) -> ChatterboxLimits:
    """The model's batch limits as serve_config.yaml (the GPU deployment) sets them."""
    config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    deployments = [d for app in config["applications"] for d in app.get("deployments", [])]
    (deployment,) = [d for d in deployments if d["name"] == DEPLOYMENT_NAMES[model]]
    return ChatterboxLimits(**deployment.get("user_config", {}))


def default_sampling(model: str) -> Sampling:
    """The model's default sampling, as deployments.chatterbox.model turns its parameters into a Sampling."""
    spec = CHATTERBOX_MODELS[model]
    return Sampling.of(spec.defaults, spec, penalty_last=model == TURBO)


def prompt_length(t3, text_tokens: int) -> int:
    """Tokens in a chunk's T3 prompt: the voice's conditioning through the model's own encoder, then the
    text; the Llama models add start and stop text tokens and start-of-speech twice, Turbo one start."""
    from chatterbox.models.t3.modules.cond_enc import T3Cond

    hp = t3.hp
    voice = T3Cond(speaker_emb=torch.zeros(1, hp.speaker_embed_size),
                   cond_prompt_speech_tokens=torch.zeros(1, hp.speech_cond_prompt_len, dtype=torch.long),
                   emotion_adv=torch.full((1, 1, 1), 0.5)).to(device=t3.device, dtype=t3.speech_head.weight.dtype)
    with torch.inference_mode():
        conditioning = t3.prepare_conditioning(voice).shape[1]
    return conditioning + text_tokens + (1 if t3.is_gpt else 4)


@dataclass
class Model:
    """One model of the family at the benchmark's sizes."""

    name: str
    t3: torch.nn.Module
    s3gen: torch.nn.Module
    reference: dict  # S3Gen's reference dict of the benchmark's voice
    prompt_tokens: int
    dtype: torch.dtype

    @property
    def title(self) -> str:
        return CHATTERBOX_MODELS[self.name].title

    @property
    def sampling(self) -> Sampling:
        return default_sampling(self.name)

    @property
    def rows(self) -> int:
        """T3 rows a stream: two when guided."""
        return 2 if self.sampling.cfg_weight > 0 else 1

    @property
    def steps(self) -> int:
        return MEANFLOW_STEPS if self.s3gen.meanflow else CFM_STEPS

    def streams(self, count: int, tokens: int) -> list[T3Stream]:
        generator = torch.Generator().manual_seed(count)
        return [T3Stream(torch.randn(self.rows, self.prompt_tokens, 1024, generator=generator)
                         .to(self.t3.device, self.dtype), self.sampling, seed=i, max_new_tokens=tokens)
                for i in range(count)]


def build(name: str, layers: int | None, device: str, dtype: torch.dtype, text_tokens: int,
          reference_seconds: float, s3gens: dict[bool, tuple]) -> Model:
    """`s3gens` holds each S3Gen built so far, with its reference, by meanflow: Multilingual shares the original's."""
    from chatterbox.models.s3gen import S3Gen

    from tests.helpers.chatterbox_checkpoint import harmonic_clip

    torch.manual_seed(0)
    t3 = t3_with_layers(name, layers or RELEASED_LAYERS[name])
    if t3.is_gpt:
        del t3.tfmr.wte  # as the loader does: Turbo feeds embeddings, never GPT-2's token ids
    t3 = t3.to(device, dtype).eval()
    meanflow = name == TURBO
    if meanflow not in s3gens:
        s3gen = S3Gen(meanflow=meanflow).to(device).eval()
        with torch.inference_mode():
            reference = s3gen.embed_ref(harmonic_clip(reference_seconds, SAMPLE_RATE, f0=140), SAMPLE_RATE)
        s3gens[meanflow] = s3gen, reference
    s3gen, reference = s3gens[meanflow]
    return Model(name, t3, s3gen, reference, prompt_length(t3, text_tokens), dtype)


def t3_table(model: Model, sizes: list[int], tokens: int, serial_streams: int) -> tuple[list[str], str]:
    """Batched against serial decode at each number of concurrent streams: the table, and its last row in short."""
    batcher = T3Batcher(model.t3, T3Limits(max_batch_rows=model.rows * max(sizes), kv_cache_tokens=2**22,
                                           max_new_tokens=tokens))
    batcher.submit(model.streams(1, 4)[0]).result()  # warm-up
    rows = ["| concurrent streams | batched tokens/s | serial tokens/s | ratio | rows a step | KV cache MB | peak GPU MiB |",
            "|---:|---:|---:|---:|---:|---:|---:|"]
    for size in sizes:
        streams = model.streams(size, tokens)
        # Serial: the row's first streams one at a time, through the same batcher. A stream alone costs the
        # same however many wait, so a few give the rate (and keep a CPU run short).
        started = time.perf_counter()
        serial_tokens = sum(len(batcher.submit(stream).result()) for stream in streams[:serial_streams])
        serial = serial_tokens / (time.perf_counter() - started)
        batcher.peak_rows = 0
        peak_mib()
        started = time.perf_counter()
        futures = [batcher.submit(stream) for stream in streams]
        peak = 0
        while not all(f.done() for f in futures):
            peak = max(peak, batcher.cache_bytes)
            time.sleep(0.001)
        rate = sum(len(f.result()) for f in futures) / (time.perf_counter() - started)
        rows.append(f"| {size} | {rate:,.0f} | {serial:,.0f} | {rate / serial:.1f}x | {batcher.peak_rows} | "
                    f"{peak / 2**20:,.0f} | {peak_mib()} |")
        print(model.name, rows[-1], flush=True)
    batcher.close()
    return rows, f"{rate:,.0f} / {serial:,.0f} ({rate / serial:.1f}x)"


def s3gen_table(model: Model, sizes: list[int], seconds: float) -> tuple[list[str], str]:
    """Batched against serial S3Gen passes at each batch size: the table, and its last row in short."""
    tokens = torch.randint(0, SPEECH_VOCAB, (int(seconds * SPEECH_RATE),), generator=torch.Generator().manual_seed(0))
    # Warm-up at the table's length: on a CPU the first pass at a new length is the slowest
    render(model.s3gen, [S3GenItem(tokens, model.reference, 0)], model.steps)
    rows = ["| items a pass | batched audio s/s | serial audio s/s | ratio | peak GPU MiB |", "|---:|---:|---:|---:|---:|"]
    for size in sizes:
        jobs = [S3GenItem(tokens, model.reference, seed) for seed in range(size)]
        started = time.perf_counter()
        for job in jobs:
            render(model.s3gen, [job], model.steps)
        serial = size * seconds / (time.perf_counter() - started)
        peak_mib()
        started = time.perf_counter()
        render(model.s3gen, jobs, model.steps)
        rate = size * seconds / (time.perf_counter() - started)
        rows.append(f"| {size} | {rate:,.1f} | {serial:,.1f} | {rate / serial:.2f}x | {peak_mib()} |")
        print(model.name, rows[-1], flush=True)
    return rows, f"{rate:,.1f} / {serial:,.1f} ({rate / serial:.2f}x)"


def first_audio(model: Model, streams: int, first_tokens: int) -> tuple[float, float, float]:
    """`streams` concurrent first chunks of `first_tokens` tokens under the model's served batch limits:
    p50 and p95 seconds until a chunk's audio is ready, and the audio made a second, in x real time."""
    limits = served_limits(model.name)
    t3_batcher = T3Batcher(model.t3, limits)
    s3gen_batcher = S3GenBatcher(model.s3gen, limits, model.steps)
    started = time.perf_counter()
    decoding = [t3_batcher.submit(stream) for stream in model.streams(streams, first_tokens)]
    rendering = [s3gen_batcher.submit(S3GenItem(f.result().clamp(max=SPEECH_VOCAB - 1), model.reference, i))
                 for i, f in enumerate(decoding)]
    ready = []
    for future in rendering:
        future.result()
        ready.append(time.perf_counter() - started)
    t3_batcher.close()
    s3gen_batcher.close()
    audio_s = sum(len(f.result()) for f in decoding) / SPEECH_RATE
    return statistics.median(ready), float(np.percentile(ready, 95)), audio_s / max(ready)


def model_section(model: Model, args, s3gen_tables: dict[tuple, tuple]) -> tuple[list[str], dict[str, str]]:
    """A model's tables, and its column of the summary (row name -> figure)."""
    layers = len(model.t3.tfmr.h if model.t3.is_gpt else model.t3.tfmr.layers)
    guidance = "guided, two rows a stream" if model.rows == 2 else "no guidance, one row a stream"
    lines = ["", f"## {model.title} ({model.name})", "",
             (f"T3: {layers} layers, {model.dtype}, {guidance}, prompts of {model.prompt_tokens} tokens; "
              f"S3Gen in {model.steps} {'meanflow ' if model.s3gen.meanflow else ''}steps."), "",
             f"### T3 decode, {args.tokens} tokens a stream", ""]
    t3_rows, t3_summary = t3_table(model, args.streams, args.tokens, args.serial_streams)
    lines += t3_rows
    summary = {"T3": f"{layers} layers, {guidance}, {model.prompt_tokens}-token prompts",
               f"T3 tokens/s at {max(args.streams)} streams, batched / serial": t3_summary}
    passes = [(args.s3gen_seconds, args.s3gen_batches)]
    if args.s3gen_long_seconds:
        passes.append((args.s3gen_long_seconds, args.s3gen_long_batches))
    for seconds, batches in passes:
        lines += ["", f"### S3Gen, {seconds:g} s of audio an item, {model.steps} steps", ""]
        key = model.s3gen.meanflow, seconds
        if key in s3gen_tables:
            lines += [f"The same S3Gen model and steps as {s3gen_tables[key][0]}'s: its table, not measured twice.", ""]
        else:
            s3gen_tables[key] = (model.title, *s3gen_table(model, batches, seconds))
        lines += s3gen_tables[key][1]
        summary[f"S3Gen audio s/s, {seconds:g} s items, {max(batches)} a pass, batched / serial"] = \
            s3gen_tables[key][2]
    lines += ["", (f"### First audio of concurrent streams ({args.first_chunk_tokens / SPEECH_RATE:.1f} s first "
                   "chunks; T3 then S3Gen, batched, under serve_config.yaml's limits for the model)"), "",
              "| streams | p50 first audio s | p95 first audio s | aggregate x real time | peak GPU MiB |",
              "|---:|---:|---:|---:|---:|"]
    for streams in args.first_audio_streams:
        peak_mib()
        p50, p95, aggregate = first_audio(model, streams, args.first_chunk_tokens)
        lines.append(f"| {streams} | {p50:.2f} | {p95:.2f} | {aggregate:.1f} | {peak_mib()} |")
        print(model.name, lines[-1], flush=True)
        summary[f"first audio p50 / p95 s at {streams} streams"] = f"{p50:.2f} / {p95:.2f}"
        summary[f"aggregate x real time at {streams} streams"] = f"{aggregate:.1f}"
    return lines, summary


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--half", action="store_true", help="T3 in bf16 (GPU)")
    parser.add_argument("--t3-layers", type=int, help="T3's depth for every model (default: each one's released depth)")
    parser.add_argument("--tokens", type=int, default=8, help="speech tokens each T3 stream decodes")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--serial-streams", type=int, default=8, help="streams of each row run one at a time")
    parser.add_argument("--text-tokens", type=int, default=30, help="a chunk's text in its T3 prompt: a sentence")
    parser.add_argument("--s3gen-batches", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--s3gen-seconds", type=float, default=2.0, help="audio per S3Gen item")
    parser.add_argument("--s3gen-long-seconds", type=float, default=10.0,
                        help="audio per item of a second S3Gen table (0: none), where a CPU pass is compute-bound")
    parser.add_argument("--s3gen-long-batches", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--first-audio-streams", type=int, nargs="+", default=[16])
    parser.add_argument("--first-chunk-tokens", type=int, default=50, help="a first chunk of about 8 words")
    parser.add_argument("--reference-seconds", type=float, default=5.0, help="the voice S3Gen imitates")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "chatterbox_batching_cpu.md")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    dtype = torch.bfloat16 if args.half else torch.float32
    # S3Gen stays in float32 (HiFT's STFT has no bf16 kernels); on a GPU its matmuls use TF32.
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    began = time.perf_counter()
    s3gens, s3gen_tables, sections, summaries = {}, {}, [], {}
    for name in args.models:
        model = build(name, args.t3_layers, args.device, dtype, args.text_tokens, args.reference_seconds, s3gens)
        lines, summaries[model.title] = model_section(model, args, s3gen_tables)
        sections += lines
        del model  # one model's T3 in memory at a time
    minutes = (time.perf_counter() - began) / 60

    publish(report(summaries, sections, args, minutes, machine(args.device)), args.out)


def report(summaries: dict[str, dict[str, str]], sections: list[str], args, minutes: float, where: str) -> list[str]:
    """The results file: the summary (a column a model, a row a figure), then each model's tables."""
    titles = list(summaries)
    names = list(dict.fromkeys(row for summary in summaries.values() for row in summary))
    lines = [f"# Batched Chatterbox on {where}", "",
             (f"Random weights; S3Gen imitates {args.reference_seconds:g} s of reference; serial = the same work one "
              f"item at a time (for T3, the first {args.serial_streams} streams of a row), measured right before "
              f"the batched figure it is compared with. Every model in this one run ({minutes:.1f} min); other "
              "processes may have shared the machine, so compare figures within a row, not with other runs."), "",
             "| | " + " | ".join(titles) + " |", "|---|" + "---:|" * len(titles)]
    lines += [f"| {row} | " + " | ".join(summaries[title].get(row, "-") for title in titles) + " |" for row in names]
    return lines + sections


if __name__ == "__main__":
    main()
