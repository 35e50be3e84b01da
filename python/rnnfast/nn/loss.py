"""Loss modules with torch's names, arguments and semantics; the maths (one autograd node per
loss, numerically stable) lives in rnnfast.nn.functional.

Class weights and pos_weight are registered as buffers, so they appear in state_dict as in
torch. Inputs are logits / probabilities as in torch; targets are NumPy arrays, sequences or
Tensors (class indices must be integers).
"""

from __future__ import annotations

import numpy as np

from ..tensor import _to_array
from . import functional as F
from .module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss"]


def _check_ignore_index(ignore_index):
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"ignore_index: expected an int, got {type(ignore_index).__name__}")
    return int(ignore_index)


def _weight_buffer(weight, name):
    if weight is None:
        return None
    w = _to_array(weight, name=name)        # Python floats -> float32; arrays keep their dtype
    return w if w.dtype.kind == "f" else w.astype(np.float32)


class _Loss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        self.reduction = F._check_reduction(reduction)

    def extra_repr(self):
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """Cross entropy of logits (C,), (N, C) or (N, C, d1, ...) against class indices or class
    probabilities, with optional class ``weight`` (C,), ``ignore_index`` and
    ``label_smoothing``; 'mean' over class indices is weighted by the targets' class weights."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction)
        self.register_buffer("weight", _weight_buffer(weight, "weight"))
        self.ignore_index = _check_ignore_index(ignore_index)
        if isinstance(label_smoothing, bool) or \
                not isinstance(label_smoothing, (int, float, np.floating)) or \
                not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing: expected a float in [0, 1], got "
                             f"{label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                               self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log likelihood of log-probabilities at integer class indices."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _weight_buffer(weight, "weight"))
        self.ignore_index = _check_ignore_index(ignore_index)

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MSELoss(_Loss):
    """Mean squared error (input and target of the same shape)."""

    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Mean absolute error (input and target of the same shape)."""

    def forward(self, input, target):
        return F.l1_loss(input, target, self.reduction)


class BCELoss(_Loss):
    """Binary cross entropy of probabilities in [0, 1] (logs clamped to >= -100)."""

    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _weight_buffer(weight, "weight"))

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid and binary cross entropy in one stable step, with optional ``weight`` and
    ``pos_weight`` (broadcast along the last dim)."""

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction)
        self.register_buffer("weight", _weight_buffer(weight, "weight"))
        self.register_buffer("pos_weight", _weight_buffer(pos_weight, "pos_weight"))

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction,
                                                  self.pos_weight)
