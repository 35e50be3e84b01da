"""Feed-forward layers around the recurrent ones: Linear, Embedding, Dropout, activations,
Flatten and Identity, with torch's names, shapes, parameter layouts and default initialization.

Parameters are drawn from the global generator (``rnnfast.manual_seed``). Convolutions,
normalization layers and the rest of torch.nn are deliberately absent.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _device
from ..tensor import Tensor, as_tensor, default_generator
from . import functional as F
from .module import Module, Parameter, _check_size, _float_dtype

__all__ = ["Identity", "Linear", "Embedding", "Dropout", "Tanh", "Sigmoid", "ReLU", "Softmax",
           "LogSoftmax", "Flatten"]


class Identity(Module):
    """A placeholder that returns its input (Tensors unchanged, other data as a Tensor).

    Args:
        *args, **kwargs: any arguments, ignored (as torch's).

    Inputs: input
        * **input**: (*), any shape.

    Outputs: output
        * **output**: (*), the input itself.

    Example::

        >>> m = rnnfast.nn.Identity(54, unused_argument=0.1)
        >>> x = rnnfast.randn(2, 3)
        >>> m(x) is x
        True
    """

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return as_tensor(input, name="input")


class Linear(Module):
    """An affine map of the last dim: y = x W^T + b.

    Args:
        in_features (int): the size H_in of each input's last dim.
        out_features (int): the size H_out of each output's last dim.
        bias (bool, optional): if ``False``, no additive bias. Default: ``True``.
        device (optional): ``None`` or the CPU (the only device; another raises ValueError).
            Default: ``None``.
        dtype (optional): the parameters' dtype, float32 or float64. Default: ``None``
            (float32).

    Inputs: input
        * **input**: (*, H_in), any number of leading dims; cast to the layer's dtype.

    Outputs: output
        * **output**: (*, H_out).

    Attributes:
        weight: (out_features, in_features), initialized U(-sqrt(k), sqrt(k)) with
            k = 1 / in_features, from ``rnnfast.manual_seed``'s generator.
        bias: (out_features,), initialized as ``weight``; ``None`` with ``bias=False``.

    Differences from torch: the CPU is the only device.

    Example::

        >>> m = rnnfast.nn.Linear(20, 30)
        >>> tuple(m(rnnfast.randn(128, 20)).shape)
        (128, 30)
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        _device.check_device(device)
        self.in_features = _check_size(in_features, "in_features")
        self.out_features = _check_size(out_features, "out_features")
        dt = _float_dtype(np.float32 if dtype is None else dtype)
        bound = 1.0 / math.sqrt(self.in_features)
        gen = default_generator()
        self.weight = Parameter(gen.uniform(-bound, bound, (self.out_features,
                                                            self.in_features)).astype(dt))
        if bias:
            self.bias = Parameter(gen.uniform(-bound, bound, self.out_features).astype(dt))
        else:
            self.register_parameter("bias", None)

    def forward(self, input):
        return F.linear(self._as_input(input), self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


def _check_padding_idx(padding_idx, n):
    """None, or an int in [-n, n) stored non-negative (as torch); else TypeError/ValueError."""
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
        raise TypeError(f"padding_idx: expected an int or None, got "
                        f"{type(padding_idx).__name__}")
    if not -n <= padding_idx < n:
        raise ValueError(f"padding_idx: expected a value in [{-n}, {n - 1}], got {padding_idx}")
    return int(padding_idx) % n


def _given_weight(weight, name):
    """A given embedding table (an rnnfast Tensor or a NumPy array; other array-likes are
    converted) as its 2-D float32 / float64 array, not copied: as in torch, the module's
    weight then shares memory with it."""
    arr = weight.data if isinstance(weight, Tensor) else weight
    if not isinstance(arr, np.ndarray):
        arr = as_tensor(arr, name=name).data
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected 2 dims (num_embeddings, embedding_dim), got shape "
                         f"{arr.shape}")
    if arr.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"{name}: expected float32 or float64 data, got dtype {arr.dtype}")
    return arr


def _check_unsupported(max_norm, scale_grad_by_freq):
    if max_norm is not None:
        raise ValueError(f"max_norm: renormalizing rows in place is not supported; expected "
                         f"None, got {max_norm!r}")
    if scale_grad_by_freq:
        raise ValueError(f"scale_grad_by_freq: not supported; expected False, got "
                         f"{scale_grad_by_freq!r}")


