"""rnnfast's kernels as ``torch.library`` custom ops: ``torch.ops.rnnfast.rnn_layer`` (one
recurrent layer, one or both directions, forward) and ``torch.ops.rnnfast.rnn_layer_backward``
(its BPTT), each with a fake (meta) implementation, and the forward's autograd formula.

The ops are opaque to torch.compile and torch.export: the graph holds one call per layer and
runs the C++ kernels inside it. Tensors reach the kernels as NumPy views of their memory (no
copy when C-contiguous) and outputs come back as tensors over the kernels' own arrays.
Nothing here stacks layers, applies inter-layer dropout or checks a module's arguments: the
modules do (modules.py). Double backward is refused by the backward op's autograd formula.
"""

import weakref

import numpy as np
import torch
from torch import Tensor

from rnnfast import _core
from rnnfast._cells import CELLS as _CELLS, GATES as _GATES
from rnnfast.functional import _CELL

from ._threads import sync_threads  # the thread rule (torchrun included)

__all__ = ["layer", "rnn_layer", "rnn_layer_backward", "reserve_size", "sync_threads", "MODES",
           "layer_weights", "pairs", "MAX_EXTRAS"]

# torch's mode names (RNNBase.mode) -> the kernels' cell names and ids (rnnfast.functional.MODES).
# The modules' variants (GRU(reset_after=False), LSTM(peephole=True)) pick their own cells.
MODES = {"RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu", "LSTM": "lstm", "GRU": "gru"}

# The cells with a cell state c beside h (their c_0, c_n).
_HAS_C = {k.name: k.has_c for k in _CELLS.values()}
# How each cell reaches h_{t-1}: "product" (w_hh (G*H, H_out)), "diagonal" (IndRNN: w_hh = u of
# shape (H,)) or "scan" (minGRU, minLSTM: no w_hh, no b_hh, no h_mask); rnnfast._cells.
_RECURRENCE = {k.name: k.recurrence for k in _CELLS.values()}
# The layer-normalized cells (CellTraits::kRowNorm), the ones whose extras are gains gamma_*:
# their reserve also keeps the normalized rows and their statistics.
_ROW_NORM = {k.name: any(n.startswith("gamma") for n, _ in k.extras) for k in _CELLS.values()}
# The cells' extra parameters (rnnfast._cells' extras: lstm_peephole's w_p; layernorm_lstm's
# gamma_x, gamma_h, gamma_c, beta_c; layernorm_gru's gamma_x, gamma_h). rnn_layer takes up to
# MAX_EXTRAS of them, each as a pair of optional arguments after batch_first, the forward
# direction's then the reverse one's (e0, e0_r, e1, e1_r, ...), so that a cell without extras
# leaves them all out and lstm_peephole's w_p, w_p_r are the first pair; rnn_layer_backward
# returns their gradients last, in the same order.
_N_EXTRAS = {k.name: len(k.extras) for k in _CELLS.values()}
MAX_EXTRAS = 4  # the signatures below spell out this many pairs (kMaxExtras in C++)
assert max(_N_EXTRAS.values()) <= MAX_EXTRAS


def pairs(extras, extras_r=None):
    """Each direction's extras (forward's, reverse's or None) as rnn_layer's interleaved
    arguments e0, e0_r, e1, e1_r, ..."""
    out = []
    for k, e in enumerate(extras):
        out += (e, None if extras_r is None else extras_r[k])
    return tuple(out)


def _unpair(es):
    """rnn_layer's interleaved extras (2 * MAX_EXTRAS, None where absent) as (forward's,
    reverse's) lists, each the leading given ones; a gap raises ValueError naming it."""
    out = []
    for d in (0, 1):
        xs = list(es[d::2])
        while xs and xs[-1] is None:
            xs.pop()
        if None in xs:
            k = xs.index(None)
            raise ValueError(f"e{k}{'_r' if d else ''}: expected a tensor (the cell's extra "
                             f"parameter {k}) since a later one is given, got None")
        out.append(xs)
    return out


def _h_out(mode, w_ih, w_hh):
    """H_out of a layer from its weights: w_hh's columns for the product cells, else H."""
    if _RECURRENCE[mode] == "product":
        return w_hh.shape[1]
    return w_ih.shape[0] // _GATES[mode]


