"""Every GPU figure in one run (bench/gpu/run.sh starts it on the device, with the kit on its path).

Kokoro's torch backend in half precision (random-init weights rendering the real model's frames,
bench/gpu/kokoro.py): batch 1 to 128, then first audio of 16 concurrent streams. Then each Chatterbox
model through bench.chatterbox_batching's own tables (T3 continuous batching, S3Gen passes, first audio and
aggregate x real time). Tables and one JSON of raw figures are rewritten under --out after every section,
so a run cut short still returns what it measured; no section starts past --budget-s.

    python -m bench.gpu.run --inputs gpu-kit/inputs/kokoro_inputs.json --out DIR [--device cpu --quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

import torch
import yaml

from bench import chatterbox_batching
from bench.gpu import kokoro
from bench.tables import publish

KOKORO_TARGETS = ("Targets: at least 500x real time at batch 32 and above, 5x the unbatched rate; "
                  "first audio p50 under 100 ms at 16 concurrent streams.")
CHATTERBOX_TARGETS = ("Targets: at least 100x aggregate real time, Turbo 150x at 64 streams; first audio p50 under "
                      "250 ms at 16 Turbo streams.")


def environment(device: str) -> str:
    """The GPU's name, its driver and torch's version (the CPU's name on a CPU run)."""
    if device != "cuda":
        return f"{chatterbox_batching.cpu_name()}, no GPU, torch {torch.__version__}"
    driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                            capture_output=True, text=True, check=False).stdout.strip() or "unknown"
    return f"{torch.cuda.get_device_name()}, driver {driver}, torch {torch.__version__} (CUDA {torch.version.cuda})"


