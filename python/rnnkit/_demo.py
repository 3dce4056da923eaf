"""The ``python -m rnnkit demo`` job: a character-level LSTM trained on Python's own bundled
documentation (``pydoc_data.topics``, in every CPython), then sampled at a few temperatures.

It runs on the functional kernels directly — one-hot characters into ``ops.lstm_forward``, a
softmax readout, ``ops.lstm_backward`` for BPTT, Adam with global-norm clipping — and generates
text with ``ops.lstm_step`` on weights packed once.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from rnnkit import ops


def corpus() -> str:
    from pydoc_data import topics

    return "\n\n".join(topics.topics[k] for k in sorted(topics.topics))


class CharLSTM:
    """LSTM(H) over one-hot characters, then a dense softmax readout over V characters."""

    def __init__(self, vocab: str, units: int, rng: np.random.Generator) -> None:
        V, H = len(vocab), units
        self.vocab = vocab
        self.index = {ch: i for i, ch in enumerate(vocab)}

        def uniform(shape: tuple[int, ...], fan_in: int, fan_out: int) -> np.ndarray:
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            return rng.uniform(-limit, limit, shape).astype(np.float32)

        b = np.zeros(4 * H, np.float32)
        b[H : 2 * H] = 1.0  # forget gate bias 1 (Jozefowicz et al. 2015)
        self.params = {
            "w_ih": uniform((4 * H, V), V, 4 * H),
            "w_hh": uniform((4 * H, H), H, 4 * H),
            "b": b,
            "w_out": uniform((H, V), H, V),
            "b_out": np.zeros(V, np.float32),
        }
        self.moments = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in self.params.items()}
        self.steps = 0

    def one_hot(self, ids: np.ndarray) -> np.ndarray:
        out = np.zeros(ids.shape + (len(self.vocab),), np.float32)
        np.put_along_axis(out, ids[..., None], 1.0, axis=-1)
        return out

    def train_step(self, batch: np.ndarray, lr: float = 2e-3, clip: float = 5.0) -> float:
        """One Adam step on a (T+1, B) batch of ids; returns the mean cross-entropy."""
        p = self.params
        x, target = self.one_hot(batch[:-1]), batch[1:]
        y, _, saved = ops.lstm_forward(x, None, None, p["w_ih"], p["w_hh"], p["b"], None,
                                       training=True)
        logits = y @ p["w_out"] + p["b_out"]  # (T, B, V)
        logits -= logits.max(axis=-1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=-1, keepdims=True)
        picked = np.take_along_axis(probs, target[..., None], axis=-1)[..., 0]
        loss = float(-np.log(np.maximum(picked, 1e-12)).mean())
        dlogits = probs
        np.put_along_axis(dlogits, target[..., None], picked[..., None] - 1.0, axis=-1)
        dlogits /= target.size
        grads = ops.lstm_backward(dlogits @ p["w_out"].T, None, saved)
        g = {
            "w_ih": grads["w_ih"], "w_hh": grads["w_hh"], "b": grads["b_ih"],
            "w_out": np.tensordot(y, dlogits, axes=([0, 1], [0, 1])),
            "b_out": dlogits.sum(axis=(0, 1)),
        }
        norm = np.sqrt(sum(float(np.sum(v * v)) for v in g.values()))
        scale = min(1.0, clip / (norm + 1e-6))
        self.steps += 1
        b1, b2 = 0.9, 0.999
        for k, grad in g.items():
            m, v = self.moments[k]
            m *= b1
            m += (1 - b1) * scale * grad
            v *= b2
            v += (1 - b2) * (scale * grad) ** 2
            m_hat = m / (1 - b1**self.steps)
            v_hat = v / (1 - b2**self.steps)
            p[k] -= lr * m_hat / (np.sqrt(v_hat) + 1e-7)
        return loss

    def sample(self, prompt: str, length: int, temperature: float,
               rng: np.random.Generator) -> str:
        """Feed the prompt, then generate one character at a time with the step kernel."""
        p = self.params
        packed = ops.pack_lstm(p["w_ih"], p["w_hh"], p["b"], None)
        H = p["w_hh"].shape[1]
        h = np.zeros((1, H), np.float32)
        c = np.zeros((1, H), np.float32)
        ids = [self.index.get(ch, 0) for ch in prompt]
        out = []
        for i in range(len(ids) + length):
            ops.lstm_step(self.one_hot(np.array([ids[-1] if i >= len(ids) else ids[i]])), h, c,
                          packed, out=(h, c))
            if i < len(ids) - 1:
                continue
            logits = (h @ p["w_out"] + p["b_out"])[0].astype(np.float64)
            if temperature <= 0:
                nxt = int(np.argmax(logits))
            else:
                z = logits / temperature
                z = np.exp(z - z.max())
                nxt = int(rng.choice(len(z), p=z / z.sum()))
            ids.append(nxt)
            out.append(self.vocab[nxt])
        return "".join(out)


def _progress(step: int, loss: float, elapsed: float, budget: float) -> None:
    width = 30
    done = min(1.0, elapsed / budget)
    bar = "#" * int(done * width) + "." * (width - int(done * width))
    sys.stdout.write(f"\r  [{bar}] step {step:5d}  loss {loss:.3f}  {elapsed:5.1f}/{budget:.0f} s")
    sys.stdout.flush()


def run(minutes: float = 1.0, units: int = 128, seed: int = 0, seq_len: int = 64,
        batch_size: int = 32) -> CharLSTM:
    if minutes <= 0:
        raise ValueError(f"--minutes must be > 0, got {minutes}")
    if units < 1:
        raise ValueError(f"--units must be >= 1, got {units}")
    text = corpus()
    vocab = "".join(sorted(set(text)))
    rng = np.random.default_rng(seed)
    model = CharLSTM(vocab, units, rng)
    data = np.array([model.index[ch] for ch in text], np.int64)
    print(f"rnnkit demo: character LSTM({units}) on Python's bundled docs "
          f"({len(text):,} characters, {len(vocab)} symbols)")
    budget = minutes * 60.0
    start = time.perf_counter()
    smooth = None
    step = 0
    first = None
    while time.perf_counter() - start < budget:
        starts = rng.integers(0, len(data) - seq_len - 1, batch_size)
        batch = np.stack([data[s : s + seq_len + 1] for s in starts], axis=1)
        loss = model.train_step(batch)
        first = loss if first is None else first
        smooth = loss if smooth is None else 0.98 * smooth + 0.02 * loss
        step += 1
        if step % 10 == 0:
            _progress(step, smooth, time.perf_counter() - start, budget)
    _progress(step, smooth or 0.0, time.perf_counter() - start, budget)
    print(f"\n  loss {first:.3f} -> {smooth:.3f} after {step} steps "
          f"({step * seq_len * batch_size / (time.perf_counter() - start):,.0f} chars/s)")
    for temperature in (0.5, 0.8, 1.0):
        text_out = model.sample("The ", 240, temperature, rng)
        print(f"\n--- temperature {temperature} ---\nThe {text_out}")
    return model