def reserve_size(mode, T, B, H, H_out):
    """The number of elements of one direction's training reserve; mirrors
    rnnfast::reserve_size (cpp/src/api.cc: the Reserve of cells/common.h), checked against the
    kernels by the tests."""
    states = 2 * B * H_out + (B * H if _HAS_C[mode] else 0)
    if _ROW_NORM[mode]:  # the gates, aux (c_t / v_n), the normalized rows xn and hn (G*H
        # each), LN(c_t) (the LSTM's), the 3 rows' 1/std
        G = _GATES[mode]
        return T * B * ((3 * G + 1 + (1 if _HAS_C[mode] else 0)) * H + 3) + states
    if _RECURRENCE[mode] == "scan":  # minGRU, minLSTM: their activated gates per position
        return T * B * _GATES[mode] * H + states
    if _HAS_C[mode]:  # the LSTMs: 4 activated gates and c_t per position
        return T * B * 5 * H + states
    if _GATES[mode] == 3:  # the GRUs: 3 activated gates and one auxiliary H-vector
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


# owner module -> (its flat weight tensors, their (data pointer, shape), layer_weights' result)
_CACHE = weakref.WeakKeyDictionary()


def unchanged(tensors, cached, keys):
    """Whether ``tensors`` are the ``cached`` tensor objects, still C-contiguous over the same
    memory with the same shapes (``keys``: each one's (data pointer, shape) when cached)."""
    if len(tensors) != len(cached):
        return False
    for a, t, k in zip(cached, tensors, keys):
        if a is not t or t.data_ptr() != k[0] or t.shape != k[1] or not t.is_contiguous():
            return False
    return True


