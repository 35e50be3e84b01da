"""torch.nn.init's initializers, in place on a Parameter (or any float Tensor) under no_grad,
drawing from ``rnnfast.manual_seed``'s generator: uniform_, normal_, constant_, zeros_, ones_,
xavier_uniform_, xavier_normal_, kaiming_uniform_, kaiming_normal_, orthogonal_, and
calculate_gain. Each returns the tensor it filled. The formulas are torch's; the random
numbers are not torch's (a different generator).
"""

from __future__ import annotations

import math

import numpy as np

from ..tensor import Tensor, default_generator, no_grad

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
           "orthogonal_"]


def _check(tensor):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"tensor: expected an rnnfast Tensor or Parameter, got "
                        f"{type(tensor).__name__}")
    if tensor.dtype.kind != "f":
        raise TypeError(f"tensor: expected a floating point tensor, got dtype {tensor.dtype}")
    return tensor


def _fill(tensor, values):
    with no_grad():
        tensor[...] = np.asarray(values).astype(tensor.dtype, copy=False)
    return tensor


def calculate_gain(nonlinearity, param=None):
    """torch's recommended gain for an activation: 1 (linear, sigmoid, conv), 5/3 (tanh),
    sqrt(2) (relu), sqrt(2 / (1 + slope^2)) (leaky_relu), 3/4 (selu)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"param: expected a number for leaky_relu, got {param!r}")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"nonlinearity: unsupported nonlinearity {nonlinearity!r}")


def _fans(tensor):
    if tensor.ndim < 2:
        raise ValueError(f"tensor: fan in and fan out need at least 2 dims, got shape "
                         f"{tuple(tensor.shape)}")
    receptive = int(np.prod(tensor.shape[2:])) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def uniform_(tensor, a=0.0, b=1.0):
    """Fill from U(a, b)."""
    _check(tensor)
    return _fill(tensor, default_generator().uniform(a, b, tensor.shape))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill from N(mean, std^2)."""
    _check(tensor)
    return _fill(tensor, mean + std * default_generator().standard_normal(tensor.shape))


def constant_(tensor, val):
    _check(tensor)
    return _fill(tensor, np.full(tensor.shape, val))


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0):
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _fans(_check(tensor))
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor, gain=1.0):
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(_check(tensor))
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity):
    fan_in, fan_out = _fans(_check(tensor))
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode: expected 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """U(-b, b) with b = gain * sqrt(3 / fan) (He et al., 2015)."""
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu"):
    """N(0, std^2) with std = gain / sqrt(fan)."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))


def orthogonal_(tensor, gain=1.0):
    """A (semi-)orthogonal matrix (rows flattened over the trailing dims) times ``gain``, from
    the QR decomposition of a normal matrix with the signs of R's diagonal fixed (Saxe et al.,
    2013)."""
    _check(tensor)
    if tensor.ndim < 2:
        raise ValueError(f"tensor: orthogonal_ needs at least 2 dims, got shape "
                         f"{tuple(tensor.shape)}")
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = default_generator().standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))
