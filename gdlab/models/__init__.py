"""Models: parameters, forward pass, loss and gradient, vectorized over samples.

Each model is a small frozen description (sizes, loss, layout); parameters are one flat
vector theta passed in and out, so optimizers, the training loop and checkpoints stay generic.
"""

from gdlab.models._glm import GLM
from gdlab.models.linear import LinearModel
from gdlab.models.logistic import LogisticModel
from gdlab.models.softmax import SoftmaxModel

__all__ = ["GLM", "LinearModel", "LogisticModel", "SoftmaxModel"]
