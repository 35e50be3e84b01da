"""rnnfast's kernels as ``torch.library`` custom ops: ``torch.ops.rnnfast.rnn_layer`` (one
recurrent layer, one or both directions, forward) and ``torch.ops.rnnfast.rnn_layer_backward``
(its BPTT), each with a fake (meta) implementation, and the forward's autograd formula.

The ops are opaque to torch.compile and torch.export: the graph holds one call per layer and
runs the C++ kernels inside it. Tensors reach the kernels as NumPy views of their memory (no
copy when C-contiguous) and outputs come back as tensors over the kernels' own arrays.
Nothing here stacks layers, applies inter-layer dropout or checks a module's arguments: the
modules do (modules.py). Double backward is refused by the backward op's autograd formula.
"""

from typing import Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from rnnfast import _core

from ._threads import sync_threads  # the thread rule (torchrun included)

__all__ = ["layer", "rnn_layer", "rnn_layer_backward", "reserve_size", "sync_threads", "MODES"]

# torch's mode names (RNNBase.mode) -> the kernels' cell names and ids (rnnfast.functional.MODES).
MODES = {"RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu", "LSTM": "lstm", "GRU": "gru"}
_CELL_ID = {"rnn_tanh": 0, "rnn_relu": 1, "lstm": 2, "gru": 3}
_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def reserve_size(mode, T, B, H, H_out):
    """The number of elements of one direction's training reserve; mirrors
    rnnfast::reserve_size (cpp/src/api.cc), checked against the kernels by the tests."""
    states = 2 * B * H_out + (B * H if mode == "lstm" else 0)
    if mode == "lstm":
        return T * B * 5 * H + states
    if mode == "gru":
        return T * B * 4 * H + states
    return states


def _np(t):
    """A CPU tensor as a NumPy array sharing its memory (a copy only if not C-contiguous)."""
    if t is None:
        return None
    if not t.is_cpu:
        raise ValueError(f"rnnfast.torch runs on the CPU only, got a tensor on {t.device}: move "
                         "the model and its inputs to the CPU, or revert the model "
                         "(rnnfast.torch.revert) to use torch's own kernels there")
    if not t.is_contiguous():
        t = t.contiguous()
    return t.detach().numpy()


def _t(a):
    return torch.from_numpy(a)


def _none_or(a, d):
    return None if a is None else a[d]


# ---------------------------------------------------------------------------------------------
# forward

def _forward_impl(mode: str, x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Optional[Tensor],
                  b_hh: Optional[Tensor], w_hr: Optional[Tensor], w_ih_r: Optional[Tensor],
                  w_hh_r: Optional[Tensor], b_ih_r: Optional[Tensor], b_hh_r: Optional[Tensor],
                  w_hr_r: Optional[Tensor], h0: Optional[Tensor], c0: Optional[Tensor],
                  lengths: Optional[Tensor], h_mask: Optional[Tensor], training: bool,
                  batch_first: bool) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """One recurrent layer over a whole sequence; both directions in one call when the
    ``*_r`` (reverse direction) weights are given.

    mode: "rnn_tanh", "rnn_relu", "lstm" or "gru". x (T, B, I), or (B, T, I) with batch_first;
    h0 (D, B, H_out), c0 (D, B, H) (lstm), h_mask (D, B, H_out) (recurrent dropout, scaled);
    lengths int64 (B,). training: keep the reserve for backward.
    Returns (y, y_r, h_n, c_n, reserve, reserve_r): y and y_r each direction's output, laid out
    as x; h_n (D, B, H_out); c_n (D, B, H) (lstm); empty tensors stand for what does not exist.
    """
    sync_threads()
    cell = _CELL_ID[mode]
    xa = _np(x)
    h0a, c0a, ma = _np(h0), _np(c0), _np(h_mask)
    la = _np(lengths)

    def args(d, w):
        return (xa, *[_np(t) for t in w], _none_or(h0a, d), _none_or(c0a, d), la,
                _none_or(ma, d), bool(d), training, batch_first)

    def out(a):  # outputs never alias one another: a fresh empty tensor for each absent one
        return x.new_empty(0) if a is None else _t(a)

    if w_ih_r is None:
        y, h_n, c_n, res = _core.forward(cell, *args(0, (w_ih, w_hh, b_ih, b_hh, w_hr)))
        return (_t(y), out(None), _t(h_n[None]), out(None if c_n is None else c_n[None]),
                out(res), out(None))
    (y, h_n, c_n, res), (y_r, h_r, c_r, res_r) = _core.forward_pair(
        cell, args(0, (w_ih, w_hh, b_ih, b_hh, w_hr)),
        args(1, (w_ih_r, w_hh_r, b_ih_r, b_hh_r, w_hr_r)))
    h_n = np.stack((h_n, h_r))
    c_n = None if c_n is None else np.stack((c_n, c_r))
    return _t(y), _t(y_r), _t(h_n), out(c_n), out(res), out(res_r)


