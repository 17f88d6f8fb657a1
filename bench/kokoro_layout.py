"""Which onnxruntime graph and thread layout Kokoro should run on this CPU: `make bench-kokoro-layout`.

Raw onnxruntime (bench/kokoro_ceiling.py) on the tokens the engine plans, for each graph (the
int8 export, or its float-conv rewrite) and each layout (inference workers x intra-op threads,
with or without spinning), interleaved over rounds so that drift in machine load hits all alike.
Three figures per layout, medians over the rounds:
- saturated: audio seconds per second with every worker busy (many clients);
- one request: its pieces one after another (one client's stream);
- opening piece: seconds to render a stream's short first piece (time to first audio).
The pick is the best saturated rate; a layout within 3% of it wins if one request runs faster.
Only layouts without spinning are picked: the backend keeps it off, so that idle inference threads
leave the cores to the gateway and /health; the spinning row shows what that costs.
The serve config's `kokoro` settings are chosen from this table.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from itertools import product

import onnxruntime

from bench.kokoro_ceiling import GRAPHS, raw_session, saturated, serial
from bench.kokoro_cpu import TEXT_600, TEXTS
from bench.service import ROOT
from deployments.kokoro.engine import KokoroEngine
from deployments.kokoro.onnx_backend import OnnxBackend
from deployments.kokoro.protocol import KokoroRequest
from deployments.kokoro.settings import KokoroSettings

# (inference workers, intra-op threads each, spinning); one thread has no pool to spin in.
LAYOUTS = [(1, 2, True), (1, 2, False), (2, 1, False), (2, 2, False)]
TIE = 0.03


def run(rounds: int, window_s: float) -> str:
    settings = KokoroSettings()
    planner = KokoroEngine.from_packages(OnnxBackend(intra_op_threads=1, float_convs=False), settings.voice_dirs,
                                         settings.voice_aliases, settings.sentence_pause_s)
    pieces = [p for text in TEXTS for p in planner.plan(KokoroRequest(text=text, voice="jm_kumo"))]
    one_request = [p for p in planner.plan(KokoroRequest(text=" ".join(TEXTS[:2]), voice="jm_kumo"))]
    opening = next(planner.plan(KokoroRequest(text=TEXT_600, voice="jm_kumo", first_piece_max_tokens=12)))
    configs = list(product(GRAPHS, LAYOUTS))
    sessions = {config: raw_session(config[0], threads=config[1][1], spinning=config[1][2]) for config in configs}
    figures: dict = {config: {"saturated": [], "one": [], "opening": []} for config in configs}
    for config, session in sessions.items():  # warm-up: first runs allocate
        serial(session, [opening])
    for _ in range(rounds):
        for config in configs:
            session, (workers, _, _) = sessions[config], config[1]
            figures[config]["saturated"].append(saturated(session, pieces, workers, window_s))
            audio, wall = serial(session, one_request)
            figures[config]["one"].append(audio / wall)
            figures[config]["opening"].append(serial(session, [opening])[1])
    medians = {config: {name: statistics.median(values) for name, values in measured.items()}
               for config, measured in figures.items()}
    runnable = [c for c in configs if not c[1][2]]
    best = max(medians[c]["saturated"] for c in runnable)
    contenders = [c for c in runnable if medians[c]["saturated"] >= best * (1 - TIE)]
    pick = max(contenders, key=lambda c: medians[c]["one"])

    header = (f"Kokoro layouts, raw onnxruntime {onnxruntime.__version__} on {platform.machine()} CPU, "
              f"{os.cpu_count()} cores ({time.strftime('%Y-%m-%d')}); medians of {rounds} interleaved rounds, "
              f"{window_s:.0f} s saturated windows; {len(opening.token_ids)}-token opening piece\n\n")
    table = ("| graph | workers x threads | spinning | saturated (x real time) | vs best | one request (x real time) "
             "| opening piece (s) |\n|---|---|---|---|---|---|---|\n")
    for config in configs:
        graph, (workers, threads, spinning) = config
        m = medians[config]
        mark = " **pick**" if config == pick else ""
        table += (f"| {graph}{mark} | {workers} x {threads} | {'yes' if spinning else 'no'} | {m['saturated']:.2f} "
                  f"| {m['saturated'] / best:.2f} | {m['one']:.2f} | {m['opening']:.2f} |\n")
    graph, (workers, threads, _) = pick
    footer = (f"\nPick: `float_convs: {str(graph == 'float-conv').lower()}`, `inference_workers: {workers}`, "
              f"`intra_op_threads: {threads}`.\n")
    return header + table + footer


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--window", type=float, default=6.0, help="seconds per saturated measurement")
    arguments = parser.parse_args()
    report = run(arguments.rounds, arguments.window)
    print(report)
    (ROOT / "bench" / "results" / "kokoro_layout_cpu.md").write_text(report)
