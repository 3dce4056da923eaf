"""Bad input to rnnkit.ops, and valid-but-awkward input (DESIGN.md section 9).

Bad input: a table of (id, call, exception type, substrings the message must contain). Every
message names the operation in brackets and the argument. Valid-but-awkward input (strided,
Fortran-ordered, read-only, other dtypes, nested lists, empty shapes) must give bitwise the
result of the clean float32 C-contiguous call, since ops converts it once to exactly that.
NaN propagates; saturating inputs give exact 0 / +-1 and never NaN.
"""

from __future__ import annotations

import numpy as np
import pytest
import rnnkit
from rnnkit import _core, ops
from rnnkit import reference as ref

FAMILIES = ("rnn", "lstm", "gru")
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
T, B, I, H = 3, 2, 4, 5


def clean_args(family, T=T, B=B, I=I, H=H, seed=0):
    """Valid forward keyword arguments (float32, C-contiguous). Values are multiples of 1/64
    in [-1, 1] (x: small integers) so that float16 and integer copies hold them exactly."""
    rng = np.random.default_rng(seed)
    G = GATES[family]

    def arr(shape, scale=1.0):
        return (np.round(rng.uniform(-1, 1, shape) * 64) / 64 * scale).astype(np.float32)

    args = {
        "x": rng.integers(-3, 4, (T, B, I)).astype(np.float32),
        "h0": arr((B, H)),
        "w_ih": arr((G * H, I), 0.25),
        "w_hh": arr((G * H, H), 0.5),
        "b_ih": arr((G * H,)),
        "b_hh": arr((G * H,)),
    }
    if family == "lstm":
        args["c0"] = arr((B, H))
    return args


def forward(family, **args):
    return getattr(ops, f"{family}_forward")(**args)


def backward(family, dy, d_final, saved, **kw):
    return getattr(ops, f"{family}_backward")(dy, d_final, saved, **kw)


def saved_of(family, module=ops, **args):
    args = {**clean_args(family), **args}
    return getattr(module, f"{family}_forward")(**args, training=True)[2]


