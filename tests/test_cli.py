"""``python -m rnnkit``: every command in a subprocess — help, exit codes, one-line errors,
and the train-text → generate round trip through a saved model file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rnnkit

TEXT = "the quick brown fox jumps over the lazy dog. " * 40


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    env = {**os.environ, "RNNKIT_NUM_THREADS": os.environ.get("RNNKIT_NUM_THREADS", "2")}
    return subprocess.run(
        [sys.executable, "-m", "rnnkit", *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("command", [[], ["info"], ["bench"], ["demo"], ["train-text"],
                                     ["generate"]])
def test_help_everywhere(command: list[str]) -> None:
    result = run_cli(*command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: python -m rnnkit")


def test_info_prints_version_isa_and_threads() -> None:
    result = run_cli("info")
    assert result.returncode == 0
    assert f"rnnkit {rnnkit.__version__}" in result.stdout
    assert "SIMD path:" in result.stdout and "threads:" in result.stdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny char model trained by train-text (2 epochs) and saved with its vocabulary."""
    folder = tmp_path_factory.mktemp("cli")
    (folder / "fox.txt").write_text(TEXT, encoding="utf-8")
    result = run_cli("train-text", "fox.txt", "--units", "16", "--seq-len", "16", "--epochs",
                     "2", "--cell", "gru", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "Epoch 2/2" in result.stdout
    assert "--- temperature" in result.stdout
    assert (folder / "fox.rnnkit").exists() and (folder / "fox.rnnkit.ckpt").exists()
    return folder


def test_generate_from_the_saved_model_alone(trained: Path) -> None:
    a = run_cli("generate", "fox.rnnkit", "--prompt", "the ", "--length", "30", "--seed", "3",
                cwd=trained)
    assert a.returncode == 0, a.stderr
    out = a.stdout.rstrip("\n")
    assert out.startswith("the ") and len(out) == 4 + 30
    assert set(out) <= set(TEXT)  # characters of the training text only
    b = run_cli("generate", "fox.rnnkit", "--prompt", "the ", "--length", "30", "--seed", "3",
                cwd=trained)
    assert b.stdout == a.stdout  # reproducible with --seed

    # Oracle: the same greedy continuation computed in-process from the loaded model.
    model = rnnkit.load_model(trained / "fox.rnnkit")
    from rnnkit.sampling import generate_text

    expected = generate_text(model, model.tokenizer, "the ", 20, temperature=0)
    greedy = run_cli("generate", "fox.rnnkit", "--prompt", "the ", "--length", "20",
                     "--temperature", "0", cwd=trained)
    assert greedy.stdout.rstrip("\n") == expected


def test_resume_continues_from_the_checkpoint(trained: Path) -> None:
    result = run_cli("train-text", "fox.txt", "--units", "16", "--seq-len", "16", "--epochs",
                     "3", "--cell", "gru", "--resume", cwd=trained)
    assert result.returncode == 0, result.stderr
    assert "Epoch 3/3" in result.stdout and "Epoch 1/3" not in result.stdout


def test_user_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.txt").write_bytes(b"  \n\n")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (tmp_path / "notes.txt").write_text(TEXT, encoding="utf-8")
    np.save(tmp_path / "array.npy", np.zeros(3))
    cases = [
        (("train-text", "missing.txt"), ("No such file",)),
        (("train-text", "empty.txt"), ("empty",)),
        (("train-text", "blank.txt"), ("empty",)),
        (("train-text", "latin1.txt"), ("not UTF-8",)),
        (("train-text", "notes.txt", "--seq-len", "0"), ("--seq-len",)),
        (("train-text", "notes.txt", "--seq-len", "5000"), ("--seq-len 5000",)),
        (("train-text", "notes.txt", "--resume", "--out", "new.rnnkit"), ("--resume",)),
        (("generate", "missing.rnnkit"), ("No such file",)),
        (("generate", "notes.txt"), ("load_model", "not an rnnkit model file", "like text")),
        (("generate", "empty.txt"), ("empty",)),
        (("generate", "array.npy"), ("load_model", "not an rnnkit model file")),
        (("demo", "--minutes", "0"), ("--minutes",)),
    ]
    for args, fragments in cases:
        assert_one_line_error(run_cli(*args, cwd=tmp_path), *fragments)


def test_generate_refuses_a_model_without_tokenizer(tmp_path: Path) -> None:
    from rnnkit.layers import LSTM, Dense, Embedding, Input

    model = rnnkit.Sequential(
        [Input((None,), dtype="int32"), Embedding(5, 3), LSTM(4, return_sequences=True),
         Dense(5, activation="softmax")]
    )
    model.build()
    model.save(tmp_path / "bare.rnnkit")
    assert_one_line_error(run_cli("generate", "bare.rnnkit", cwd=tmp_path), "no tokenizer")


def test_demo_progress_bar_counts_the_epochs_its_budget_holds(tmp_path: Path) -> None:
    """Without --epochs the demo times one epoch and shows the bar over the epochs that fit
    (not an open-ended count)."""
    result = run_cli("demo", "--minutes", "0.05", "--units", "16", "--out", "d.rnnkit",
                     cwd=tmp_path, timeout=180)
    assert result.returncode == 0, result.stderr
    planned = int(result.stdout.split("the budget holds ")[1].split(" epochs")[0])
    assert 2 <= planned < 1000
    assert f"Epoch 2/{planned}" in result.stdout


def test_demo_trains_samples_and_saves(tmp_path: Path) -> None:
    result = run_cli("demo", "--epochs", "2", "--units", "32", "--out", "d.rnnkit",
                     cwd=tmp_path, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "Epoch 2/2" in result.stdout and "25/25" in result.stdout
    assert result.stdout.count("--- temperature") == 3
    first, last = (float(v) for v in result.stdout.split("loss ")[-1].split(" over")[0]
                   .split(" -> "))
    assert last < first  # falling loss
    generated = run_cli("generate", "d.rnnkit", "--prompt", "def ", "--length", "20",
                        cwd=tmp_path)
    assert generated.returncode == 0 and generated.stdout.startswith("def ")
