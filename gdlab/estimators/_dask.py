"""Estimators on Dask collections: ``fit`` on a :class:`gdlab.engines.dask.DaskSource`, and
``predict`` / ``predict_proba`` / ``decision_function`` / ``score`` returning Dask results.

``fit(X, y)`` with a dask array or DataFrame validates X's shape and dtype from its metadata,
finds the classes in one pass over y (each block's labels with their counts, which also
serve ``class_weight='balanced'``), encodes y block by block with the estimator's own encoder, and
trains the same model by the same loop on a :class:`DaskSource`. Non-finite values in X are
found when a step turns non-finite, as in memory, and reported with the block (and file)
holding them. Early stopping holds out whole blocks (``validation_fraction`` of them, at least
one, chosen from ``random_state``).

Prediction methods on Dask input run the in-memory method on each block
(``map_blocks``) and return a dask array without computing it; ``score`` returns a 0-d dask
array.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets

from gdlab.core.loop import ModelProblem, TrainState
from gdlab.engines.dask.source import DaskSource, default_scheduler, is_dask_collection

Array = NDArray[Any]
F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["dask_aware", "fit_dask", "is_dask_collection", "score_dask"]

#: fitted state a prediction on a block does not need (kept off the task graph)
_HEAVY = ("state_", "history_", "loss_curve_", "validation_scores_", "_schedule_obj")


def _as_dask_array(obj: Any, name: str) -> Any:
    """A dask array from a dask array, DataFrame or Series."""
    if hasattr(obj, "to_dask_array"):
        return obj.to_dask_array(lengths=True)
    if hasattr(obj, "blocks") and hasattr(obj, "chunks"):
        return obj
    raise TypeError(f"Input {name} must be a dask array, DataFrame or Series, got "
                    f"{type(obj).__name__}.")


def _aligned(obj: Any, rows: tuple[int, ...], name: str) -> Any:
    """``obj`` (a dask collection or array-like) as a dask array cut at ``rows``."""
    import dask.array as da

    a = _as_dask_array(obj, name) if is_dask_collection(obj) else da.from_array(np.asarray(obj))
    if a.shape[0] != sum(rows):
        raise ValueError(f"Found input variables with inconsistent numbers of samples: "
                         f"X has {sum(rows)} rows, {name} has {a.shape[0]}. Pass the same "
                         "number of samples in each.")
    return a.rechunk({0: rows})


def _light(est: Any) -> Any:
    """A shallow copy of a fitted estimator without its training state, for task graphs."""
    out = copy.copy(est)
    for attr in _HEAVY:
        out.__dict__.pop(attr, None)
    out.callbacks = None
    return out


def _check_X(est: Any, X: Any, reset: bool) -> Any:
    """X as a 2-D float dask array with known row chunks, one chunk across the columns;
    sets (reset) or checks n_features_in_ and feature_names_in_."""
    names = None
    if hasattr(X, "columns"):
        cols = list(X.columns)
        names = np.asarray(cols, dtype=object) if all(isinstance(c, str) for c in cols) else None
    X = _as_dask_array(X, "X")
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D dask array for X, got {X.ndim}-D of shape "
                         f"{X.shape}. Reshape it, e.g. X.reshape(-1, 1) for one feature.")
    if X.dtype not in (np.float64, np.float32):
        if X.dtype.kind not in "biuf":
            raise ValueError(f"Input X must be numeric, got dtype {X.dtype}. Encode categories "
                             "first (gdlab fit does it for tables).")
        X = X.astype(np.float64)
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    X = X.rechunk({1: -1})
    if reset:
        est.n_features_in_ = int(X.shape[1])
        if names is not None:
            est.feature_names_in_ = names
        else:
            est.__dict__.pop("feature_names_in_", None)
    elif X.shape[1] != est.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features, but {type(est).__name__} is "
                         f"expecting {est.n_features_in_} features as input.")
    return X


def _encode_block(y: Array, est: Any) -> Array:
    """The estimator's own target encoding of one block (classes already known)."""
    return est._encode_y(y, first=False)


