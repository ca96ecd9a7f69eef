"""The network page: a real fit of gdlab's MLPClassifier on two features, replayed epoch by
epoch in the browser as TensorFlow Playground shows a network.

Python trains (one fit, seeded, with an epoch callback keeping theta after every epoch) and
computes what the page draws: after each sampled epoch the probability of the second class on
a ``GRID`` x ``GRID`` grid over the data's box, every hidden unit's output on a ``UNIT_GRID``
x ``UNIT_GRID`` grid, and the training and test loss after every epoch. Grids travel as uint8
(a probability p as round(255 p); a unit's output v as round(255 (v - lo) / (hi - lo)) with
that map's lo and hi), deflated and base64-encoded; the page inflates them with the browser's
own ``DecompressionStream`` and draws on plain canvas. The model file (the estimator and its
column encoder, as ``gdlab fit --out`` writes it) goes beside the page.
"""

from __future__ import annotations

import base64
import difflib
import html
import json
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gdlab.core.datasets import DATASETS, make_dataset
from gdlab.estimators.mlp import MLPClassifier
from gdlab.estimators.persist import TabularModel
from gdlab.io.atomic import atomic_write_bytes
from gdlab.io.tables import DataFileError, FeatureEncoder, read_table, split_features_target

Array = NDArray[Any]

__all__ = ["GRID", "MAP_BUDGET", "MAX_SNAPSHOTS", "UNIT_GRID", "NetworkData", "NetworkReplay",
           "build_network_spec", "network_data", "render_network_page", "snapshot_epochs",
           "train_network", "write_network_playground"]

#: cells per axis of the output map, and of each hidden unit's map
GRID = 60
UNIT_GRID = 30
#: most snapshots a page holds (epoch 0, the initial weights, included)
MAX_SNAPSHOTS = 101
#: bytes of maps (before deflating) a page holds at most: a wide network gets fewer snapshots
MAP_BUDGET = 2_000_000


@dataclass
class NetworkData:
    """Two features and binary labels to train on.

    Attributes
    ----------
    X : array of shape (n_samples, 2)
        The features as in the file or data set (the page's axes).
    y : array of shape (n_samples,)
        The labels (two distinct values).
    feature_names : list of two str
    target : str
        The label column's name ('label' for a data set).
    name : str
        The data set's name or the file's name.
    recipe : str
        How to make the same table: a ``gdlab dataset`` command, or the file's path.
    """

    X: Array
    y: Array
    feature_names: list[str]
    target: str
    name: str
    recipe: str


def _dataset_hint(source: str) -> str:
    close = difflib.get_close_matches(source.lower(), list(DATASETS), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def network_data(source: str, *, samples: int = 400, noise: float = 0.1, seed: int = 0,
                 target: str | None = None, sep: str | None = None) -> NetworkData:
    """A data set by name (circles, xor, gaussians, spirals) or a table with two numeric
    feature columns and a target column of two classes.

    ``samples``, ``noise`` and ``seed`` make a data set (as ``gdlab dataset``); ``target``
    (default: a column named 'label') and ``sep`` read a table.

    Raises
    ------
    ValueError
        An unknown name that is not a file.
    DataFileError
        A table that is not two numeric features and two classes (the message names the file,
        the columns found and the fix).
    """
    if source in DATASETS:
        X, y = make_dataset(source, samples, noise=noise, random_state=seed)
        recipe = (f"gdlab dataset {source} --samples {samples} --noise {noise:g} --seed {seed} "
                  f"--out {source}.csv")
        return NetworkData(X, y, ["x1", "x2"], "label", source, recipe)
    path = Path(source)
    if not path.exists() and path.suffix == "":
        raise ValueError(
            f"Unknown data set {source!r}{_dataset_hint(source)}; expected one of "
            f"{', '.join(DATASETS)} or a table file (.csv, .parquet) with two feature columns "
            "and a label column."
        )
    df = read_table(path, sep=sep)
    cols = [str(c) for c in df.columns]
    if target is None:
        if "label" not in cols:
            raise DataFileError(
                f"{path}: no column named 'label'; pass --target COL, the column with the two "
                f"classes (columns: {', '.join(repr(c) for c in cols)})."
            )
        target = "label"
    X_df, y_s = split_features_target(df, target, path=path)
    features = [str(c) for c in X_df.columns]
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(X_df[c].dtype)
               and not pd.api.types.is_bool_dtype(X_df[c].dtype)]
    if len(features) != 2 or len(numeric) != 2:
        kinds = ", ".join(f"{c!r}" + ("" if c in numeric else " (not numeric)")
                          for c in features)
        raise DataFileError(
            f"{path}: the network page draws two numeric feature columns (the plane of its "
            f"maps); besides the target {target!r} the file has {len(features)}: {kinds}. "
            "Keep exactly two numeric columns and the target (gdlab fit trains on more)."
        )
    classes = pd.unique(y_s)
    if len(classes) != 2:
        shown = ", ".join(repr(str(c)) for c in classes[:6]) + (", ..." if len(classes) > 6
                                                               else "")
        raise DataFileError(
            f"{path}: the target column {target!r} has {len(classes)} class(es) ({shown}); the "
            "network page draws two classes. Pick a column with two values (gdlab fit "
            "--model mlp trains on more)."
        )
    # finiteness and missing cells, reported with their line
    FeatureEncoder().fit(X_df, path=path)
    X = X_df.to_numpy(dtype=np.float64)
    y = y_s.to_numpy()
    return NetworkData(X, y, features, target, path.name, str(path))


