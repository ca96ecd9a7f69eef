"""Shared fixtures: seeded generators and small problems for every model x loss pair.

``GDLAB_NO_NUMBA=1`` runs the suite as if numba were not installed: ``sys.modules["numba"]``
is set to None before gdlab is imported (any ``import numba`` then raises ImportError), and
tests marked ``numba`` skip. Otherwise ``GDLAB_COMPILE=always`` (unless set): the compiled
engine runs wherever it serves a case, small test data included (see gdlab.engines.compiled).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
NO_NUMBA = os.environ.get("GDLAB_NO_NUMBA", "") not in ("", "0")
if NO_NUMBA:
    sys.modules["numba"] = None  # type: ignore[assignment]
    sys.modules["llvmlite"] = None  # type: ignore[assignment]
else:
    os.environ.setdefault("GDLAB_COMPILE", "always")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not NO_NUMBA:
        return
    skip = pytest.mark.skip(reason="needs numba (GDLAB_NO_NUMBA=1: run without it)")
    for item in items:
        if "numba" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fuzz-long", action="store_true", default=False,
                     help="Fuzz the model-file loader with 40,000 files from a fresh seed "
                          "(the default run: 2,000 files, seed 2121).")
    parser.addoption("--fuzz-seed", type=int, default=None,
                     help="Seed of the loader fuzz (replays a reported failure).")
@pytest.fixture(scope="session")
def dask_client():
    """One distributed LocalCluster of 2 worker processes for the whole session (the Dask
    tests); not the default scheduler: a test picks it with dask.config.set(scheduler=...)."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()
