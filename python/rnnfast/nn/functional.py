"""Stateless layer and loss functions behind rnnfast.nn (like torch.nn.functional).

Each function here is one autograd node with a hand-written backward, numerically stable
(log-sum-exp, softplus), with torch's semantics for reductions, class weights, ignore_index and
label smoothing. This is not ``rnnfast.functional`` (the raw recurrent kernels).

linear, embedding, cross_entropy, binary_cross_entropy_with_logits and mse_loss run on the C++
kernels (rnnfast/ops.h) for float32 and float64 data; other dtypes (and mixed ones) take the
NumPy code beside them, which stays as the reference the kernels are tested against.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _core
from ..tensor import (
    Tensor,
    _make,
    _scatter_flat,
    _scatter_rows,
    _stable_sigmoid,
    _untracked,
    _wrap,
    as_tensor,
    default_generator,
    register_op,
)

__all__ = [
    "linear", "embedding", "dropout", "relu", "tanh", "sigmoid", "softmax", "log_softmax",
    "layer_norm", "embedding_bag", "one_hot",
    "cross_entropy", "nll_loss", "mse_loss", "l1_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
]


def _float_input(x, name="input") -> Tensor:
    t = as_tensor(x, name=name)
    if t.dtype.kind != "f":
        raise TypeError(f"{name}: expected floating point data, got dtype {t.dtype}")
    return t


def _data(x):
    return x.data if isinstance(x, Tensor) else x


_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _kernel_dtype(*arrays):
    """The common dtype of ``arrays`` (None entries skipped) if the C++ kernels take it:
    float32 or float64, all the same; else None (the NumPy path)."""
    dt = None
    for a in arrays:
        if a is None:
            continue
        if a.dtype not in _KERNEL_DTYPES or (dt is not None and a.dtype != dt):
            return None
        dt = a.dtype
    return dt


def _c(a):
    return np.ascontiguousarray(a)


# ----------------------------------------------------------------------------------------------
# The named ops of this module (see rnnfast.tensor.OPS).


def _linear_forward(x, w, b):
    out = x @ w.T
    return out if b is None else out + b


def _layer_norm_forward(x, w, b, normalized_shape, eps):
    axes = tuple(range(x.ndim - len(normalized_shape), x.ndim))
    xc = x - x.mean(axis=axes, keepdims=True)
    out = xc / np.sqrt((xc * xc).mean(axis=axes, keepdims=True) + eps)
    if w is not None:
        out = out * w
    return out if b is None else out + b


def _embedding_bag_forward(w, per_sample_weights, **attrs):
    return embedding_bag(attrs["input"], w, attrs["offsets"], mode=attrs["mode"],
                         per_sample_weights=per_sample_weights,
                         include_last_offset=attrs["include_last_offset"],
                         padding_idx=attrs["padding_idx"]).data


_LINEAR = register_op("linear", "LinearBackward", (), _linear_forward)
# indices: the integer array given; the padding_idx row only changes the gradient
_EMBEDDING = register_op("embedding", "EmbeddingBackward", ("indices", "padding_idx"),
                         lambda w, indices, padding_idx: w[indices])
# mask: the drawn mask, already scaled by 1 / (1 - p)
_DROPOUT = register_op("dropout", "DropoutBackward", ("p", "mask"), lambda x, p, mask: x * mask)
_EMBEDDING_BAG = register_op("embedding_bag", "EmbeddingBagBackward",
                             ("input", "offsets", "mode", "include_last_offset", "padding_idx"),
                             _embedding_bag_forward)
# int64 one-hot rows of integer indices (no history)
_ONE_HOT = register_op("one_hot", None, ("num_classes",),
                       lambda indices, num_classes: np.eye(num_classes, dtype=np.int64)[indices])
_LAYER_NORM = register_op("layer_norm", "NativeLayerNormBackward", ("normalized_shape", "eps"),
                          _layer_norm_forward)
# The losses, by node name: named, without a forward of their own here.
_LOSSES = {grad: register_op(name, grad) for name, grad in (
    ("cross_entropy", "CrossEntropyBackward"), ("nll_loss", "NllLossBackward"),
    ("mse_loss", "MseLossBackward"), ("l1_loss", "L1LossBackward"),
    ("binary_cross_entropy", "BinaryCrossEntropyBackward"),
    ("binary_cross_entropy_with_logits", "BinaryCrossEntropyWithLogitsBackward"))}
_CROSS_ENTROPY = _LOSSES["CrossEntropyBackward"]


# ----------------------------------------------------------------------------------------------
# Layers.


def linear(input, weight, bias=None) -> Tensor:
    """input @ weight.T + bias, for input (..., in_features), weight (out, in), bias (out,)."""
    x, w = _float_input(input), as_tensor(weight, name="weight")
    b = None if bias is None else as_tensor(bias, name="bias")
    if w.ndim != 2:
        raise ValueError(f"weight: expected 2 dims (out_features, in_features), got {w.shape}")
    out_f, in_f = w.shape
    if x.ndim == 0 or x.shape[-1] != in_f:
        raise ValueError(f"input: expected shape (..., {in_f}) for in_features={in_f}, "
                         f"got {x.shape}")
    lead = x.shape[:-1]
    rows = math.prod(lead)
    if _kernel_dtype(x.data, w.data, None if b is None else b.data) is not None:
        x2, w2 = _c(x.data).reshape(rows, in_f), _c(w.data)
        out = _core.linear_forward(x2, w2, None if b is None else _c(b.data))

        def backward_kernel(g):
            need_b = b is not None and b.requires_grad
            gx, gw, gb = _core.linear_backward(g.reshape(rows, out_f), x2, w2, x.requires_grad,
                                               w.requires_grad, need_b)
            return (None if gx is None else gx.reshape(*lead, in_f)), gw, gb
        return _make(out.reshape(*lead, out_f), (x, w, b), backward_kernel, op=_LINEAR)
    # As one 2-D product: NumPy's batched matmul against a transposed weight skips BLAS.
    out = (x.data.reshape(-1, in_f) @ w.data.T).reshape(*lead, out_f)
    if b is not None:
        out = out + b.data

    def backward(g):
        gx = gw = gb = None
        if x.requires_grad:
            gx = (g.reshape(-1, out_f) @ w.data).reshape(*lead, in_f)
        g2 = g.reshape(-1, out_f)
        if w.requires_grad:
            gw = g2.T @ x.data.reshape(-1, in_f)
        if b is not None and b.requires_grad:
            gb = g2.sum(axis=0)
        return gx, gw, gb
    return _make(out, (x, w, b), backward, op=_LINEAR)


def _check_indices(indices, num, name="indices", check_range=True):
    """``indices`` as an integer array; with ``check_range``, each in [0, num) (IndexError
    naming the first that is not). Without it, indices above int64's range are still checked:
    the caller converts to int64."""
    idx = _data(indices)
    if not isinstance(idx, np.ndarray):
        try:
            idx = np.asarray(idx)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{name}: expected integer indices, got {type(indices).__name__}: "
                            f"{e}") from None
        if idx.size == 0 and idx.dtype.kind == "f":     # an empty Python list
            idx = idx.astype(np.int64)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer indices, got dtype {idx.dtype}")
    if not check_range and idx.dtype != np.uint64:
        return idx                      # the kernel checks the range
    bad = (idx < 0) | (idx >= num)
    if bad.any():
        v = int(idx[bad].flat[0])
        raise IndexError(f"{name}: index {v} is out of range for {num} embeddings "
                         f"(valid indices: 0 to {num - 1})")
    return idx


def embedding(indices, weight, padding_idx=None) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ``indices`` (any shape); the
    ``padding_idx`` row gets no gradient."""
    w = as_tensor(weight, name="weight")
    if w.ndim != 2:
        raise ValueError(f"weight: expected 2 dims (num_embeddings, dim), got {w.shape}")
    kernel = _kernel_dtype(w.data) is not None
    idx = _check_indices(indices, w.shape[0], check_range=not kernel)
    if padding_idx is not None and padding_idx < 0:
        padding_idx += w.shape[0]
    if kernel:
        flat = _c(idx.astype(np.int64, copy=False)).reshape(-1)
        V, D = w.shape
        out = _core.embedding_forward(flat, _c(w.data)).reshape(*idx.shape, D)

        def backward_kernel(g):
            return (_core.embedding_backward(g.reshape(flat.size, D), flat, V,
                                             -1 if padding_idx is None else padding_idx),)
        return _make(out, (w,), backward_kernel, op=_EMBEDDING, attrs=(idx, padding_idx))

    def backward(g):
        gw = _scatter_rows(idx, g, w.shape[0])      # repeated indices accumulate
        if padding_idx is not None:
            gw[padding_idx] = 0
        return (gw,)
    return _make(w.data[idx], (w,), backward, op=_EMBEDDING, attrs=(idx, padding_idx))