def _class_index(y: Array, classes: Array) -> Array:
    """The index in ``classes`` of every label of one block whose labels all are in it (as
    found from the blocks): ``_encode_y`` without its checks, which cost three times as much
    (~18 against ~3 ms for 328,000 labels)."""
    return np.searchsorted(classes, np.asarray(y))


def _model_targets(y: Array, model: Any) -> Array:
    """``model.check_targets`` of one block."""
    return model.check_targets(y, y.shape[0])


def _lookup(y_enc: Array, table: Array) -> Array:
    """table[y_enc]: a per-class value for every row of a block."""
    return table[y_enc]


def _class_weights(est: Any, counts: Array, n: int) -> Array:
    """Weight of each class in ``est.classes_``, as ``compute_sample_weight`` gives them."""
    from sklearn.utils.class_weight import compute_class_weight

    cw = est.class_weight
    if cw == "balanced":
        present = counts > 0
        out = np.zeros(len(counts))
        out[present] = n / (int(present.sum()) * counts[present].astype(np.float64))
        return out
    return compute_class_weight(cw, classes=est.classes_, y=est.classes_)


def _unique_counts(y: Array) -> tuple[Array, Array]:
    """The labels of one block and how often each occurs."""
    return np.unique(np.asarray(y), return_counts=True)


def _merge_counts(parts: list[tuple[Array, Array]]) -> tuple[Array, Array]:
    """The labels of all blocks (sorted, as ``np.unique`` of all of y) and their counts."""
    labels, inverse = np.unique(np.concatenate([p[0] for p in parts]), return_inverse=True)
    counts = np.bincount(inverse, weights=np.concatenate([p[1] for p in parts]),
                         minlength=len(labels))
    return labels, counts.astype(np.int64)


def _prepare(est: Any, X: Any, y: Any, sample_weight: Any, *, first: bool,
             classes: Any, keep_y: Any = None) -> tuple[Any, Any, Any]:
    """(X, encoded y, combined sample and class weights) as aligned dask arrays.

    One round trip to the cluster: the labels of every block with their counts (a classifier's
    first fit without ``classes``), together with y's first row, from which the encoding's
    output type is known. ``keep_y``: a scheduler on which to persist y first (when X is
    recomputed at every pass, y is kept, and the pass that finds the classes computes it).
    """
    import dask
    from dask import delayed

    X = _check_X(est, X, reset=first)
    rows = X.chunks[0]
    y = _aligned(y, rows, "y")
    if keep_y is not None:
        (y,) = dask.persist(y, scheduler=keep_y)
    counts = None
    is_clf = isinstance(est, ClassifierMixin)
    find = is_clf and first and classes is None
    parts = ([delayed(_unique_counts, pure=True)(b)
              for b in y.to_delayed(optimize_graph=False).ravel()]
             if find else [])
    parts, y0 = dask.compute(parts, y[:1])
    if find:
        classes, counts = _merge_counts(parts)
        if y.ndim == 1:  # the labels' type, as each block's encoding would check it
            check_classification_targets(classes)
    est._encode_y(y0, first=first, classes=classes)
    meta = est._encode_y(y0, first=False)
    if find and y.ndim == 1:  # every label is one of the classes found: no check left
        y_enc = y.map_blocks(_class_index, est.classes_, dtype=meta.dtype)
    else:
        y_enc = y.map_blocks(_encode_block, _light(est), dtype=meta.dtype,
                             meta=np.empty((0,) * meta.ndim, meta.dtype))
    w = None
    if sample_weight is not None:
        w = _aligned(sample_weight, rows, "sample_weight").astype(X.dtype)
        if w.ndim != 1:
            raise ValueError(f"Sample weights must be 1-D, got shape {w.shape}.")
    y_enc = est._standardize_y(y_enc, w, first=first)
    if is_clf and getattr(est, "class_weight", None) is not None:
        if counts is None:
            counts = _bincount(y_enc, len(est.classes_))
        per_class = _class_weights(est, np.asarray(counts), int(X.shape[0]))
        cw = y_enc.map_blocks(_lookup, per_class, dtype=np.float64)
        w = cw.astype(X.dtype) if w is None else w * cw
    return X, y_enc, w


