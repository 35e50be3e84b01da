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
    ``label_smoothing``; 'mean' over class indices is weighted by the targets' class weights.

    Args:
        weight (array or Tensor, optional): a weight per class, (C,) (a buffer). Default:
            ``None`` (all 1).
        ignore_index (int, optional): a target class index that contributes no loss and no
            gradient (class-index targets only). Default: -100.
        reduction (str, optional): 'none' (one loss per element), 'mean' or 'sum' of them.
            Default: 'mean'.
        label_smoothing (float, optional): in [0, 1]; the target becomes
            (1 - label_smoothing) * target + label_smoothing / C. Default: 0.

    Inputs: input, target
        * **input**: logits (C,), (N, C) or (N, C, d_1, ..., d_K).
        * **target**: class indices, integers in [0, C), of shape (), (N,) or
          (N, d_1, ..., d_K); or class probabilities of the input's shape.

    Outputs: output
        * **output**: a 0-d tensor, or with ``reduction='none'`` the target's shape (class
          indices) or the input's shape without C (probabilities).

    Example::

        >>> loss = rnnfast.nn.CrossEntropyLoss()
        >>> logits = rnnfast.randn(3, 5, requires_grad=True)
        >>> out = loss(logits, rnnfast.tensor([1, 0, 4]))
        >>> out.backward()
        >>> out.shape, tuple(logits.grad.shape)
        ((), (3, 5))
    """

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
    """Negative log likelihood of log-probabilities at integer class indices:
    loss_n = -weight[t_n] * input[n, t_n].

    Args:
        weight (array or Tensor, optional): a weight per class, (C,) (a buffer). Default:
            ``None`` (all 1).
        ignore_index (int, optional): a target value that contributes no loss and no gradient.
            Default: -100.
        reduction (str, optional): 'none' (one loss per element), 'mean' or 'sum' of them.
            Default: 'mean'.
            'mean' divides by the sum of the targets' class weights.

    Inputs: input, target
        * **input**: log-probabilities (C,), (N, C) or (N, C, d_1, ..., d_K).
        * **target**: integer class indices in [0, C), of shape (), (N,) or (N, d_1, ..., d_K).

    Outputs: output
        * **output**: a 0-d tensor, or the target's shape with ``reduction='none'``.

    Example::

        >>> loss = rnnfast.nn.NLLLoss()
        >>> logp = rnnfast.nn.LogSoftmax(dim=1)(rnnfast.randn(3, 5))
        >>> loss(logp, rnnfast.tensor([1, 0, 4])).shape
        ()
    """

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _weight_buffer(weight, "weight"))
        self.ignore_index = _check_ignore_index(ignore_index)

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MSELoss(_Loss):
    """Squared error (x - y)^2 of each element, averaged or summed by ``reduction``.

    Args:
        reduction (str, optional): 'none' (one loss per element), 'mean' or 'sum' of them.
            Default: 'mean'.

    Inputs: input, target
        * **input**: (*), any shape.
        * **target**: (*), the input's shape.

    Outputs: output
        * **output**: a 0-d tensor, or the input's shape with ``reduction='none'``.

    Example::

        >>> rnnfast.nn.MSELoss()(rnnfast.tensor([1.0, 2.0]), rnnfast.tensor([0.0, 0.0])).item()
        2.5
    """

    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """Absolute error |x - y| of each element, averaged or summed by ``reduction``.

    Args:
        reduction (str, optional): 'none' (one loss per element), 'mean' or 'sum' of them.
            Default: 'mean'.

    Inputs: input, target
        * **input**: (*), any shape.
        * **target**: (*), the input's shape.

    Outputs: output
        * **output**: a 0-d tensor, or the input's shape with ``reduction='none'``.

    Example::

        >>> rnnfast.nn.L1Loss()(rnnfast.tensor([1.0, -3.0]), rnnfast.tensor([0.0, 0.0])).item()
        2.0
    """

    def forward(self, input, target):
        return F.l1_loss(input, target, self.reduction)


class BCELoss(_Loss):
    """Binary cross entropy of probabilities in [0, 1] (logs clamped to >= -100):
    loss = -weight * (y log x + (1 - y) log(1 - x)).

    Args:
        weight (array or Tensor, optional): a rescaling weight broadcast to the input's shape
            (a buffer). Default: ``None`` (all 1).
        reduction (str, optional): 'none' (one loss per element), 'mean' or 'sum' of them.
            Default: 'mean'.

    Inputs: input, target
        * **input**: (*), probabilities in [0, 1].
        * **target**: (*), the input's shape, values in [0, 1].

    Outputs: output
        * **output**: a 0-d tensor, or the input's shape with ``reduction='none'``.

    Example::

        >>> loss = rnnfast.nn.BCELoss()
        >>> round(loss(rnnfast.tensor([0.5, 0.5]), rnnfast.tensor([1.0, 0.0])).item(), 4)
        0.6931
    """

    def __init__(self, weight=None, reduction="mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _weight_buffer(weight, "weight"))

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid and binary cross entropy in one stable step, with optional ``weight`` and
    ``pos_weight`` (broadcast along the last dim):
    loss = weight * (pos_weight * y * softplus(-x) + (1 - y) * softplus(x)).

    Args:
        weight (array or Tensor, optional): a rescaling weight broadcast to the input's shape
            (a buffer). Default: ``None`` (all 1).
        reduction (str, optional): 'none' (one loss per element), 'mean' or 'sum' of them.
            Default: 'mean'.
        pos_weight (array or Tensor, optional): the weight of positive examples, one per class
            (broadcast along the last dim; a buffer). Default: ``None`` (all 1).

    Inputs: input, target
        * **input**: (*), logits.
        * **target**: (*), the input's shape, values in [0, 1].

    Outputs: output
        * **output**: a 0-d tensor, or the input's shape with ``reduction='none'``.

    Example::

        >>> loss = rnnfast.nn.BCEWithLogitsLoss()
        >>> round(loss(rnnfast.tensor([0.0, 0.0]), rnnfast.tensor([1.0, 0.0])).item(), 4)
        0.6931
    """

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction)
        self.register_buffer("weight", _weight_buffer(weight, "weight"))
        self.register_buffer("pos_weight", _weight_buffer(pos_weight, "pos_weight"))

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction,
                                                  self.pos_weight)