def dropout(input, p=0.5, training=True, generator=None) -> Tensor:
    """Inverted dropout: zero each element with probability ``p`` and scale the rest by
    1/(1-p) when ``training``; identity otherwise. Draws from the global generator
    (``rnnfast.manual_seed``) unless ``generator`` is given."""
    p = _check_p(p)
    x = _float_input(input)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        mask = np.zeros(x.shape, dtype=x.dtype)
    else:
        gen = default_generator() if generator is None else generator
        mask = (gen.random(x.shape, dtype=x.dtype) >= p).astype(x.dtype) / x.dtype.type(1 - p)
    return _make(x.data * mask, (x,), lambda g: (g * mask,), op=_DROPOUT, attrs=(p, mask))


def _check_p(p):
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) \
            or not 0.0 <= p <= 1.0:
        raise ValueError(f"p: dropout probability has to be between 0 and 1, got {p!r}")
    return float(p)


def relu(input) -> Tensor:
    return as_tensor(input, name="input").relu()


def tanh(input) -> Tensor:
    return as_tensor(input, name="input").tanh()


def sigmoid(input) -> Tensor:
    return as_tensor(input, name="input").sigmoid()


def softmax(input, dim=-1) -> Tensor:
    return _float_input(input).softmax(dim)


def log_softmax(input, dim=-1) -> Tensor:
    return _float_input(input).log_softmax(dim)


