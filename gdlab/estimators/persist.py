"""Model files: a fitted estimator (and, from the command line, its feature encoder) in one
``.npz`` of plain arrays + JSON metadata. Nothing in a model file can execute code.

Layout of a model file (``kind="model"``, see :mod:`gdlab.io.safe_npz`):

- arrays ``coef`` (n_outputs, n_features), ``intercept`` (n_outputs,), ``classes`` (n_classes,)
  for classifiers (integers, floats or text), and ``encoder.means`` / ``encoder.scales`` when a
  :class:`gdlab.io.FeatureEncoder` is saved with the model;
- meta: ``model_type``, ``params`` (the estimator's JSON-able hyperparameters), ``n_features``,
  ``feature_names``, ``y_ndim``, ``target``, ``task``, ``encoder`` (the encoder's meta).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.base import is_classifier

from gdlab.core._validation import shorten
from gdlab.estimators.base import ESTIMATORS
from gdlab.io.safe_npz import ModelFileError, load_arrays, save_arrays
from gdlab.io.tables import FeatureEncoder


def _estimator_classes() -> dict[str, type[Any]]:
    """The registered estimators (importing the package registers the built-in ones)."""
    import gdlab.estimators  # noqa: F401

    return ESTIMATORS


def _json_params(est: Any) -> dict[str, Any]:
    """Hyperparameters that are plain JSON (names, numbers, lists of them); objects become
    their repr."""
    out: dict[str, Any] = {}
    for k, v in est.get_params(deep=False).items():
        if v is None or isinstance(v, (bool, int, float, str)):
            out[k] = v
        elif isinstance(v, (list, tuple)) and all(
                isinstance(e, (bool, int, float, str)) for e in v):
            out[k] = list(v)  # e.g. an MLP's hidden_layer_sizes or per-layer activations
        elif k in ("callbacks",):
            out[k] = None
        else:
            out[k] = repr(v)
    return out


@dataclass
class TabularModel:
    """An estimator plus the encoder that turns a DataFrame's named columns into its X."""

    estimator: Any
    encoder: FeatureEncoder
    target: str
    task: str

    def transform(self, df: pd.DataFrame, *, path: Any = None, allow_extra: bool = False
                  ) -> NDArray[np.floating[Any]]:
        """The model's input matrix from a DataFrame, columns matched by name."""
        return self.encoder.transform(df, path=path, allow_extra=allow_extra)

    def predict(self, df: pd.DataFrame, *, path: Any = None, allow_extra: bool = False) -> Any:
        """Predictions for the rows of a DataFrame."""
        return self.estimator.predict(self.transform(df, path=path, allow_extra=allow_extra))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the estimator and the encoder to one model file."""
        return save_model(self.estimator, path, encoder=self.encoder, target=self.target,
                          task=self.task)


def save_model(
    estimator: Any,
    path: str | os.PathLike[str],
    *,
    encoder: FeatureEncoder | None = None,
    target: str | None = None,
    task: str | None = None,
) -> Path:
    """Save a fitted gdlab estimator to ``path`` (one .npz, written atomically)."""
    from sklearn.utils.validation import check_is_fitted

    name = type(estimator).__name__
    cls = _estimator_classes().get(name)
    if cls is None or type(estimator) is not cls:
        raise TypeError(f"save_model saves gdlab estimators "
                        f"({', '.join(sorted(_estimator_classes()))}), got {name}.")
    check_is_fitted(estimator)
    arrays: dict[str, NDArray[Any]] = dict(estimator._fitted_arrays())
    if hasattr(estimator, "classes_"):
        classes = np.asarray(estimator.classes_)
        arrays["classes"] = classes.astype(str) if classes.dtype == object else classes
    meta: dict[str, Any] = {
        "model_type": name,
        "params": _json_params(estimator),
        "n_features": int(estimator.n_features_in_),
        "feature_names": ([str(f) for f in estimator.feature_names_in_]
                          if hasattr(estimator, "feature_names_in_") else None),
        "y_ndim": int(getattr(estimator, "_y_ndim", 1)),
        "n_iter": int(estimator.n_iter_),
        "target": target,
        "task": task,
        "encoder": None,
    }
    if encoder is not None:
        arrays.update(encoder.to_arrays())
        meta["encoder"] = encoder.to_meta()
    p = Path(path)
    save_arrays(p, arrays, meta, kind="model")
    return p


def _schema(meta: dict[str, Any]) -> dict[str, Any]:
    cls = _estimator_classes()[meta["model_type"]]
    schema: dict[str, Any] = {**cls._file_schema(meta),
                              "classes": ("iufUb", (None,), False)}
    if meta.get("encoder") is not None:
        schema.update(FeatureEncoder.schema())
    return schema


def load_model(path: str | os.PathLike[str]) -> Any:
    """Load a model file: a gdlab estimator, or a :class:`TabularModel` when the file holds an
    encoder (models saved by ``gdlab fit``). Raises :class:`ModelFileError` on any problem."""
    src = str(path)
    names = _estimator_classes()

    def schema(meta: Mapping[str, Any]) -> dict[str, Any]:
        # called with the metadata before any array is read: the arrays' declared dtypes and
        # shapes are checked against it first
        if meta.get("model_type") not in names:
            raise ModelFileError(f"{src}: unknown model_type "
                                 f"{shorten(repr(meta.get('model_type')))}; expected one of "
                                 f"{', '.join(sorted(names))}.")
        n = meta.get("n_features")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ModelFileError(f"{src}: n_features must be a positive integer, got "
                                 f"{shorten(repr(n))}.")
        return _schema(dict(meta))

    # validates format, limits, checksum, finiteness and the schema
    arrays, meta = load_arrays(path, kind="model", schema=schema)
    try:
        est = _rebuild(arrays, meta, src)
        if meta.get("encoder") is None:
            return est
        encoder = FeatureEncoder.from_state(arrays, meta["encoder"], path=path)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(f"{src}: the model's metadata is invalid ({type(exc).__name__}: "
                             f"{shorten(str(exc))}); the file was altered; re-save it with "
                             "gdlab.") from None
    if encoder.n_features_out_ != meta["n_features"]:
        raise ModelFileError(f"{src}: the encoder gives {encoder.n_features_out_} features but "
                             f"the model expects {meta['n_features']}; the file is inconsistent.")
    return TabularModel(est, encoder, str(meta.get("target")), str(meta.get("task")))


load = load_model


def _rebuild(arrays: dict[str, NDArray[Any]], meta: dict[str, Any], src: str) -> Any:
    cls = _estimator_classes()[meta["model_type"]]
    known = cls().get_params()
    params = {k: v for k, v in (meta.get("params") or {}).items()
              if k in known and not (isinstance(v, str) and v.startswith("<"))}
    try:
        est = cls(**params)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{src}: invalid hyperparameters in the file "
                             f"({shorten(str(exc))}); re-save it with gdlab.") from None
    est.n_features_in_ = int(meta["n_features"])
    if meta.get("feature_names"):
        names = meta["feature_names"]
        if len(names) != est.n_features_in_:
            raise ModelFileError(f"{src}: {len(names)} feature names for "
                                 f"{est.n_features_in_} features.")
        est.feature_names_in_ = np.asarray(names, dtype=object)
    est.n_iter_ = int(meta.get("n_iter", 0))
    if is_classifier(est):
        if "classes" not in arrays:
            raise ModelFileError(f"{src}: a classifier file needs a 'classes' array.")
        classes = arrays["classes"]
        est.classes_ = classes.astype(object) if classes.dtype.kind == "U" else classes
    try:
        est._restore_fitted(arrays, meta)
    except ValueError as exc:
        raise ModelFileError(f"{src}: {shorten(str(exc), 200)}") from None
    return est
