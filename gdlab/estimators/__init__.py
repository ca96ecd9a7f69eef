"""scikit-learn compatible estimators over the core's loop, and their safe model files.

Imports :mod:`gdlab.core`, :mod:`gdlab.engines` and :mod:`gdlab.io`; nothing above.
"""

from gdlab.estimators.linear import LinearRegression, LogisticRegression, SoftmaxRegression

__all__ = ["LinearRegression", "LogisticRegression", "SoftmaxRegression"]