class Embedding(Module):
    """A lookup table: integer indices of any shape -> rows of ``weight``.

    Args:
        num_embeddings (int): the size of the table (indices are in [0, num_embeddings)).
        embedding_dim (int): the size H of each embedding vector.
        padding_idx (int, optional): an index in [-num_embeddings, num_embeddings) whose row
            starts at zero and gets no gradient (a padding token). Default: ``None``.
        max_norm: not supported; must be ``None`` (ValueError otherwise).
        norm_type (float, optional): accepted for torch's signature and stored; unused, since
            ``max_norm`` is not supported. Default: 2.0.
        scale_grad_by_freq: not supported; must be ``False`` (ValueError otherwise).
        sparse: sparse gradients are not supported; must be ``False`` (ValueError otherwise).
        _weight (optional): a given table (num_embeddings, embedding_dim), float32 or float64,
            used without a copy and without zeroing the padding row, as ``from_pretrained``
            does. Default: ``None``.
        _freeze (bool, optional): with ``_weight``, whether the table is frozen
            (``requires_grad=False``). Default: ``False``.
        device (optional): ``None`` or the CPU (the only device). Default: ``None``.
        dtype (optional): float32 (default) or float64.

    Inputs: input
        * **input**: (*), integer indices of any shape, in [0, num_embeddings).

    Outputs: output
        * **output**: (*, H), H = embedding_dim.

    Attributes:
        weight: (num_embeddings, embedding_dim), initialized N(0, 1) from
            ``rnnfast.manual_seed``'s generator (the ``padding_idx`` row zero).

    Example::

        >>> emb = rnnfast.nn.Embedding(10, 3, padding_idx=0)
        >>> tuple(emb(rnnfast.tensor([[1, 2, 4], [4, 3, 0]])).shape)
        (2, 3, 3)
        >>> emb = rnnfast.nn.Embedding.from_pretrained(rnnfast.tensor([[1.0, 2.5], [4.0, 5.5]]))
        >>> emb(rnnfast.tensor([1])).tolist(), emb.weight.requires_grad
        ([[4.0, 5.5]], False)
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
                 norm_type=2.0, scale_grad_by_freq=False, sparse=False, _weight=None,
                 _freeze=False, device=None, dtype=None):
        super().__init__()
        _device.check_device(device)
        self.num_embeddings = _check_size(num_embeddings, "num_embeddings")
        self.embedding_dim = _check_size(embedding_dim, "embedding_dim")
        _check_unsupported(max_norm, scale_grad_by_freq)
        if sparse:
            raise ValueError(f"sparse: sparse gradients are not supported; expected False, got "
                             f"{sparse!r}")
        self.padding_idx = _check_padding_idx(padding_idx, self.num_embeddings)
        self.max_norm, self.norm_type, self.scale_grad_by_freq, self.sparse = \
            None, norm_type, False, False
        shape = (self.num_embeddings, self.embedding_dim)
        if _weight is not None:
            w = _given_weight(_weight, "_weight")
            if w.shape != shape:
                raise ValueError(f"_weight: expected shape {shape} (num_embeddings, "
                                 f"embedding_dim), got {w.shape}")
        else:
            dt = _float_dtype(np.float32 if dtype is None else dtype)
            w = default_generator().standard_normal(shape).astype(dt)
            if self.padding_idx is not None:
                w[self.padding_idx] = 0
        self.weight = Parameter(w, requires_grad=not _freeze)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None,
                        norm_type=2.0, scale_grad_by_freq=False, sparse=False):
        """An Embedding whose weight is ``embeddings`` (2-D, float32 or float64, kept as it is:
        no copy, its dtype, its padding row untouched), trainable unless ``freeze``; as
        torch.nn.Embedding.from_pretrained. The ``padding_idx`` row gets no gradient;
        ``max_norm``, ``norm_type``, ``scale_grad_by_freq`` and ``sparse`` are the
        constructor's arguments (the same ones are unsupported)."""
        w = _given_weight(embeddings, "embeddings")
        return cls(w.shape[0], w.shape[1], _weight=w, _freeze=freeze, padding_idx=padding_idx,
                   max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)

    def forward(self, indices):
        return F.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s