def layer_weights(owner, flat, slots, D, views=True):
    """A module's weights for the kernels: ``flat`` its weight tensors in torch's order
    (RNNBase._flat_weights_names), each layer-direction's ``slots`` (indices among w_ih, w_hh,
    b_ih, b_hh, w_hr, then the cell's extras from 5 on: lstm_peephole's weight_p, the
    layer-normalized cells' gains, after each layer-direction's group), D directions. Returns
    (each layer-direction's 5 tensors then its extras, None where absent; each layer's NumPy
    views of them, (forward's, reverse's or None), or None).

    With ``views`` the result is cached per module while ``flat`` holds the same tensor objects
    over the same memory, so that a call does not convert them again (about 3 us each). There
    are no views while torch.compile or a torch.func transform traces, or when a weight is not
    C-contiguous (its view would be a copy, stale after the next in-place update)."""
    if views and (torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active()):
        views = False
    if views:
        cached = _CACHE.get(owner)
        if cached is not None and unchanged(flat, cached[0], cached[1]):
            return cached[2]
        views = all(t.is_contiguous() for t in flat)
    n = len(slots)

    width = max(5, slots[-1] + 1)  # more than 5 with the cell's extras (slots 5, 6, ...)

    def group(ts):
        out = []
        for k in range(0, len(ts), n):
            w = [None] * width
            for j, s in enumerate(slots):
                w[s] = ts[k + j]
            out.append(w)
        return out

    weights = group(flat)
    if not views:
        return weights, [None] * (len(weights) // D)
    va = group([_np(t) for t in flat])
    result = weights, [(va[k], va[k + 1] if D == 2 else None) for k in range(0, len(va), D)]
    _CACHE[owner] = (flat, [(t.data_ptr(), t.shape) for t in flat], result)
    return result


# ---------------------------------------------------------------------------------------------
# the kernels' calls on NumPy views, shared by the custom ops and the eager path

# The kernels' argument names, in the order of their positional calls (rnnfast._core).
_FORWARD_ARGS = ("x", "w_ih", "w_hh", "b_ih", "b_hh", "w_hr", "h0", "c0", "lengths", "h_mask",
                 "reverse", "training", "batch_first", "extras")
_BACKWARD_ARGS = ("reserve", "x", "w_ih", "w_hh", "b_ih", "b_hh", "w_hr", "lengths", "h_mask",
                  "reverse", "dy", "dh_n", "dc_n", "y", "batch_first", "extras")


def _forward_arrays(mode, xa, wf, wr, h0a, c0a, la, ma, training, batch_first):
    """One layer's forward on arrays: wf, wr the 5 arrays (w_ih, w_hh, b_ih, b_hh, w_hr) of
    each direction (wr None for one direction), then the cell's extras (lstm_peephole's w_p,
    the layer-normalized cells' gains). Returns (y, y_r, h_n (D, B, H_out), c_n, reserve,
    reserve_r), None where absent."""
    sync_threads()
    cell = _CELL[mode]

    def args(d, w):
        a = (xa, *w[:5], _none_or(h0a, d), _none_or(c0a, d), la, _none_or(ma, d), bool(d),
             training, batch_first)
        return a if len(w) == 5 else (*a, tuple(w[5:]))  # the cell's extras

    if wr is None:
        y, h_n, c_n, res = _core.forward(cell, *args(0, wf))
        return y, None, h_n[None], None if c_n is None else c_n[None], res, None
    (y, h_n, c_n, res), (y_r, h_r, c_r, res_r) = _core.forward_pair(
        cell, dict(zip(_FORWARD_ARGS, args(0, wf))), dict(zip(_FORWARD_ARGS, args(1, wr))))
    return (y, y_r, np.stack((h_n, h_r)), None if c_n is None else np.stack((c_n, c_r)), res,
            res_r)


def _backward_arrays(mode, xa, wf, wr, la, ma, ya, y_ra, resa, res_ra, dya, dy_ra, dhna, dcna,
                     batch_first):
    """BPTT of one layer on arrays (arguments as _forward_arrays', the forward's y, y_r and
    reserves, the gradients of y, y_r, h_n, c_n or None). Returns (dx, dh0 (D, B, H_out),
    dc0, the 5 weight gradients of each direction, then the extras' gradients interleaved as
    rnn_layer takes the extras (2 * MAX_EXTRAS: e0's forward, reverse, e1's, ...)), None where
    absent."""
    sync_threads()
    cell = _CELL[mode]

    def args(d, w, yd, res, dyd):
        a = (res, xa, *w[:5], la, _none_or(ma, d), bool(d), dyd, _none_or(dhna, d),
             _none_or(dcna, d), yd, batch_first)
        return a if len(w) == 5 else (*a, tuple(w[5:]))

    if wr is None:
        g = _core.backward(cell, *args(0, wf, ya, resa, dya))
        dx, dh0, dc0 = g[:3]
        return (dx, dh0[None], None if dc0 is None else dc0[None], *g[3:8], None, None, None,
                None, None, *_extra_grads(g[8], None))
    ga, gb = _core.backward_pair(cell, dict(zip(_BACKWARD_ARGS, args(0, wf, ya, resa, dya))),
                                 dict(zip(_BACKWARD_ARGS, args(1, wr, y_ra, res_ra, dy_ra))))
    dx = ga[0]
    dx += gb[0]
    dc0 = None if ga[2] is None else np.stack((ga[2], gb[2]))
    return (dx, np.stack((ga[1], gb[1])), dc0, *ga[3:8], *gb[3:8],
            *_extra_grads(ga[8], gb[8]))


def _extra_grads(g, g_r):
    """The kernels' extras' gradients of each direction (tuples, or None) interleaved as
    rnn_layer takes the extras, padded with None to 2 * MAX_EXTRAS; none for a cell without
    extras."""
    if not g:
        return ()
    out = [None] * (2 * MAX_EXTRAS)
    for d, gd in enumerate((g, g_r)):
        for k, a in enumerate(gd or ()):
            out[2 * k + d] = a
    return out


def _weights_np(w, extras=()):
    """One direction's weights (w_ih, w_hh, b_ih, b_hh, w_hr) as arrays, the cell's extras
    appended; None for an absent direction."""
    if w[0] is None:
        return None
    return [*map(_np, w), *map(_np, extras)]


def _weights_np_pair(w, w_r, es):
    """Both directions' _weights_np (the reverse one None for one direction), from the ten
    weights in rnn_layer's order and its interleaved extras ``es``."""
    ef, er = _unpair(es)
    return _weights_np(w, ef), _weights_np(w_r, er)


def _tensors(arrays, like):
    """The kernels' arrays as tensors; a fresh empty tensor for each absent one (a custom op's
    outputs never alias one another)."""
    return tuple(like.new_empty(0) if a is None else _t(a) for a in arrays)


# ---------------------------------------------------------------------------------------------
# forward

def _forward_impl(mode: str, x: Tensor, w_ih: Tensor, w_hh: Tensor | None,
                  b_ih: Tensor | None, b_hh: Tensor | None, w_hr: Tensor | None,
                  w_ih_r: Tensor | None, w_hh_r: Tensor | None, b_ih_r: Tensor | None,
                  b_hh_r: Tensor | None, w_hr_r: Tensor | None, h0: Tensor | None,
                  c0: Tensor | None, lengths: Tensor | None, h_mask: Tensor | None,
                  training: bool, batch_first: bool,
                  e0: Tensor | None = None, e0_r: Tensor | None = None,
                  e1: Tensor | None = None, e1_r: Tensor | None = None,
                  e2: Tensor | None = None, e2_r: Tensor | None = None,
                  e3: Tensor | None = None, e3_r: Tensor | None = None
                  ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """One recurrent layer over a whole sequence; both directions in one call when the
    ``*_r`` (reverse direction) weights are given.

    mode: a cell name of rnnfast._cells ("rnn_tanh", "rnn_relu", "lstm", "gru",
    "gru_reset_before", "lstm_peephole", "indrnn_relu", "indrnn_tanh", "mingru", "minlstm").
    w_hh: (G * H, H_out); IndRNN's u, (H,); None for minGRU / minLSTM, which have no b_hh
    either (nor h_mask). x (T, B, I), or (B, T, I) with batch_first;
    h0 (D, B, H_out), c0 (D, B, H) (the LSTMs), h_mask (D, B, H_out) (recurrent dropout,
    scaled); lengths int64 (B,). training: keep the reserve for backward. e0, e0_r, ..., e3,
    e3_r: the cell's extra parameters, each one's forward then reverse tensor, in rnnfast._cells'
    order (lstm_peephole: w_p (3 * H,); layernorm_lstm: gamma_x (4 * H,), gamma_h (4 * H,),
    gamma_c (H,), beta_c (H,); layernorm_gru: gamma_x, gamma_h (3 * H,)), last so that the
    other cells' calls leave them out.
    Returns (y, y_r, h_n, c_n, reserve, reserve_r): y and y_r each direction's output, laid out
    as x; h_n (D, B, H_out); c_n (D, B, H) (the LSTMs); empty tensors stand for what does not
    exist.
    """
    return _tensors(_forward_np(mode, x, w_ih, w_hh, b_ih, b_hh, w_hr, w_ih_r, w_hh_r, b_ih_r,
                                b_hh_r, w_hr_r, h0, c0, lengths, h_mask, training,
                                batch_first, e0, e0_r, e1, e1_r, e2, e2_r, e3, e3_r), x)


def _forward_np(mode, x, w_ih, w_hh, b_ih, b_hh, w_hr, w_ih_r, w_hh_r, b_ih_r, b_hh_r, w_hr_r,
                h0, c0, lengths, h_mask, training, batch_first, *es, views=None):
    """_forward_arrays on the NumPy views of rnn_layer's arguments (``es`` its interleaved
    extras; the weights' given as ``views``, (forward's 5 and extras, reverse's or None), when
    the caller has them)."""
    wf, wr = views or _weights_np_pair((w_ih, w_hh, b_ih, b_hh, w_hr),
                                       (w_ih_r, w_hh_r, b_ih_r, b_hh_r, w_hr_r), es)
    return _forward_arrays(mode, _np(x), wf, wr, _np(h0), _np(c0), _np(lengths), _np(h_mask),
                           training, batch_first)


rnn_layer = torch.library.custom_op("rnnfast::rnn_layer", _forward_impl, mutates_args=())


@rnn_layer.register_fake
def _rnn_layer_fake(mode, x, w_ih, w_hh, b_ih, b_hh, w_hr, w_ih_r, w_hh_r, b_ih_r, b_hh_r,
                    w_hr_r, h0, c0, lengths, h_mask, training, batch_first, e0=None,
                    e0_r=None, e1=None, e1_r=None, e2=None, e2_r=None,
                    e3=None, e3_r=None):
    D = 1 if w_ih_r is None else 2
    T, B = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    H = w_ih.shape[0] // _GATES[mode]
    H_out = _h_out(mode, w_ih, w_hh)
    y = x.new_empty((B, T, H_out) if batch_first else (T, B, H_out))
    res = x.new_empty(reserve_size(mode, T, B, H, H_out)) if training else x.new_empty(0)
    return (y, x.new_empty(0) if D == 1 else torch.empty_like(y), x.new_empty(D, B, H_out),
            x.new_empty(D, B, H) if _HAS_C[mode] else x.new_empty(0), res,
            torch.empty_like(res) if D == 2 else x.new_empty(0))


# rnn_layer's arguments: 18, then the extras' 2 * MAX_EXTRAS
_N_ARGS = 18 + 2 * MAX_EXTRAS


def _setup_context(ctx, inputs, output, pad=True):
    """rnn_layer's (pad: its extras completed to 2 * MAX_EXTRAS, as the op's gradients are
    returned for all its arguments) and _Layer's (only the extras given)."""
    (mode, x, w_ih, w_hh, b_ih, b_hh, w_hr, w_ih_r, w_hh_r, b_ih_r, b_hh_r, w_hr_r, h0, c0,
     lengths, h_mask, training, batch_first, *es) = inputs
    y, y_r, h_n, c_n, res, res_r = output[:6]
    ctx.mark_non_differentiable(*[t for t in (res, res_r) if t is not None])
    ctx.set_materialize_grads(False)
    ctx.mode, ctx.batch_first, ctx.training = mode, batch_first, training
    ctx.has_h0, ctx.has_c0 = h0 is not None, c0 is not None
    if pad:
        es += [None] * (2 * MAX_EXTRAS - len(es))
    weights = (w_ih, w_hh, b_ih, b_hh, w_hr, w_ih_r, w_hh_r, b_ih_r, b_hh_r, w_hr_r, *es)
    ctx.has_w = [w is not None for w in weights]
    ctx.save_for_backward(x, *weights, lengths, h_mask, y, y_r, res, res_r)


def _grads(ctx, dx, dh0, dc0, dws):
    """rnn_layer's input gradients in its argument order, None for what was not given: dws the
    gradients of the 10 weights then of the interleaved extras (as many as ctx.has_w
    names)."""
    dws = [d if has else None for d, has in zip(dws, ctx.has_w)]
    return (None, dx, *dws[:10], dh0 if ctx.has_h0 else None, dc0 if ctx.has_c0 else None,
            None, None, None, None, *dws[10:])


def _backward(ctx, dy, dy_r, dh_n, dc_n, _dres, _dres_r):
    """rnn_layer's autograd formula: one rnn_layer_backward call, whose own formula refuses a
    double backward."""
    if not ctx.training:
        raise RuntimeError("rnnfast::rnn_layer: backward of a call made with training=False "
                           "(nothing was saved); call it with training=True to differentiate")
    x, *rest = ctx.saved_tensors
    weights, (lengths, h_mask, y, y_r, res, res_r) = rest[:-6], rest[-6:]
    # the gradients of the empty stand-ins (y_r of one direction, c_n of a non-LSTM) carry
    # nothing; torch.compile passes them as empty tensors rather than None
    if weights[5] is None:
        dy_r = None
    if not _HAS_C[ctx.mode]:
        dc_n = None
    if dy is None and dy_r is None and dh_n is None and dc_n is None:
        return (None,) * _N_ARGS
    g = torch.ops.rnnfast.rnn_layer_backward.default(
        ctx.mode, x, *weights[:10], lengths, h_mask, y, y_r, res, res_r, dy, dy_r, dh_n, dc_n,
        ctx.batch_first, *_trimmed(weights[10:]))
    return _grads(ctx, g[0], g[1], g[2], g[3:])


rnn_layer.register_autograd(_backward, setup_context=_setup_context)


def _trimmed(es):
    """The interleaved extras without their trailing Nones (a cell without extras passes
    none)."""
    n = len(es)
    while n and es[n - 1] is None:
        n -= 1
    return es[:n]


# ---------------------------------------------------------------------------------------------
# eager mode: rnn_layer without the dispatcher

class _Layer(torch.autograd.Function):
    """rnn_layer in eager mode while autograd records under a torch.func transform (else
    _EagerLayer below, the same with less per-call work): the same kernels and formula as the
    custom op, without the dispatcher's per-call cost (tens of microseconds, a T = 1 cell
    step's whole budget). Absent outputs and gradients are None rather than empty tensors,
    and forward returns, after rnn_layer's six outputs, the NumPy views it passed to the
    kernels, which backward reuses instead of converting the saved tensors again. It takes
    rnn_layer's 18 arguments, the cell's interleaved extras if it has any (only those: a
    Function returns one gradient per argument, so fewer arguments are less work), then
    layer()'s ``views``."""

    @staticmethod
    def forward(*args):
        return _eager_forward(None, *args)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _setup_context(ctx, inputs[:-1], output, pad=False)
        ctx.arrays = output[6]

    @staticmethod
    def backward(ctx, dy, dy_r, dh_n, dc_n, _dres, _dres_r, _arrays):
        if not ctx.training:
            return _backward(ctx, dy, dy_r, dh_n, dc_n, None, None)  # raises
        saved = ctx.saved_tensors  # torch's check that nothing saved was modified in place
        if not _HAS_C[ctx.mode]:
            dc_n = None
        if dy is None and dy_r is None and dh_n is None and dc_n is None:
            return (None,) * (9 + len(ctx.has_w))  # 8 arguments, the weights, views
        if torch.is_grad_enabled():  # a graph of the gradient is recorded (create_graph=True)
            x, *rest = saved
            g = _LayerBackward.apply(ctx.mode, x, *rest[:10], *rest[-6:], dy, dy_r, dh_n, dc_n,
                                     ctx.batch_first, *rest[10:-6])
            return (*_grads(ctx, g[0], g[1], g[2], g[3:]), None)
        xa, wf, wr, la, ma, ya, y_ra, resa, res_ra = ctx.arrays
        g = _backward_arrays(ctx.mode, xa, wf, wr, la, ma, ya, y_ra, resa, res_ra, _np(dy),
                             _np(dy_r), _np(dh_n), _np(dc_n), ctx.batch_first)
        # tensors only for the gradients returned
        dh0 = _t(g[1]) if ctx.has_h0 else None
        dc0 = _t(g[2]) if ctx.has_c0 else None
        dws = [_t(a) if has else None for a, has in zip(g[3:], ctx.has_w)]
        return (None, _t(g[0]), *dws[:10], dh0, dc0, None, None, None, None, *dws[10:], None)


def _eager_forward(ctx, mode, x, w_ih, w_hh, b_ih, b_hh, w_hr, w_ih_r, w_hh_r, b_ih_r, b_hh_r,
                   w_hr_r, h0, c0, lengths, h_mask, training, batch_first, *rest):
    """The forward of _Layer (ctx None: returns rnn_layer's six outputs as tensors or None,
    then the arrays backward reuses) and of _EagerLayer (keeps those in ctx and returns y,
    y_r, h_n, c_n). ``rest``: the interleaved extras, then layer()'s ``views``."""
    es, views = rest[:-1], rest[-1]
    xa, la, ma = _np(x), _np(lengths), _np(h_mask)
    wf, wr = views or _weights_np_pair((w_ih, w_hh, b_ih, b_hh, w_hr),
                                       (w_ih_r, w_hh_r, b_ih_r, b_hh_r, w_hr_r), es)
    out = _forward_arrays(mode, xa, wf, wr, _np(h0), _np(c0), la, ma, training, batch_first)
    if ctx is None:
        return (*[None if a is None else _t(a) for a in out],
                (xa, wf, wr, la, ma, out[0], out[1], out[4], out[5]))
    y, y_r, h_n, c_n, res, res_r = out
    yt = _t(y)
    y_rt = None if y_r is None else _t(y_r)
    weights = (w_ih, w_hh, b_ih, b_hh, w_hr, w_ih_r, w_hh_r, b_ih_r, b_hh_r, w_hr_r, *es)
    ctx.set_materialize_grads(False)
    ctx.state = (mode, batch_first, h0 is not None, c0 is not None,
                 [w is not None for w in weights], (xa, wf, wr, la, ma, y, y_r, res, res_r))
    ctx.save_for_backward(x, *weights, lengths, h_mask, yt, y_rt)
    return yt, y_rt, _t(h_n), None if c_n is None else _t(c_n)


class _EagerLayer(torch.autograd.Function):
    """_Layer for plain eager mode (no torch.func transform active), the common training call,
    with less per-call work: forward takes ctx (one Python call instead of forward and
    setup_context), the reserves stay NumPy arrays in ctx rather than becoming outputs (no
    tensors to wrap, nothing to mark non-differentiable), and it returns only y, y_r, h_n and
    c_n. What it saves for torch's in-place check is the same as _Layer's but the reserves,
    which no caller can reach. functorch's transforms need _Layer's setup_context form. It
    takes _Layer's arguments."""

    forward = staticmethod(_eager_forward)

    @staticmethod
    def backward(ctx, dy, dy_r, dh_n, dc_n):
        saved = ctx.saved_tensors  # torch's check that nothing saved was modified in place
        mode, batch_first, has_h0, has_c0, has_w, arrays = ctx.state
        if not _HAS_C[mode]:
            dc_n = None
        if dy is None and dy_r is None and dh_n is None and dc_n is None:
            return (None,) * (9 + len(has_w))  # 8 arguments, the weights, views
        if torch.is_grad_enabled():  # a graph of the gradient is recorded (create_graph=True)
            x, *rest = saved
            res, res_r = arrays[7], arrays[8]
            g = _LayerBackward.apply(mode, x, *rest[:10], *rest[-4:], _t(res),
                                     None if res_r is None else _t(res_r), dy, dy_r, dh_n, dc_n,
                                     batch_first, *rest[10:-4])
            dx, dh0, dc0, dws = g[0], g[1], g[2], g[3:]
        else:
            xa, wf, wr, la, ma, ya, y_ra, resa, res_ra = arrays
            g = _backward_arrays(mode, xa, wf, wr, la, ma, ya, y_ra, resa, res_ra, _np(dy),
                                 _np(dy_r), _np(dh_n), _np(dc_n), batch_first)
            dx, dh0, dc0 = _t(g[0]), g[1], g[2]
            dh0 = _t(dh0) if has_h0 else None
            dc0 = _t(dc0) if has_c0 else None
            dws = g[3:]
            dws = [_t(a) if has else None for a, has in zip(dws, has_w)]
            return (None, dx, *dws[:10], dh0, dc0, None, None, None, None, *dws[10:], None)
        dws = [d if has else None for d, has in zip(dws, has_w)]
        return (None, dx, *dws[:10], dh0 if has_h0 else None, dc0 if has_c0 else None, None,
                None, None, None, *dws[10:], None)


# Function.apply's Python wrapper unwraps functorch's dead wrappers and, for a Function with
# setup_context, binds the arguments to forward's signature (inspect, tens of microseconds):
# no-ops here unless a functorch transform (torch.func) is active; without one, the C entry
# point it ends in is called.
try:
    _apply_c = super(torch.autograd.Function, _EagerLayer).apply
except AttributeError:  # a torch whose Function no longer ends in _C._FunctionBase.apply
    _apply_c = None


def layer(*args, views=None):
    """rnn_layer(*args): the custom op while torch.compile or torch.export traces (so the graph
    holds it), else straight to the kernels, through _EagerLayer (_Layer under a torch.func
    transform) when autograd records (callers pass ``training`` true exactly when grad mode is
    on and an input requires grad). ``args`` are rnn_layer's 18 arguments, then the cell's
    interleaved extras (pairs()) if it has any. In eager mode absent outputs are None rather
    than empty tensors (the reserves too when autograd records: _EagerLayer keeps them), and
    ``views`` (a layer's weight views from layer_weights) spare converting the weights."""
    if torch.compiler.is_compiling():
        return torch.ops.rnnfast.rnn_layer.default(*args)
    if args[16] and torch.is_grad_enabled():  # training: some input requires grad
        if not torch._C._are_functorch_transforms_active():
            out = (_apply_c or _EagerLayer.apply)(*args, views)
            return out[0], out[1], out[2], out[3], None, None
        return _Layer.apply(*args, views)[:6]
    y, y_r, h_n, c_n, res, res_r = _forward_np(*args, views=views)
    return (_t(y), None if y_r is None else _t(y_r), _t(h_n), None if c_n is None else _t(c_n),
            None if res is None else _t(res), None if res_r is None else _t(res_r))


# ---------------------------------------------------------------------------------------------
# backward

def _backward_impl(mode: str, x: Tensor, w_ih: Tensor, w_hh: Tensor | None,
                   b_ih: Tensor | None, b_hh: Tensor | None, w_hr: Tensor | None,
                   w_ih_r: Tensor | None, w_hh_r: Tensor | None, b_ih_r: Tensor | None,
                   b_hh_r: Tensor | None, w_hr_r: Tensor | None,
                   lengths: Tensor | None, h_mask: Tensor | None, y: Tensor,
                   y_r: Tensor, reserve: Tensor, reserve_r: Tensor, dy: Tensor | None,
                   dy_r: Tensor | None, dh_n: Tensor | None, dc_n: Tensor | None,
                   batch_first: bool,
                   e0: Tensor | None = None, e0_r: Tensor | None = None,
                   e1: Tensor | None = None, e1_r: Tensor | None = None,
                   e2: Tensor | None = None, e2_r: Tensor | None = None,
                   e3: Tensor | None = None, e3_r: Tensor | None = None
                   ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor,
                              Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor,
                              Tensor, Tensor, Tensor, Tensor, Tensor]:
    """BPTT of one ``rnn_layer(..., training=True)`` call, from its inputs and outputs and the
    gradients of y, y_r, h_n and c_n (None: zeros). Returns (dx, dh0 (D, B, H_out), dc0
    (D, B, H), then the gradients of the ten weights in rnn_layer's order, then of the extras
    e0, e0_r, ..., e3_r); empty tensors stand for what does not exist."""
    wf, wr = _weights_np_pair((w_ih, w_hh, b_ih, b_hh, w_hr),
                              (w_ih_r, w_hh_r, b_ih_r, b_hh_r, w_hr_r),
                              (e0, e0_r, e1, e1_r, e2, e2_r, e3, e3_r))
    g = _backward_arrays(mode, _np(x), wf, wr, _np(lengths), _np(h_mask), _np(y), _np(y_r),
                         _np(reserve), _np(reserve_r), _np(dy), _np(dy_r), _np(dh_n),
                         _np(dc_n), batch_first)
    return _tensors((*g, *[None] * (13 + 2 * MAX_EXTRAS - len(g))), x)


rnn_layer_backward = torch.library.custom_op("rnnfast::rnn_layer_backward", _backward_impl,
                                             mutates_args=())


@rnn_layer_backward.register_fake
def _rnn_layer_backward_fake(mode, x, w_ih, w_hh, b_ih, b_hh, w_hr, w_ih_r, w_hh_r, b_ih_r,
                             b_hh_r, w_hr_r, lengths, h_mask, y, y_r, reserve, reserve_r, dy,
                             dy_r, dh_n, dc_n, batch_first, e0=None, e0_r=None, e1=None,
                             e1_r=None, e2=None, e2_r=None, e3=None, e3_r=None):
    D = 1 if w_ih_r is None else 2
    B = x.shape[0] if batch_first else x.shape[1]
    H = w_ih.shape[0] // _GATES[mode]
    H_out = _h_out(mode, w_ih, w_hh)
    weights = (w_ih, w_hh, b_ih, b_hh, w_hr, w_ih_r, w_hh_r, b_ih_r, b_hh_r, w_hr_r, e0, e0_r,
               e1, e1_r, e2, e2_r, e3, e3_r)
    return (x.new_empty(x.shape), x.new_empty(D, B, H_out),
            x.new_empty(D, B, H) if _HAS_C[mode] else x.new_empty(0),
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


# ---------------------------------------------------------------------------------------------
# the modules' short path (modules._RNNMixin._fast)

class _FastLayer(torch.autograd.Function):
    """_EagerLayer for a module's short path: one layer, no lengths and no recurrent dropout.
    Its inputs are only the tensors that exist -- x, h0, c0 (None when absent) and each
    direction's weights in the order of ``slots`` (indices among w_ih, w_hh, b_ih, b_hh, w_hr,
    then 5 + k for the cell's extra parameter k) -- so that torch's autograd handles fewer
    arguments, and ``spec`` = (mode, batch_first, the weights' NumPy views (forward's,
    reverse's or None), slots) carries the rest. Saves what _EagerLayer saves for torch's
    in-place check."""

    @staticmethod
    def forward(ctx, spec, x, h0, c0, *ws):
        mode, batch_first, (wf, wr), _ = spec
        xa = _np(x)
        y, y_r, h_n, c_n, res, res_r = _forward_arrays(mode, xa, wf, wr, _np(h0), _np(c0), None,
                                                       None, True, batch_first)
        yt = _t(y)
        y_rt = None if y_r is None else _t(y_r)
        ctx.set_materialize_grads(False)
        ctx.state = (spec, h0 is not None, c0 is not None, xa, y, y_r, res, res_r)
        ctx.save_for_backward(x, h0, c0, yt, y_rt, *ws)
        return yt, y_rt, _t(h_n), None if c_n is None else _t(c_n)

    @staticmethod
    def backward(ctx, dy, dy_r, dh_n, dc_n):
        saved = ctx.saved_tensors  # torch's check that nothing saved was modified in place
        spec, has_h0, has_c0, xa, ya, y_ra, resa, res_ra = ctx.state
        mode, batch_first, (wf, wr), slots = spec
        D = 1 if wr is None else 2
        if not _HAS_C[mode]:
            dc_n = None
        if dy is None and dy_r is None and dh_n is None and dc_n is None:
            return (None,) * (4 + D * len(slots))
        # rnn_layer's weights in its order: w_ih .. w_hr of each direction, then the extras'
        # pairs (e0, e0_r, e1, ..): the position of direction d's slot s
        def at(d, s):
            return 5 * d + s if s < 5 else 10 + 2 * (s - 5) + d

        if torch.is_grad_enabled():  # a graph of the gradient is recorded (create_graph=True)
            x, h0, c0, yt, y_rt, *ws = saved
            full = [None] * (10 + 2 * (max(slots) - 4 if max(slots) >= 5 else 0))
            for d in range(D):
                for j, s in enumerate(slots):
                    full[at(d, s)] = ws[d * len(slots) + j]
            g = _LayerBackward.apply(mode, x, *full[:10], None, None, yt, y_rt, _t(resa),
                                     None if res_ra is None else _t(res_ra), dy, dy_r, dh_n,
                                     dc_n, batch_first, *full[10:])
            dx, dh0, dc0, dws = g[0], g[1], g[2], g[3:]
        else:
            g = _backward_arrays(mode, xa, wf, wr, None, None, ya, y_ra, resa, res_ra, _np(dy),
                                 _np(dy_r), _np(dh_n), _np(dc_n), batch_first)
            dx, dh0, dc0 = _t(g[0]), g[1], g[2]
            dh0 = _t(dh0) if has_h0 else None
            dc0 = _t(dc0) if has_c0 else None
            dws = [None if a is None else _t(a) for a in g[3:]]
        return (None, dx, dh0 if has_h0 else None, dc0 if has_c0 else None,
                *[dws[at(d, s)] for d in range(D) for s in slots])


try:
    _fast_apply = super(torch.autograd.Function, _FastLayer).apply
except AttributeError:  # see _apply_c
    _fast_apply = _FastLayer.apply


def fast_layer(spec, x, h0, c0, ws, train):
    """One layer of a module's short path in eager mode (no tracing, no functorch transform):
    through _FastLayer when autograd records (``train``), else straight to the kernels.
    Returns (y, y_r, h_n, c_n), None where absent."""
    if train:
        return _fast_apply(spec, x, h0, c0, *ws)
    mode, batch_first, (wf, wr), _ = spec
    y, y_r, h_n, c_n, _, _ = _forward_arrays(mode, _np(x), wf, wr, _np(h0), _np(c0), None, None,
                                             False, batch_first)
    return (_t(y), None if y_r is None else _t(y_r), _t(h_n), None if c_n is None else _t(c_n))
