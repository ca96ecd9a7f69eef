"""Descent on typed functions: the safe parser (text -> SymPy -> NumPy), named surfaces,
critical points, and minimization with trajectories, many starts and basins.

Imports :mod:`gdlab.core` (optimizers, schedules) only.
"""
