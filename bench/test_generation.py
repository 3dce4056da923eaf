"""Generation cost per new token does not grow with the prompt: 100 tokens after a 10-token
and after a 1,000-token prompt, same model, measured in one run.

    python bench/test_generation.py                       # prints the two costs and their ratio
    pytest bench/test_generation.py --benchmark-only      # the same cases under pytest-benchmark

:func:`rnnkit.sampling.generate` reads the prompt once with the sequence kernels, then steps;
the per-token cost is the stepping part (``Decoder.step``), timed after ``Decoder.start``.
No timing is asserted.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import rnnkit
from rnnkit.layers import LSTM, Dense, Embedding, Input
from rnnkit.sampling import Decoder

VOCAB, UNITS, NEW_TOKENS = 96, 256, 100
PROMPTS = (10, 1000)


def make_model() -> rnnkit.Sequential:
    """Embedding(96, 64) → LSTM(256) → Dense(96, softmax), random weights (cost only)."""
    rnnkit.utils.set_random_seed(0)
    model = rnnkit.Sequential(
        [
            Input((None,), dtype="int32"),
            Embedding(VOCAB, 64),
            LSTM(UNITS, return_sequences=True),
            Dense(VOCAB, activation="softmax"),
        ]
    )
    model.build()
    return model


def step_tokens(decoder: Decoder, prompt: np.ndarray) -> float:
    """Seconds to generate NEW_TOKENS greedy tokens after ``prompt`` (prompt read excluded)."""
    logits = decoder.start(prompt)
    start = time.perf_counter()
    for _ in range(NEW_TOKENS):
        logits = decoder.step(np.argmax(logits, axis=1))
    return time.perf_counter() - start


def per_token_costs(repeats: int = 7) -> dict[int, float]:
    """Best-of-``repeats`` seconds per new token for each prompt length (interleaved runs)."""
    model = make_model()
    rng = np.random.default_rng(0)
    prompts = {n: rng.integers(1, VOCAB, (1, n)) for n in PROMPTS}
    best = {n: float("inf") for n in PROMPTS}
    for _ in range(repeats):
        for n in PROMPTS:
            best[n] = min(best[n], step_tokens(Decoder(model), prompts[n]) / NEW_TOKENS)
    return best


@pytest.mark.parametrize("prompt_length", PROMPTS)
def test_per_token_cost(benchmark, prompt_length: int) -> None:
    model = make_model()
    prompt = np.random.default_rng(0).integers(1, VOCAB, (1, prompt_length))
    benchmark.group = "generation: 100 tokens after a prompt"
    benchmark(lambda: step_tokens(Decoder(model), prompt))


if __name__ == "__main__":
    info = rnnkit.info()
    costs = per_token_costs()
    short, long = costs[PROMPTS[0]], costs[PROMPTS[1]]
    print(f"rnnkit {info['version']} isa={info['isa']} threads={info['num_threads']} "
          f"LSTM({UNITS}) V={VOCAB}, {NEW_TOKENS} new tokens, best of 7")
    for n in PROMPTS:
        print(f"  prompt {n:5d} tokens: {costs[n] * 1e6:8.1f} us/token")
    print(f"  ratio (1000-token prompt / 10-token prompt): {long / short:.3f}")
