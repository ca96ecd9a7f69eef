"""Checkpoints: a :class:`gdlab.core.loop.TrainState` in one safe ``.npz``, written atomically.

A checkpoint holds everything that decides the rest of a run — parameters, optimizer state
(velocity, m, v, step count), epoch and position in the epoch's shuffle order, the random
generator's state (PCG64's state as JSON), the schedule's state, early-stopping counters and
the history — plus a fingerprint of the data and settings, so a resumed run continues
bit-identically and a run on other data or settings is refused.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gdlab.core._validation import shorten
from gdlab.core.loop import EpochRecord, TrainState
from gdlab.io.atomic import clean_stale_temp_files
from gdlab.io.safe_npz import ModelFileError, load_arrays, save_arrays

CHECKPOINT_NAME = "checkpoint.npz"

_SCALARS = ("epoch", "step", "batch_index", "epoch_loss_sum", "epoch_weight",
            "epoch_grad_norm_sum", "epoch_steps", "epoch_seconds", "best_epoch", "no_improve",
            "last_finite_loss", "converged", "stopped_by")


def fingerprint(arrays: Iterable[NDArray[Any] | None], settings: dict[str, Any]) -> str:
    """SHA-256 over the data arrays (dtype, shape, bytes) and the JSON of the settings."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        arr = np.ascontiguousarray(a)
        if arr.dtype == object:
            arr = arr.astype(str)
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())
    h.update(json.dumps(settings, sort_keys=True, default=repr).encode())
    return h.hexdigest()


def _enc_float(v: float | None) -> Any:
    if v is None:
        return None
    return v if math.isfinite(v) else ("inf" if v > 0 else "-inf")


def _dec_float(v: Any) -> float | None:
    if v is None:
        return None
    return float(v)


def _record(r: dict[str, Any]) -> EpochRecord:
    floats = ("loss", "lr", "grad_norm", "seconds", "val_loss", "val_score")
    fields: dict[str, Any] = {k: (_dec_float(v) if k in floats else v) for k, v in r.items()}
    return EpochRecord(**fields)


def save_checkpoint(path: str | os.PathLike[str], state: TrainState, *, fingerprint: str,
                    meta: dict[str, Any] | None = None) -> Path:
    """Write ``state`` to ``path`` atomically (a crash keeps the previous checkpoint)."""
    arrays: dict[str, NDArray[Any]] = {"theta": state.theta}
    for k, v in state.opt_state.items():
        arrays[f"opt.{k}"] = np.asarray(v)
    if state.order is not None:
        arrays["order"] = np.asarray(state.order)
    if state.best_theta is not None:
        arrays["best_theta"] = state.best_theta
    scalars = {k: getattr(state, k) for k in _SCALARS}
    for k in ("epoch_loss_sum", "epoch_weight", "epoch_grad_norm_sum", "epoch_seconds",
              "last_finite_loss"):
        scalars[k] = _enc_float(scalars[k])
    scalars["best_value"] = _enc_float(state.best_value)
    body = {
        "fingerprint": fingerprint,
        "state": scalars,
        "rng": state.rng.bit_generator.state,
        "rng_type": type(state.rng.bit_generator).__name__,
        "schedule_state": state.schedule_state,
        "history": [{k: _enc_float(v) if isinstance(v, float) else v
                     for k, v in r.as_dict().items()} for r in state.history],
        "user": meta or {},
    }
    p = Path(path)
    save_arrays(p, arrays, body, kind="checkpoint")
    return p


