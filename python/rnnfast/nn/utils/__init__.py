"""torch.nn.utils' names: gradient clipping (clip_grad_norm_ and clip_grad_value_, in place
on the parameters' ``.grad`` NumPy arrays; norms returned as 0-d Tensors, as torch's) and, in
``rnnfast.nn.utils.rnn``, packed sequences.

Deliberately absent: foreach variants, parameter/vector conversion helpers, weight norm.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ...tensor import Tensor, _wrap
from . import rnn

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "rnn"]


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    out = []
    for p in parameters:
        if not isinstance(p, Tensor):
            raise TypeError(f"parameters: expected rnnfast Parameters (Tensors), got "
                            f"{type(p).__name__}")
        if p.grad is not None:
            out.append(p.grad)
    return out


def _norm_type(norm_type):
    if isinstance(norm_type, str):
        if norm_type.lower() not in ("inf", "-inf"):
            raise ValueError(f"norm_type: expected a number or 'inf', got {norm_type!r}")
        return float(norm_type)
    if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real):
        raise TypeError(f"norm_type: expected a number, got {type(norm_type).__name__}")
    return float(norm_type)


def _vector_norm(x, p):
    x = np.asarray(x).ravel()
    if x.size == 0:
        return 0.0
    if x.dtype.kind != "f" or x.dtype.itemsize < 4:  # ints, bools, float16, complex
        x = np.abs(x).astype(np.float64)
    if p == 2:  # the common case, without float64 copies: squares summed in float64
        return math.sqrt(float(np.add.reduce(np.square(x), dtype=np.float64)))
    x = np.abs(x)
    if p == math.inf:
        return float(x.max())
    if p == -math.inf:
        return float(x.min())
    if p == 0:
        return float(np.count_nonzero(x))
    if p == 1:
        return float(np.add.reduce(x, dtype=np.float64))
    return float(np.sum(x.astype(np.float64) ** p) ** (1.0 / p))


def _total_norm(arrays, norm_type, error_if_nonfinite):
    """(the joint norm as a float computed in float64, the result dtype: the arrays' common
    float dtype, float32 for none, as torch's)."""
    p = _norm_type(norm_type)
    total = _vector_norm(np.array([_vector_norm(a, p) for a in arrays]), p) if arrays else 0.0
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {float(norm_type)} for gradients from "
                           f"`parameters` is non-finite ({total}), so it cannot be clipped. To "
                           f"disable this error and scale the gradients by the non-finite norm "
                           f"anyway, set `error_if_nonfinite=False`")
    dt = np.result_type(*arrays) if arrays else np.dtype(np.float32)
    return total, (dt if dt.kind == "f" else np.dtype(np.float32))


def _norm_tensor(total, dtype):
    return _wrap(np.array(total, dtype=dtype))


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The ``norm_type`` norm of all ``tensors`` (NumPy arrays such as gradients, or Tensors)
    taken together as one vector: a 0-d Tensor of their dtype, as torch's.

    Args:
        tensors (Tensor, array or iterable of them): the values whose joint norm is taken.
        norm_type (float or 'inf', optional): the order p of the norm (also 0, 1, inf and
            -inf). Default: 2.0.
        error_if_nonfinite (bool, optional): raise RuntimeError if the norm is nan or inf.
            Default: ``False``.
        foreach: accepted for torch's signature and ignored.

    Returns:
        Tensor: the 0-d norm, float32 for no tensors.

    Raises:
        ValueError / TypeError: a ``norm_type`` that is not a number or 'inf' / '-inf'.

    Example::

        >>> rnnfast.nn.utils.get_total_norm([rnnfast.tensor([3.0]), rnnfast.tensor([4.0])])
        tensor(5.)
    """
    if isinstance(tensors, (Tensor, np.ndarray)):
        tensors = [tensors]
    arrays = [t.data if isinstance(t, Tensor) else np.asarray(t) for t in tensors]
    return _norm_tensor(*_total_norm(arrays, norm_type, error_if_nonfinite))


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                    foreach=None):
    """Scale all gradients together so that their joint ``norm_type`` norm is at most
    ``max_norm``; returns the norm before clipping as a 0-d Tensor of the gradients' dtype
    (float32 when no parameter has a gradient), as torch: ``norm.item()``, ``float(norm)``,
    ``f"{norm:.3f}"`` and comparisons work. The scale is ``max_norm / (total + 1e-6)``
    clamped to 1, applied to every gradient in place; with ``error_if_nonfinite`` a nan/inf
    total raises RuntimeError. ``foreach`` is accepted and ignored.

    Args:
        parameters (Tensor or iterable of Tensors): the parameters whose ``.grad`` is clipped
            (those without a gradient are skipped), e.g. ``model.parameters()``.
        max_norm (float): the largest joint norm allowed.
        norm_type (float or 'inf', optional): the order p of the norm. Default: 2.0.
        error_if_nonfinite (bool, optional): raise RuntimeError if the total norm is nan or
            inf. Default: ``False``.
        foreach: accepted for torch's signature and ignored.

    Returns:
        Tensor: the joint norm of the gradients before clipping, 0-d.

    Raises:
        TypeError: ``max_norm`` not a number, or a parameter that is not a Tensor.

    Example::

        >>> p = rnnfast.nn.Parameter(rnnfast.zeros(2))
        >>> p.grad = rnnfast.tensor([3.0, 4.0]).numpy()
        >>> rnnfast.nn.utils.clip_grad_norm_([p], max_norm=1.0).item()
        5.0
        >>> [round(float(g), 4) for g in p.grad]
        [0.6, 0.8]
    """
    if isinstance(max_norm, bool) or not isinstance(max_norm, numbers.Real):
        raise TypeError(f"max_norm: expected a number, got {type(max_norm).__name__}")
    grads = _grads(parameters)
    total, dt = _total_norm(grads, norm_type, error_if_nonfinite)
    # torch.nn.utils.clip_grad_norm_: g *= min(max_norm / (total + 1e-6), 1)
    coef = min(float(max_norm) / (total + 1e-6), 1.0) if not math.isnan(total) else math.nan
    for g in grads:
        g *= coef
    return _norm_tensor(total, dt)


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient elementwise to [-clip_value, clip_value], in place.

    Args:
        parameters (Tensor or iterable of Tensors): the parameters whose ``.grad`` is clipped
            (those without a gradient are skipped).
        clip_value (float): the largest absolute value of a gradient element.

    Raises:
        TypeError: ``clip_value`` not a number, or a parameter that is not a Tensor.

    Example::

        >>> p = rnnfast.nn.Parameter(rnnfast.zeros(2))
        >>> p.grad = rnnfast.tensor([3.0, -0.5]).numpy()
        >>> rnnfast.nn.utils.clip_grad_value_([p], 1.0)
        >>> p.grad.tolist()
        [1.0, -0.5]
    """
    if isinstance(clip_value, bool) or not isinstance(clip_value, numbers.Real):
        raise TypeError(f"clip_value: expected a number, got {type(clip_value).__name__}")
    c = float(clip_value)
    for g in _grads(parameters):
        np.clip(g, -c, c, out=g)
