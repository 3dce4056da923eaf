"""rnnkit.sklearn: the scikit-learn estimators (docs/sklearn.md).

scikit-learn's own estimator checks run on every estimator; the checks that cannot apply to
sequence input are listed in EXPECTED_FAILED_CHECKS, with the same reasons as docs/sklearn.md.
"""

from __future__ import annotations

import pathlib
import pickle
import subprocess
import sys

import numpy as np
import pytest

from conftest import require

sklearn = require("sklearn")

import rnnkit
from rnnkit.sklearn import (
    SequenceClassifier,
    SequenceRegressor,
    SequenceTransformer,
)
from rnnkit.timeseries import windows
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "sklearn.md"

# Enough training for scikit-learn's "learns its toy problem" checks (check_regressors_train,
# check_classifiers_train), still well under a second per fit.
CHECK_PARAMS = {
    "units": 16,
    "epochs": 60,
    "batch_size": 16,
    "learning_rate": 0.02,
    "random_state": 0,
}

_WIDTH = (
    "its X has 1, 3 or 5 columns, which is not T * n_features_per_step for "
    "n_features_per_step=2: the reshape to (B, T, F) refuses it (never a silent guess)"
)
_COMMON = {
    name: _WIDTH
    for name in (
        "check_fit_score_takes_y",
        "check_dont_overwrite_parameters",
        "check_estimators_dtypes",
        "check_pipeline_consistency",
        "check_estimators_nan_inf",
        "check_estimators_pickle",
        "check_f_contiguous_array_estimator",
        "check_methods_sample_order_invariance",
        "check_methods_subset_invariance",
        "check_dict_unchanged",
        "check_fit2d_predict1d",
    )
}
_COMMON["check_fit2d_1feature"] = (
    "its X has one column, not a multiple of n_features_per_step=2; the ValueError names the "
    "width and n_features_per_step instead of the 'n_features=1' wording the check looks for"
)
EXPECTED_FAILED_CHECKS = {
    "SequenceRegressor": {**_COMMON, "check_supervised_y_2d": _WIDTH},
    "SequenceClassifier": {
        **_COMMON,
        "check_supervised_y_2d": _WIDTH,
        "check_classifiers_one_label": _WIDTH,
    },
    "SequenceTransformer": {
        **_COMMON,
        "check_transformer_data_not_an_array": _WIDTH,
        "check_transformer_general": _WIDTH,
        "check_transformer_preserve_dtypes": _WIDTH,
    },
}


def _expected_failed_checks(estimator):
    """With n_features_per_step=1 (2-D X is T steps of one feature) every check applies."""
    if estimator.n_features_per_step == 1:
        return {}
    return EXPECTED_FAILED_CHECKS[type(estimator).__name__]


_CHECKED = [
    cls(**CHECK_PARAMS, n_features_per_step=k)
    for k in (1, 2)
    for cls in (SequenceRegressor, SequenceClassifier, SequenceTransformer)
]


@parametrize_with_checks(_CHECKED, expected_failed_checks=_expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_expected_failures_are_documented():
    text = DOCS.read_text()
    for checks in EXPECTED_FAILED_CHECKS.values():
        for name in checks:
            assert f"`{name}`" in text, name


def test_import_rnnkit_does_not_import_sklearn():
    code = "import sys, rnnkit; assert 'sklearn' not in sys.modules; import rnnkit.sklearn"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- input handling --------------------------------------------------------------------------


def _sequences(n=60, steps=6, features=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, steps, features)).astype(np.float32)
    return x, x.sum(axis=(1, 2))


def test_3d_and_2d_inputs_agree():
    x, y = _sequences()
    fast = {"units": 4, "epochs": 2, "random_state": 3}
    a = SequenceRegressor(**fast).fit(x, y)
    b = SequenceRegressor(**fast, n_features_per_step=2).fit(x.reshape(len(x), -1), y)
    assert a.n_features_in_ == b.n_features_in_ == 12
    assert (a.n_steps_, a.n_features_per_step_) == (b.n_steps_, b.n_features_per_step_) == (6, 2)
    np.testing.assert_array_equal(a.predict(x), b.predict(x.reshape(len(x), -1)))
    np.testing.assert_array_equal(a.predict(x), b.predict(x))  # 3-D carries its own F