def _bags(indices, offsets, num, include_last_offset):
    """(flat indices (N,), bag of each index (N,), number of bags) of embedding_bag's input."""
    idx = _check_indices(indices, num, "input")
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError("offsets: has to be None when input is 2-D (each row is a bag)")
        B, n = idx.shape
        return idx.reshape(-1), np.repeat(np.arange(B), n), B
    if idx.ndim != 1:
        raise ValueError(f"input: expected a 1-D (with offsets) or 2-D tensor of indices, got "
                         f"shape {idx.shape}")
    if offsets is None:
        raise ValueError("offsets: required when input is 1-D")
    off = np.asarray(_data(offsets))
    if off.dtype.kind not in "iu" or off.ndim != 1:
        raise TypeError(f"offsets: expected a 1-D tensor of integers, got dtype {off.dtype} and "
                        f"shape {off.shape}")
    N = idx.shape[0]
    if include_last_offset:
        if off.size == 0 or off[-1] != N:
            raise ValueError(f"offsets: with include_last_offset the last offset must be the "
                             f"input's length {N}")
        off = off[:-1]
    if off.size and (off[0] != 0 or np.any(np.diff(off) < 0) or off[-1] > N):
        raise ValueError(f"offsets: expected non-decreasing offsets starting at 0 and at most "
                         f"{N}, got {off.tolist()}")
    seg = np.zeros(N, dtype=np.int64)
    if off.size > 1:
        # bag of each position: the number of bag starts at or before it, minus one
        seg = np.searchsorted(off, np.arange(N), side="right") - 1
    return idx, seg, off.size


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False,
                  mode="mean", sparse=False, per_sample_weights=None, include_last_offset=False,
                  padding_idx=None) -> Tensor:
    """Sums, means or maxima of bags of embedding rows without materializing the rows, as
    torch.nn.functional.embedding_bag: ``input`` 2-D (each row a bag) or 1-D with ``offsets``
    (where each bag starts). Entries equal to ``padding_idx`` are left out (and not counted
    in a mean); an empty bag gives zeros. ``per_sample_weights`` (mode 'sum' only) scale each
    row. ``sparse=True`` is accepted and gives the same (dense) gradient; ``max_norm`` and
    ``scale_grad_by_freq`` are not supported."""
    if max_norm is not None:
        raise ValueError("max_norm: renormalizing the weight in place is not supported; got "
                         f"{max_norm!r}, expected None")
    if scale_grad_by_freq:
        raise ValueError("scale_grad_by_freq: not supported, expected False")
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"mode: expected 'sum', 'mean' or 'max', got {mode!r}")
    w = as_tensor(weight, name="weight")
    if w.ndim != 2:
        raise ValueError(f"weight: expected 2 dims (num_embeddings, dim), got {w.shape}")
    V, D = w.shape
    idx, seg, B = _bags(input, offsets, V, include_last_offset)
    psw = None
    if per_sample_weights is not None:
        if mode != "sum":
            raise ValueError(f"per_sample_weights: only supported for mode='sum', got "
                             f"mode={mode!r}")
        psw = _float_input(per_sample_weights, "per_sample_weights")
        if psw.shape != np.shape(_data(input)):
            raise ValueError(f"per_sample_weights: expected the input's shape "
                             f"{np.shape(_data(input))}, got {psw.shape}")
    keep = np.ones(idx.shape, bool) if padding_idx is None else idx != (padding_idx % V)
    idx_k, seg_k = idx[keep], seg[keep]
    rows = w.data[idx_k]
    scale = None
    if mode == "max":
        out = np.zeros((B, D), dtype=w.dtype)
        arg = np.full((B, D), -1, dtype=np.int64)       # position in idx_k of each maximum
        starts = np.searchsorted(seg_k, np.arange(B))
        ends = np.searchsorted(seg_k, np.arange(B), side="right")
        for b in range(B):
            if ends[b] > starts[b]:
                a = np.argmax(rows[starts[b]:ends[b]], axis=0)
                arg[b] = starts[b] + a
                out[b] = rows[arg[b], np.arange(D)]
    else:
        scale = np.ones(idx_k.shape, dtype=w.dtype)
        if psw is not None:
            scale = psw.data.reshape(-1)[keep].astype(w.dtype)
        if mode == "mean":
            counts = np.bincount(seg_k, minlength=B)
            scale = scale / np.maximum(counts, 1)[seg_k].astype(w.dtype)
        out = _scatter_rows(seg_k, rows * scale[:, None], B)

    def backward(g):
        gw = gp = None
        if w.requires_grad:
            if mode == "max":
                b, d = np.nonzero(arg >= 0)
                gw = _scatter_flat(idx_k[arg[b, d]] * D + d, g[b, d], V * D,
                                   g.dtype).reshape(V, D)
            else:
                gw = _scatter_rows(idx_k, g[seg_k] * scale[:, None], V)
        if psw is not None and psw.requires_grad:
            gflat = np.zeros(idx.shape, dtype=g.dtype)
            gflat[keep] = np.einsum("nd,nd->n", g[seg_k], rows)
            gp = gflat.reshape(psw.shape)
        return gw, gp
    return _make(out, (w, psw), backward, op=_EMBEDDING_BAG,
                 attrs=(input, offsets, mode, include_last_offset, padding_idx))