def snapshot_epochs(epochs: int, max_snapshots: int = MAX_SNAPSHOTS) -> list[int]:
    """The epochs a page shows: every one from 0 to ``epochs`` when they fit in
    ``max_snapshots``, else ``max_snapshots`` of them spread evenly (0 and the last always)."""
    if epochs + 1 <= max_snapshots:
        return list(range(epochs + 1))
    return sorted({int(round(v)) for v in np.linspace(0, epochs, max_snapshots)})


class _Thetas:
    """Epoch callback: theta before the first epoch and after every epoch."""

    def __init__(self) -> None:
        self.thetas: list[Array] = []

    def __call__(self, state: Any, record: Any) -> None:
        if not self.thetas:
            self.thetas.append(np.array(state.epoch_start_theta, copy=True))
        self.thetas.append(np.array(state.theta, copy=True))


@dataclass
class NetworkReplay:
    """A fit and what the page replays of it.

    Attributes
    ----------
    data : NetworkData
    model : TabularModel
        The fitted MLPClassifier and the encoder standardizing the two columns.
    train, test : arrays of int, shapes (n_train,) and (n_test,)
        Row indices of data.X.
    thetas : list of arrays of shape (n_params,)
        The network's parameters before training (index 0) and after every epoch.
    train_loss, test_loss : arrays of shape (n_epochs + 1,)
        Mean cross-entropy (no penalty) of those parameters on the training and test rows.
    box : array of shape (2, 2)
        (lo, hi) of each feature: the plane the maps cover.
    settings : dict
        The fit's settings (hidden, activation, optimizer, lr, batch_size, epochs, seed ...).
    """

    data: NetworkData
    model: TabularModel
    train: Array
    test: Array
    thetas: list[Array]
    train_loss: Array
    test_loss: Array
    box: Array
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def estimator(self) -> MLPClassifier:
        est: MLPClassifier = self.model.estimator
        return est

    def accuracy(self) -> dict[str, float | None]:
        """Accuracy of the fitted network on the training and the test rows (None: no rows)."""
        pred = self.estimator.predict(self.encode(self.data.X))
        correct = pred == self.data.y
        return {"train": float(correct[self.train].mean()) if len(self.train) else None,
                "test": float(correct[self.test].mean()) if len(self.test) else None}

    def encode(self, X: Array) -> Array:
        """Points of shape (m, 2) in the features' units as the network takes them
        (standardized), shape (m, 2)."""
        names = self.data.feature_names
        return self.model.encoder.transform(pd.DataFrame({names[0]: X[:, 0],
                                                          names[1]: X[:, 1]}))

    def axes(self, n: int) -> tuple[Array, Array]:
        """The n x-values and n y-values of a map's cells (row r of a map has y = ys[r])."""
        return (np.linspace(self.box[0, 0], self.box[0, 1], n),
                np.linspace(self.box[1, 0], self.box[1, 1], n))

    def _plane(self, n: int) -> Array:
        """The n x n grid over the box, encoded: shape (n * n, 2), row-major along y."""
        xs, ys = self.axes(n)
        xx, yy = np.meshgrid(xs, ys)
        return self.encode(np.column_stack([xx.ravel(), yy.ravel()]))

    def proba_map(self, epoch: int, n: int = GRID) -> Array:
        """P(second class) after ``epoch`` epochs on the n x n grid, shape (n, n), rows along
        y."""
        p = self.estimator.model_.forward(self.thetas[epoch], self._plane(n))
        return np.asarray(p).reshape(n, n)

    def unit_maps(self, epoch: int, n: int = UNIT_GRID) -> list[Array]:
        """Each hidden layer's outputs after ``epoch`` epochs: shape (n_units, n, n) per
        layer, rows along y."""
        outs = self.estimator.model_.layer_outputs(self.thetas[epoch], self._plane(n))[:-1]
        return [A.T.reshape(A.shape[1], n, n) for _, A in outs]


