"""Text generation from a trained recurrent model: feed the prompt once, then step the state.

:func:`generate` runs the prompt once through the sequence kernels (``*_forward``) to get every
recurrent layer's state, then produces one token at a time with the step kernels
(``*_step``) on weights packed once: the work per new token is one step of each layer and the
head, whatever the prompt's length. :func:`generate_text` wraps it for a
:class:`rnnkit.text.Tokenizer` (word or character level).

Models it understands: ``[Input] [Embedding] → one or more SimpleRNN/LSTM/GRU (all but the last
with return_sequences=True) → a head of Dense / TimeDistributed(Dense) / Activation layers``,
``Dropout`` anywhere (inactive at inference). Without an Embedding the first recurrent layer
reads one-hot vectors of the ids. The head's last layer gives a softmax (its logits are taken
before the softmax) or linear logits.

**Fixed-window models.** A model whose last recurrent layer has ``return_sequences=False`` and
whose input length is fixed (Keras 2's ``Embedding(input_length=T)``, ``Input((T,))``) was
trained to read exactly T tokens, pre-padded with 0 — the seed article's n-gram program. It is
generated from as the article does: each new token comes from the last T tokens, pre-padded
with 0 (``pad_sequences``' defaults), run through the sequence kernels. The cost per token is
then that of a T-step window (constant in the prompt's length), and greedy output equals the
argmax of ``model.predict`` on the padded growing sequence. Every other model (variable input
length, or ``return_sequences=True``) is stepped: greedy output equals the argmax of
``model.predict`` on the whole growing sequence.

Shapes use DESIGN's letters: B prompts, P prompt length, V vocabulary (the head's output size),
H hidden units.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from rnnkit import _random, backend
from rnnkit.layers.base import InputLayer, Layer
from rnnkit.layers.core import Activation, Dense, Dropout, Embedding, TimeDistributed
from rnnkit.layers.recurrent import GRU, LSTM, Recurrent, SimpleRNN, kernel_masking

if TYPE_CHECKING:
    from rnnkit.models import Model

__all__ = ["Decoder", "generate", "generate_text"]

_PASSTHROUGH = (InputLayer, Dropout)
_HEAD = (Dense, TimeDistributed, Activation)


def _pack(ops: Any, layer: Recurrent) -> Any:
    """The layer's weights packed once for its step kernel."""
    weights = layer._torch_weights()
    if isinstance(layer, LSTM):
        return ops.pack_lstm(*weights)
    if isinstance(layer, GRU):
        return ops.pack_gru(*weights, reset_after=layer.reset_after)
    return ops.pack_rnn(*weights, activation=layer.activation)


def _step(
    ops: Any, layer: Recurrent, x: np.ndarray, states: list[np.ndarray], packed: Any
) -> None:
    """One step of ``layer`` for every row, writing the new state into ``states`` in place."""
    if isinstance(layer, LSTM):
        ops.lstm_step(x, states[0], states[1], packed, out=(states[0], states[1]))
    elif isinstance(layer, GRU):
        ops.gru_step(x, states[0], packed, out=states[0])
    else:
        ops.rnn_step(x, states[0], packed, out=states[0])