def parsed_tables(lines: list[str]) -> list[dict]:
    """Each markdown table in `lines` under its heading, as rows of numbers where a cell is one."""
    tables, heading, header = [], "", None
    for line in lines:
        if line.startswith("#"):
            heading, header = line.lstrip("# "), None
        elif line.startswith("|"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if header is None:
                header = cells
                tables.append({"title": heading, "rows": []})
            elif not set("".join(cells)) <= set("-:"):
                tables[-1]["rows"].append(dict(zip(header, map(number, cells), strict=False)))
        else:
            header = None
    return tables


def number(cell: str):
    try:
        return float(cell.replace(",", "").removesuffix("x"))
    except ValueError:
        return cell


class Results:
    def __init__(self, out: Path, env: str, device: str):
        self.out, self.began = out, time.perf_counter()
        self.figures = {"environment": env, "device": device, "kokoro": {}, "chatterbox": {}, "skipped": []}
        out.mkdir(parents=True, exist_ok=True)

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.began

    def save(self) -> None:
        self.figures["elapsed_s"] = round(self.elapsed_s, 1)
        (self.out / "gpu_figures.json").write_text(json.dumps(self.figures, indent=1))


def kokoro_tables(figures: dict, env: str, precision: str) -> list[str]:
    lines = [f"# Kokoro-82M torch backend, engine alone, {precision}, on {env}", "",
             ("Random-init weights rendering exactly the frames the real model predicts for bench.kokoro_batching's "
              "sentences (durations from the int8 export, injected; bench/gpu/kokoro.py); padded passes through "
              "padded_forward.forward_batch. " + KOKORO_TARGETS), "",
             f"## Batch size, on {env}", "",
             "| batch | audio s per s (x real time) | vs batch 1 | latency p50 s | latency max s | peak GPU MiB |",
             "|---:|---:|---:|---:|---:|---:|"]
    for row in figures.get("batching", []):
        peak = "-" if row["peak_mib"] is None else f"{row['peak_mib']:,.0f}"
        lines.append(f"| {row['batch']} | {row['audio_s_per_s']:,.1f} | {row['vs_batch_1']:.2f}x | "
                     f"{row['latency_p50_s']:.3f} | {row['latency_max_s']:.3f} | {peak} |")
    if "first_audio" in figures:
        first = figures["first_audio"]
        peak = "-" if first["peak_mib"] is None else f"{first['peak_mib']:,.0f}"
        lines += ["", (f"## First audio of concurrent streams ({first['rounds']} rounds; passes of up to "
                       f"{first['max_batch']} pieces, {first['wait_s'] * 1000:g} ms wait, as serve_config.yaml), "
                       f"on {env}"), "",
                  "| streams | p50 first audio s | p95 first audio s | peak GPU MiB |", "|---:|---:|---:|---:|",
                  f"| {first['streams']} | {first['p50_s']:.3f} | {first['p95_s']:.3f} | {peak} |"]
    return lines


def kokoro_batching_config() -> dict:
    config = yaml.safe_load((chatterbox_batching.ROOT / "serve_config.yaml").read_text())
    deployments = [d for app in config["applications"] for d in app.get("deployments", [])]
    (deployment,) = [d for d in deployments if d["name"] == "Kokoro"]
    return deployment.get("user_config", {}).get("batching", {})


def run_kokoro(args, results: Results, env: str) -> None:
    half = args.device == "cuda"
    config, items = kokoro.load_inputs(args.inputs)
    renderer = kokoro.Renderer(kokoro.random_backend(config, args.device, half), items)
    figures = results.figures["kokoro"]
    figures["batching"] = []
    precision = "float16 decoder" if half else "float32"
    out = results.out / f"kokoro_batching_{'gpu' if half else 'cpu'}.md"

    def on_row(row: dict) -> None:
        figures["batching"].append(row)
        print(f"kokoro batch {row['batch']:3}: {row['audio_s_per_s']:8.1f} audio s/s, {row['vs_batch_1']:.2f}x, "
              f"pass {row['latency_p50_s']:.3f} s", flush=True)
        results.save()

    kokoro.batching_rows(renderer, args.kokoro_batches, args.repeats, on_row)
    batching = kokoro_batching_config()
    max_batch, wait_s = int(batching.get("max_batch_size", 32)), float(batching.get("batch_wait_timeout_s", 0.01))
    if results.elapsed_s < args.budget_s:
        first = kokoro.first_audio(renderer, args.first_audio_streams, args.first_audio_rounds, max_batch, wait_s)
        figures["first_audio"] = {**first, "max_batch": max_batch, "wait_s": wait_s}
    else:
        results.figures["skipped"].append("kokoro first audio")
    results.save()
    publish(kokoro_tables(figures, env, precision), out)
    del renderer
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def chatterbox_args(args) -> argparse.Namespace:
    if args.quick:  # a CPU rehearsal: every model and table, tiny sizes
        argv = ["--t3-layers", "2", "--tokens", "4", "--streams", "1", "2", "--serial-streams", "1",
                "--text-tokens", "10", "--s3gen-batches", "1", "2", "--s3gen-seconds", "0.5",
                "--s3gen-long-seconds", "0", "--first-audio-streams", "2", "--first-chunk-tokens", "10",
                "--reference-seconds", "1"]
    else:
        argv = ["--tokens", "64", "--streams", "1", "2", "4", "8", "16", "32", "64", "--serial-streams", "4",
                "--s3gen-batches", "1", "2", "4", "8", "16", "--s3gen-seconds", "2", "--s3gen-long-seconds", "10",
                "--s3gen-long-batches", "1", "2", "4", "8", "--first-audio-streams", "16", "64"]
    return chatterbox_batching.parse_args([*argv, "--device", args.device, *(["--half"] if args.device == "cuda" else [])])


def run_chatterbox(args, results: Results, env: str) -> None:
    bench_args = chatterbox_args(args)
    dtype = torch.bfloat16 if bench_args.half else torch.float32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    out = results.out / f"chatterbox_batching_{'gpu' if args.device == 'cuda' else 'cpu'}.md"
    began = time.perf_counter()
    s3gens, s3gen_tables, sections, summaries = {}, {}, [], {}
    for name in bench_args.models:
        if results.elapsed_s > args.budget_s:
            results.figures["skipped"].append(name)
            continue
        model = chatterbox_batching.build(name, bench_args.t3_layers, bench_args.device, dtype, bench_args.text_tokens,
                                          bench_args.reference_seconds, s3gens)
        lines, summaries[model.title] = chatterbox_batching.model_section(model, bench_args, s3gen_tables)
        lines = [f"{line} (on {env})" if line.startswith("###") else line for line in lines]
        sections += lines
        results.figures["chatterbox"][name] = {"summary": summaries[model.title], "tables": parsed_tables(lines)}
        del model
        results.save()
        minutes = (time.perf_counter() - began) / 60
        report = chatterbox_batching.report(summaries, sections, bench_args, minutes, env)
        publish([*report[:3], CHATTERBOX_TARGETS, *report[3:]], out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=Path, required=True, help="the kit's kokoro_inputs.json")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--quick", action="store_true", help="small batches and few steps (a CPU rehearsal)")
    parser.add_argument("--budget-s", type=float, default=300, help="no section starts after this many seconds")
    parser.add_argument("--only", choices=["kokoro", "chatterbox"])
    args = parser.parse_args()
    args.kokoro_batches = [1, 2, 4] if args.quick else [1, 2, 4, 8, 16, 32, 64, 128]
    args.repeats = 1 if args.quick else 3
    args.first_audio_streams = 4 if args.quick else 16
    args.first_audio_rounds = 2 if args.quick else 5
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible to torch")
    env = environment(args.device)
    print(f"on {env}", flush=True)
    results = Results(args.out, env, args.device)
    if args.only != "chatterbox":
        run_kokoro(args, results, env)
    if args.only != "kokoro":
        run_chatterbox(args, results, env)
    results.save()
    print(f"done in {results.elapsed_s:.0f} s; skipped: {results.figures['skipped'] or 'nothing'}", flush=True)


if __name__ == "__main__":
    main()
