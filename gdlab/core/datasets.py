"""TensorFlow Playground's two-dimensional data sets: circles, xor, gaussians, spirals.

Each function returns ``X`` of shape (n_samples, 2) and integer labels ``y`` of shape
(n_samples,) in {0, 1}, half of the rows in each class (class 0 gets the extra row when
n_samples is odd), drawn from ``np.random.default_rng(random_state)``. Points lie roughly in
[-6, 6]^2 as on the Playground. ``noise`` is the standard deviation of Gaussian noise added to
each coordinate.

- circles: class 0 inside radius 2.5, class 1 on a ring between radii 3.5 and 5.
- xor: uniform on [-5, 5]^2, class 1 where x1 * x2 < 0 (opposite quadrants).
- gaussians: two blobs of standard deviation 1 around (2, 2) and (-2, -2).
- spirals: two interleaved spirals, r from 0 to 5 over ``turns`` turns, the second rotated
  by pi; a linear model separates them no better than chance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from gdlab.core._validation import check_scalar

Array = NDArray[Any]

__all__ = ["DATASETS", "make_circles", "make_dataset", "make_gaussians", "make_spirals",
           "make_xor"]


def _sizes(n_samples: int, noise: float, owner: str) -> tuple[int, int]:
    check_scalar(n_samples, "n_samples", kind=int, low=2, owner=owner)
    check_scalar(noise, "noise", low=0.0, owner=owner)
    n1 = int(n_samples) // 2
    return int(n_samples) - n1, n1


def _finish(X0: Array, X1: Array, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    X = np.vstack([X0, X1])
    if noise:
        X = X + rng.normal(scale=noise, size=X.shape)
    y = np.concatenate([np.zeros(len(X0), dtype=np.int64), np.ones(len(X1), dtype=np.int64)])
    return X, y


def make_circles(n_samples: int = 400, *, noise: float = 0.0,
                 random_state: Any = None) -> tuple[Array, Array]:
    """A disc (class 0) inside a ring (class 1); X (n_samples, 2), y (n_samples,)."""
    n0, n1 = _sizes(n_samples, noise, "make_circles")
    rng = np.random.default_rng(random_state)

    def ring(n: int, r_lo: float, r_hi: float) -> Array:
        r = rng.uniform(r_lo, r_hi, n)
        angle = rng.uniform(0.0, 2.0 * np.pi, n)
        return np.column_stack([r * np.cos(angle), r * np.sin(angle)])

    return _finish(ring(n0, 0.0, 2.5), ring(n1, 3.5, 5.0), noise, rng)


def make_xor(n_samples: int = 400, *, noise: float = 0.0,
             random_state: Any = None) -> tuple[Array, Array]:
    """Uniform points in [-5, 5]^2, class 1 where x1 x2 < 0; X (n_samples, 2), y (n_samples,)."""
    n0, n1 = _sizes(n_samples, noise, "make_xor")
    rng = np.random.default_rng(random_state)
    # a margin of 0.3 keeps the classes apart when noise=0
    def quadrants(n: int, same_sign: bool) -> Array:
        a = rng.uniform(0.3, 5.0, (n, 2)) * rng.choice([-1.0, 1.0], size=(n, 1))
        if not same_sign:
            a[:, 1] *= -1.0
        return a

    return _finish(quadrants(n0, True), quadrants(n1, False), noise, rng)


def make_gaussians(n_samples: int = 400, *, noise: float = 0.0,
                   random_state: Any = None) -> tuple[Array, Array]:
    """Two unit Gaussian blobs at (2, 2) (class 0) and (-2, -2) (class 1)."""
    n0, n1 = _sizes(n_samples, noise, "make_gaussians")
    rng = np.random.default_rng(random_state)
    return _finish(rng.normal(2.0, 1.0, (n0, 2)), rng.normal(-2.0, 1.0, (n1, 2)), noise, rng)


def make_spirals(n_samples: int = 400, *, noise: float = 0.0, turns: float = 1.75,
                 random_state: Any = None) -> tuple[Array, Array]:
    """Two interleaved spirals of ``turns`` turns each, the second rotated by pi.

    Point k of a class (t = k / n_class in [0, 1)): r = 5 t, angle = 2 pi turns t + class pi.
    """
    n0, n1 = _sizes(n_samples, noise, "make_spirals")
    check_scalar(turns, "turns", low=0.0, closed="neither", owner="make_spirals")
    rng = np.random.default_rng(random_state)

    def spiral(n: int, delta: float) -> Array:
        t = np.arange(n) / n
        angle = 2.0 * np.pi * turns * t + delta
        return np.column_stack([5.0 * t * np.sin(angle), 5.0 * t * np.cos(angle)])

    return _finish(spiral(n0, 0.0), spiral(n1, np.pi), noise, rng)


DATASETS = {"circles": make_circles, "xor": make_xor, "gaussians": make_gaussians,
            "spirals": make_spirals}


def make_dataset(name: str, n_samples: int = 400, *, noise: float = 0.0,
                 random_state: Any = None) -> tuple[Array, Array]:
    """One of :data:`DATASETS` by name: 'circles', 'xor', 'gaussians' or 'spirals'."""
    if name not in DATASETS:
        raise ValueError(f"Unknown data set {name!r}; expected one of {sorted(DATASETS)}.")
    return DATASETS[name](n_samples, noise=noise, random_state=random_state)