class Decoder:
    """Next-token logits of a recurrent model, one token at a time (what :func:`generate` uses).

    ``start(prompt_ids)`` runs (B, P) prompts through the sequence kernels and returns the
    logits (B, V) of the token after them; each ``step(ids)`` feeds (B,) new tokens with the
    step kernels and returns the next logits. Fixed-window models (see the module docstring)
    re-run their window instead of stepping. Logits are float64.

    Raises:
        ValueError: the model is not of a supported form, or is not built (the message names
            the layer that does not fit).
    """

    def __init__(self, model: Model) -> None:
        layers = _chain(model)
        self.embedding: Embedding | None = None
        self.recurrent: list[Recurrent] = []
        self.head: list[Dense | TimeDistributed | Activation] = []
        for layer in layers:
            if isinstance(layer, _PASSTHROUGH):
                continue
            if not layer.built:
                raise ValueError(f"[generate] layer {layer.name!r} is not built: train the model")
            if isinstance(layer, Embedding) and not self.recurrent and self.embedding is None:
                self.embedding = layer
            elif isinstance(layer, (SimpleRNN, LSTM, GRU)) and not self.head:
                if layer.go_backwards:
                    raise ValueError(
                        f"[generate] {layer.name!r} has go_backwards=True: a model that reads "
                        "its input backwards cannot be stepped forward"
                    )
                if self.recurrent and not self.recurrent[-1].return_sequences:
                    raise ValueError(
                        f"[generate] {self.recurrent[-1].name!r} feeds another recurrent layer "
                        "without return_sequences=True"
                    )
                self.recurrent.append(layer)
            elif isinstance(layer, _HEAD) and self.recurrent:
                self.head.append(layer)
            else:
                raise ValueError(
                    f"[generate] cannot generate through layer {layer.name!r} "
                    f"({type(layer).__name__}): supported models are [Embedding] → SimpleRNN/"
                    "LSTM/GRU layers → Dense/TimeDistributed/Activation head"
                )
        if not self.recurrent or not self.head:
            raise ValueError("[generate] the model needs a recurrent layer and a Dense head")
        last = self.head[-1]
        activation = getattr(last, "activation", None)
        activation_name = "linear" if activation is None else activation.name
        if activation_name not in ("softmax", "linear"):
            raise ValueError(
                f"[generate] the last layer {last.name!r} has activation {activation_name!r}; "
                "generation needs softmax probabilities or linear logits"
            )
        self._softmax_head = activation_name == "softmax"
        self.sequence_head = self.recurrent[-1].return_sequences
        length = _input_length(model)
        self.window = None if self.sequence_head else length
        self.input_dim = (
            self.embedding.input_dim
            if self.embedding is not None
            else self.recurrent[0].kernel.shape[0]
        )
        self.mask_zero = self.embedding is not None and self.embedding.mask_zero
        self._ops = backend.ops()
        self._packed = (
            [_pack(self._ops, layer) for layer in self.recurrent] if self.window is None else None
        )
        self._states: list[list[np.ndarray]] = []
        self._history: np.ndarray | None = None

    # ---- pieces ------------------------------------------------------------------------------

    def _check_ids(self, ids: np.ndarray) -> None:
        if ids.size and (ids.min() < 0 or ids.max() >= self.input_dim):
            bad = ids[(ids < 0) | (ids >= self.input_dim)].flat[0]
            raise ValueError(
                f"[generate] token id {bad} is out of range: the model reads ids in "
                f"[0, {self.input_dim - 1}]"
            )

    def _vectors(self, ids: np.ndarray) -> np.ndarray:
        """Ids (...) → input vectors (..., E): embedding rows, or one-hot without an Embedding."""
        if self.embedding is not None:
            rows: np.ndarray = self.embedding.embeddings[ids]
            return rows
        out = np.zeros((*ids.shape, self.input_dim), backend.floatx())
        np.put_along_axis(out, ids[..., None], 1.0, axis=-1)
        return out

    def _logits(self, h: np.ndarray) -> np.ndarray:
        """The head on the last recurrent layer's output h (B, H) → logits (B, V) float64."""
        x = h[:, None, :] if self.sequence_head else h
        cache = None
        for layer in self.head:
            outputs, cache = layer.forward([x], False, [None])
            x = outputs[0]
        logits = self.head[-1].logits_from_cache(cache) if self._softmax_head else x
        return np.asarray(logits, np.float64).reshape(h.shape[0], -1)

    def _run_sequence(self, ids: np.ndarray) -> tuple[list[list[np.ndarray]], np.ndarray]:
        """(B, T) ids through the sequence kernels → (each layer's final states, logits)."""
        x = self._vectors(ids).transpose(1, 0, 2)  # (T, B, E)
        lengths, mask = kernel_masking(ids != 0, ids.shape[1]) if self.mask_zero else (None, None)
        all_states = []
        for layer in self.recurrent:
            init = [None] * layer.state_count
            y, states, _ = layer._kernel_forward(
                self._ops, x, init, layer._torch_weights(), lengths=lengths, mask=mask
            )
            all_states.append([np.array(s, order="C") for s in states])  # own, writable
            x = y
        return all_states, self._logits(all_states[-1][0])

    # ---- public ------------------------------------------------------------------------------

    def start(self, prompt_ids: Any) -> np.ndarray:
        """Read (B, P) prompts (P >= 1) and return the logits (B, V) of the next token."""
        ids = np.asarray(prompt_ids)
        if ids.ndim == 2 and ids.shape[1] == 0:
            raise ValueError("[generate] the prompt is empty: give at least one token")
        if ids.ndim != 2 or ids.dtype.kind not in "iu":
            raise ValueError(
                f"[generate] prompt_ids must be a (B, P) integer array, got shape {ids.shape} "
                f"dtype {ids.dtype}"
            )
        ids = ids.astype(np.int64)
        self._check_ids(ids)
        if self.window is not None:
            self._history = ids
            return self._window_logits()
        self._states, logits = self._run_sequence(ids)
        return logits

    def step(self, ids: Any) -> np.ndarray:
        """Feed (B,) next tokens (one per prompt) and return the logits (B, V) after them."""
        ids = np.asarray(ids, np.int64).reshape(-1)
        self._check_ids(ids)
        if self.window is not None:
            if self._history is None:
                raise ValueError("[generate] call start(prompt_ids) before step(ids)")
            self._history = np.concatenate([self._history, ids[:, None]], axis=1)
            return self._window_logits()
        if not self._states:
            raise ValueError("[generate] call start(prompt_ids) before step(ids)")
        assert self._packed is not None  # packed whenever there is no window
        keep = ids == 0 if self.mask_zero else None
        x = self._vectors(ids)
        for layer, states, packed in zip(self.recurrent, self._states, self._packed):
            before = [s[keep] for s in states] if keep is not None and keep.any() else None
            _step(self._ops, layer, x, states, packed)
            if before is not None:  # a masked step (id 0 under mask_zero) keeps the state
                for s, old in zip(states, before):
                    s[keep] = old
            x = states[0]
        return self._logits(self._states[-1][0])

    def _window_logits(self) -> np.ndarray:
        assert self._history is not None and self.window is not None  # start() ran, windowed
        history = self._history[:, -self.window :]
        pad = self.window - history.shape[1]
        if pad:
            history = np.concatenate(
                [np.zeros((history.shape[0], pad), np.int64), history], axis=1
            )
        return self._run_sequence(history)[1]