def packed_of(family, module=ops, **args):
    a = clean_args(family, **args)
    return getattr(module, f"pack_{family}")(a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"])


def z(*shape, dtype=np.float32):
    return np.zeros(shape, dtype)


# ----------------------------------------------------------------------------------------------
# Call builders: each returns a zero-argument callable making one (bad) call.


def fwd(family, **changes):
    return lambda: forward(family, **{**clean_args(family), **changes})


def bwd(family, dy="ok", d_final="ok", saved="ok", **kw):
    def call():
        s = saved_of(family) if isinstance(saved, str) else saved()
        d = dy if not isinstance(dy, str) else z(T, B, H)
        if isinstance(d_final, str):
            df = (z(B, H), z(B, H)) if family == "lstm" else z(B, H)
        else:
            df = d_final
        return backward(family, d, df, s, **kw)

    return call


def step(family, x_t="ok", h="ok", c="ok", weights="ok", out=None):
    def call():
        w = packed_of(family) if isinstance(weights, str) else weights()
        args = [z(B, I) if isinstance(x_t, str) else x_t, z(B, H) if isinstance(h, str) else h]
        if family == "lstm":
            args.append(z(B, H) if isinstance(c, str) else c)
        o = out() if callable(out) else out
        return getattr(ops, f"{family}_step")(*args, w, out=o)

    return call


def pack(family, **changes):
    def call():
        a = {**clean_args(family), **changes}
        return getattr(ops, f"pack_{family}")(a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"])

    return call


def overlapping_x_and_out():
    """x_t (B, I) and out (B, H), both float32 C-contiguous views of one buffer."""
    buf = z(B * max(I, H) * 2)
    return buf[: B * I].reshape(B, I), buf[: B * H].reshape(B, H)


def _out_overlapping_x(family):
    def call():
        x_t, out = overlapping_x_and_out()
        o = (out, z(B, H)) if family == "lstm" else out
        return getattr(ops, f"{family}_step")(
            x_t, z(B, H), *([z(B, H)] * (family == "lstm")), packed_of(family), out=o
        )

    return call


def _lstm_out_swapped():
    h, c = z(B, H), z(B, H)
    return lambda: ops.lstm_step(z(B, I), h, c, packed_of("lstm"), out=(c, h))


def _lstm_out_same_buffer():
    buf = z(B, H)
    return lambda: ops.lstm_step(z(B, I), z(B, H), z(B, H), packed_of("lstm"), out=(buf, buf))


HUGE = (10**7, 10**5, 1)  # 10^12 elements: 4 TB of float32, a free broadcast view


def huge(shape, dtype=np.float32):
    return np.broadcast_to(np.zeros((1,) * len(shape), dtype), shape)


# ----------------------------------------------------------------------------------------------
# The bad-input table


def _row(id_, call, exc, *subs):
    return pytest.param(call, exc, subs, id=id_)


def _forward_rows(family):
    op = f"[{family}_forward]"
    G = GATES[family]
    rows = [
        _row("x-rank2", fwd(family, x=z(T, B)), ValueError, op, "x has shape", "(3, 2)"),
        _row("x-rank4", fwd(family, x=z(T, B, I, 1)), ValueError, op, "x has shape"),
        _row(
            "x-I-mismatch", fwd(family, x=z(T, B, I + 1)), ValueError, op, "w_ih", f"({G * H}, {I})"
        ),
        _row("x-None", fwd(family, x=None), TypeError, op, "x is None"),
        _row("w_ih-None", fwd(family, w_ih=None), TypeError, op, "w_ih"),
        _row("w_hh-None", fwd(family, w_hh=None), TypeError, op, "w_hh"),
        _row(
            "x-complex",
            fwd(family, x=z(T, B, I, dtype=np.complex64)),
            TypeError,
            op,
            "x",
            "complex",
        ),
        _row("x-object", fwd(family, x=np.empty((T, B, I), object)), TypeError, op, "x", "object"),
        _row("x-str", fwd(family, x=np.full((T, B, I), "a")), TypeError, op, "x"),
        _row("x-bool", fwd(family, x=np.ones((T, B, I), bool)), TypeError, op, "x", "bool"),
        _row(
            "x-ragged-list", fwd(family, x=[[[1.0], [2.0, 3.0]]]), (TypeError, ValueError), op, "x"
        ),
        _row("h0-shape", fwd(family, h0=z(B, H + 1)), ValueError, op, "h0", "(2, 6)", "(B, H)"),
        _row("h0-batch", fwd(family, h0=z(B + 1, H)), ValueError, op, "h0", "(3, 5)"),
        _row("h0-rank1", fwd(family, h0=z(B * H)), ValueError, op, "h0"),
        _row("h0-complex", fwd(family, h0=z(B, H, dtype=complex)), TypeError, op, "h0"),
        _row("w_ih-rank1", fwd(family, w_ih=z(G * H * I)), ValueError, op, "w_ih"),
        _row(
            "w_ih-rows",
            fwd(family, w_ih=z(G * H + 1, I)),
            ValueError,
            op,
            "w_ih",
            f"({G * H + 1}, {I})",
        ),
        _row("w_hh-cols", fwd(family, w_hh=z(G * H, H + 1)), ValueError, op, "w_hh"),
        _row("w_hh-rank3", fwd(family, w_hh=z(G * H, H, 1)), ValueError, op, "w_hh"),
        _row("w_hh-rows", fwd(family, w_hh=z(G * H + 1, H)), ValueError, op, "w_hh"),
        _row("hidden-mismatch", fwd(family, w_hh=z(G * (H + 1), H + 1)), ValueError, op, "w_ih"),
        _row("w_hh-str", fwd(family, w_hh=np.full((G * H, H), "1")), TypeError, op, "w_hh"),
        _row("b_ih-shape", fwd(family, b_ih=z(G * H + 1)), ValueError, op, "b_ih"),
        _row("b_ih-rank2", fwd(family, b_ih=z(1, G * H)), ValueError, op, "b_ih"),
        _row("b_hh-shape", fwd(family, b_hh=z(H - 1)), ValueError, op, "b_hh"),
        _row("b_hh-object", fwd(family, b_hh=np.array([None] * G * H)), TypeError, op, "b_hh"),
        _row("lengths-too-long", fwd(family, lengths=[T + 1, 1]), ValueError, op, "lengths"),
        _row("lengths-negative", fwd(family, lengths=[1, -1]), ValueError, op, "lengths"),
        _row("lengths-count", fwd(family, lengths=[1, 1, 1]), ValueError, op, "lengths", "(B,)"),
        _row("lengths-rank2", fwd(family, lengths=[[1, 1]]), ValueError, op, "lengths"),
        _row(
            "lengths-float",
            fwd(family, lengths=np.array([1.0, 2.0])),
            TypeError,
            op,
            "lengths",
            "float",
        ),
        _row(
            "mask-shape", fwd(family, mask=np.ones((B, T), bool)), ValueError, op, "mask", "(T, B)"
        ),
        _row("mask-rank1", fwd(family, mask=np.ones(T, bool)), ValueError, op, "mask"),
        _row("mask-float", fwd(family, mask=np.ones((T, B))), TypeError, op, "mask"),
        _row(
            "lengths-and-mask",
            fwd(family, lengths=[1, 1], mask=np.ones((T, B), bool)),
            ValueError,
            op,
            "lengths",
            "mask",
        ),
    ]
    if family == "lstm":
        rows += [
            _row("c0-shape", fwd(family, c0=z(B, H - 1)), ValueError, op, "c0", "(B, H)"),
            _row("c0-batch", fwd(family, c0=z(B + 1, H)), ValueError, op, "c0"),
            _row("c0-complex", fwd(family, c0=z(B, H, dtype=complex)), TypeError, op, "c0"),
        ]
    if family == "rnn":
        rows.append(
            _row(
                "activation-unknown",
                fwd(family, activation="sigmoid"),
                ValueError,
                op,
                "activation",
                "sigmoid",
            )
        )
    return [pytest.param(*r.values, id=f"{family}_forward-{r.id}") for r in rows]


def _backward_rows(family):
    op = f"[{family}_backward]"
    other = {"rnn": "lstm", "lstm": "gru", "gru": "rnn"}[family]
    rows = [
        _row("dy-shape", bwd(family, dy=z(T, B, H + 1)), ValueError, op, "dy", "(T, B, H)"),
        _row("dy-rank2", bwd(family, dy=z(B, H)), ValueError, op, "dy"),
        _row("dy-T", bwd(family, dy=z(T + 1, B, H)), ValueError, op, "dy"),
        _row("dy-complex", bwd(family, dy=z(T, B, H, dtype=complex)), TypeError, op, "dy"),
        _row(
            "saved-other-cell",
            bwd(family, saved=lambda: saved_of(other)),
            TypeError,
            op,
            "saved",
            other,
        ),
        _row("saved-None", bwd(family, saved=lambda: None), TypeError, op, "saved"),
        _row(
            "saved-reference",
            bwd(family, saved=lambda: saved_of(family, ref)),
            TypeError,
            op,
            "saved",
        ),
        _row("saved-dict", bwd(family, saved=dict), TypeError, op, "saved"),
    ]
    if family == "lstm":
        rows += [
            _row(
                "dh_n-shape",
                bwd(family, d_final=(z(B, H + 1), None)),
                ValueError,
                op,
                "dh_n",
                "(B, H)",
            ),
            _row(
                "dc_n-shape",
                bwd(family, d_final=(None, z(B + 1, H))),
                ValueError,
                op,
                "dc_n",
                "(B, H)",
            ),
            _row(
                "dc_n-str", bwd(family, d_final=(None, np.full((B, H), "x"))), TypeError, op, "dc_n"
            ),
            _row("dstates-not-pair", bwd(family, d_final=z(B, H)), TypeError, op),
            _row("dstates-triple", bwd(family, d_final=(None, None, None)), ValueError, op),
        ]
    else:
        rows += [
            _row("dh_n-shape", bwd(family, d_final=z(B, H + 1)), ValueError, op, "dh_n", "(B, H)"),
            _row("dh_n-rank3", bwd(family, d_final=z(1, B, H)), ValueError, op, "dh_n"),
            _row(
                "dh_n-object", bwd(family, d_final=np.empty((B, H), object)), TypeError, op, "dh_n"
            ),
        ]
    return [pytest.param(*r.values, id=f"{family}_backward-{r.id}") for r in rows]


def _step_rows(family):
    op = f"[{family}_step]"
    other = {"rnn": "gru", "lstm": "rnn", "gru": "lstm"}[family]
    lstm = family == "lstm"

    def out_of(*arrays):
        return (lambda: tuple(arrays)) if lstm else (lambda: arrays[0])

    name = "out[0]" if lstm else "out"
    good = z(B, H)
    rows = [
        _row(
            "weights-other-cell",
            step(family, weights=lambda: packed_of(other)),
            TypeError,
            op,
            "weights",
            f"pack_{other}",
        ),
        _row("weights-None", step(family, weights=lambda: None), TypeError, op, "weights"),
        _row(
            "weights-reference",
            step(family, weights=lambda: packed_of(family, ref)),
            TypeError,
            op,
            "weights",
        ),
        _row(
            "weights-raw-array",
            step(family, weights=lambda: z(GATES[family] * H, H)),
            TypeError,
            op,
            "weights",
        ),
        _row("x_t-I", step(family, x_t=z(B, I + 1)), ValueError, op, "x_t", "(2, 5)"),
        _row("x_t-rank3", step(family, x_t=z(1, B, I)), ValueError, op, "x_t"),
        _row("x_t-None", step(family, x_t=None), TypeError, op, "x_t"),
        _row("x_t-complex", step(family, x_t=z(B, I, dtype=complex)), TypeError, op, "x_t"),
        _row("h-shape", step(family, h=z(B, H + 1)), ValueError, op, "h", "(B, H)"),
        _row(
            "out-float64",
            step(family, out=out_of(z(B, H, dtype=np.float64), good)),
            TypeError,
            op,
            name,
            "float32",
        ),
        _row(
            "out-shape", step(family, out=out_of(z(B, H + 1), good)), ValueError, op, name, "(B, H)"
        ),
        _row(
            "out-non-contiguous",
            step(family, out=out_of(z(B, 2 * H)[:, ::2], good)),
            ValueError,
            op,
            name,
            "contiguous",
        ),
        _row(
            "out-fortran",
            step(family, out=out_of(np.asfortranarray(z(B, H)), good)),
            ValueError,
            op,
            name,
            "contiguous",
        ),
        _row("out-list", step(family, out=out_of([[0.0] * H] * B, good)), TypeError, op, name),
        _row("out-overlaps-x_t", _out_overlapping_x(family), ValueError, op, "out", "overlap"),
    ]
    if lstm:
        rows += [
            _row("c-shape", step(family, c=z(B + 1, H)), ValueError, op, "c", "(B, H)"),
            _row("out-not-tuple", step(family, out=lambda: z(B, H)), TypeError, op, "out"),
            _row("out-triple", step(family, out=lambda: (z(B, H),) * 3), TypeError, op, "out"),
            _row(
                "out1-float16",
                step(family, out=lambda: (z(B, H), z(B, H, dtype=np.float16))),
                TypeError,
                op,
                "out[1]",
                "float32",
            ),
            _row("out-swapped-states", _lstm_out_swapped(), ValueError, op, "out", "overlap"),
            _row("out-same-buffer", _lstm_out_same_buffer(), ValueError, op, "out", "overlap"),
        ]
    return [pytest.param(*r.values, id=f"{family}_step-{r.id}") for r in rows]


def _read_only_rows():
    """out read-only: ValueError naming out (built here: the array must be frozen)."""
    rows = []
    for family in FAMILIES:
        ro = z(B, H)
        ro.flags.writeable = False
        o = (ro, z(B, H)) if family == "lstm" else ro
        name = "out[0]" if family == "lstm" else "out"
        rows.append(
            pytest.param(
                step(family, out=lambda o=o: o),
                ValueError,
                (f"[{family}_step]", name, "read-only"),
                id=f"{family}_step-out-read-only",
            )
        )
    return rows


def _other_rows():
    rows = [
        _row(
            "pack_rnn-activation",
            lambda: ops.pack_rnn(z(H, I), z(H, H), activation="gelu"),
            ValueError,
            "[pack_rnn]",
            "activation",
            "gelu",
        ),
        _row(
            "pack_lstm-w_hh-shape",
            pack("lstm", w_hh=z(4 * H, H - 1)),
            ValueError,
            "[pack_lstm]",
            "w_hh",
        ),
        _row("pack_gru-w_ih-None", pack("gru", w_ih=None), TypeError, "[pack_gru]", "w_ih"),
        _row("pack_rnn-b_ih-shape", pack("rnn", b_ih=z(H + 2)), ValueError, "[pack_rnn]", "b_ih"),
        _row(
            "set_num_threads-0", lambda: rnnkit.set_num_threads(0), ValueError, "[set_num_threads]"
        ),
        _row(
            "set_num_threads-neg",
            lambda: rnnkit.set_num_threads(-1),
            ValueError,
            "[set_num_threads]",
        ),
        _row(
            "set_num_threads-huge",
            lambda: rnnkit.set_num_threads(10**20),
            ValueError,
            "[set_num_threads]",
        ),
        _row(
            "set_num_threads-str",
            lambda: rnnkit.set_num_threads("2"),
            TypeError,
            "[set_num_threads]",
        ),
        _row(
            "set_num_threads-float",
            lambda: rnnkit.set_num_threads(2.0),
            TypeError,
            "[set_num_threads]",
        ),
        _row(
            "set_num_threads-None",
            lambda: rnnkit.set_num_threads(None),
            TypeError,
            "[set_num_threads]",
        ),
        # Sizes that cannot be allocated: MemoryError before anything is allocated.
        _row(
            "memory-rnn_forward",
            lambda: ops.rnn_forward(huge(HUGE), None, z(1, 1), z(1, 1), None, None),
            MemoryError,
            "[rnn_forward]",
        ),
        _row(
            "memory-lstm_forward-overflow",
            lambda: ops.lstm_forward(
                huge((2**30, 2**30, 1)), None, None, z(64, 1), z(64, 16), None, None
            ),
            MemoryError,
            "[lstm_forward]",
        ),
        _row(
            "memory-gru_forward-training",
            lambda: ops.gru_forward(huge(HUGE), None, z(3, 1), z(3, 1), None, None, training=True),
            MemoryError,
            "[gru_forward]",
        ),
        _row(
            "memory-lstm_forward-hidden",
            lambda: ops.lstm_forward(
                z(1, 1, 1), None, None, huge((4 * 10**6, 1)), huge((4 * 10**6, 10**6)), None, None
            ),
            MemoryError,
            "[lstm_forward]",
        ),
        _row(
            "memory-pack_lstm",
            lambda: ops.pack_lstm(huge((4 * 10**6, 1)), huge((4 * 10**6, 10**6))),
            MemoryError,
            "[pack_lstm]",
        ),
        _row(
            "memory-rnn_step",
            lambda: ops.rnn_step(huge((10**12, 1)), None, ops.pack_rnn(z(1, 1), z(1, 1))),
            MemoryError,
            "[rnn_step]",
        ),
    ]
    return [pytest.param(*r.values, id=r.id) for r in rows]


BAD_INPUT = [
    *(p for f in FAMILIES for p in _forward_rows(f)),
    *(p for f in FAMILIES for p in _backward_rows(f)),
    *(p for f in FAMILIES for p in _step_rows(f)),
    *_read_only_rows(),
    *_other_rows(),
]


@pytest.fixture
def keep_threads():
    n = rnnkit.get_num_threads()
    yield
    rnnkit.set_num_threads(n)


@pytest.mark.parametrize(("call", "exc", "substrings"), BAD_INPUT)
def test_bad_input_raises(call, exc, substrings, keep_threads):
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    for s in substrings:
        assert s in message, f"{s!r} not in the message: {message!r}"


def test_bad_input_table_covers_every_op():
    ids = " ".join(p.id for p in BAD_INPUT)
    for family in FAMILIES:
        for op in ("forward", "backward", "step"):
            assert f"{family}_{op}-" in ids
        assert f"pack_{family}" in ids


def test_failed_set_num_threads_keeps_setting(keep_threads):
    rnnkit.set_num_threads(1)
    for bad in (0, -1, "2"):
        with pytest.raises((TypeError, ValueError)):
            rnnkit.set_num_threads(bad)
        assert rnnkit.get_num_threads() == 1


@pytest.mark.skipif(len(_core.available_isas()) < 2, reason="this CPU has one SIMD path")
def test_weights_packed_for_another_isa():
    isas = _core.available_isas()
    previous = _core.get_isa()
    try:
        _core._set_isa(isas[0])
        packed = packed_of("gru")
        _core._set_isa(isas[1])
        with pytest.raises(ValueError, match=r"\[gru_step\].*weights"):
            ops.gru_step(z(B, I), None, packed)
    finally:
        _core._set_isa(previous)


def test_errors_leave_the_kernels_usable():
    """After a table's worth of errors the kernels still give the clean result."""
    a = clean_args("lstm")
    before = forward("lstm", **a)
    for bad in ({"x": z(T, B)}, {"h0": z(B + 1, H)}, {"lengths": [9, 9]}):
        with pytest.raises(ValueError):
            forward("lstm", **{**a, **bad})
    after = forward("lstm", **a)
    np.testing.assert_array_equal(before[0], after[0])


# ----------------------------------------------------------------------------------------------
# Valid but awkward input: bitwise the clean float32 result


def _strided(a):
    """The same values as a view with every stride doubled (and the last axis too)."""
    if a.ndim == 0:
        return a
    big = np.zeros(tuple(2 * n for n in a.shape), a.dtype)
    view = big[tuple(slice(None, None, 2) for _ in a.shape)]
    view[...] = a
    return view


def _reversed_view(a):
    """The same values through negative strides."""
    flipped = np.ascontiguousarray(a[::-1])
    return flipped[::-1]


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def _f16(a):
    out = a.astype(np.float16)
    assert np.array_equal(out.astype(np.float32), a), "clean_args values must fit float16"
    return out


AWKWARD = {
    "strided": _strided,
    "negative-strides": _reversed_view,
    "fortran": np.asfortranarray,
    "transposed-view": lambda a: np.ascontiguousarray(a.T).T,
    "read-only": _read_only,
    "float64": lambda a: a.astype(np.float64),
    "float16": _f16,
    "nested-lists": lambda a: a.tolist(),
    "mixed": None,  # a different transform per argument, below
}
MIXED = [
    _strided,
    np.asfortranarray,
    _read_only,
    lambda a: a.astype(np.float64),
    _f16,
    lambda a: a.tolist(),
    _reversed_view,
]

SHAPES = {"T3-B2": (3, 2), "T0": (0, 2), "B0": (3, 0)}


def _transform(name, args):
    out = {}
    for k, (key, value) in enumerate(args.items()):
        if not isinstance(value, np.ndarray):
            out[key] = value
        elif name == "mixed":
            out[key] = MIXED[k % len(MIXED)](value)
        else:
            out[key] = AWKWARD[name](value)
    return out


def _lists_lose_shape(name, shape):
    # An empty nested list has no shape to give back: (0, B, I) -> [] is not a valid x.
    return name in ("nested-lists", "mixed") and 0 in shape


def assert_same_tree(a, b, what=""):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same_tree(a[k], b[k], f"{what}[{k!r}]")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for k, (x, y) in enumerate(zip(a, b)):
            assert_same_tree(x, y, f"{what}[{k}]")
    elif a is None:
        assert b is None, what
    else:
        assert isinstance(a, np.ndarray) and a.dtype == np.float32, what
        assert a.shape == b.shape, what
        np.testing.assert_array_equal(a, b, err_msg=what)


AWKWARD_PARAMS = [
    pytest.param(family, name, shape, id=f"{family}-{name}-{shape_id}")
    for family in FAMILIES
    for name in AWKWARD
    for shape_id, shape in SHAPES.items()
    if not _lists_lose_shape(name, shape)
]


@pytest.mark.parametrize(("family", "name", "shape"), AWKWARD_PARAMS)
def test_awkward_forward_backward_same_as_clean(family, name, shape):
    Ts, Bs = shape
    args = clean_args(family, T=Ts, B=Bs, seed=3)
    rng = np.random.default_rng(4)
    dy = np.round(rng.uniform(-1, 1, (Ts, Bs, H)) * 64).astype(np.float32) / 64
    d_final = tuple(
        np.round(rng.uniform(-1, 1, (Bs, H)) * 64).astype(np.float32) / 64
        for _ in range(2 if family == "lstm" else 1)
    )
    lengths = np.maximum(Ts - np.arange(Bs), 0)  # full, T-1, ...

    y, final, saved = forward(family, **args, lengths=lengths, training=True)
    grads = backward(family, dy, d_final if family == "lstm" else d_final[0], saved)

    awk = _transform(name, args)
    awk_lengths = lengths.astype(np.int32).tolist() if name == "nested-lists" else lengths
    y2, final2, saved2 = forward(family, **awk, lengths=awk_lengths, training=True)
    d2 = _transform(name, {"dy": dy, **{f"d{k}": d for k, d in enumerate(d_final)}})
    d_final2 = tuple(v for k, v in d2.items() if k != "dy")
    grads2 = backward(family, d2["dy"], d_final2 if family == "lstm" else d_final2[0], saved2)
    assert_same_tree((y, final, grads), (y2, final2, grads2), f"{family} {name}")


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16, np.uint8, np.float64])
def test_integer_and_float64_x(dtype):
    args = clean_args("lstm", seed=5)
    args["x"] = np.abs(args["x"])  # uint8 too
    clean = forward("lstm", **args)
    got = forward("lstm", **{**args, "x": args["x"].astype(dtype)})
    assert_same_tree(clean[:2], got[:2])