rnn_layer = torch.library.custom_op("rnnfast::rnn_layer", _forward_impl, mutates_args=())


@rnn_layer.register_fake
def _rnn_layer_fake(mode, x, w_ih, w_hh, b_ih, b_hh, w_hr, w_ih_r, w_hh_r, b_ih_r, b_hh_r,
                    w_hr_r, h0, c0, lengths, h_mask, training, batch_first):
    D = 1 if w_ih_r is None else 2
    T, B = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    H = w_ih.shape[0] // _GATES[mode]
    H_out = w_hh.shape[1]
    y = x.new_empty((B, T, H_out) if batch_first else (T, B, H_out))
    res = x.new_empty(reserve_size(mode, T, B, H, H_out)) if training else x.new_empty(0)
    return (y, x.new_empty(0) if D == 1 else torch.empty_like(y), x.new_empty(D, B, H_out),
            x.new_empty(D, B, H) if mode == "lstm" else x.new_empty(0), res,
            torch.empty_like(res) if D == 2 else x.new_empty(0))


def _setup_context(ctx, inputs, output):
    (mode, x, w_ih, w_hh, b_ih, b_hh, w_hr, w_ih_r, w_hh_r, b_ih_r, b_hh_r, w_hr_r, h0, c0,
     lengths, h_mask, training, batch_first) = inputs
    y, y_r, h_n, c_n, res, res_r = output
    ctx.mark_non_differentiable(res, res_r)
    ctx.set_materialize_grads(False)
    ctx.mode, ctx.batch_first, ctx.training = mode, batch_first, training
    ctx.has_h0, ctx.has_c0 = h0 is not None, c0 is not None
    weights = (w_ih, w_hh, b_ih, b_hh, w_hr, w_ih_r, w_hh_r, b_ih_r, b_hh_r, w_hr_r)
    ctx.has_w = tuple(w is not None for w in weights)
    ctx.save_for_backward(x, *weights, lengths, h_mask, y, y_r, res, res_r)


def _backward(ctx, dy, dy_r, dh_n, dc_n, _dres, _dres_r, direct=False):
    """rnn_layer's autograd formula: one rnn_layer_backward call. ``direct`` (the eager path,
    _Layer) calls its implementation without the dispatcher (through _LayerBackward when a graph
    of the gradient is recorded). Either way a double backward raises NotImplementedError."""
    if not ctx.training:
        raise RuntimeError("rnnfast::rnn_layer: backward of a call made with training=False "
                           "(nothing was saved); call it with training=True to differentiate")
    x, *rest = ctx.saved_tensors
    weights, (lengths, h_mask, y, y_r, res, res_r) = rest[:10], rest[10:]
    # the gradients of the empty stand-ins (y_r of one direction, c_n of a non-LSTM) carry
    # nothing; torch.compile passes them as empty tensors rather than None
    if weights[5] is None:
        dy_r = None
    if ctx.mode != "lstm":
        dc_n = None
    if dy is None and dy_r is None and dh_n is None and dc_n is None:
        return (None,) * 18
    if not direct:
        fn = torch.ops.rnnfast.rnn_layer_backward.default
    else:
        fn = _LayerBackward.apply if torch.is_grad_enabled() else _backward_impl
    g = fn(ctx.mode, x, *weights, lengths, h_mask, y, y_r, res, res_r, dy, dy_r, dh_n, dc_n,
           ctx.batch_first)
    dx, dh0, dc0, dws = g[0], g[1], g[2], g[3:]
    dws = [d if has else None for d, has in zip(dws, ctx.has_w)]
    return (None, dx, *dws, dh0 if ctx.has_h0 else None, dc0 if ctx.has_c0 else None, None,
            None, None, None)


rnn_layer.register_autograd(_backward, setup_context=_setup_context)


class _Layer(torch.autograd.Function):
    """rnn_layer in eager mode: the same implementation and autograd formula without the
    dispatcher's per-call cost (tens of microseconds, a T = 1 cell step's whole budget)."""

    @staticmethod
    def forward(*args):
        return _forward_impl(*args)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _setup_context(ctx, inputs, output)

    @staticmethod
    def backward(ctx, *grads):
        return _backward(ctx, *grads, direct=True)


def layer(*args):
    """rnn_layer(*args): the custom op while torch.compile or torch.export traces (so the graph
    holds it), else straight to the implementation (through _Layer when autograd records)."""
    if torch.compiler.is_compiling():
        return torch.ops.rnnfast.rnn_layer.default(*args)
    if torch.is_grad_enabled() and any(isinstance(a, Tensor) and a.requires_grad
                                       for a in args):
        return _Layer.apply(*args)
    return _forward_impl(*args)


