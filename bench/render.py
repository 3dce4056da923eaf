"""Render ``python -m rnnkit bench --json`` output as the Markdown table of BENCHMARKS.md.

    python -m rnnkit bench --json > bench.json && python bench/render.py bench.json
    python -m rnnkit bench --scaling --json > scaling.json && python bench/render.py scaling.json

Each row also says which targets of the fast-kernels issue it meets: LSTM inference >= 1.2x
and training >= 1.25x torch (parity at the 1024-wide shape), GRU/SimpleRNN inference >= 1.5x
and training >= 2x torch, batch 1 >= 3x torch, the toy shape >= 5x torch, and >= 3x (B >= 16)
or >= 5x (B = 1) the NumPy reference. The scaling table says whether 2 threads run >= 1.8x
as fast as 1.

The column "torch target needs" is the GFLOP/s rnnkit would have to reach to meet its torch
target (target x flops / torch's time), as a share of the NumPy sgemm peak measured in the same
run. Where it is near or above 100%, the target asks for more than the machine's float32 GEMM
peak: no kernel doing these flops in float32 can meet it here.
"""

from __future__ import annotations

import json
import sys
from typing import Any

SCALING_TARGET = 1.8  # 1 -> 2 threads at (100, 32, 512, 512) and (25, 16, 1024, 1024)


def torch_target(row: dict[str, Any]) -> float:
    T, B, I, H = row["shape"]
    if (T, B, I, H) == (3, 99, 1, 10):
        return 5.0
    if B == 1:
        return 3.0
    if row["cell"] == "lstm":
        if (T, B, I, H) == (25, 16, 1024, 1024):
            return 1.0
        return 1.2 if row["mode"] == "inference" else 1.25
    return 1.5 if row["mode"] == "inference" else 2.0


def target_needs(row: dict[str, Any], target: float, peak: float) -> float | None:
    """% of the sgemm peak rnnkit must reach to be ``target`` times faster than torch."""
    if row.get("torch_ms") is None or not peak:
        return None
    needed_gflops = target * row["gflops"] * row["rnnkit_ms"] / row["torch_ms"]
    return 100.0 * needed_gflops / peak


def reference_target(row: dict[str, Any]) -> float:
    return 5.0 if row["shape"][1] == 1 else 3.0


def render_scaling(data: dict[str, Any]) -> str:
    """The 1 -> 2 thread table of ``python -m rnnkit bench --scaling --json``."""
    lines = [
        (f"ISA path `{data['isa']}`, rnnkit alone, CPU {data['cpu']}; median of "
         f"{data['scaling'][0]['repeats']} calls per thread count, the counts alternating; "
         "1-minute load average before and after the run: "
         f"{data['loadavg_1min'][0]:.2f}, {data['loadavg_1min'][1]:.2f}."),
        "",
        ("| cell | mode | T, B, I, H | ms, 1 thread | ms, 2 threads | speedup (target) "
         "| fastest calls' speedup |"),
        "|---|---|---|---|---|---|---|",
    ]
    for row in data["scaling"]:
        met = "met" if row["speedup"] >= SCALING_TARGET else "not met"
        lines.append(
            f"| {row['cell']} | {row['mode']} | {', '.join(map(str, row['shape']))} "
            f"| {row['ms'][0]:.3f} | {row['ms'][1]:.3f} "
            f"| {row['speedup']:.2f}x ({SCALING_TARGET:g}x {met}) | {row['best_speedup']:.2f}x |"
        )
    return "\n".join(lines)


def render(data: dict[str, Any]) -> str:
    if "rows" not in data:
        return render_scaling(data)
    peak = data["sgemm_gflops"]
    lines = [
        (f"ISA path `{data['isa']}`, {data['threads']} threads for every backend, CPU "
        f"{data['cpu']}, torch {data['torch']}, numpy {data['numpy']}; NumPy sgemm peak "
        f"(2048^3, same run) {peak:.0f} GFLOP/s."),
        "",
        ("| cell | mode | T, B, I, H | rnnkit ms | torch ms | reference ms | vs torch (target) "
        "| vs reference (target) | GFLOP/s | % peak | torch target needs |"),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in data["rows"]:
        tt, rt = torch_target(row), reference_target(row)
        vt = row.get("vs_torch")
        vr = row.get("vs_reference")
        vt_s = "-" if vt is None else f"{vt:.2f}x ({tt:g}x {'met' if vt >= tt else 'not met'})"
        vr_s = "-" if vr is None else f"{vr:.2f}x ({rt:g}x {'met' if vr >= rt else 'not met'})"
        needs = target_needs(row, tt, peak)
        needs_s = "-" if needs is None else f"{needs:.0f}% peak"
        lines.append(
            f"| {row['cell']} | {row['mode']} | {', '.join(map(str, row['shape']))} "
            f"| {row['rnnkit_ms']:.3f} | {row.get('torch_ms', float('nan')):.3f} "
            f"| {row.get('reference_ms', float('nan')):.3f} | {vt_s} | {vr_s} "
            f"| {row['gflops']:.0f} | {100 * row['gflops'] / peak:.0f}% | {needs_s} |"
        )
    if "scaling" in data:
        lines += ["", render_scaling(data)]
    return "\n".join(lines)


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        print(render(json.load(f)))