def test_bad_input_is_a_value_error():
    x, y = _sequences()
    reg = SequenceRegressor(units=4, epochs=1, random_state=0, n_features_per_step=5)
    with pytest.raises(ValueError, match="not a multiple of n_features_per_step=5"):
        reg.fit(x.reshape(len(x), -1), y)  # 12 columns
    reg.set_params(n_features_per_step=2).fit(x, y)
    bad = x.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError):
        reg.predict(bad)
    bad[0, 0, 0] = np.inf
    with pytest.raises(ValueError):
        SequenceRegressor(units=4, epochs=1).fit(bad, y)
    with pytest.raises(ValueError, match="fitted on"):
        reg.predict(x.reshape(len(x), 4, 3))  # same width, another (T, F)
    with pytest.raises(ValueError):
        reg.predict(x[:, :3])  # fewer steps
    with pytest.raises(ValueError):
        reg.predict(np.empty((0, 6, 2), np.float32))
    with pytest.raises(ValueError):
        reg.fit(np.empty((5, 0, 2), np.float32), y[:5])
    with pytest.raises(ValueError):
        reg.fit(x[..., None], y)  # 4-D
    with pytest.raises(ValueError):
        reg.fit(x, y[:-1])
    with pytest.raises(ValueError, match="requires y"):
        reg.fit(x, None)
    with pytest.raises(ValueError, match="cell"):
        SequenceRegressor(cell="transformer").fit(x, y)


def test_pandas_dataframe_as_2d_x():
    pd = require("pandas")
    x, y = _sequences(features=1)
    frame = pd.DataFrame(x[..., 0], columns=[f"t{i}" for i in range(6)])
    reg = SequenceRegressor(units=4, epochs=2, random_state=0).fit(frame, pd.Series(y))
    assert list(reg.feature_names_in_) == list(frame.columns)
    with pytest.warns(UserWarning, match="feature names"):  # scikit-learn's own warning
        plain = reg.predict(x)
    np.testing.assert_array_equal(reg.predict(frame), plain)


def test_params_clone_and_no_logic_in_init():
    reg = SequenceRegressor(cell="gru", units=7, optimizer="sgd", learning_rate=0.1)
    params = reg.get_params()
    assert params["cell"] == "gru" and params["units"] == 7 and params["build_fn"] is None
    twin = clone(reg)
    assert twin.get_params() == params and twin is not reg
    assert SequenceRegressor(units=-1).units == -1  # validated in fit, not __init__
    with pytest.raises(ValueError, match="units"):
        SequenceRegressor(units=-1).fit(*_sequences())


# ---- training, reproducibility, pickling -----------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_random_state_reproducible(cell):
    x, y = _sequences()
    params = {"cell": cell, "units": 4, "epochs": 3, "random_state": 11, "optimizer": "rmsprop"}
    a = SequenceRegressor(**params).fit(x, y).predict(x)
    b = SequenceRegressor(**params).fit(x, y).predict(x)
    np.testing.assert_array_equal(a, b)
    rs = SequenceRegressor(**{**params, "random_state": np.random.RandomState(0)})
    assert rs.fit(x, y).predict(x).shape == (len(x),)


def test_regressor_multioutput_and_pickle():
    x, y = _sequences()
    y2 = np.stack([y, -y], axis=1)
    reg = SequenceRegressor(units=4, epochs=2, random_state=0).fit(x, y2)
    pred = reg.predict(x)
    assert pred.shape == (len(x), 2)
    back = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(back.predict(x), pred)
    assert isinstance(back.model_, rnnkit.Model)
    assert set(reg.history_) == {"loss"} and len(reg.history_["loss"]) == 2