def one_hot(tensor, num_classes=-1) -> Tensor:
    """int64 one-hot rows (..., num_classes) of integer class indices; ``num_classes=-1``
    takes the largest index + 1, as torch."""
    t = np.asarray(_data(tensor))
    if t.dtype.kind not in "iu":
        raise TypeError(f"tensor: one_hot is only applicable to index tensors, got dtype "
                        f"{t.dtype}")
    if num_classes == -1:
        num_classes = int(t.max()) + 1 if t.size else 0
    if t.size and (t.min() < 0 or t.max() >= num_classes):
        raise ValueError(f"tensor: class values must be in [0, {num_classes}) (num_classes), "
                         f"got {int(t.min())}..{int(t.max())}")
    return _untracked(np.eye(num_classes, dtype=np.int64)[t], (tensor,), _ONE_HOT,
                      (num_classes,))


def _normalized_shape(normalized_shape):
    if isinstance(normalized_shape, (int, np.integer)) and not isinstance(normalized_shape, bool):
        normalized_shape = (normalized_shape,)
    try:
        shape = tuple(int(s) for s in normalized_shape)
    except TypeError:
        raise TypeError(f"normalized_shape: expected an int or a tuple of ints, got "
                        f"{type(normalized_shape).__name__}") from None
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"normalized_shape: expected positive sizes, got {normalized_shape}")
    return shape


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5) -> Tensor:
    """Layer normalization over the last dims (``normalized_shape``), as torch's:
    ``(x - mean) / sqrt(var + eps) * weight + bias`` with the biased variance, one autograd
    node. ``weight`` and ``bias`` have shape ``normalized_shape`` (or are None)."""
    x = _float_input(input)
    shape = _normalized_shape(normalized_shape)
    k = len(shape)
    if x.shape[x.ndim - k:] != shape or x.ndim < k:
        raise ValueError(f"input: expected shape (*, {', '.join(map(str, shape))}) for "
                         f"normalized_shape={list(shape)}, got {x.shape}")
    w = None if weight is None else as_tensor(weight, name="weight")
    b = None if bias is None else as_tensor(bias, name="bias")
    for name, p in (("weight", w), ("bias", b)):
        if p is not None and p.shape != shape:
            raise ValueError(f"{name}: expected shape {shape}, got {p.shape}")
    axes = tuple(range(x.ndim - k, x.ndim))
    lead = tuple(range(x.ndim - k))
    xd = x.data
    mu = xd.mean(axis=axes, keepdims=True)
    xc = xd - mu
    rstd = (1.0 / np.sqrt((xc * xc).mean(axis=axes, keepdims=True) + eps)).astype(xd.dtype)
    xhat = xc * rstd
    out = xhat
    if w is not None:
        out = out * w.data
    if b is not None:
        out = out + b.data

    def backward(g):
        gx = gw = gb = None
        if x.requires_grad:
            # d/dx of (x - mean) * rstd: rstd * (g' - mean(g') - xhat * mean(g' * xhat))
            gh = g * w.data if w is not None else g
            gx = rstd * (gh - gh.mean(axis=axes, keepdims=True)
                         - xhat * (gh * xhat).mean(axis=axes, keepdims=True))
        if w is not None and w.requires_grad:
            gw = (g * xhat).sum(axis=lead)
        if b is not None and b.requires_grad:
            gb = g.sum(axis=lead)
        return gx, gw, gb
    return _make(out, (x, w, b), backward, op=_LAYER_NORM, attrs=(shape, eps))


