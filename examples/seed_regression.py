"""The seed article's program 1 — a SimpleRNN learning "next number" — ported by import swap.

The Keras original imports ``tensorflow.keras.models.Sequential`` and
``tensorflow.keras.layers.SimpleRNN, Dense``; here the same code imports them from rnnkit and
runs on rnnkit's C++ kernels. It trains SimpleRNN(10, relu) + Dense(1) with Adam and MSE for
200 epochs on [i, i+1, i+2] -> i+3 (i = 1..99, integer arrays as the article passes them) and
predicts the number after [98, 99, 100] (the article prints 101.01).

Run: ``python examples/seed_regression.py [--seed N]``. It prints the prediction and the time
``fit`` took.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from rnnkit.layers import Dense, SimpleRNN
from rnnkit.models import Sequential
from rnnkit.utils import set_random_seed


def main(seed: int | None = None) -> tuple[float, float]:
    """Train the article's model; returns (prediction for [98, 99, 100], fit seconds)."""
    if seed is not None:
        set_random_seed(seed)

    # Step 1: Prepare the data
    X = []
    y = []
    for i in range(1, 100):
        X.append([i, i + 1, i + 2])
        y.append(i + 3)
    X = np.array(X)
    y = np.array(y)
    X = X.reshape((X.shape[0], X.shape[1], 1))  # 3 time steps, 1 feature each

    # Step 2: Build the model
    model = Sequential()
    model.add(SimpleRNN(10, activation="relu", input_shape=(3, 1)))
    model.add(Dense(1))
    model.compile(optimizer="adam", loss="mse")

    # Step 3: Train the model
    start = time.perf_counter()
    model.fit(X, y, epochs=200, verbose=0)
    fit_seconds = time.perf_counter() - start

    # Step 4: Make a prediction
    test_sequence = np.array([[98, 99, 100]])
    test_sequence = test_sequence.reshape((1, 3, 1))
    predicted = model.predict(test_sequence, verbose=0)
    print(f"Predicted next number after [98, 99, 100]: {predicted[0][0]:.2f}")
    print(f"fit: {fit_seconds:.3f} s")
    return float(predicted[0][0]), fit_seconds


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None, help="rnnkit.utils.set_random_seed")
    main(parser.parse_args().seed)
