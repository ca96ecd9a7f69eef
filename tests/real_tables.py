"""Real tables shipped offline (scikit-learn, palmerpenguins, vega_datasets, statsmodels) and
scikit-learn's closed-form / lbfgs reference score on a given split.

Two views of each table:

* :func:`frame` -- the table as its package ships it (missing cells, text columns, dates),
  for the command line; :func:`write_csv` writes it to a CSV file.
* :func:`xy` -- a numeric matrix for the estimators: rows with a missing cell dropped, text
  columns one-hot encoded (``pd.get_dummies``), date columns dropped.

:data:`TABLES` names each case: (table, target, task). :func:`reference_score` fits
scikit-learn's ``LinearRegression`` (closed form) or ``LogisticRegression`` (lbfgs) after a
``StandardScaler`` and returns the held-out R^2 or accuracy.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray


def _penguins() -> pd.DataFrame:
    import palmerpenguins

    return palmerpenguins.load_penguins()


def _cars() -> pd.DataFrame:
    from vega_datasets import local_data

    return local_data.cars()


def _statsmodels(name: str) -> pd.DataFrame:
    import statsmodels.api as sm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(sm.datasets, name).load_pandas().data


def _sklearn(name: str) -> pd.DataFrame:
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    return bunch.frame


LOADERS: dict[str, Callable[[], pd.DataFrame]] = {
    "penguins": _penguins,
    "cars": _cars,
    "longley": lambda: _statsmodels("longley"),
    "star98": lambda: _statsmodels("star98").drop(columns=["NBELOW"]),
    "fair": lambda: _statsmodels("fair"),
    "spector": lambda: _statsmodels("spector"),
    "diabetes": lambda: _sklearn("diabetes"),
    "breast_cancer": lambda: _sklearn("breast_cancer"),
    "wine": lambda: _sklearn("wine"),
    "iris": lambda: _sklearn("iris"),
}

# case -> (table, target, task); regression targets with a large mean or scale included
TABLES: dict[str, tuple[str, str, str]] = {
    "penguins_mass": ("penguins", "body_mass_g", "regression"),  # grams, mean ~4200
    "penguins_species": ("penguins", "species", "multiclass"),
    "longley": ("longley", "TOTEMP", "regression"),  # 16 rows, employment ~65,000
    "cars_mpg": ("cars", "Miles_per_Gallon", "regression"),
    "star98": ("star98", "NABOVE", "regression"),  # counts of pupils, mean ~600
    "fair": ("fair", "affairs", "regression"),
    "spector": ("spector", "GRADE", "binary"),
    "diabetes": ("diabetes", "target", "regression"),  # 25 .. 346
    "breast_cancer": ("breast_cancer", "target", "binary"),
    "wine": ("wine", "target", "multiclass"),
    "iris": ("iris", "target", "multiclass"),
}


def frame(table: str) -> pd.DataFrame:
    """The table as its package ships it."""
    return LOADERS[table]().reset_index(drop=True)


def write_csv(table: str, directory: Path, name: str | None = None) -> Path:
    """Write the table, as shipped, to ``directory/<table>.csv`` (no index column)."""
    path = Path(directory) / (name or f"{table}.csv")
    frame(table).to_csv(path, index=False)
    return path


def xy(case: str) -> tuple[NDArray[np.float64], NDArray[Any], str]:
    """(X, y, task) for a case of :data:`TABLES`: complete rows, text one-hot, dates dropped."""
    table, target, task = TABLES[case]
    df = frame(table)
    df = df.drop(columns=[c for c in df.columns
                          if pd.api.types.is_datetime64_any_dtype(df[c].dtype)])
    if table == "cars":
        df = df.drop(columns=["Name"])  # one name per car: an id, not a feature
    df = df.dropna().reset_index(drop=True)
    y = df[target].to_numpy()
    feats = df.drop(columns=[target])
    X = pd.get_dummies(feats, dtype=np.float64).to_numpy(dtype=np.float64)
    if task != "regression" and y.dtype.kind == "f":
        y = y.astype(np.int64)
    return X, y, task


def split(X: NDArray[Any], y: NDArray[Any], task: str, *, test_size: float = 0.2,
          seed: int = 0) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
    """train_test_split, stratified for classifiers (as ``gdlab fit`` splits)."""
    from sklearn.model_selection import train_test_split

    strat = None if task == "regression" else y
    return train_test_split(X, y, test_size=test_size, random_state=seed, stratify=strat)


def reference_score(X_train: NDArray[Any], y_train: NDArray[Any], X_test: NDArray[Any],
                    y_test: NDArray[Any], task: str) -> float:
    """scikit-learn's held-out R^2 (closed-form LinearRegression) or accuracy (lbfgs
    LogisticRegression, max_iter=10_000) after a StandardScaler fitted on the training rows."""
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    est = LinearRegression() if task == "regression" else LogisticRegression(max_iter=10_000)
    model = make_pipeline(StandardScaler(), est).fit(X_train, y_train)
    return float(model.score(X_test, y_test))