# ----------------------------------------------------------------------------------------------
# Losses.

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction: expected 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _class_weight(weight, C, dtype):
    if weight is None:
        return np.ones(C, dtype=dtype)
    w = np.asarray(_data(weight))
    if w.dtype.kind not in "biuf":
        raise TypeError(f"weight: expected numeric data, got dtype {w.dtype}")
    if w.shape != (C,):
        raise ValueError(f"weight: expected shape ({C},), one weight per class, got {w.shape}")
    return w.astype(dtype, copy=False)


def _split_classes(x):
    """(class axis, number of classes, expected class-index target shape) of a logits tensor."""
    if x.ndim == 0:
        raise ValueError("input: expected (C,), (N, C) or (N, C, d1, ...), got a 0-d tensor")
    cdim = 0 if x.ndim == 1 else 1
    return cdim, x.shape[cdim], x.shape[:cdim] + x.shape[cdim + 1:]


def _rcs(x, C):
    """(R, C, S) of an input (C,), (N, C) or (N, C, d1, ...): the kernels' view [R, C, S]."""
    if x.ndim == 1:
        return 1, C, 1
    return x.shape[0], C, math.prod(x.shape[2:])


def _kernel_weight(weight, C, dt):
    """A class weight for the kernels: None, or a C-contiguous (C,) array of dtype dt."""
    return None if weight is None else _c(_class_weight(weight, C, dt))


def _cross_entropy_kernel(x, t, weight, ignore_index, reduction, eps, tshape):
    """cross_entropy over class indices on the C++ kernel (one node)."""
    C = _split_classes(x)[1]
    R, _, S = _rcs(x, C)
    dt = x.dtype
    x3 = _c(x.data).reshape(R, C, S)
    t2 = _c(t.astype(np.int64, copy=False)).reshape(R, S)
    w = _kernel_weight(weight, C, dt)
    ignore_index = int(ignore_index)
    loss, lse = _core.cross_entropy_forward(x3, t2, w, ignore_index, eps, reduction)
    out = loss.reshape(tshape) if reduction == "none" else loss

    def backward(g):
        d = _core.cross_entropy_backward(g, lse, x3, t2, w, ignore_index, eps, reduction)
        return (d.reshape(x.shape),)
    return _make(out, (x,), backward, op=_CROSS_ENTROPY)


_INT64 = np.iinfo(np.int64)