def _chain(model: Any) -> list[Layer]:
    """The model's layers in order, refusing graphs that are not a single chain."""
    if not hasattr(model, "layers"):
        raise TypeError(f"[generate] model must be an rnnkit Model, got {type(model).__name__}")
    if hasattr(model, "_ensure_graph"):
        try:
            model._ensure_graph()
        except ValueError as exc:
            raise ValueError(f"[generate] the model is not built: {exc}") from None
    inputs, outputs = getattr(model, "inputs", []), getattr(model, "outputs", [])
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError("[generate] the model must have one input and one output")
    return list(model.layers)


def _input_length(model: Any) -> int | None:
    shape = model.inputs[0].shape
    return shape[1] if len(shape) >= 2 and isinstance(shape[1], int) else None


def _choose(
    logits: np.ndarray,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """One token per row from logits (B, V): argmax at temperature 0, else a draw from the
    softmax of logits / temperature restricted to the top_k tokens and the top_p nucleus."""
    if temperature == 0:
        greedy: np.ndarray = np.argmax(logits, axis=1)
        return greedy
    z = logits / temperature
    if top_k is not None and top_k < z.shape[1]:
        kth = -np.partition(-z, top_k - 1, axis=1)[:, top_k - 1 : top_k]
        z = np.where(z >= kth, z, -np.inf)
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    if top_p is not None and top_p < 1.0:
        order = np.argsort(-p, axis=1, kind="stable")
        sorted_p = np.take_along_axis(p, order, axis=1)
        before = np.cumsum(sorted_p, axis=1) - sorted_p  # mass of the more likely tokens
        keep_sorted = before < top_p  # the smallest prefix reaching top_p (never empty)
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=1)
        p = np.where(keep, p, 0.0)
    cdf = np.cumsum(p, axis=1)
    u = (1.0 - rng.random(len(p)))[:, None] * cdf[:, -1:]  # in (0, total]
    drawn: np.ndarray = np.minimum((cdf < u).sum(axis=1), p.shape[1] - 1)
    return drawn