@pytest.mark.parametrize("family", FAMILIES)
def test_awkward_lengths_and_mask(family):
    args = clean_args(family, seed=6)
    lengths = np.array([T, 1])
    mask = np.array([[1, 1], [0, 1], [1, 0]], bool)
    base_l = forward(family, **args, lengths=lengths)[:2]
    base_m = forward(family, **args, mask=mask)[:2]
    for ll in (
        lengths.tolist(),
        lengths.astype(np.uint8),
        lengths.astype(np.int32),
        _strided(lengths),
        _read_only(lengths),
    ):
        assert_same_tree(base_l, forward(family, **args, lengths=ll)[:2])
    for mm in (
        mask.tolist(),
        mask.astype(np.int8),
        np.asfortranarray(mask),
        _strided(mask),
        _read_only(mask),
    ):
        assert_same_tree(base_m, forward(family, **args, mask=mm)[:2])


@pytest.mark.parametrize("family", FAMILIES)
def test_empty_lengths_list_for_empty_batch(family):
    """lengths=[] is the (0,) integer array when B = 0, as in rnnkit.reference."""
    args = clean_args(family, B=0, seed=7)
    assert_same_tree(forward(family, **args)[:2], forward(family, **args, lengths=[])[:2])
    assert_same_tree(forward(family, **args)[:2], forward(family, **args, mask=[[], [], []])[:2])