class Dropout(Module):
    """Zeroes each element with probability ``p`` and scales the others by 1/(1-p) in training
    mode; the identity in eval mode. Random numbers come from ``rnnfast.manual_seed``'s
    generator.

    Args:
        p (float, optional): the probability of an element to be zeroed, in [0, 1] (ValueError
            otherwise). Default: 0.5.

    Inputs: input
        * **input**: (*), any shape.

    Outputs: output
        * **output**: (*), the input's shape.

    Differences from torch: no ``inplace`` argument.

    Example::

        >>> m = rnnfast.nn.Dropout(p=0.5)
        >>> y = m(rnnfast.ones(4, 5))
        >>> sorted(set(y.flatten().tolist())) in ([0.0, 2.0], [0.0], [2.0])
        True
        >>> m.eval()(rnnfast.ones(2)).tolist()
        [1.0, 1.0]
    """

    def __init__(self, p=0.5):
        super().__init__()
        self.p = F._check_p(p)

    def forward(self, input):
        return F.dropout(self._as_input(input), self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class Tanh(Module):
    """The elementwise hyperbolic tangent, tanh(x).

    Inputs: input
        * **input**: (*), any shape.

    Outputs: output
        * **output**: (*), the input's shape.

    Example::

        >>> rnnfast.nn.Tanh()(rnnfast.tensor([0.0])).tolist()
        [0.0]
    """

    def forward(self, input):
        return self._as_input(input).tanh()


class Sigmoid(Module):
    """The elementwise logistic sigmoid, 1 / (1 + exp(-x)).

    Inputs: input
        * **input**: (*), any shape.

    Outputs: output
        * **output**: (*), the input's shape.

    Example::

        >>> rnnfast.nn.Sigmoid()(rnnfast.tensor([0.0])).tolist()
        [0.5]
    """

    def forward(self, input):
        return self._as_input(input).sigmoid()


class ReLU(Module):
    """The elementwise rectified linear unit, max(0, x).

    Inputs: input
        * **input**: (*), any shape.

    Outputs: output
        * **output**: (*), the input's shape.

    Differences from torch: no ``inplace`` argument.

    Example::

        >>> rnnfast.nn.ReLU()(rnnfast.tensor([-1.0, 2.0])).tolist()
        [0.0, 2.0]
    """

    def forward(self, input):
        return self._as_input(input).relu()


def _check_dim(dim, name="dim"):
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(dim).__name__}")
    return int(dim)


class Softmax(Module):
    """Softmax along ``dim``: exp(x_i) / sum_j exp(x_j), computed stably.

    Args:
        dim (int, optional): the dim along which the outputs sum to 1. Default: -1 (the last
            dim; torch's ``None`` with its implicit-dim rule is not reproduced).

    Inputs: input
        * **input**: (*), any shape.

    Outputs: output
        * **output**: (*), the input's shape, values in [0, 1].

    Example::

        >>> rnnfast.nn.Softmax(dim=1)(rnnfast.zeros(2, 4)).tolist()[0]
        [0.25, 0.25, 0.25, 0.25]
    """

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = _check_dim(dim)

    def forward(self, input):
        return F.softmax(self._as_input(input), self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along ``dim``, computed stably.

    Args:
        dim (int, optional): the dim of the softmax. Default: -1 (the last dim).

    Inputs: input
        * **input**: (*), any shape.

    Outputs: output
        * **output**: (*), the input's shape, values in (-inf, 0].

    Example::

        >>> y = rnnfast.nn.LogSoftmax(dim=1)(rnnfast.randn(2, 3))
        >>> bool(((y.exp().sum(1) - 1).abs() < 1e-6).all())
        True
    """

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = _check_dim(dim)

    def forward(self, input):
        return F.log_softmax(self._as_input(input), self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Flatten(Module):
    """Flattens dims start_dim..end_dim into one (default: all but the batch dim).

    Args:
        start_dim (int, optional): the first dim to flatten. Default: 1.
        end_dim (int, optional): the last dim to flatten. Default: -1.

    Inputs: input
        * **input**: (*, S_start, ..., S_end, *).

    Outputs: output
        * **output**: (*, S_start * ... * S_end, *).

    Example::

        >>> tuple(rnnfast.nn.Flatten()(rnnfast.zeros(32, 1, 5, 5)).shape)
        (32, 25)
    """

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = _check_dim(start_dim, "start_dim")
        self.end_dim = _check_dim(end_dim, "end_dim")

    def forward(self, input):
        return self._as_input(input).flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
