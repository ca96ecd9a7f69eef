"""Messages stay readable: quoted values capped, one line, unknown class_weight keys refused."""

from __future__ import annotations

import numpy as np
import pytest

from gdlab.cli import one_line
from gdlab.core._validation import shorten
from gdlab.estimators.linear import LogisticRegression, SoftmaxRegression


def test_shorten_caps_and_keeps_one_line() -> None:
    assert shorten("abc") == "abc"
    assert shorten(["a", 1]) == "['a', 1]"
    long = shorten("x" * 1_000_000, 80)
    assert long == "x" * 60 + "... (1000000 chars)" and len(long) <= 80
    assert shorten("a\nb\r\nc") == "a b c"


def test_cli_one_line_cuts_data_not_paths() -> None:
    path = "/tmp/" + "d" * 120 + "/model.npz"
    msg = f"{path}: no column 'x'; available columns: '{'L' * 500_000}'.\nsecond line"
    line = one_line(msg)
    assert "\n" not in line and line.startswith(path + ":")
    assert "... (500003 chars)" in line and len(line) < 400
    assert len(one_line(" ".join(["word"] * 100_000))) < 1100


def test_unknown_class_weight_keys_are_an_error() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 2)), np.array(["cat", "dog", "cat"] * 10)
    with pytest.raises(ValueError, match=r"^The 'class_weight' parameter of LogisticRegression "
                                         r"has keys \['cta'\] that are not classes of y; the "
                                         r"classes are \['cat', 'dog'\]\. Use the class labels "
                                         r"as keys\.$"):
        LogisticRegression(class_weight={"cat": 1.0, "cta": 5.0}, epochs=2).fit(X, y)
    y3 = np.arange(30) % 3
    with pytest.raises(ValueError, match=r"has keys \[3\] that are not classes"):
        SoftmaxRegression(class_weight={0: 1, 1: 1, 2: 1, 3: 2}, epochs=2).fit(X, y3)
    # known keys (NumPy integers too) still weight the rows
    est = SoftmaxRegression(class_weight={np.int64(0): 3.0, 1: 1.0}, epochs=2,
                            random_state=0).fit(X, y3)
    assert est.coef_.shape == (3, 2)
