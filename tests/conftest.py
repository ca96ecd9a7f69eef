"""Shared fixtures: seeded generators and small problems for every model x loss pair."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fuzz-long", action="store_true", default=False,
                     help="Fuzz the model-file loader with 40,000 files from a fresh seed "
                          "(the default run: 2,000 files, seed 2121).")
    parser.addoption("--fuzz-seed", type=int, default=None,
                     help="Seed of the loader fuzz (replays a reported failure).")
