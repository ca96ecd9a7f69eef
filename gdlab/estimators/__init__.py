"""scikit-learn compatible estimators over the core's loop, and their safe model files.

Imports :mod:`gdlab.core`, :mod:`gdlab.engines` and :mod:`gdlab.io`; nothing above.
"""

from gdlab.estimators.linear import LinearRegression, LogisticRegression, SoftmaxRegression
from gdlab.estimators.mlp import MLPClassifier, MLPRegressor

__all__ = ["LinearRegression", "LogisticRegression", "MLPClassifier", "MLPRegressor",
           "SoftmaxRegression"]
