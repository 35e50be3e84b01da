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
from .layers import _check_padding_idx, _check_unsupported, _given_weight
from .module import Module, Parameter, _check_size, _float_dtype

__all__ = ["EmbeddingBag"]


class EmbeddingBag(Module):
    """Bags of embedding rows reduced by ``mode`` ('mean' default, 'sum' or 'max').

    Args:
        num_embeddings (int): the number of rows of the table.
        embedding_dim (int): the size H of each embedding vector.
        max_norm: not supported; must be ``None`` (ValueError otherwise).
        norm_type (float, optional): accepted for torch's signature and stored; unused, since
            ``max_norm`` is not supported. Default: 2.0.
        scale_grad_by_freq: not supported; must be ``False`` (ValueError otherwise).
        mode (str, optional): 'sum', 'mean' or 'max'. Default: 'mean'.
        padding_idx: entries equal to it are left out of every bag (its row starts at zero).
        include_last_offset: offsets hold one more entry, the input's length.
        sparse: accepted; gradients are dense.
        device (optional): ``None`` or the CPU (the only device). Default: ``None``.
        dtype: float32 (default) or float64.
        _weight: a given table (float32 or float64), used as it is: no copy, its dtype, its
            padding row untouched (torch's; see ``from_pretrained``).

    Inputs: input, offsets=None, per_sample_weights=None
        * **input**: 2-D (B, N) integer indices, each row a bag, or 1-D (N,) with ``offsets``.
        * **offsets**: with a 1-D input, (B,) the start of each bag (B + 1 entries with
          ``include_last_offset``).
        * **per_sample_weights**: optional, floats of the input's shape (mode 'sum').

    Outputs: output
        * **output**: (B, H), H = embedding_dim.

    Attributes:
        weight: (num_embeddings, embedding_dim), initialized N(0, 1) from
            ``rnnfast.manual_seed``'s generator (the ``padding_idx`` row zero).

    Example::

        >>> bag = rnnfast.nn.EmbeddingBag(100, 8, mode="sum")
        >>> out = bag(rnnfast.tensor([1, 2, 4, 5, 4, 3]), rnnfast.tensor([0, 4]))
        >>> tuple(out.shape)
        (2, 8)
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
        _check_unsupported(max_norm, scale_grad_by_freq)
        n = self.num_embeddings
        padding_idx = _check_padding_idx(padding_idx, n)
        self.mode, self.sparse = mode, bool(sparse)
        self.include_last_offset = bool(include_last_offset)
        self.padding_idx = padding_idx
        self.max_norm, self.norm_type, self.scale_grad_by_freq = None, norm_type, False
        if _weight is not None:
            # torch's: the given table itself (no copy, its dtype, the padding row untouched)
            w = _given_weight(_weight, "_weight")
            if w.shape != (n, self.embedding_dim):
                raise ValueError(f"_weight: expected shape {(n, self.embedding_dim)}, got "
                                 f"{w.shape}")
        else:
            dt = _float_dtype(np.float32 if dtype is None else dtype)
            w = default_generator().standard_normal((n, self.embedding_dim)).astype(dt)
            if padding_idx is not None:
                w[padding_idx] = 0
        self.weight = Parameter(w)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, max_norm=None, norm_type=2.0,
                        scale_grad_by_freq=False, mode="mean", sparse=False,
                        include_last_offset=False, padding_idx=None):
        """An EmbeddingBag whose weight is ``embeddings`` (2-D, float32 or float64, kept as it
        is: no copy, its dtype, its padding row untouched), trainable unless ``freeze``; as
        torch.nn.EmbeddingBag.from_pretrained. ``max_norm``, ``norm_type``,
        ``scale_grad_by_freq``, ``mode``, ``sparse``, ``include_last_offset`` and ``padding_idx``
        are the constructor's arguments."""
        w = _given_weight(embeddings, "embeddings")
        bag = cls(w.shape[0], w.shape[1], max_norm=max_norm, norm_type=norm_type,
                  scale_grad_by_freq=scale_grad_by_freq, mode=mode, sparse=sparse, _weight=w,
                  include_last_offset=include_last_offset, padding_idx=padding_idx)
        bag.weight.requires_grad = not freeze
        return bag

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