def _bincount(y_enc: Any, K: int) -> Array:
    """Counts of the encoded labels 0..K-1 of a dask array."""
    import dask.array as da

    return np.asarray(da.bincount(y_enc, minlength=K).compute())


def raise_if_nonfinite(source: Any) -> None:
    """ValueError naming the block, row and column of the first NaN / inf in a DaskSource's X
    (nothing for other sources, or when X is finite)."""
    find = getattr(source, "find_nonfinite", None)
    where = find() if find is not None else None
    if where is not None:
        raise ValueError(f"Input X contains {where}. Remove or impute the non-finite "
                         "values (gdlab fit --missing for tables).")


def _holdout(est: Any, source: DaskSource) -> tuple[DaskSource, DaskSource]:
    """(training blocks, held-out blocks): ``validation_fraction`` of the blocks, at least
    one, drawn from ``random_state``."""
    nb = source.n_blocks
    if nb < 2:
        raise ValueError(f"early_stopping on a dask collection holds out whole blocks, and X "
                         f"has {nb} block. Rechunk X into more row blocks, e.g. "
                         "X.rechunk({0: n_rows // 10}).")
    n_val = min(nb - 1, max(1, round(est.validation_fraction * nb)))
    rng = np.random.default_rng(est._seed())
    val = sorted(int(b) for b in rng.choice(nb, size=n_val, replace=False))
    train = [b for b in range(nb) if b not in set(val)]
    return source.subset(train), source.subset(val)


def fit_dask(est: Any, X: Any, y: Any, sample_weight: Any, *, partial: bool,
             classes: Any = None, resume_from: TrainState | None = None,
             scheduler: Any = None, persist: bool = True,
             block_names: list[str] | None = None) -> Any:
    """``est._fit`` for dask collections (see the module docstring).

    Every computation of the fit runs on one scheduler: ``scheduler``, or the one Dask would
    pick for X when it is None (the current Client, else X's own). The persisted targets live
    on that scheduler's cluster, and a computation sent through another Client (the current
    one, when ``scheduler`` names another) could reach the scheduler before them.
    """
    from dask.base import get_scheduler

    get = get_scheduler(scheduler=scheduler, collections=[X])
    with default_scheduler(get):
        return _fit_on(est, X, y, sample_weight, get, partial=partial, classes=classes,
                       resume_from=resume_from, persist=persist, block_names=block_names)


def _fit_on(est: Any, X: Any, y: Any, sample_weight: Any, get: Any, *, partial: bool,
            classes: Any, resume_from: TrainState | None, persist: bool,
            block_names: list[str] | None) -> Any:
    """:func:`fit_dask` with its scheduler resolved (``get``) and made Dask's default."""
    import dask

    first = not (partial or est.warm_start) or not hasattr(est, "state_")
    X, y_enc, w = _prepare(est, X, y, sample_weight, first=first, classes=classes,
                           keep_y=None if persist else get)
    model = est._make_model(int(X.shape[1]))
    # the targets as the model takes them (float 0/1 for BCE), as ModelProblem makes them
    # in memory: the compiled kernels are then the ones an in-memory fit runs
    meta = model.check_targets(np.zeros((1, *y_enc.shape[1:]), y_enc.dtype), 1)
    y_enc = y_enc.map_blocks(_model_targets, model, dtype=meta.dtype,
                             meta=np.empty((0,) * meta.ndim, meta.dtype))
    source = DaskSource(X, y_enc, w, scheduler=get, persist=persist, block_names=block_names)
    del y_enc, w  # their lazy graphs hold the raw targets' blocks on the workers
    validation = None
    if est.early_stopping and not partial:
        source, held = _holdout(est, source)
        y_held = held.targets()

        def validation(theta: Array) -> tuple[float, float]:
            loss, z = held.evaluate(model, theta)
            loss += model.penalty(theta, est.alpha_)[0]
            return loss, est._score_logits(z, y_held)

    if first or resume_from is not None or not hasattr(est, "alpha_"):
        est._resolve_alpha(source.sample_weight, source.n_samples)
    problem = ModelProblem(model, source, est.alpha_, engine="auto")
    theta0 = est._initial_theta(model, source.y, source.sample_weight, X.dtype)
    if is_dask_collection(theta0):
        theta0 = dask.compute(theta0, scheduler=source._get)[0]

    def on_divergence() -> None:
        raise_if_nonfinite(source)

    return est._train(problem, np.asarray(theta0), first=first, partial=partial,
                      resume_from=resume_from, validation=validation,
                      on_divergence=on_divergence)


