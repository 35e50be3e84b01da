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

    The mean and the biased variance are taken over the normalized dims, per sample.

    Args:
        normalized_shape (int or tuple of ints): the trailing shape to normalize over.
        eps (float, optional): added to the variance, >= 0. Default: 1e-5.
        elementwise_affine (bool, optional): learnable ``weight`` (ones) and ``bias`` (zeros).
            Default: ``True``.
        bias (bool, optional): with ``elementwise_affine``, whether to learn ``bias``.
            Default: ``True``.
        device (optional): ``None`` or the CPU (the only device). Default: ``None``.
        dtype (optional): float32 (default) or float64.

    Inputs: input
        * **input**: (*, *normalized_shape).

    Outputs: output
        * **output**: the input's shape.

    Attributes:
        weight: of shape ``normalized_shape``, initialized to ones; ``None`` without
            ``elementwise_affine``.
        bias: of shape ``normalized_shape``, initialized to zeros; ``None`` without
            ``elementwise_affine`` or with ``bias=False``.

    Example::

        >>> ln = rnnfast.nn.LayerNorm(64)
        >>> y = ln(rnnfast.randn(8, 20, 64))
        >>> tuple(y.shape), bool((y.mean(-1).abs() < 1e-5).all())
        ((8, 20, 64), True)
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
