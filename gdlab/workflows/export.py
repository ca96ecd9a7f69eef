"""Export a fitted network's weights for other tools: a PyTorch state_dict file or JSON.

The network is written as the layers of ``torch.nn.Sequential``: ``nn.Linear`` layers with
an activation module between them (``nn.Identity``, ``nn.ReLU``, ``nn.LeakyReLU(0.01)``,
``nn.ELU``, ``nn.Tanh``, ``nn.Sigmoid``, ``nn.GELU``), so the state_dict keys are
``"0.weight"``, ``"0.bias"``, ``"2.weight"``, ... and each weight has nn.Linear's shape
(out, in), the transpose of gdlab's W. The last layer gives the logits: apply a softmax (K
classes) or a sigmoid (two classes, one output) for probabilities. A regressor's target
scaling is folded into the last layer (W scale, b scale + mean), so the exported network
predicts in the target's units. Linear, logistic and softmax regression export as one
``nn.Linear``.

``to="torch"`` needs PyTorch and writes a file that ``torch.load(path, weights_only=True)``
reads; ``to="json"`` writes ``{"format", "layers": [{"in", "out", "weight" (out, in), "bias",
"activation"}], "head", "classes", "feature_names", "torch_modules"}``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]

__all__ = ["TORCH_MODULES", "export_model", "network_layers"]

#: gdlab activation -> the torch.nn module (with its arguments) that computes it
TORCH_MODULES = {"identity": "Identity()", "relu": "ReLU()", "leaky_relu": "LeakyReLU(0.01)",
                 "elu": "ELU()", "tanh": "Tanh()", "sigmoid": "Sigmoid()", "gelu": "GELU()"}

FORMATS = ("torch", "json")


def network_layers(est: Any) -> tuple[list[tuple[Array, Array, str | None]], str]:
    """The fitted estimator as [(W (in, out), b (out,), activation after it or None)] and the
    head ('identity', 'sigmoid' or 'softmax'); a regressor's scaling is folded in."""
    est = getattr(est, "estimator", est)  # a TabularModel from `gdlab fit`
    if hasattr(est, "coefs_"):
        Ws = [np.asarray(W, dtype=np.float64) for W in est.coefs_]
        bs = [np.asarray(b, dtype=np.float64) for b in est.intercepts_]
        acts: list[str | None] = [*est.activations_, None]
    elif hasattr(est, "coef_"):
        Ws = [np.atleast_2d(np.asarray(est.coef_, dtype=np.float64)).T]
        bs = [np.atleast_1d(np.asarray(est.intercept_, dtype=np.float64))]
        acts = [None]
    else:
        raise TypeError(f"export needs a fitted gdlab estimator (MLPClassifier, MLPRegressor or "
                        f"a linear model), got {type(est).__name__}.")
    if hasattr(est, "_y_scale") and hasattr(est, "coefs_"):
        scale, mean = est._y_scale, est._y_mean
        Ws[-1], bs[-1] = Ws[-1] * scale, bs[-1] * scale + mean
    K = Ws[-1].shape[1]
    if not hasattr(est, "classes_"):
        head = "identity"
    elif K == 1:
        head = "sigmoid"
    else:
        head = "softmax"
    return [(W, b, a) for W, b, a in zip(Ws, bs, acts, strict=True)], head


def _modules(layers: list[tuple[Array, Array, str | None]]) -> list[str]:
    out = []
    for W, _, act in layers:
        out.append(f"Linear({W.shape[0]}, {W.shape[1]})")
        if act is not None:
            out.append(TORCH_MODULES[act])
    return out


def export_model(est: Any, path: str | os.PathLike[str], *, to: str = "torch") -> Path:
    """Write the fitted network to ``path`` as a torch state_dict (``to="torch"``) or JSON."""
    from gdlab.io.atomic import atomic_write_bytes

    if to not in FORMATS:
        raise ValueError(f"The 'to' parameter of export must be one of {{'torch', 'json'}}. "
                         f"Got {to!r} instead.")
    layers, head = network_layers(est)
    p = Path(path)
    if not p.parent.exists():
        raise FileNotFoundError(f"Cannot export: folder {str(p.parent)!r} does not exist. "
                                "Create it first.")
    inner = getattr(est, "estimator", est)
    if to == "json":
        doc = {
            "format": "gdlab-network-v1",
            "model_type": type(inner).__name__,
            "layers": [{"in": int(W.shape[0]), "out": int(W.shape[1]),
                        "weight": W.T.tolist(), "bias": b.tolist(), "activation": act}
                       for W, b, act in layers],
            "head": head,
            "classes": (np.asarray(inner.classes_).tolist() if hasattr(inner, "classes_")
                        else None),
            "feature_names": ([str(f) for f in inner.feature_names_in_]
                              if hasattr(inner, "feature_names_in_") else None),
            "torch_modules": _modules(layers),
        }
        atomic_write_bytes(p, json.dumps(doc, indent=1).encode())
        return p
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is installed where this is tested
        raise RuntimeError("export --to torch needs PyTorch (pip install torch); --to json "
                           "writes the same weights without it.") from None
    import io
    from collections import OrderedDict

    state: OrderedDict[str, Any] = OrderedDict()
    index = 0
    for W, b, act in layers:
        state[f"{index}.weight"] = torch.from_numpy(np.ascontiguousarray(W.T))
        state[f"{index}.bias"] = torch.from_numpy(b.copy())
        index += 2 if act is not None else 1
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(p, buf.getvalue())
    return p


def describe(est: Any) -> str:
    """The matching ``nn.Sequential(...)`` as text, and the head."""
    layers, head = network_layers(est)
    return (f"torch.nn.Sequential({', '.join('nn.' + m for m in _modules(layers))}); "
            f"head: {head}")