@pytest.mark.parametrize("name", [n for n in AWKWARD if n != "mixed"])
@pytest.mark.parametrize("family", FAMILIES)
def test_awkward_step_and_pack_same_as_clean(family, name):
    args = clean_args(family, seed=8)
    weights = [args[k] for k in ("w_ih", "w_hh", "b_ih", "b_hh")]
    pack_fn = getattr(ops, f"pack_{family}")
    step_fn = getattr(ops, f"{family}_step")
    states = [args["h0"]] + ([args["c0"]] if family == "lstm" else [])
    x_t = args["x"][0]
    clean = step_fn(x_t, *states, pack_fn(*weights))
    f = AWKWARD[name]
    got = step_fn(f(x_t), *(f(s) for s in states), pack_fn(*(f(w) for w in weights)))
    assert_same_tree(clean, got, f"{family}_step {name}")


# ----------------------------------------------------------------------------------------------
# NaN propagates; saturation is exact


def _cell_call(family, option):
    kw = {}
    if family == "rnn":
        kw["activation"] = option
    elif family == "gru":
        kw["reset_after"] = option
    return kw


CELL_OPTIONS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", None), ("gru", True), ("gru", False)]
CELL_IDS = ["rnn_tanh", "rnn_relu", "lstm", "gru", "gru_reset_before"]


