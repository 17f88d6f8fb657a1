"""Which onnxruntime graph and thread layout Kokoro should run on this CPU: `make bench-kokoro-layout`.

Raw onnxruntime (bench/kokoro_ceiling.py) on the bench texts packed as the model allows, for
each graph (the int8 export, or its float-conv rewrite) and each layout (inference workers x
intra-op threads, with or without spinning), interleaved over rounds so that drift in machine
load hits all alike. Three figures per layout, medians and min–max over the rounds:
- saturated: audio seconds per second with every worker busy (many clients);
- one request: the 180-character text's pieces one after another (one client's stream);
- opening piece: seconds to render a stream's short first piece (time to first audio).
Each graph's layout is its best saturated rate (a layout within 3% of it wins if one request
runs faster). Only layouts without spinning are picked: the backend keeps it off, so that idle
inference threads leave the cores to the gateway and /health; the spinning row shows what that
costs. The float-conv rewrite is picked only if it beats int8 by more than the spread of the
rounds (the wider of the two layouts' min–max); otherwise plain int8 is, being the export as
shipped. The serve config's `kokoro` settings are chosen from this table.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from itertools import product

import onnxruntime

from bench import kokoro_clients as workload
from bench.kokoro_ceiling import GRAPHS, packed_pieces, raw_session, saturated, serial
from bench.service import ROOT
from bench.tables import publish
from deployments.kokoro.engine import KokoroEngine
from deployments.kokoro.onnx_backend import OnnxBackend
from deployments.kokoro.protocol import KokoroRequest
from deployments.kokoro.settings import KokoroSettings

# (inference workers, intra-op threads each, spinning); one thread has no pool to spin in.
LAYOUTS = [(1, 2, True), (1, 2, False), (2, 1, False)]
TIE = 0.03


def layout_pick(medians: dict, graph: str):
    runnable = [c for c in medians if c[0] == graph and not c[1][2]]
    best = max(medians[c]["saturated"] for c in runnable)
    contenders = [c for c in runnable if medians[c]["saturated"] >= best * (1 - TIE)]
    return max(contenders, key=lambda c: medians[c]["one"])


def run(rounds: int, window_s: float) -> list[str]:
    settings = KokoroSettings()
    planner = KokoroEngine.from_packages(OnnxBackend(intra_op_threads=1, float_convs=False), settings.voice_dirs,
                                         settings.voice_aliases, settings.sentence_pause_s)
    pieces = packed_pieces(workload.TEXT_600, workload.VOICE)
    one_request = packed_pieces(workload.TEXT_180, workload.VOICE)
    opening = next(planner.plan(KokoroRequest(text=workload.TEXT_600, voice=workload.VOICE,
                                              first_piece_max_tokens=settings.stream_first_piece_tokens)))
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
    picks = {graph: layout_pick(medians, graph) for graph in GRAPHS}
    best = max(medians[picks[graph]]["saturated"] for graph in GRAPHS)
    int8, float_conv = (picks[graph] for graph in GRAPHS)
    spread = max(max(figures[c]["saturated"]) - min(figures[c]["saturated"]) for c in (int8, float_conv))
    margin = medians[float_conv]["saturated"] - medians[int8]["saturated"]
    pick = float_conv if margin > spread else int8

    def cell(config, name: str, digits: str) -> str:
        values = figures[config][name]
        return f"{statistics.median(values):{digits}} ({min(values):{digits}}–{max(values):{digits}})"

    rows = []
    for config in configs:
        graph, (workers, threads, spinning) = config
        mark = " **pick**" if config == pick else (" (best of its graph)" if config in picks.values() else "")
        rows.append(f"| {graph}{mark} | {workers} x {threads} | {'yes' if spinning else 'no'} | "
                    f"{cell(config, 'saturated', '.2f')} | {medians[config]['saturated'] / best:.2f} | "
                    f"{cell(config, 'one', '.2f')} | {cell(config, 'opening', '.3f')} |")
    graph, (workers, threads, _) = pick
    return [
        (f"Kokoro layouts, raw onnxruntime {onnxruntime.__version__} on {platform.machine()} CPU "
        f"({platform.processor() or platform.node()}), {os.cpu_count()} cores ({time.strftime('%Y-%m-%d %H:%M')}); "
        f"medians (min–max) of {rounds} interleaved rounds, {window_s:.0f} s saturated windows on the "
        f"600-character text packed ({len(pieces)} pieces); {len(opening.token_ids)}-token opening piece"),
        "",
        ("| graph | workers x threads | spinning | saturated (x real time) | vs best | one request, 180 chars "
        "(x real time) | opening piece (s) |"),
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        (f"float-conv over int8, each at its best layout, saturated: {margin:+.3f}x real time "
        f"({medians[float_conv]['saturated'] / medians[int8]['saturated']:.3f} of int8), against a spread of "
        f"{spread:.3f} over the rounds: {'float-conv wins' if pick == float_conv else 'not a win, so plain int8'}."),
        "",
        (f"Pick: `float_convs: {str(graph == 'float-conv').lower()}`, `inference_workers: {workers}`, "
        f"`intra_op_threads: {threads}`."),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--window", type=float, default=5.0, help="seconds per saturated measurement")
    arguments = parser.parse_args()
    publish(run(arguments.rounds, arguments.window), ROOT / "bench" / "results" / "kokoro_layout_cpu.md")
