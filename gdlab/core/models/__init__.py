"""Models: parameters, forward pass, loss and gradient, vectorized over samples.

Each model is a small frozen description (sizes, loss, layout) implementing the protocol of
:mod:`gdlab.core.models.base`; parameters are one flat vector theta passed in and out, so
optimizers, the training loop, checkpoints and model files stay generic.
"""

from gdlab.core.models.base import MODELS, Model, model_from_config, register_model
from gdlab.core.models.glm import GLM
from gdlab.core.models.linear import LinearModel
from gdlab.core.models.logistic import LogisticModel
from gdlab.core.models.mlp import MLP
from gdlab.core.models.softmax import SoftmaxModel

__all__ = ["GLM", "MLP", "MODELS", "LinearModel", "LogisticModel", "Model", "SoftmaxModel",
           "model_from_config", "register_model"]
