"""EmbeddingBag with torch.nn.EmbeddingBag's signature, parameter (``weight``, N(0, 1), the
``padding_idx`` row zero) and semantics (rnnfast.nn.functional.embedding_bag): the sums,
means or maxima of bags of embedding rows, as the text-classification tutorials use it.

``max_norm`` and ``scale_grad_by_freq`` are not supported (they raise); ``sparse=True`` is
accepted and its gradient is dense (the same values).
"""

from __future__ import annotations

import numpy as np

from .. import _device
from ..tensor import default_generator
from . import functional as F
from .module import Module, Parameter, _check_size, _float_dtype

__all__ = ["EmbeddingBag"]


class EmbeddingBag(Module):
    """Bags of embedding rows reduced by ``mode`` ('mean' default, 'sum' or 'max').

    Args:
        num_embeddings, embedding_dim: the table's shape.
        mode: 'sum', 'mean' or 'max'.
        padding_idx: entries equal to it are left out of every bag (its row starts at zero).
        include_last_offset: offsets hold one more entry, the input's length.
        sparse: accepted; gradients are dense.
        dtype: float32 (default) or float64.

    Inputs: ``input`` 2-D (B, N), each row a bag, or 1-D (N,) with ``offsets`` (B,), the
    start of each bag; optional ``per_sample_weights`` of the input's shape (mode 'sum').
    Output: (B, embedding_dim).

    Example::

        bag = nn.EmbeddingBag(100, 8, mode="sum")
        out = bag(rnnfast.tensor([1, 2, 4, 5, 4, 3]), rnnfast.tensor([0, 4]))   # (2, 8)
    """

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, mode="mean", sparse=False, _weight=None,
                 include_last_offset=False, padding_idx=None, device=None, dtype=None):
        super().__init__()
        _device.check_device(device)
        self.num_embeddings = _check_size(num_embeddings, "num_embeddings")
        self.embedding_dim = _check_size(embedding_dim, "embedding_dim")
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"mode: expected 'sum', 'mean' or 'max', got {mode!r}")
        if max_norm is not None:
            raise ValueError(f"max_norm: not supported, expected None, got {max_norm!r}")
        if scale_grad_by_freq:
            raise ValueError("scale_grad_by_freq: not supported, expected False")
        n = self.num_embeddings
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
                raise TypeError(f"padding_idx: expected an int or None, got "
                                f"{type(padding_idx).__name__}")
            if not -n <= padding_idx < n:
                raise ValueError(f"padding_idx: expected a value in [{-n}, {n - 1}], got "
                                 f"{padding_idx}")
            padding_idx = int(padding_idx) % n
        self.mode, self.sparse = mode, bool(sparse)
        self.include_last_offset = bool(include_last_offset)
        self.padding_idx = padding_idx
        self.max_norm, self.norm_type, self.scale_grad_by_freq = None, norm_type, False
        dt = _float_dtype(np.float32 if dtype is None else dtype)
        if _weight is not None:
            w = np.array(_weight.data if hasattr(_weight, "data") else _weight, dtype=dt)
            if w.shape != (n, self.embedding_dim):
                raise ValueError(f"_weight: expected shape {(n, self.embedding_dim)}, got "
                                 f"{w.shape}")
        else:
            w = default_generator().standard_normal((n, self.embedding_dim)).astype(dt)
            if padding_idx is not None:
                w[padding_idx] = 0
        self.weight = Parameter(w)

    def forward(self, input, offsets=None, per_sample_weights=None):
        return F.embedding_bag(input, self.weight, offsets, mode=self.mode,
                               per_sample_weights=per_sample_weights,
                               include_last_offset=self.include_last_offset,
                               padding_idx=self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}, mode='{self.mode}'"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s
