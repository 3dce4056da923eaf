"""scikit-learn estimators around rnnkit models: ``SequenceRegressor``, ``SequenceClassifier``
and ``SequenceTransformer`` (the final hidden state as features). See docs/sklearn.md.

X is (B, T, F) or scikit-learn's 2-D (B, T*F), which is reshaped to (B, T*F / k, k) with the
explicit ``n_features_per_step=k`` parameter (default 1); a width not divisible by k is a
``ValueError``, never a guess. pandas DataFrames are accepted as 2-D X.

This module needs scikit-learn (``pip install rnnkit[sklearn]``); ``import rnnkit`` never
imports it.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

import numpy as np
import sklearn
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_array, check_is_fitted

__all__ = ["SequenceClassifier", "SequenceRegressor", "SequenceTransformer"]

_CELLS = ("lstm", "gru", "rnn")
_SKLEARN_VERSION = tuple(int(p) for p in sklearn.__version__.split(".")[:2] if p.isdigit())
# scikit-learn 1.6 renamed check_array's force_all_finite to ensure_all_finite (1.8 removed it).
_FINITE_KW = "ensure_all_finite" if _SKLEARN_VERSION >= (1, 6) else "force_all_finite"

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - scikit-learn 1.3 - 1.5

    def _validate_data(
        estimator: Any, X: Any = "no_validation", y: Any = "no_validation", **kwargs: Any
    ) -> Any:
        return estimator._validate_data(X, y, **kwargs)


class _SequenceEstimator(BaseEstimator):
    """Shared parameters, input handling, model building and training."""

    n_steps_: int  # set by fit (scikit-learn's trailing underscore: fitted state)
    n_features_per_step_: int

    def __init__(
        self,
        build_fn: Callable[[int, int, int], Any] | None = None,
        cell: str = "lstm",
        units: int = 32,
        epochs: int = 10,
        batch_size: int = 32,
        optimizer: Any = "adam",
        learning_rate: float | None = None,
        loss: Any = None,
        random_state: Any = None,
        verbose: int = 0,
        n_features_per_step: int = 1,
    ) -> None:
        self.build_fn = build_fn
        self.cell = cell
        self.units = units
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.loss = loss
        self.random_state = random_state
        self.verbose = verbose
        self.n_features_per_step = n_features_per_step

    # ---- tags --------------------------------------------------------------------------------

    def __sklearn_tags__(self) -> Any:  # scikit-learn >= 1.6
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        tags.input_tags.three_d_array = True
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"non_deterministic": self.random_state is None, "X_types": ["2darray", "3darray"]}

    # ---- input -------------------------------------------------------------------------------

    def _check_params(self) -> None:
        def positive_int(name: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(
                    f"{type(self).__name__}: {name} must be an int >= 1, got {value!r}"
                )

        for name in ("units", "epochs", "batch_size", "n_features_per_step"):
            positive_int(name)
        if self.build_fn is None and self.cell not in _CELLS:
            raise ValueError(
                f"{type(self).__name__}: cell must be one of {_CELLS}, got {self.cell!r}"
            )
        if self.build_fn is not None and not callable(self.build_fn):
            raise TypeError(f"{type(self).__name__}: build_fn must be callable or None")

    def _sequences(self, X: Any, y: Any = None, *, reset: bool, **y_kwargs: Any) -> Any:
        """Validate X (and y) as scikit-learn does; return X as float32 (B, T, F) (and y).

        ``y_required=True`` marks a y that must be given: a None there is the ValueError
        scikit-learn's estimators raise."""
        name = type(self).__name__
        if y_kwargs.pop("y_required", False) and y is None:
            raise ValueError(f"{name} requires y to be passed, but the target y is None")
        k = self.n_features_per_step
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"{name}: n_features_per_step must be an int >= 1, got {k!r}")
        step_features = None
        ndim = getattr(X, "ndim", None)
        if ndim is None and isinstance(X, (list, tuple)):
            try:
                ndim = np.asarray(X).ndim
            except ValueError:  # ragged: check_array below names the problem
                ndim = None
        if ndim == 3:
            X = check_array(X, allow_nd=True, dtype="numeric", **{_FINITE_KW: True})
            if X.shape[1] < 1 or X.shape[2] < 1:
                raise ValueError(f"{name}: X has an empty axis, shape {X.shape}")
            step_features = X.shape[2]
            X = X.reshape(X.shape[0], -1)
        kwargs: dict[str, Any] = {"dtype": "numeric", "reset": reset, _FINITE_KW: True}
        if y is None:
            X = _validate_data(self, X, **kwargs)
        else:
            X, y = _validate_data(self, X, y, **kwargs, **y_kwargs)
        if step_features is None:
            if X.shape[1] % k:
                raise ValueError(
                    f"{name}: X has {X.shape[1]} columns, not a multiple of "
                    f"n_features_per_step={k}; 2-D X is (B, T*F) with F = n_features_per_step"
                )
            step_features = k
        X = X.reshape(X.shape[0], X.shape[1] // step_features, step_features).astype(np.float32)
        if reset:
            self.n_steps_, self.n_features_per_step_ = X.shape[1], X.shape[2]
        elif X.shape[1:] != (self.n_steps_, self.n_features_per_step_):
            raise ValueError(
                f"{name}: X reshapes to (T, F) = {X.shape[1:]}, but the estimator was fitted on "
                f"(T, F) = {(self.n_steps_, self.n_features_per_step_)}"
            )
        return X if y is None else (X, y)

    # ---- model -------------------------------------------------------------------------------

    def _seed(self) -> None:
        from rnnkit.utils import set_random_seed

        state = self.random_state
        if state is None:
            return
        if isinstance(state, np.random.RandomState):
            state = int(state.randint(0, 2**31 - 1))
        set_random_seed(state)

    def _make_optimizer(self) -> Any:
        from rnnkit import optimizers

        opt = self.optimizer
        if isinstance(opt, optimizers.Optimizer):  # never share (or mutate) the parameter
            opt = optimizers.serialize(opt)
        opt = optimizers.get(opt)
        if self.learning_rate is not None:
            opt = type(opt).from_config({**opt.get_config(), "learning_rate": self.learning_rate})
        return opt

    def _build(self, n_outputs: int, activation: str | None, default_loss: str) -> Any:
        import rnnkit
        from rnnkit import layers

        loss = default_loss if self.loss is None else self.loss
        if self.build_fn is not None:
            model = self.build_fn(self.n_steps_, self.n_features_per_step_, n_outputs)
            if not isinstance(model, rnnkit.Model):
                raise TypeError(
                    f"{type(self).__name__}: build_fn must return an rnnkit model, got "
                    f"{type(model).__name__}"
                )
            if model.compiled or getattr(model, "_deferred_compile", None) is not None:
                return model
        else:
            cell = {"lstm": layers.LSTM, "gru": layers.GRU, "rnn": layers.SimpleRNN}[self.cell]
            model = rnnkit.Sequential(
                [
                    layers.Input((self.n_steps_, self.n_features_per_step_)),
                    cell(self.units),
                    layers.Dense(n_outputs, activation=activation),
                ]
            )
        model.compile(optimizer=self._make_optimizer(), loss=loss)
        return model

    def _train(
        self,
        X: np.ndarray,
        y: np.ndarray,
        n_outputs: int,
        activation: str | None,
        default_loss: str,
    ) -> None:
        self._check_params()
        self._seed()
        self.model_ = self._build(n_outputs, activation, default_loss)
        history = self.model_.fit(
            X, y, epochs=self.epochs, batch_size=self.batch_size, verbose=self.verbose
        )
        self.history_ = {k: [float(v) for v in vals] for k, vals in history.history.items()}

    def _forward(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = self._sequences(X, reset=False)
        return np.asarray(self.model_.predict(X, batch_size=self.batch_size, verbose=0))


class SequenceRegressor(RegressorMixin, _SequenceEstimator):
    """A recurrent regressor: ``cell(units)`` then ``Dense(n_outputs)``, trained on MSE.

    ``predict`` returns (B,) for a 1-D y and (B, n_outputs) for a 2-D y; ``score`` is R².
    Parameters are listed in docs/sklearn.md.
    """

    def __sklearn_tags__(self) -> Any:  # y may be (B,) or (B, n_outputs)
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self) -> dict[str, Any]:
        return {**super()._more_tags(), "multioutput": True}

    def fit(self, X: Any, y: Any) -> SequenceRegressor:
        """Train a fresh model on X (B, T, F) or (B, T*F) and y (B,) or (B, n_outputs)."""
        X, y = self._sequences(X, y, reset=True, y_required=True, multi_output=True, y_numeric=True)
        y = np.asarray(y, dtype=np.float32)
        self._y_1d = y.ndim == 1
        y2 = y.reshape(len(y), -1)
        self._train(X, y2, y2.shape[1], None, "mse")
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions, (B,) or (B, n_outputs) as y was."""
        out = self._forward(X).astype(np.float64)
        return out[:, 0] if self._y_1d else out


class SequenceClassifier(ClassifierMixin, _SequenceEstimator):
    """A recurrent classifier: ``cell(units)`` then ``Dense(n_classes, softmax)``, trained on
    sparse categorical crossentropy. Labels of any kind (strings included) are encoded as
    ``LabelEncoder`` does; ``classes_`` holds them sorted.
    """

    def fit(self, X: Any, y: Any) -> SequenceClassifier:
        """Train a fresh model on X and class labels y (B,)."""
        X, y = self._sequences(X, y, reset=True, y_required=True)
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(
                f"{type(self).__name__}: y must hold one label per sequence (binary or "
                f"multiclass), got {kind}"
            )
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        codes = encoder.transform(y).astype(np.int64)
        self._train(X, codes, len(self.classes_), "softmax", "sparse_categorical_crossentropy")
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (B, n_classes) in the order of ``classes_``; rows sum to 1."""
        proba = self._forward(X).astype(np.float64)
        proba = np.clip(proba, 0.0, None)
        normalized: np.ndarray = proba / proba.sum(axis=1, keepdims=True)
        return normalized

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class label per sequence (B,)."""
        proba = self.predict_proba(X)
        labels: np.ndarray = self.classes_[np.argmax(proba, axis=1)]
        return labels


class SequenceTransformer(TransformerMixin, _SequenceEstimator):
    """The final hidden state of a recurrent network as features: (B, units) from ``transform``.

    With y, ``fit`` trains ``cell(units)`` then ``Dense(n_outputs)`` to regress y (MSE), and the
    features are the trained recurrent layer's last output. Without y, the network keeps its
    seeded initial weights (a random "reservoir" of ``units`` features, reproducible with
    ``random_state``) and ``epochs`` is unused. With ``build_fn``, the features are the output
    of the model's last recurrent layer (its last step if it returns sequences).
    """

    def __sklearn_tags__(self) -> Any:  # y may be (B,) or (B, n_outputs)
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self) -> dict[str, Any]:
        return {**super()._more_tags(), "multioutput": True}

    def fit(self, X: Any, y: Any = None) -> SequenceTransformer:
        """Fit on X (and, optionally, numeric targets y)."""
        if y is None:
            X = self._sequences(X, reset=True)
            self._check_params()
            self._seed()
            self.model_ = self._build(1, None, "mse")
            self.history_ = {}
        else:
            X, y = self._sequences(X, y, reset=True, multi_output=True, y_numeric=True)
            y2 = np.asarray(y, dtype=np.float32).reshape(len(y), -1)
            self._train(X, y2, y2.shape[1], None, "mse")
        self._n_features_out = int(self._features(X[:1]).shape[1])
        return self

    def _features(self, X: np.ndarray) -> np.ndarray:
        import rnnkit
        from rnnkit.layers.recurrent import Recurrent
        from rnnkit.layers.wrappers import Bidirectional

        nodes = [n for n in self.model_._nodes if isinstance(n.layer, (Recurrent, Bidirectional))]
        if not nodes:
            raise ValueError(f"{type(self).__name__}: the model has no recurrent layer")
        extractor = rnnkit.Model(self.model_.inputs, nodes[-1].outputs[0])
        out = np.asarray(extractor.predict(X, batch_size=self.batch_size, verbose=0))
        if out.ndim == 3:  # return_sequences=True: the last step
            out = out[:, -1]
        return out.reshape(len(out), -1).astype(np.float64)

    def transform(self, X: Any) -> np.ndarray:
        """The final hidden state, (B, units)."""
        check_is_fitted(self, "model_")
        return self._features(self._sequences(X, reset=False))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``sequencetransformer0``, ``sequencetransformer1``, ... one per feature."""
        check_is_fitted(self, "_n_features_out")
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self._n_features_out)], dtype=object)
