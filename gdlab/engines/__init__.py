"""Optional accelerators for the core's formulas: compiled full-batch kernels and compiled
mini-batch epochs (numba).

Imports :mod:`gdlab.core` only. numba is loaded when a compiled kernel is first needed, never
at import; without numba the core's NumPy path runs and gives the same results.
"""
