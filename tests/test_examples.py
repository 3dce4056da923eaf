"""The examples run as scripts (subprocesses) and print what their docstrings say.

Fast examples run in full; the long ones (char model, adding problem) run reduced here and in
full under ``-m slow``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CORPUS_CONTINUATIONS = (
    "neural networks are inspired by the brain",
    "neural networks learn sequences are inspired by",
)


def run_example(name: str, *args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=timeout,
        env={**os.environ, "RNNKIT_NUM_THREADS": os.environ.get("RNNKIT_NUM_THREADS", "2")},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_article_program_by_import_swap() -> None:
    out = run_example("article_text_generation.py")
    assert 'Model: "sequential"' in out and "simple_rnn (SimpleRNN)" in out
    assert "Total params: 6,375" in out
    assert out.splitlines()[-2] in CORPUS_CONTINUATIONS
    assert re.fullmatch(r"fit: \d+\.\d s \(200 epochs\)", out.splitlines()[-1])


def test_lstm_gru_temperature_sampling() -> None:
    out = run_example("text_generation_lstm_gru.py")
    for cell in ("SimpleRNN", "LSTM", "GRU"):
        line = next(line for line in out.splitlines() if line.startswith(cell + " "))
        assert line.endswith(CORPUS_CONTINUATIONS), line
    samples = [line for line in out.splitlines() if line.strip().startswith("T=")]
    assert len(samples) == 3 * 6
    assert all(s.split("  ", 2)[-1].startswith("neural networks ") for s in samples)


def test_timeseries_forecast_beats_the_baselines() -> None:
    out = run_example("timeseries_forecast.py")
    pattern = r"^  (\S+(?: \S+)?)\s+(\d\.\d+)$"
    mse = {m[1]: float(m[2]) for m in re.finditer(pattern, out, re.MULTILINE)}
    assert mse["lstm"] < mse["persistence"] < mse["seasonal naive"], out


def assert_png(path: Path, min_width: int = 400) -> None:
    """A real PNG image: its signature, and a width and height read from its IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= min_width and height >= 200, (width, height)
    assert len(data) > 10_000  # drawn curves, not a blank canvas


def test_char_model_reduced(tmp_path: Path) -> None:
    require("matplotlib")
    text = tmp_path / "text.txt"
    text.write_text("to be or not to be, that is the question. " * 60, encoding="utf-8")
    png = tmp_path / "loss.png"
    out = run_example("char_model.py", str(text), "--epochs", "3", "--units", "16",
                      "--seq-len", "16", "--png", str(png))
    losses = [float(m) for m in re.findall(r"^\s+\d+  (\d\.\d+)  ", out, re.MULTILINE)]
    assert len(losses) == 3 and losses[-1] < losses[0]
    assert out.count("--- temperature") == 2
    assert_png(png)


@pytest.mark.slow
def test_char_model_full() -> None:
    out = run_example("char_model.py", timeout=600)
    losses = [float(m) for m in re.findall(r"^\s+\d+  (\d\.\d+)  ", out, re.MULTILINE)]
    assert len(losses) == 20 and losses[-1] < 0.6 * losses[0]


def _adding_table(out: str) -> dict[str, float]:
    rows = re.findall(r"^\s+(\d+)\s+(\d\.\d+)\s+(\d\.\d+)\s+(\d\.\d+)$", out, re.MULTILINE)
    last = rows[-1]
    return {"SimpleRNN": float(last[1]), "LSTM": float(last[2]), "GRU": float(last[3])}


def test_adding_problem_reduced(tmp_path: Path) -> None:
    require("matplotlib")
    png = tmp_path / "adding.png"
    out = run_example("adding_problem.py", "--steps", "250", "--length", "100", "--png", str(png))
    assert_png(png, min_width=800)  # loss curves and gradient norms side by side
    final = _adding_table(out)
    assert 0.1 < final["SimpleRNN"] < 0.25  # near the trivial 1/6
    assert "after training, relative to t = T-1" in out
    sgd, clipped = (line for line in out.splitlines() if "initial gradient norm" in line)
    assert "nan" in sgd and "nan" not in clipped


@pytest.mark.slow
def test_adding_problem_full() -> None:
    final = _adding_table(run_example("adding_problem.py", timeout=900))
    assert final["SimpleRNN"] > 0.12
    assert final["LSTM"] < 0.01 and final["GRU"] < 0.01


def test_sklearn_pipeline_beats_persistence() -> None:
    require("sklearn")
    out = run_example("sklearn_pipeline.py")
    test_r2, persistence = (float(v) for v in re.findall(r"R\^2 (\d\.\d+)", out.splitlines()[-1]))
    assert test_r2 > persistence and test_r2 > 0.9, out
    assert "best: {" in out and "mean R^2" in out