def _class_index_loss(x, target, weight, ignore_index, reduction, eps, from_logits, name):
    """Shared by cross_entropy (from_logits) and nll_loss: one node over class indices."""
    cdim, C, tshape = _split_classes(x)
    t = np.asarray(target)
    if t.shape != tshape:
        raise ValueError(f"target: expected shape {tshape} for input of shape {x.shape}, "
                         f"got {t.shape}")
    if (from_logits and _kernel_dtype(x.data) is not None
            and _INT64.min <= ignore_index <= _INT64.max
            and not (t.dtype.kind == "u" and t.dtype.itemsize == 8)):
        return _cross_entropy_kernel(x, t, weight, ignore_index, reduction, eps, tshape)
    flat = t.reshape(-1)
    valid = flat != ignore_index
    bad = valid & ((flat < 0) | (flat >= C))
    if bad.any():
        v = int(flat[bad][0])
        raise IndexError(f"target: class index {v} is out of range for {C} classes "
                         f"(expected 0 <= target < {C}, or ignore_index={ignore_index})")
    dt = x.dtype
    w = _class_weight(weight, C, dt)
    cls = np.where(valid, flat, 0)
    rows = np.arange(flat.size)
    xm = np.moveaxis(x.data, cdim, -1).reshape(-1, C)              # (M, C)
    if from_logits:
        z = xm - xm.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    else:
        logp = xm
    wt = w[cls] * valid                                             # (M,) target weights
    loss = -(1 - eps) * wt * logp[rows, cls]
    if eps:
        # Label smoothing (torch): eps/C * sum_c w_c * (-log p_c) per non-ignored row.
        loss = loss - (eps / C) * valid * (logp * w).sum(axis=1)
    # torch's weighted mean divides by the target weights of the non-ignored rows
    denom = wt.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        if reduction == "none":
            out = loss.reshape(tshape)
        elif reduction == "sum":
            out = loss.sum()
        else:
            out = loss.sum() / denom

    def backward(g):
        if reduction == "none":
            coef = g.reshape(-1)
        elif reduction == "sum":
            coef = np.broadcast_to(g, loss.shape)
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                coef = np.broadcast_to(g / denom, loss.shape)
        cw = (1 - eps) * wt * coef
        if from_logits:
            p = np.exp(logp)
            d = cw[:, None] * p
            d[rows, cls] -= cw
            if eps:
                d += ((eps / C) * valid * coef)[:, None] * (p * w.sum() - w)
        else:
            d = np.zeros_like(logp)
            d[rows, cls] = -cw
        d = d.astype(dt, copy=False).reshape(tshape + (C,))
        return (np.moveaxis(d, -1, cdim),)
    return _make(np.asarray(out, dtype=dt), (x,), backward, op=_LOSSES[name])


def _probability_loss(x, target, weight, reduction, eps):
    """Cross entropy with class-probability targets of the input's shape."""
    cdim, C, _ = _split_classes(x)
    q = target if isinstance(target, Tensor) else _wrap(np.asarray(target))
    dt = x.dtype
    qd = q.data.astype(dt, copy=False)
    if _kernel_dtype(x.data) is not None:
        R, _, S = _rcs(x, C)
        x3, q3 = _c(x.data).reshape(R, C, S), _c(qd).reshape(R, C, S)
        w = _kernel_weight(weight, C, dt)
        loss, lse = _core.cross_entropy_prob_forward(x3, q3, w, eps, reduction)
        out = loss.reshape(x.shape[:cdim] + x.shape[cdim + 1:]) if reduction == "none" else loss

        def backward_kernel(g):
            gx, gq = _core.cross_entropy_prob_backward(g, lse, x3, q3, w, eps, reduction,
                                                       x.requires_grad, q.requires_grad)
            return (None if gx is None else gx.reshape(x.shape),
                    None if gq is None else gq.reshape(x.shape))
        return _make(out, (x, q), backward_kernel, op=_CROSS_ENTROPY)
    qs = qd * (1 - eps) + eps / C if eps else qd
    wshape = [1] * x.ndim
    wshape[cdim] = C
    w = _class_weight(weight, C, dt).reshape(wshape)
    z = x.data - x.data.max(axis=cdim, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=cdim, keepdims=True))
    loss = -(logp * qs * w).sum(axis=cdim)
    count = loss.size
    out = loss if reduction == "none" else loss.sum()
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            out = out / np.asarray(count, dtype=dt)

    def backward(g):
        if reduction == "none":
            coef = g
        else:
            coef = np.broadcast_to(g / count if reduction == "mean" else g, loss.shape)
        coef = np.expand_dims(coef, cdim)
        gx = gq = None
        if x.requires_grad:
            s = (w * qs).sum(axis=cdim, keepdims=True)
            gx = coef * (np.exp(logp) * s - w * qs)
        if q.requires_grad:
            gq = -(1 - eps) * coef * w * logp
        return gx, gq
    return _make(np.asarray(out, dtype=dt), (x, q), backward, op=_CROSS_ENTROPY)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0) -> Tensor:
    """Cross entropy between logits ``input`` (C,), (N, C) or (N, C, d1, ...) and either class
    indices (integers of shape (), (N,) or (N, d1, ...)) or class probabilities (floats of the
    input's shape). Semantics of weight, ignore_index, reduction and label_smoothing are
    torch's."""
    x = _float_input(input)
    _check_reduction(reduction)
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
            or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing: expected a float in [0, 1], got {label_smoothing!r}")
    t = _data(target)
    t = t if isinstance(t, np.ndarray) else as_tensor(t, name="target").data
    tshape = _split_classes(x)[2]
    if t.dtype.kind == "f":
        if t.shape == x.shape:
            return _probability_loss(x, target, weight, reduction, float(label_smoothing))
        if t.shape == tshape:
            raise TypeError(f"target: class indices must be integers, got dtype {t.dtype} "
                            f"(probability targets need the input's shape {x.shape})")
        raise ValueError(f"target: expected class indices of shape {tshape} or probabilities "
                         f"of shape {x.shape}, got {t.shape}")
    if t.dtype.kind not in "iu":
        raise TypeError(f"target: expected integer class indices or float probabilities, got "
                        f"dtype {t.dtype}")
    return _class_index_loss(x, t, weight, ignore_index, reduction, float(label_smoothing),
                             True, "CrossEntropyBackward")


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean") -> Tensor:
    """Negative log likelihood of log-probabilities ``input`` (C,), (N, C) or (N, C, d1, ...)
    at integer class indices ``target``."""
    x = _float_input(input)
    _check_reduction(reduction)
    t = _data(target)
    t = t if isinstance(t, np.ndarray) else as_tensor(t, name="target").data
    if t.dtype.kind not in "iu":
        raise TypeError(f"target: class indices must be integers, got dtype {t.dtype}")
    return _class_index_loss(x, t, weight, ignore_index, reduction, 0.0, False, "NllLossBackward")