@pytest.mark.parametrize(("family", "option"), CELL_OPTIONS, ids=CELL_IDS)
def test_nan_in_x_propagates(family, option, isa):
    args = clean_args(family, T=4, B=3, I=6, H=19, seed=9)
    args["x"][1, 0, 2] = np.nan
    kw = _cell_call(family, option)
    y, final, saved = forward(family, **args, **kw, training=True)
    clean_x = args["x"].copy()
    clean_x[1, 0, 2] = 0
    y_clean = forward(family, **{**args, "x": clean_x}, **kw)[0]
    assert np.all(np.isnan(y[1:, 0])), "NaN must reach every unit from step 1 on"
    np.testing.assert_array_equal(y[0], y_clean[0])  # before the NaN
    np.testing.assert_array_equal(y[:, 1:], y_clean[:, 1:])  # other sequences untouched
    h_n = final[0] if family == "lstm" else final
    assert np.all(np.isnan(h_n[0])) and np.all(np.isfinite(h_n[1:]))
    grads = backward(family, np.ones_like(y), None, saved)  # must not crash
    assert np.all(np.isfinite(grads["x"][:, 1:])), "other sequences' dx stay finite"
    assert np.all(np.isfinite(grads["h0"][1:]))


@pytest.mark.parametrize("scale", [1e3, 1e30])
@pytest.mark.parametrize(("family", "option"), CELL_OPTIONS, ids=CELL_IDS)
def test_saturating_inputs(family, option, scale, isa):
    """Every gate's pre-activation is +-scale (+- < 2): sigmoid gives exactly 0 or 1, tanh
    exactly +-1, never NaN."""
    Ts, Bs, Is, Hs = 7, 5, 3, 19
    G = GATES[family]
    rng = np.random.default_rng(10)
    x = rng.choice([-1.0, 1.0], (Ts, Bs, Is)).astype(np.float32)
    w_ih = np.zeros((G * Hs, Is), np.float32)
    w_ih[np.arange(G * Hs), rng.integers(0, Is, G * Hs)] = scale * rng.choice([-1, 1], G * Hs)
    w_hh = rng.uniform(-0.5, 0.5, (G * Hs, Hs)).astype(np.float32) / Hs
    b = rng.uniform(-0.5, 0.5, G * Hs).astype(np.float32)
    args = {"x": x, "h0": None, "w_ih": w_ih, "w_hh": w_hh, "b_ih": b, "b_hh": b}
    if family == "lstm":
        args["c0"] = None
    y, final, saved = forward(family, **args, **_cell_call(family, option), training=True)
    assert not np.any(np.isnan(y)), "saturated gates must not give NaN"
    if family == "rnn" and option == "tanh" or family == "gru":
        assert set(np.unique(y)) <= {-1.0, 0.0, 1.0}, np.unique(y)
    elif family == "rnn":  # relu: unbounded; finite, >= 0 and the reference's values
        assert np.all(np.isfinite(y)) and np.all(y >= 0)
        y_ref = ref.rnn_forward(
            **{k: v if v is None else v.astype(np.float64) for k, v in args.items()},
            activation="relu",
        )[0]
        assert np.all(np.abs(y - y_ref) <= 1e-4 * (1 + np.abs(y_ref)))
    else:  # lstm: c is a sum of +-1 (integers), h = o * tanh(c) with o in {0, 1}
        h_n, c_n = final
        np.testing.assert_array_equal(c_n, np.round(c_n))
        assert np.all((h_n == 0) | (np.abs(h_n - np.tanh(c_n)) <= 1e-6))
        allowed = np.tanh(np.arange(Ts + 1, dtype=np.float32))
        assert np.all(np.min(np.abs(np.abs(y)[..., None] - allowed), axis=-1) <= 1e-6)
    grads = backward(family, np.ones_like(y), None, saved)
    for key in ("x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"):
        assert not np.any(np.isnan(grads[key])), f"grads[{key!r}] has NaN"
