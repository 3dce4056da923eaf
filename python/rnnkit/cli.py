"""``python -m rnnkit``: the command line.

    python -m rnnkit info                 version, SIMD path, threads
    python -m rnnkit bench [--quick]      rnnkit vs the NumPy reference and PyTorch
    python -m rnnkit bench --scaling      rnnkit on 1 vs 2 threads
    python -m rnnkit demo [--minutes M]   train a character-level LSTM, then sample from it
    python -m rnnkit train-text FILE      train a character model on a UTF-8 text file
    python -m rnnkit generate MODEL       continue a prompt with a saved model

User errors print one line and exit with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
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

    if args.scaling:
        selected = [c for c in bench.cases(bench.SCALING_SHAPES) if args.cell in (None, c.cell)]
        head = bench.header(args.threads)
        load_before = os.getloadavg()[0]  # other processes' load skews the 2-thread times
        rows = bench.scaling(selected, threads=(1, args.threads))
        head["loadavg_1min"] = [load_before, os.getloadavg()[0]]
        if args.json:
            print(json.dumps({**head, "scaling": rows}))
            return 0
        print(" ".join(f"{k}={v}" for k, v in head.items()))
        print(bench.format_scaling(rows))
        return 0
    shapes = bench.QUICK_SHAPES if args.quick else bench.SHAPES
    selected = [c for c in bench.cases(shapes) if args.cell in (None, c.cell)]
    head = bench.header(args.threads)
    peak = bench.sgemm_peak()
    rows = bench.run(selected, threads=args.threads, with_reference=not args.no_reference)
    peak = max(peak, bench.sgemm_peak())  # before and after the run: the better is the peak
    if args.json:
        print(json.dumps({**head, "sgemm_gflops": peak, "rows": rows}))
        return 0
    print(" ".join(f"{k}={v}" for k, v in head.items()) + f" sgemm_peak={peak:.1f} GFLOP/s")
    print(bench.format_table(rows, peak))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from rnnkit import _demo

    _demo.run(
        minutes=args.minutes, epochs=args.epochs, units=args.units, seed=args.seed, out=args.out
    )
    return 0


def _cmd_train_text(args: argparse.Namespace) -> int:
    from rnnkit import _demo

    arguments = {
        "cell": args.cell,
        "units": args.units,
        "layers": args.layers,
        "seq_len": args.seq_len,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "out": args.out,
        "resume": args.resume,
        "seed": args.seed,
    }
    if args.distributed:
        from rnnkit.distributed import _mpi, _text

        try:
            _mpi.init()
        except ImportError as exc:
            raise ValueError(f"--distributed: {exc}") from exc
        return _text.run(path=args.file, **arguments)
    _demo.train_text(args.file, **arguments)
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from rnnkit.sampling import generate_text

    model = rnnkit.load_model(args.model, compile=False)
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise ValueError(
            f"{args.model} has no tokenizer attached (save it with model.save(path, "
            "tokenizer=...)); use rnnkit.sampling.generate with token ids instead"
        )
    prompt = args.prompt if args.prompt is not None else tokenizer.index_word.get(1, "")
    print(
        generate_text(
            model,
            tokenizer,
            prompt,
            args.length,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            seed=args.seed,
        )
    )
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
    p.add_argument("--scaling", action="store_true",
                   help="instead: rnnkit on 1 thread vs --threads at the scaling shapes")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser(
        "demo",
        help="train a character-level LSTM on Python's own docs, sample from it, save it",
        description="Train a character-level LSTM on Python's bundled documentation "
        "(pydoc_data.topics) with a progress bar, print samples at a few temperatures and "
        "save the model (with its vocabulary) for the generate command.",
    )
    p.add_argument("--minutes", type=float, default=2.0, help="training time budget (default 2)")
    p.add_argument("--epochs", type=int, default=None,
                   help="stop after this many 25-batch epochs (default: the time budget decides)")
    p.add_argument("--units", type=int, default=128, help="LSTM hidden units (default 128)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", default="rnnkit-demo.rnnkit",
                   help="model file to write (default rnnkit-demo.rnnkit)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "train-text",
        help="train a character-level model on a UTF-8 text file",
        description="Train Embedding -> CELL x LAYERS -> Dense(softmax) on the characters of "
        "FILE, print samples, save the model with its vocabulary, and a checkpoint after "
        "every epoch (OUT.ckpt) that --resume continues from.",
    )
    p.add_argument("file", help="a UTF-8 text file")
    p.add_argument("--cell", choices=("lstm", "gru", "rnn"), default="lstm",
                   help="recurrent cell (default lstm)")
    p.add_argument("--units", type=int, default=128, help="hidden units per layer (default 128)")
    p.add_argument("--layers", type=int, default=1, help="stacked recurrent layers (default 1)")
    p.add_argument("--seq-len", type=int, default=64, help="training window length (default 64)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    p.add_argument("--epochs", type=int, default=10, help="epochs in all (default 10)")
    p.add_argument("--out", default=None, help="model file (default: FILE with .rnnkit)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT.ckpt, written after each epoch of an earlier run")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel on MPI: run as mpiexec -n N python -m rnnkit train-text "
                   "FILE --distributed (needs rnnkit[dist]); --batch-size is the global batch")
    p.set_defaults(func=_cmd_train_text)

    p = sub.add_parser(
        "generate",
        help="continue a prompt with a saved model",
        description="Load a model saved with its tokenizer (demo, train-text, or "
        "model.save(path, tokenizer=...)) and print the prompt followed by generated tokens.",
    )
    p.add_argument("model", help="a model file with a tokenizer attached")
    p.add_argument("--prompt", default=None,
                   help="text to continue (default: the most frequent token)")
    p.add_argument("--length", type=int, default=200, help="tokens to generate (default 200)")
    p.add_argument("--temperature", type=float, default=0.8,
                   help="sampling temperature, 0 = greedy (default 0.8)")
    p.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest tokens")
    p.add_argument("--top-p", type=float, default=None,
                   help="sample in the nucleus of probability mass p")
    p.add_argument("--seed", type=int, default=None, help="random seed (reproducible output)")
    p.set_defaults(func=_cmd_generate)
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