def test_build_fn():
    from rnnkit import layers

    seen = []

    def build(n_steps, n_features, n_outputs):
        seen.append((n_steps, n_features, n_outputs))
        return rnnkit.Sequential(
            [
                layers.Input((n_steps, n_features)),
                layers.GRU(5, return_sequences=True),
                layers.LSTM(3),
                layers.Dense(n_outputs),
            ]
        )

    x, y = _sequences()
    reg = SequenceRegressor(build_fn=build, epochs=2, random_state=0).fit(x, y)
    assert seen == [(6, 2, 1)] and reg.predict(x).shape == (len(x),)
    feats = SequenceTransformer(build_fn=build, random_state=0).fit(x).transform(x)
    assert feats.shape == (len(x), 3)  # the last recurrent layer (LSTM(3))
    with pytest.raises(TypeError, match="build_fn"):
        SequenceRegressor(build_fn=lambda *a: "no model").fit(x, y)


def _separable(n=160, steps=8, seed=0):
    """Class = the sign of the sequence's trend, labelled with strings."""
    rng = np.random.default_rng(seed)
    slope = rng.choice([-1.0, 1.0], size=n)
    t = np.linspace(-1, 1, steps)
    x = slope[:, None] * t[None, :] + 0.1 * rng.normal(size=(n, steps))
    labels = np.where(slope > 0, "up", "down")
    return x[..., None].astype(np.float32), labels


def test_classifier_learns_and_round_trips_string_labels():
    x, labels = _separable()
    clf = SequenceClassifier(units=8, epochs=30, learning_rate=0.02, random_state=0)
    clf.fit(x[:120], labels[:120])
    assert list(clf.classes_) == ["down", "up"]
    assert clf.score(x[120:], labels[120:]) > 0.9
    pred = clf.predict(x[120:])
    assert pred.dtype == labels.dtype and set(pred) <= {"down", "up"}
    proba = clf.predict_proba(x[120:])
    assert proba.shape == (40, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict(x[120:]), pred)
    with pytest.raises(ValueError):
        clf.fit(x[:4], np.eye(4, dtype=int))  # multilabel targets


def test_transformer_features():
    x, y = _sequences()
    reservoir = SequenceTransformer(units=5, random_state=1)
    feats = reservoir.fit_transform(x)
    assert feats.shape == (len(x), 5) and np.all(np.abs(feats) <= 1)
    np.testing.assert_array_equal(
        SequenceTransformer(units=5, random_state=1).fit_transform(x), feats
    )
    assert list(reservoir.get_feature_names_out()) == [f"sequencetransformer{i}" for i in range(5)]
    trained = SequenceTransformer(units=5, epochs=2, random_state=1).fit(x, y)
    assert trained.transform(x).shape == (len(x), 5)
    assert not np.array_equal(trained.transform(x), feats)


# ---- acceptance: windows -> Pipeline -> GridSearchCV(n_jobs=2) / cross_val_score -------------


def _search(x, y):
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("rnn", SequenceRegressor(units=4, epochs=3, learning_rate=0.01, random_state=0)),
        ]
    )
    cv = KFold(n_splits=3)
    search = GridSearchCV(pipe, {"rnn__units": [4, 8], "rnn__epochs": [3, 6]}, cv=cv, n_jobs=2).fit(
        x, y
    )
    scores = cross_val_score(search.best_estimator_, x, y, cv=cv, n_jobs=2)
    return search, scores


def test_acceptance_windows_pipeline_gridsearch():
    rng = np.random.default_rng(0)
    t = np.arange(300)
    series = np.sin(t / 6.0) + 0.5 * np.sin(t / 17.0) + 0.05 * rng.normal(size=t.size)
    x, y = windows(series.astype(np.float32), lookback=12)
    x2 = x.reshape(len(x), -1)  # (N, 12): scikit-learn's 2-D view, n_features_per_step=1
    first, scores = _search(x2, y)
    second, scores_again = _search(x2, y)
    np.testing.assert_array_equal(
        first.cv_results_["mean_test_score"], second.cv_results_["mean_test_score"]
    )
    assert first.best_params_ == second.best_params_
    np.testing.assert_array_equal(scores, scores_again)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
    assert first.best_score_ > 0.5  # the model does learn the series
    pred = first.predict(x2[:5])
    assert pred.shape == (5,)
