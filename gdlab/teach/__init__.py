"""Teaching: the lessons' worked example, the loop twins of the gradients, the lessons'
comparisons and the vectorization benchmark.

Imports :mod:`gdlab.core`, :mod:`gdlab.estimators` and :mod:`gdlab.functions`.
"""
