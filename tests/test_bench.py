"""The benchmarks' read probe (gdlab.teach._bench.read_probe) reads every element of X once."""

import numpy as np
import pytest

from gdlab.teach import _bench


@pytest.mark.parametrize("streams", [True, False])
@pytest.mark.parametrize("shape", [(1, 1), (7, 1), (8, 1), (17, 3), (1001, 10)])
@pytest.mark.parametrize("order", ["C", "F"])
def test_read_probe_sums_every_element_once(streams, shape, order):
    """Eight streams per thread plus a tail: with entries 1..size (sums exact in float64), a
    skipped or repeated element changes the total by at least 1."""
    size = int(np.prod(shape))
    a = np.asarray(np.arange(1.0, size + 1).reshape(shape), order=order)
    probe = _bench.read_probe(a, threads=2, streams=streams)
    assert probe() == size * (size + 1) / 2
