"""``python -m rnnkit``: the command line.

    python -m rnnkit info                 version, SIMD path, threads
    python -m rnnkit bench [--quick]      rnnkit vs the NumPy reference and PyTorch
    python -m rnnkit demo [--minutes M]   train a character-level LSTM, then sample from it

User errors print one line and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import rnnkit


def _cmd_info(args: argparse.Namespace) -> int:
    info = rnnkit.info()
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"rnnkit {info['version']}")
    print(f"  SIMD path:  {info['isa']} (available: {', '.join(info['isas_available'])})")
    print(f"  threads:    {info['num_threads']} (effective {info['effective_num_threads']})")
    print(f"  OpenMP:     {info['openmp']}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from rnnkit import bench

    shapes = bench.QUICK_SHAPES if args.quick else bench.SHAPES
    selected = [c for c in bench.cases(shapes) if args.cell in (None, c.cell)]
    head = bench.header(args.threads)
    peak = bench.sgemm_peak()
    rows = bench.run(selected, threads=args.threads, with_reference=not args.no_reference)
    if args.json:
        print(json.dumps({**head, "sgemm_gflops": peak, "rows": rows}))
        return 0
    print(" ".join(f"{k}={v}" for k, v in head.items()) + f" sgemm_peak={peak:.1f} GFLOP/s")
    print(bench.format_table(rows, peak))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from rnnkit import _demo

    _demo.run(minutes=args.minutes, units=args.units, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rnnkit", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="version, SIMD path and threads")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("bench", help="benchmark the kernels against NumPy and PyTorch")
    p.add_argument("--quick", action="store_true", help="two shapes only (seconds)")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.add_argument("--threads", type=int, default=2, help="threads for every backend")
    p.add_argument("--cell", choices=("lstm", "gru", "rnn"), help="one cell only")
    p.add_argument("--no-reference", action="store_true", help="skip the (slow) NumPy baseline")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("demo", help="train a character-level LSTM on Python's own docs")
    p.add_argument("--minutes", type=float, default=1.0, help="training time budget")
    p.add_argument("--units", type=int, default=128, help="LSTM hidden units")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, TypeError, OSError) as exc:
        print(f"rnnkit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rnnkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
