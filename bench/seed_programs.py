"""The seed article's program 1 (SimpleRNN regression) on rnnkit and on Keras 3, in one run.

    python bench/seed_programs.py            # prints both fit times and the ratio

Both run the article's code unchanged but for the import prefix: SimpleRNN(10, relu,
input_shape=(3, 1)), Dense(1), adam, mse, 200 epochs, batch 32, on [i, i+1, i+2] -> i+3 for
i = 1..99. Keras runs on its torch backend (KERAS_BACKEND=torch), both on 2 threads. The figure
is the median of ``repeats`` fits each, after one warm-up fit.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any, Callable

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")


def seed_data() -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[i, i + 1, i + 2] for i in range(1, 100)]).reshape(99, 3, 1)
    y = np.array([i + 3 for i in range(1, 100)])
    return x, y


def program_1(models: Any, layers: Any) -> Callable[[], float]:
    """A callable that builds, fits and queries the article's model; returns the fit time."""
    x, y = seed_data()

    def run() -> float:
        model = models.Sequential()
        model.add(layers.SimpleRNN(10, activation="relu", input_shape=(3, 1)))
        model.add(layers.Dense(1))
        model.compile(optimizer="adam", loss="mse")
        t0 = time.perf_counter()
        model.fit(x, y, epochs=200, verbose=0)
        elapsed = time.perf_counter() - t0
        model.predict(np.array([[98, 99, 100]]).reshape(1, 3, 1), verbose=0)
        return elapsed

    return run


def rnnkit_program_1() -> Callable[[], float]:
    from rnnkit import layers, models

    return program_1(models, layers)


def keras_program_1() -> Callable[[], float]:
    import warnings

    import keras

    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    return program_1(keras.models, keras.layers)


def median_fit(run: Callable[[], float], repeats: int) -> float:
    run()
    return statistics.median(run() for _ in range(repeats))


def main(repeats: int = 3) -> None:
    import rnnkit
    import torch

    rnnkit.set_num_threads(2)
    torch.set_num_threads(2)
    t_rnnkit = median_fit(rnnkit_program_1(), repeats)
    t_keras = median_fit(keras_program_1(), repeats)
    print(f"seed program 1, fit of 200 epochs (median of {repeats}, ISA {rnnkit.info()['isa']}):")
    print(f"  rnnkit {t_rnnkit:.3f} s   keras {t_keras:.3f} s   ratio {t_keras / t_rnnkit:.1f}x")


if __name__ == "__main__":
    main()