# ---- prediction on dask input ----------------------------------------------------------------
def _apply_block(X: Array, est: Any, method: str) -> Array:
    """``est.<method>`` on one block (with the fitted column names when there are some)."""
    if hasattr(est, "feature_names_in_"):
        import pandas as pd

        X = pd.DataFrame(X, columns=list(est.feature_names_in_))
    return np.asarray(getattr(est, method)(X))


def predict_blocks(est: Any, method: str, X: Any) -> Any:
    """``est.<method>`` of every block of X as a dask array (not computed)."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est)
    X = _as_dask_array(X, "X") if not hasattr(X, "to_dask_array") else X.to_dask_array()
    if X.ndim != 2 or X.shape[1] != est.n_features_in_:
        raise ValueError(f"X has shape {X.shape}, but {type(est).__name__} is expecting "
                         f"{est.n_features_in_} features as input.")
    X = X.rechunk({1: -1})
    light = _light(est)
    probe = _apply_block(np.zeros((1, est.n_features_in_), X.dtype), light, method)
    if probe.ndim == 1:
        return X.map_blocks(_apply_block, light, method, drop_axis=1, dtype=probe.dtype,
                            meta=np.empty((0,), probe.dtype))
    return X.map_blocks(_apply_block, light, method, chunks=(X.chunks[0], probe.shape[1:]),
                        dtype=probe.dtype, meta=np.empty((0, 0), probe.dtype))


def dask_aware(method: F) -> F:
    """Decorate a prediction method ``(self, X)``: on Dask input it returns
    :func:`predict_blocks` (a lazy dask array) instead of computing in memory."""

    @functools.wraps(method)
    def wrapper(self: Any, X: Any, *args: Any, **kwargs: Any) -> Any:
        if is_dask_collection(X):
            return predict_blocks(self, method.__name__, X)
        return method(self, X, *args, **kwargs)

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature at run time


def score_dask(est: Any, X: Any, y: Any, sample_weight: Any = None) -> Any:
    """Accuracy (classifiers) or R^2 averaged over outputs (regressors) as a 0-d dask array,
    with the same definitions as scikit-learn's ``score``."""
    import dask.array as da

    pred = predict_blocks(est, "predict", X)
    if any(np.isnan(c) for c in pred.chunks[0]):
        pred = pred.compute_chunk_sizes()
    rows = pred.chunks[0]
    y = _aligned(y, rows, "y")
    w = None if sample_weight is None else _aligned(sample_weight, rows, "sample_weight")
    if isinstance(est, ClassifierMixin):
        hit = (pred == y).astype(np.float64)
        return hit.mean() if w is None else (hit * w).sum() / w.sum()
    y = y.astype(np.float64)
    y2, p2 = (y[:, None], pred[:, None]) if y.ndim == 1 else (y, pred.reshape(y.shape))
    w2 = da.ones(y2.shape[0], chunks=rows) if w is None else w
    mean = (w2[:, None] * y2).sum(axis=0) / w2.sum()
    num = (w2[:, None] * (y2 - p2) ** 2).sum(axis=0)
    den = (w2[:, None] * (y2 - mean) ** 2).sum(axis=0)
    safe = da.where(den > 0, den, 1.0)
    r2 = da.where(den > 0, 1.0 - num / safe, da.where(num == 0, 1.0, 0.0))
    return r2.mean()