# ---------------------------------------------------------------------------------------------
# backward

def _backward_impl(mode: str, x: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Optional[Tensor],
                   b_hh: Optional[Tensor], w_hr: Optional[Tensor], w_ih_r: Optional[Tensor],
                   w_hh_r: Optional[Tensor], b_ih_r: Optional[Tensor],
                   b_hh_r: Optional[Tensor], w_hr_r: Optional[Tensor],
                   lengths: Optional[Tensor], h_mask: Optional[Tensor], y: Tensor,
                   y_r: Tensor, reserve: Tensor, reserve_r: Tensor, dy: Optional[Tensor],
                   dy_r: Optional[Tensor], dh_n: Optional[Tensor], dc_n: Optional[Tensor],
                   batch_first: bool) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor,
                                               Tensor, Tensor, Tensor, Tensor, Tensor, Tensor,
                                               Tensor]:
    """BPTT of one ``rnn_layer(..., training=True)`` call, from its inputs and outputs and the
    gradients of y, y_r, h_n and c_n (None: zeros). Returns (dx, dh0 (D, B, H_out), dc0
    (D, B, H), then the gradients of the ten weights in rnn_layer's order); empty tensors
    stand for what does not exist."""
    sync_threads()
    cell = _CELL_ID[mode]
    xa, la, ma = _np(x), _np(lengths), _np(h_mask)
    dhn, dcn = _np(dh_n), _np(dc_n)
    w_f = (w_ih, w_hh, b_ih, b_hh, w_hr)
    w_r = (w_ih_r, w_hh_r, b_ih_r, b_hh_r, w_hr_r)

    def args(d, w, yd, res, dyd):
        return (_np(res), xa, *[_np(t) for t in w], la, _none_or(ma, d), bool(d), _np(dyd),
                _none_or(dhn, d), _none_or(dcn, d), _np(yd), batch_first)

    def out(a):  # outputs never alias one another: a fresh empty tensor for each absent one
        return x.new_empty(0) if a is None else _t(a)

    if w_ih_r is None:
        dx, dh0, dc0, *dw = _core.backward(cell, *args(0, w_f, y, reserve, dy))
        return (_t(dx), _t(dh0[None]), out(None if dc0 is None else dc0[None]),
                *[out(a) for a in dw], *[out(None) for _ in range(5)])
    ga, gb = _core.backward_pair(cell, args(0, w_f, y, reserve, dy),
                                 args(1, w_r, y_r, reserve_r, dy_r))
    dx = ga[0]
    dx += gb[0]
    dh0 = np.stack((ga[1], gb[1]))
    dc0 = None if ga[2] is None else np.stack((ga[2], gb[2]))
    return (_t(dx), _t(dh0), out(dc0), *[out(a) for a in ga[3:]], *[out(a) for a in gb[3:]])


rnn_layer_backward = torch.library.custom_op("rnnfast::rnn_layer_backward", _backward_impl,
                                             mutates_args=())


@rnn_layer_backward.register_fake
def _rnn_layer_backward_fake(mode, x, w_ih, w_hh, b_ih, b_hh, w_hr, w_ih_r, w_hh_r, b_ih_r,
                             b_hh_r, w_hr_r, lengths, h_mask, y, y_r, reserve, reserve_r, dy,
                             dy_r, dh_n, dc_n, batch_first):
    D = 1 if w_ih_r is None else 2
    B = x.shape[0] if batch_first else x.shape[1]
    H = w_ih.shape[0] // _GATES[mode]
    H_out = w_hh.shape[1]
    weights = (w_ih, w_hh, b_ih, b_hh, w_hr, w_ih_r, w_hh_r, b_ih_r, b_hh_r, w_hr_r)
    return (x.new_empty(x.shape), x.new_empty(D, B, H_out),
            x.new_empty(D, B, H) if mode == "lstm" else x.new_empty(0),
            *[x.new_empty(0) if w is None else x.new_empty(w.shape) for w in weights])


def _no_double_backward(ctx, *grads):
    raise NotImplementedError(
        "rnnfast.torch: double backward (the gradient of a gradient, e.g. "
        "torch.autograd.grad(..., create_graph=True) then backward again) through rnnfast's "
        "recurrent kernels is not supported; revert the model (rnnfast.torch.revert) to use "
        "torch's own RNN for that")


rnn_layer_backward.register_autograd(_no_double_backward)


class _LayerBackward(torch.autograd.Function):
    """rnn_layer_backward in eager mode while a graph of the gradient is recorded
    (create_graph=True, torch.func.grad): the first backward runs, a second one raises."""

    @staticmethod
    def forward(*args):
        return _backward_impl(*args)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, *grads):
        _no_double_backward(ctx, *grads)
