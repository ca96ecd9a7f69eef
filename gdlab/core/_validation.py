"""Every check of user input, and its message.

Messages follow one form (scikit-learn's): they name the argument, say what was expected,
what was received, and end with the fix where there is one.

    The 'lr' parameter of Adam must be a float in the range (0.0, inf). Got -1 instead.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

FLOAT_DTYPES = (np.float64, np.float32)


def _owner(owner: str | None) -> str:
    return f" of {owner}" if owner else ""


def _range_text(low: float | None, high: float | None, closed: str) -> str:
    lo = "-inf" if low is None else repr(low)
    hi = "inf" if high is None else repr(high)
    left = "[" if closed in ("both", "left") and low is not None else "("
    right = "]" if closed in ("both", "right") and high is not None else ")"
    return f"{left}{lo}, {hi}{right}"


def check_scalar(
    value: Any,
    name: str,
    *,
    kind: type = float,
    low: float | None = None,
    high: float | None = None,
    closed: str = "both",
    owner: str | None = None,
    allow_none: bool = False,
) -> Any:
    """Check a scalar hyperparameter's type and range; return it as `kind`.

    `closed` is one of 'both', 'left', 'right', 'neither' and says which ends are included.
    """
    if value is None and allow_none:
        return None
    type_word = "an int" if kind is int else "a float"
    rng = _range_text(low, high, closed)
    bad_type = isinstance(value, bool) or not isinstance(value, numbers.Real)
    if kind is int and not bad_type and not float(value).is_integer():
        bad_type = True
    if bad_type or (kind is float and not math.isfinite(float(value)) and high is not None):
        none = " or None" if allow_none else ""
        raise TypeError(
            f"The {name!r} parameter{_owner(owner)} must be {type_word}{none} in the range "
            f"{rng}. Got {shorten(repr(value))} of type {type(value).__name__} instead."
        )
    v = kind(value)
    lo_ok = low is None or (v >= low if closed in ("both", "left") else v > low)
    hi_ok = high is None or (v <= high if closed in ("both", "right") else v < high)
    if not (lo_ok and hi_ok) or (isinstance(v, float) and math.isnan(v)):
        raise ValueError(
            f"The {name!r} parameter{_owner(owner)} must be {type_word} in the range {rng}. "
            f"Got {shorten(repr(value))} instead."
        )
    return v


def check_choice(value: Any, name: str, choices: Iterable[Any], *, owner: str | None = None) -> Any:
    """Check that `value` is one of `choices`."""
    options = list(choices)
    if value not in options:
        listed = ", ".join(repr(c) for c in options)
        raise ValueError(
            f"The {name!r} parameter{_owner(owner)} must be one of {{{listed}}}. "
            f"Got {shorten(repr(value))} instead."
        )
    return value


def check_finite(a: NDArray[Any], name: str) -> None:
    """Raise a ValueError that locates the first NaN or infinity in `a`."""
    if a.dtype.kind not in "fc" or np.isfinite(a).all():
        return
    bad = ~np.isfinite(a)
    where = np.argwhere(bad)[0]
    what = "NaN" if np.isnan(a[tuple(where)]) else "infinity"
    loc = ", ".join(str(int(i)) for i in where)
    raise ValueError(
        f"Input {name} contains {what} (first at index [{loc}]; {int(bad.sum())} non-finite "
        f"value(s) in all). Remove or impute them, e.g. with sklearn.impute.SimpleImputer."
    )


def as_float_array(
    a: ArrayLike,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    dtype: Any = None,
    allow_empty: bool = False,
) -> NDArray[np.floating]:
    """Convert to a finite float64/float32 array, checking dimensions.

    Integer and boolean input becomes float64; float32 stays float32 unless `dtype` is given.
    """
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"Input {name} could not be read as a numeric array: {exc}. "
            "Pass a NumPy array or a nested list of numbers."
        ) from exc
    if arr.dtype == object or arr.dtype.kind in "USV":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"Input {name} must be numeric, got dtype {arr.dtype} with a value that is not a "
                f"number ({exc}). Encode categories first, e.g. with sklearn's OneHotEncoder."
            ) from exc
    if arr.dtype.kind == "c":
        raise ValueError(f"Input {name} must be real-valued, got complex dtype {arr.dtype}.")
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    elif arr.dtype not in FLOAT_DTYPES:
        arr = arr.astype(np.float64)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            hint = ""
            if 2 in allowed and arr.ndim == 1:
                hint = (
                    " Reshape your data either using array.reshape(-1, 1) if your data has a "
                    "single feature or array.reshape(1, -1) if it contains a single sample."
                )
            raise ValueError(
                f"Expected {want} array for {name}, got {arr.ndim}-D array of shape "
                f"{arr.shape} instead.{hint}"
            )
    if not allow_empty and arr.size == 0:
        raise ValueError(
            f"Input {name} is empty (shape {arr.shape}); at least one sample and one feature "
            "are required."
        )
    check_finite(arr, name)
    return arr


def check_consistent_length(*pairs: tuple[str, int]) -> None:
    """Check that the named sample counts agree."""
    counts = [n for _, n in pairs]
    if len(set(counts)) > 1:
        named = ", ".join(f"{name}: {n}" for name, n in pairs)
        raise ValueError(
            f"Found input variables with inconsistent numbers of samples: {counts} ({named}). "
            "Pass the same number of samples in each."
        )


def check_binary_labels(y: NDArray[Any], name: str = "y") -> None:
    """Check that a label array holds only 0 and 1."""
    values = np.unique(y)
    if not np.isin(values, (0, 1)).all():
        shown = values[:10].tolist()
        raise ValueError(
            f"Input {name} for binary logistic regression must contain only 0 and 1, got "
            f"values {shown}{'...' if values.size > 10 else ''}. Encode the labels, e.g. with "
            "sklearn.preprocessing.LabelEncoder, or use LogisticRegression, which accepts any "
            "two labels."
        )


def check_n_classes(n_classes: int, name: str = "y") -> None:
    """Softmax needs at least two classes."""
    if n_classes < 2:
        raise ValueError(
            f"Input {name} must contain at least 2 classes for softmax regression, got "
            f"{n_classes}. A classifier needs examples of more than one class."
        )


def check_shape(a: NDArray[Any], name: str, expected: tuple[int | None, ...]) -> None:
    """Check `a.shape` against `expected`, where None matches any length."""
    ok = a.ndim == len(expected) and all(
        e is None or e == s for e, s in zip(expected, a.shape, strict=True)
    )
    if not ok:
        want = "(" + ", ".join("any" if e is None else str(e) for e in expected) + ")"
        raise ValueError(
            f"Input {name} must have shape {want}, got shape {a.shape} instead."
        )


def shorten(value: Any, limit: int = 80) -> str:
    """``repr(value)`` (text as given for a str) on one line, cut to at most `limit` characters.

    Messages quote user data (labels, column names, typed text); a value from a file can be a
    megabyte long or hold line breaks, and the message must stay one readable line.
    """
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split()) if ("\n" in text or "\r" in text) else text
    if len(text) <= limit:
        return text
    return f"{text[: max(0, limit - 20)]}... ({len(text)} chars)"


def check_class_weight(class_weight: Any, classes: NDArray[Any], owner: str) -> None:
    """Refuse keys of a `class_weight` dict that are not class labels (scikit-learn ignores
    them silently, so a typo would weight nothing)."""
    if not isinstance(class_weight, dict):
        return
    known = set(np.asarray(classes).tolist())
    unknown = [k for k in class_weight if not _hashable_in(k, known)]
    if unknown:
        raise ValueError(
            f"The 'class_weight' parameter of {owner} has keys {shorten(unknown)} that are "
            f"not classes of y; the classes are {shorten(np.asarray(classes).tolist())}. Use "
            "the class labels as keys."
        )


def _hashable_in(key: Any, known: set[Any]) -> bool:
    try:
        return key in known
    except TypeError:
        return False
