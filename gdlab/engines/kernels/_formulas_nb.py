"""gdlab.core's element-wise formulas, callable from compiled code.

The point-wise MSE step (:mod:`gdlab.core.pointwise`), the optimizer rules the compiled epoch
supports (:mod:`gdlab.core.optim.rules`: GD, both momentum forms, Adam / AdamW) and the GLM's
intercept rule and L2 term (:func:`gdlab.core.models.glm.finish_flat`) are plain functions
over arrays or scalars. Registering them with ``numba.extending.register_jitable`` lets
numba-compiled kernels call the very same functions. They are not inlined at numba's IR level
(``inline="always"``): that made numba warn (``NumbaIRAssumptionWarning``) when
``tests/test_pointwise.py`` compiled ``adam_rule`` twice in one function. The kernels compiled
from them are stamped with these modules (``COMPILED_SOURCES`` in
:mod:`gdlab.engines.kernels._numba`), so an edit of a formula recompiles them.

Only imported when numba is present.
"""

from __future__ import annotations

from numba.extending import register_jitable

from gdlab.core.models.glm import finish_flat
from gdlab.core.optim.rules import (
    adam_rule,
    adam_scales,
    coupled_decay,
    gd_rule,
    lerp,
    momentum_lesson_rule,
    momentum_torch_rule,
)
from gdlab.core.pointwise import mse_point

__all__ = ["adam_rule", "adam_scales", "finish_flat", "gd_rule", "momentum_lesson_rule",
           "momentum_torch_rule", "mse_point"]

# the functions the compiled kernels call, and the helpers those call
for _fn in (lerp, coupled_decay, adam_scales, adam_rule, gd_rule, momentum_lesson_rule,
            momentum_torch_rule, mse_point, finish_flat):
    register_jitable(_fn)