def _pair(input, target):
    """input and target as float Tensors of one shape; arrays take the other's dtype."""
    if isinstance(input, Tensor) or not isinstance(target, Tensor):
        x = _float_input(input)
        y = target if isinstance(target, Tensor) else as_tensor(target, dtype=x.dtype,
                                                                 name="target")
    else:
        y = _float_input(target, "target")
        x = as_tensor(input, dtype=y.dtype, name="input")
    if y.dtype.kind != "f":
        y = y.to(x.dtype)
    if x.shape != y.shape:
        raise ValueError(f"target: expected the input's shape {x.shape}, got {y.shape}")
    return x, y


def _reduce_elementwise(loss, parents, grads, reduction, name):
    """One node for an elementwise loss; ``grads`` holds d loss / d parent (or None)."""
    n = loss.size
    if reduction == "none":
        out = loss
    else:
        out = loss.sum()
        if reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):
                out = out / np.asarray(n, dtype=loss.dtype)

    def backward(g):
        coef = g if reduction == "none" else (g / n if reduction == "mean" else g)
        return tuple(None if d is None or not p.requires_grad else
                     np.broadcast_to(coef * d, p.shape) for p, d in zip(parents, grads))
    return _make(np.asarray(out, dtype=loss.dtype), parents, backward, op=_LOSSES[name])


def _flat_pair(x, y):
    return _c(x.data).reshape(-1), _c(y.data).reshape(-1)


def _elementwise_kernel(loss, x, y, reduction, backward_fn, name):
    """One node for a kernel's elementwise loss: ``backward_fn(g, need_dx, need_dy)`` returns
    flat gradients (or None)."""
    out = loss.reshape(x.shape) if reduction == "none" else loss

    def backward(g):
        gx, gy = backward_fn(g, x.requires_grad, y.requires_grad)
        return (None if gx is None else gx.reshape(x.shape),
                None if gy is None else gy.reshape(y.shape))
    return _make(out, (x, y), backward, op=_LOSSES[name])


def mse_loss(input, target, reduction="mean") -> Tensor:
    """Mean squared error; input and target must have the same shape."""
    _check_reduction(reduction)
    x, y = _pair(input, target)
    if _kernel_dtype(x.data, y.data) is not None:
        xf, yf = _flat_pair(x, y)
        return _elementwise_kernel(
            _core.mse_forward(xf, yf, reduction), x, y, reduction,
            lambda g, nx, ny: _core.mse_backward(g, xf, yf, reduction, nx, ny),
            "MseLossBackward")
    diff = x.data - y.data
    return _reduce_elementwise(diff * diff, (x, y), (2 * diff, -2 * diff), reduction,
                               "MseLossBackward")


def l1_loss(input, target, reduction="mean") -> Tensor:
    """Mean absolute error; input and target must have the same shape."""
    _check_reduction(reduction)
    x, y = _pair(input, target)
    diff = x.data - y.data
    s = np.sign(diff)
    return _reduce_elementwise(np.abs(diff), (x, y), (s, -s), reduction, "L1LossBackward")


