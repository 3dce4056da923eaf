"""pytest-benchmark entries for the seed programs' fit on rnnkit and Keras 3 (torch backend).

The ratio in one run: ``python bench/seed_programs.py``. No timing is asserted.
"""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import require

sys.path.insert(0, str(Path(__file__).parent))
import seed_programs


def test_seed_program_1_rnnkit(benchmark) -> None:
    benchmark.group = "seed-program-1"
    benchmark(seed_programs.rnnkit_program_1())


def test_seed_program_1_keras(benchmark) -> None:
    require("keras")
    benchmark.group = "seed-program-1"
    benchmark(seed_programs.keras_program_1())


def test_seed_program_2_rnnkit(benchmark) -> None:
    benchmark.group = "seed-program-2"
    benchmark(seed_programs.rnnkit_program_2())


def test_seed_program_2_keras(benchmark) -> None:
    require("keras")
    benchmark.group = "seed-program-2"
    benchmark(seed_programs.keras_program_2())