def _check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    if not np.isfinite(temperature) or temperature < 0:
        raise ValueError(f"[generate] temperature must be >= 0, got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or int(top_k) != top_k or top_k < 1):
        raise ValueError(f"[generate] top_k must be a positive integer or None, got {top_k!r}")
    if top_p is not None and not 0.0 < float(top_p) <= 1.0:
        raise ValueError(f"[generate] top_p must be in (0, 1] or None, got {top_p!r}")


def generate(
    model: Model,
    prompt_ids: Any,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    stop_ids: Iterable[int] | None = None,
) -> np.ndarray:
    """Continue token-id prompts with ``length`` new tokens from a trained model.

    Args:
        model: a trained rnnkit model of the form the module docstring lists.
        prompt_ids: one prompt (P,) or a batch of equal-length prompts (B, P) of token ids.
        length: how many tokens to generate (>= 0).
        temperature: 0 is greedy (argmax); otherwise the logits are divided by it before the
            softmax (below 1: more conservative, above 1: more diverse).
        top_k: sample only among the k most likely tokens.
        top_p: sample only in the nucleus: the most likely tokens whose probabilities sum to
            at least ``top_p`` (Holtzman et al. 2019).
        seed: seeds the sampler; None draws from rnnkit's global generator (which
            :func:`rnnkit.utils.set_random_seed` seeds). The same seed gives the same tokens.
        stop_ids: a prompt's generation ends after it emits one of these ids.

    Returns:
        The new ids only, int64: (length,) for one prompt, (B, length) for a batch. With
        ``stop_ids``, positions after a prompt's stop id are -1 and the array is cut after the
        last prompt stops.

    Raises:
        ValueError: an unsupported model, bad prompt or ids out of the model's range, bad
            sampling arguments.
    """
    return _generate(model, prompt_ids, length, temperature, top_k, top_p, seed, stop_ids)


def _generate(
    model: Model,
    prompt_ids: Any,
    length: int,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    seed: int | None,
    stop_ids: Iterable[int] | None,
    allowed_ids: Iterable[int] | None = None,
) -> np.ndarray:
    """:func:`generate`, choosing only among ``allowed_ids`` (the ids a tokenizer can write)."""
    _check_sampling(float(temperature), top_k, top_p)
    if isinstance(length, bool) or int(length) != length or length < 0:
        raise ValueError(f"[generate] length must be an integer >= 0, got {length!r}")
    try:
        ids = np.asarray(prompt_ids)
    except ValueError:  # ragged nested lists
        ids = np.empty(0, object)
    if ids.dtype == object:
        raise ValueError("[generate] prompt_ids must be one prompt (P,) or equal-length (B, P)")
    single = ids.ndim == 1
    if single:
        ids = ids[None, :]
    rng = np.random.default_rng(seed) if seed is not None else _random.generator()
    stops = np.array(sorted({int(s) for s in stop_ids or ()}), np.int64)
    decoder = Decoder(model)
    logits = decoder.start(ids)
    batch = logits.shape[0]
    banned = None
    if allowed_ids is not None:
        banned = np.ones(logits.shape[1], bool)
        banned[[i for i in allowed_ids if 0 <= i < logits.shape[1]]] = False
    out = np.full((batch, int(length)), -1, np.int64)
    running = np.ones(batch, bool)
    produced = 0
    for i in range(int(length)):
        if banned is not None:
            logits[:, banned] = -np.inf
        token = _choose(logits, float(temperature), top_k, top_p, rng)
        out[running, i] = token[running]
        produced = i + 1
        if stops.size:
            running &= ~np.isin(token, stops)
            if not running.any():
                break
        if i + 1 < length:
            logits = decoder.step(token)  # finished rows keep stepping; their tokens are unused
    out = out[:, :produced] if stops.size else out
    return out[0] if single else out


def generate_text(
    model: Model,
    tokenizer: Any,
    seed_text: str,
    n: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    stop_ids: Iterable[int] | None = None,
) -> str:
    """``seed_text`` followed by ``n`` generated tokens, through a fitted Tokenizer.

    Word-level tokenizers join the words with spaces (the seed article's output, e.g.
    ``"neural networks are inspired by the brain"``); ``char_level=True`` joins without
    separator. Only ids the tokenizer has a word for are generated (never 0, the padding id):
    the others' probabilities are set to zero. The other arguments are :func:`generate`'s
    (``temperature=0`` is the article's argmax generation).

    Raises:
        ValueError: none of the seed text's tokens is in the tokenizer's vocabulary (and the
            tokenizer has no ``oov_token``), or :func:`generate`'s errors.
    """
    if not isinstance(seed_text, str):
        raise TypeError(f"[generate_text] seed_text must be a str, got {type(seed_text).__name__}")
    prompt = tokenizer.texts_to_sequences([seed_text])[0]
    if not prompt:
        raise ValueError(
            f"[generate_text] none of the tokens of {seed_text!r} is in the tokenizer's "
            "vocabulary"
        )
    new = _generate(
        model, prompt, n, temperature, top_k, top_p, seed, stop_ids, list(tokenizer.index_word)
    )
    words = [tokenizer.index_word[int(i)] for i in new if i >= 0]
    if tokenizer.char_level:
        return seed_text + "".join(words)
    return " ".join([seed_text, *words]) if words else seed_text