def _broadcast_weight(weight, shape, dtype, name="weight"):
    if weight is None:
        return None
    w = np.asarray(_data(weight))
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numeric data, got dtype {w.dtype}")
    try:
        np.broadcast_shapes(w.shape, shape)
    except ValueError:
        raise ValueError(f"{name}: shape {w.shape} does not broadcast to the input's shape "
                         f"{shape}") from None
    if np.broadcast_shapes(w.shape, shape) != tuple(shape):
        raise ValueError(f"{name}: shape {w.shape} does not broadcast to the input's shape "
                         f"{shape}")
    return w.astype(dtype, copy=False)


def _periodic(w, shape):
    """A weight that broadcasts to ``shape`` as the kernels read it: a flat array whose entry
    i % len is element i's (a weight over the trailing dims, e.g. pos_weight (C,)), or the
    weight broadcast to the whole shape; None stays None."""
    n = math.prod(shape)
    if w is None or n == 0:
        return None                     # no elements: nothing to weigh
    ws = w.shape
    while ws and ws[0] == 1:
        ws = ws[1:]
    if tuple(shape[len(shape) - len(ws):]) == tuple(ws):
        return _c(w).reshape(-1)
    return _c(np.broadcast_to(w, shape)).reshape(-1)


def binary_cross_entropy(input, target, weight=None, reduction="mean") -> Tensor:
    """-w [y log x + (1 - y) log(1 - x)] for probabilities x in [0, 1]; logs are clamped to
    >= -100 as in torch."""
    _check_reduction(reduction)
    x, y = _pair(input, target)
    xd, yd = x.data, y.data
    if ((xd < 0) | (xd > 1)).any() or np.isnan(xd).any():
        raise ValueError("input: all elements of input should be between 0 and 1")
    w = _broadcast_weight(weight, x.shape, x.dtype)
    with np.errstate(divide="ignore"):
        logx = np.maximum(np.log(xd), -100)
        log1mx = np.maximum(np.log1p(-xd), -100)
    loss = -(yd * logx + (1 - yd) * log1mx)
    # torch's derivative: (x - y) / max(x (1 - x), 1e-12)
    dx = (xd - yd) / np.maximum(xd * (1 - xd), 1e-12)
    dy = log1mx - logx
    if w is not None:
        loss, dx, dy = loss * w, dx * w, dy * w
    return _reduce_elementwise(loss.astype(x.dtype, copy=False), (x, y), (dx, dy), reduction,
                               "BinaryCrossEntropyBackward")


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None) -> Tensor:
    """w [pos_weight y softplus(-x) + (1 - y) softplus(x)], i.e. binary cross entropy of
    sigmoid(x), computed stably; ``pos_weight`` broadcasts along the last (class) dim."""
    _check_reduction(reduction)
    x, y = _pair(input, target)
    xd, yd = x.data, y.data
    w = _broadcast_weight(weight, x.shape, x.dtype)
    pw = _broadcast_weight(pos_weight, x.shape, x.dtype, "pos_weight")
    if _kernel_dtype(xd, yd) is not None:
        xf, yf = _flat_pair(x, y)
        wp, pwp = _periodic(w, x.shape), _periodic(pw, x.shape)
        return _elementwise_kernel(
            _core.bce_with_logits_forward(xf, yf, wp, pwp, reduction), x, y, reduction,
            lambda g, nx, ny: _core.bce_with_logits_backward(g, xf, yf, wp, pwp, reduction,
                                                             nx, ny),
            "BinaryCrossEntropyWithLogitsBackward")
    tail = np.log1p(np.exp(-np.abs(xd)))
    sp_pos = np.maximum(xd, 0) + tail        # softplus(x)  = -log(1 - sigmoid(x))
    sp_neg = np.maximum(-xd, 0) + tail       # softplus(-x) = -log sigmoid(x)
    s = _stable_sigmoid(xd)
    py = yd if pw is None else pw * yd
    loss = py * sp_neg + (1 - yd) * sp_pos
    dx = (1 - yd) * s - py * (1 - s)
    dy = (sp_neg if pw is None else pw * sp_neg) - sp_pos
    if w is not None:
        loss, dx, dy = loss * w, dx * w, dy * w
    return _reduce_elementwise(loss.astype(x.dtype, copy=False), (x, y), (dx, dy), reduction,
                               "BinaryCrossEntropyWithLogitsBackward")