def load_checkpoint(path: str | os.PathLike[str], *, fingerprint: str | None = None,
                    restore_rng: bool = True) -> tuple[TrainState, dict[str, Any]]:
    """Read a checkpoint back into a :class:`TrainState`.

    With ``fingerprint``, a checkpoint made with other data or settings is refused.
    ``restore_rng=False`` exists only to show, in the tests, that resuming without the
    generator state breaks bit-identical resumption.
    """
    arrays, meta = load_arrays(path, kind="checkpoint")
    if fingerprint is not None and meta.get("fingerprint") != fingerprint:
        raise ModelFileError(
            f"{path}: this checkpoint was made with other data or settings (fingerprint "
            f"{str(meta.get('fingerprint'))[:12]}..., this run {fingerprint[:12]}...). Resume "
            "with the same data file and options, or delete the checkpoint to start afresh."
        )
    if "theta" not in arrays:
        raise ModelFileError(f"{path}: the checkpoint has no 'theta' array; it is damaged.")
    _check_arrays(path, arrays)
    if meta.get("rng_type") != "PCG64":
        raise ModelFileError(f"{path}: unsupported generator {shorten(repr(meta.get('rng_type')))}"
                             "; expected PCG64.")
    try:
        state = _state_from(arrays, meta, restore_rng)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as exc:
        # the checksum only proves the file is as written; a hand-made file can still be wrong
        raise ModelFileError(
            f"{path}: the checkpoint's state is invalid ({type(exc).__name__}: "
            f"{shorten(str(exc))}); delete the checkpoint to start afresh."
        ) from None
    user = meta.get("user", {})
    return state, user if isinstance(user, dict) else {}


def _check_arrays(path: Any, arrays: dict[str, NDArray[Any]]) -> None:
    """Dtypes and shapes a resumed run can use (the checksum proves only who wrote them)."""
    theta = arrays["theta"]
    for name, a in arrays.items():
        if name in ("theta", "best_theta"):
            ok = a.dtype.kind == "f" and a.shape == theta.shape
            want = f"floats of shape {shorten(str(theta.shape), 40)}"
        elif name == "order":
            ok, want = a.dtype.kind in "iu" and a.ndim == 1, "a 1-D array of ints"
        elif name.startswith("opt."):
            ok, want = a.dtype.kind in "biuf", "numbers"
        else:
            ok, want = False, "no array of that name"
        if not ok:
            raise ModelFileError(
                f"{path}: the checkpoint's array {name!r} has dtype {a.dtype} and shape "
                f"{shorten(str(a.shape), 40)}, expected {want}; delete the checkpoint to start "
                "afresh."
            )


def _state_from(arrays: dict[str, NDArray[Any]], meta: dict[str, Any],
                restore_rng: bool) -> TrainState:
    s = meta["state"]
    rng = np.random.Generator(np.random.PCG64())
    if restore_rng:
        rng.bit_generator.state = meta["rng"]
    state = TrainState(
        theta=arrays["theta"],
        opt_state={k[4:]: v for k, v in arrays.items() if k.startswith("opt.")},
        rng=rng,
        order=arrays.get("order"),
        best_theta=arrays.get("best_theta"),
        schedule_state=meta.get("schedule_state"),
        history=[_record(r) for r in meta.get("history", [])],
    )
    for k in _SCALARS:
        v = s[k]
        if k in ("epoch_loss_sum", "epoch_weight", "epoch_grad_norm_sum", "epoch_seconds"):
            v = float(v)
        elif k == "last_finite_loss":
            v = _dec_float(v)
        setattr(state, k, v)
    state.best_value = float(s["best_value"])
    return state


class CheckpointCallback:
    """Epoch callback writing ``DIR/checkpoint.npz`` every ``every`` epochs (and at the end).

    The directory is created if needed and stale temporary files from a crashed write are
    removed when the callback is made.
    """

    def __init__(self, directory: str | os.PathLike[str], *, fingerprint: str, every: int = 1,
                 meta: dict[str, Any] | None = None) -> None:
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"The 'every' parameter of CheckpointCallback must be an int in "
                             f"the range [1, inf). Got {every!r} instead.")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        clean_stale_temp_files(self.directory)
        self.path = self.directory / CHECKPOINT_NAME
        self.fingerprint, self.every, self.meta = fingerprint, every, meta

    def __call__(self, state: TrainState, record: EpochRecord) -> None:
        if state.epoch % self.every == 0 or state.stopped_by is not None:
            self.save(state)

    def save(self, state: TrainState) -> None:
        save_checkpoint(self.path, state, fingerprint=self.fingerprint, meta=self.meta)