def train_network(data: NetworkData, *, hidden: Sequence[int] = (8, 8),
                  activation: Any = "tanh", optimizer: str = "adam", lr: float = 0.01,
                  batch_size: int | None = 16, epochs: int = 400, alpha: float = 1e-4,
                  test_size: float = 0.2, seed: int = 0) -> NetworkReplay:
    """Fit gdlab's MLPClassifier on data (standardized columns, a stratified test split of
    ``test_size``, none when 0), keeping theta after every epoch; ``epochs`` run in full
    (tol=None)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(data.y))
    if test_size == 0:
        train, test = idx, idx[:0]
    else:
        try:
            train, test = train_test_split(idx, test_size=test_size, random_state=seed,
                                           stratify=data.y)
        except ValueError:  # a class too small to stratify
            train, test = train_test_split(idx, test_size=test_size, random_state=seed)
    frame = pd.DataFrame({data.feature_names[0]: data.X[:, 0],
                          data.feature_names[1]: data.X[:, 1]})
    encoder = FeatureEncoder(standardize=True).fit(frame.iloc[train])
    Xs = encoder.transform(frame)
    record = _Thetas()
    est = MLPClassifier(tuple(hidden), activation=activation, optimizer=optimizer, lr=lr,
                        batch_size=batch_size, epochs=epochs, alpha=alpha, tol=None,
                        random_state=seed, callbacks=[record])
    est.fit(Xs[train], data.y[train])
    est.callbacks = None  # a fitted model keeps no reference to the recorder
    y01 = (data.y == est.classes_[1]).astype(np.float64)
    model = est.model_
    train_loss = np.array([model.loss_value(t, Xs[train], y01[train]) for t in record.thetas])
    test_loss = np.array([model.loss_value(t, Xs[test], y01[test]) if len(test) else np.nan
                          for t in record.thetas])
    lo, hi = data.X.min(axis=0), data.X.max(axis=0)
    pad = 0.05 * np.where(hi > lo, hi - lo, 1.0)
    box = np.column_stack([lo - pad, hi + pad])
    task = "binary"
    settings = {"hidden": [int(h) for h in hidden],
                "activation": list(est.activations_), "optimizer": optimizer, "lr": lr,
                "batch_size": batch_size, "epochs": epochs, "alpha": alpha,
                "test_size": test_size, "seed": seed}
    return NetworkReplay(data, TabularModel(est, encoder, data.target, task), train, test,
                         record.thetas, train_loss, test_loss, box, settings)


def _quantize(v: Array, lo: float, hi: float) -> Array:
    if not hi > lo:
        return np.zeros(v.shape, dtype=np.uint8)
    return np.clip(np.rint((v - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)


def _filter(A: Array) -> Array:
    """Snapshots (rows of uint8) as differences mod 256: each row minus the previous row,
    then each byte minus the byte before it; neighbouring epochs and cells are alike, so the
    result deflates ~20 % smaller. network.js undoes both."""
    T = A.copy()
    T[1:] = A[1:] - A[:-1]
    D = T.copy()
    D[:, 1:] = T[:, 1:] - T[:, :-1]
    return D


def _f(v: float) -> float | None:
    return float(f"{v:.7g}") if np.isfinite(v) else None


def build_network_spec(replay: NetworkReplay, *, grid: int = GRID, unit_grid: int = UNIT_GRID,
                       max_snapshots: int = MAX_SNAPSHOTS) -> dict[str, Any]:
    """The JSON-able data of the page: settings, data points, losses per epoch, and the maps
    of the sampled epochs as one deflated, base64-encoded uint8 block.

    The block holds, per snapshot in order, the output map (grid * grid bytes, rows along y)
    and then every hidden unit's map (unit_grid * unit_grid bytes each, layer by layer);
    ``ranges[i]`` holds (lo, hi) of each unit's map of snapshot i, so a byte q stands for
    lo + q (hi - lo) / 255 (and for q / 255 in the output map). The block is stored filtered
    (:func:`_filter`). At most ``max_snapshots`` epochs are shown, fewer (not under 11) when
    their maps would pass MAP_BUDGET bytes.
    """
    est = replay.estimator
    n_epochs = len(replay.thetas) - 1
    per = grid * grid + sum(W.shape[1] for W in est.coefs_[:-1]) * unit_grid * unit_grid
    shown = snapshot_epochs(n_epochs, min(max_snapshots, max(11, MAP_BUDGET // per)))
    blocks: list[bytes] = []
    ranges: list[list[list[float]]] = []
    for e in shown:
        blocks.append(_quantize(replay.proba_map(e, grid), 0.0, 1.0).tobytes())
        snap_ranges: list[list[float]] = []
        for layer in replay.unit_maps(e, unit_grid):
            for m in layer:
                lo, hi = (_f(float(m.min())) or 0.0), (_f(float(m.max())) or 0.0)
                blocks.append(_quantize(m, lo, hi).tobytes())
                snap_ranges.append([lo, hi])
        ranges.append(snap_ranges)
    raw = _filter(np.frombuffer(b"".join(blocks), dtype=np.uint8).reshape(len(shown), -1))
    data = replay.data
    return {
        "name": data.name,
        "recipe": data.recipe,
        "features": data.feature_names,
        "target": data.target,
        "classes": [str(c) for c in est.classes_],
        "box": replay.box.tolist(),
        "points": {"x": [_f(v) for v in data.X[:, 0]], "y": [_f(v) for v in data.X[:, 1]],
                   "label": (data.y == est.classes_[1]).astype(int).tolist(),
                   "test": np.isin(np.arange(len(data.y)), replay.test).astype(int).tolist()},
        "layers": [int(W.shape[1]) for W in est.coefs_[:-1]],
        "settings": replay.settings,
        "n_train": len(replay.train), "n_test": len(replay.test),
        "accuracy": replay.accuracy(),
        "loss": {"train": [_f(v) for v in replay.train_loss],
                 "test": [_f(v) for v in replay.test_loss]},
        "epochs": shown,
        # per snapshot: the weight matrices W_l (n_{l-1}, n_l) flattened row-major, layer by
        # layer (the biases left out), 4 significant digits: the links of the drawing
        "weights": [[float(f"{w:.4g}") for W, _ in est.model_.unpack(replay.thetas[e])
                     for w in W.ravel()] for e in shown],
        "grid": grid,
        "unit_grid": unit_grid,
        "ranges": ranges,
        "maps": base64.b64encode(zlib.compress(raw.tobytes(), 9)).decode("ascii"),
        "maps_bytes": int(raw.size),
    }


def _static(name: str) -> str:
    return (resources.files("gdlab.playground") / "static" / name).read_text(encoding="utf-8")


def render_network_page(spec: dict[str, Any]) -> str:
    """The HTML text of the network page, styles, data and script inlined."""
    hidden = "-".join(str(n) for n in spec["layers"]) or "no hidden layer"
    names = spec["settings"]["activation"]
    acts = names[0] if len(set(names)) == 1 else ", ".join(names)
    title = f"gdlab playground: a network on {spec['name']}"
    parts = {
        "{{TITLE}}": html.escape(title),
        "{{STYLE}}": _static("playground.css") + _static("network.css"),
        "{{SPEC}}": json.dumps(spec, separators=(",", ":"), allow_nan=False).replace(
            "</", "<\\/"),
        "{{SCRIPT}}": _static("network.js"),
        "{{NAME}}": html.escape(spec["name"]),
        "{{NETWORK}}": html.escape(f"{hidden} {acts}"),
    }
    return re.sub(r"\{\{[A-Z]+\}\}", lambda m: parts[m.group(0)], _static("network.html"))


def write_network_playground(replay: NetworkReplay, out: str | Path, *,
                             max_snapshots: int = MAX_SNAPSHOTS) -> tuple[Path, Path]:
    """Write the page to ``out`` and the model file beside it (same stem, ``.npz``), each
    atomically; return both paths."""
    page = Path(out)
    model_path = page.with_suffix(".npz")
    spec = build_network_spec(replay, max_snapshots=max_snapshots)
    spec["model_file"] = model_path.name
    replay.model.save(model_path)
    atomic_write_bytes(page, render_network_page(spec).encode("utf-8"))
    return page, model_path
