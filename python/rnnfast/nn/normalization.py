"""LayerNorm with torch.nn.LayerNorm's signature, parameters (``weight`` ones, ``bias``
zeros, state_dict keys "weight" / "bias") and maths (rnnfast.nn.functional.layer_norm: biased
variance, one autograd node with an exact backward).

Batch, group and instance normalization are deliberately absent.
"""

from __future__ import annotations

import numpy as np

from .. import _device
from . import functional as F
from .module import Module, Parameter, _float_dtype

__all__ = ["LayerNorm"]


class LayerNorm(Module):
    """Normalize over the last ``len(normalized_shape)`` dims:
    ``y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias``.

    Args:
        normalized_shape: int or tuple, the trailing shape to normalize over.
        eps: added to the variance. Default: 1e-5.
        elementwise_affine: learnable ``weight`` (ones) and ``bias`` (zeros). Default: True.
        bias: with ``elementwise_affine``, whether to learn ``bias``. Default: True.
        dtype: float32 (default) or float64.

    Inputs: input (*, *normalized_shape). Outputs: the same shape.

    Example::

        ln = nn.LayerNorm(64)
        y = ln(rnnfast.randn(8, 20, 64))
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        _device.check_device(device)
        self.normalized_shape = F._normalized_shape(normalized_shape)
        if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating)) or eps < 0:
            raise ValueError(f"eps: expected a non-negative float, got {eps!r}")
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        dt = _float_dtype(np.float32 if dtype is None else dtype)
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dt))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, input):
        return F.layer_norm(self._as_input(input), self.normalized_shape, self.weight,
                            self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")
