"""Models: parameters, forward pass, loss and gradient, vectorized over samples.

Each model is a small frozen description (sizes, loss, layout); parameters are one flat
vector theta passed in and out, so optimizers, the training loop and checkpoints stay generic.
"""

from gdlab.core.models.glm import GLM
from gdlab.core.models.linear import LinearModel
from gdlab.core.models.logistic import LogisticModel
from gdlab.core.models.softmax import SoftmaxModel

__all__ = ["GLM", "LinearModel", "LogisticModel", "SoftmaxModel"]
