"""Recurrent layers with PyTorch's signatures, parameter names and semantics: RNN, LSTM, GRU and
the cells RNNCell, LSTMCell, GRUCell; and, in the same shape, MinGRU and MinLSTM (Feng et al.
2024, gates from the input only).

Each (layer, direction) is ONE autograd node whose forward is one C++ call over the whole
sequence and whose backward is one C++ BPTT call; stacking, bidirectional concatenation and
inter-layer dropout compose in Python. Beyond torch: ``recurrent_dropout`` (Keras-style
variational dropout on h_{t-1} before W_hh, one mask per sequence and layer, applied inside the
kernel), ``input_dropout`` (one mask per sequence on each layer's input, constant in time) and
``zoneout`` (Krueger et al. 2016, as haste's: per-step keep masks on h, and with ``zoneout_c``
on the LSTMs' c, inside the kernel; the expectation in eval mode). Masks come from
``rnnfast.manual_seed``'s generator.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import _core, _device, functional as F
from .._cells import CELLS as _CELLS, GATES as _GATES, arg_name as _arg_name
from ..functional import _CELL
from ..tensor import (
    OPS,
    Tensor,
    _make,
    _make_many,
    _state as _grad_mode,
    _wrap,
    cat,
    default_generator,
    is_grad_enabled,
    register_op,
    stack,
)
from .module import Module, Parameter, _check_size, _float_dtype
from .utils.rnn import PackedSequence

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "MinGRU", "MinLSTM", "LayerNormLSTM", "LayerNormGRU",
           "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

def _check_prob(name, p, allow_one=False):
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name}: expected a float, got {type(p).__name__}")
    p = float(p)
    ok = 0.0 <= p <= 1.0 if allow_one else 0.0 <= p < 1.0
    if not ok:
        rng = "[0, 1]" if allow_one else "[0, 1)"
        raise ValueError(f"{name}: expected a probability in {rng}, got {p}")
    return p


def _dropout_mask(shape, p, dtype):
    """Inverted-dropout mask: 0 with probability p, else 1/(1-p)."""
    if p >= 1.0:  # everything dropped (torch: zeros), not 0/0
        return np.zeros(shape, dtype)
    keep = default_generator().random(shape) >= p
    return (keep / (1.0 - p)).astype(dtype)


def _as_input(x, dtype, name="input"):
    """Module input: a Tensor keeps its graph (cast differentiably to the layer's dtype); NumPy
    arrays, sequences and numbers are cast to the layer's dtype."""
    if isinstance(x, Tensor):
        if x.dtype.kind != "f":
            raise TypeError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
        return x if x.dtype == dtype else x.to(dtype)
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as e:  # ragged nested sequences
        raise ValueError(f"{name}: cannot convert {type(x).__name__} to an array: {e}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numeric data, got dtype {arr.dtype}")
    return _wrap(arr.astype(dtype, copy=False))


def _lengths(lengths, B, T):
    if lengths is None:
        return None
    given = lengths
    if isinstance(lengths, Tensor):
        lengths = lengths.data
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"lengths: expected integers, got dtype {arr.dtype}")
    if arr.shape != (B,):
        raise ValueError(f"lengths: expected shape ({B},) (one length per sequence), got "
                         f"{arr.shape}")
    if B and (arr.min() < 1 or arr.max() > T):
        bad = arr[(arr < 1) | (arr > T)][0]
        raise ValueError(f"lengths: expected every length in [1, {T}], got {bad}")
    out = np.ascontiguousarray(arr, dtype=np.int64)
    if _grad_mode.trace is not None and out is not arr:     # a tracer sees the conversion
        _grad_mode.trace.untracked(_wrap(out), (given,), _LENGTHS_CAST, (out.dtype,))
    return out


_LENGTHS_CAST = OPS["cast"]

# The names of the autograd nodes.
_NODE_NAME = {"rnn_tanh": "RNNTanhBackward", "rnn_relu": "RNNReluBackward",
              "lstm": "LSTMBackward", "gru": "GRUBackward",
              "gru_reset_before": "GRUBackward", "lstm_peephole": "LSTMBackward",
              "indrnn_relu": "IndRNNBackward", "indrnn_tanh": "IndRNNBackward",
              "mingru": "MinGRUBackward", "minlstm": "MinLSTMBackward",
              "layernorm_lstm": "LayerNormLSTMBackward", "layernorm_gru": "LayerNormGRUBackward"}
# The cells with a cell state c beside h.
_HAS_C = {k.name: k.has_c for k in _CELLS.values()}
# The extra parameters' slots of a layer's inputs, after w_hr: the cell's extras (rnnfast._cells)
# in their order, or one slot (None) for a cell without, so that every older cell's inputs keep
# their shape (x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, w_p).
_EXTRA_NAMES = {k.name: tuple(n for n, _ in k.extras) for k in _CELLS.values()}
_NSLOT = {m: max(1, len(n)) for m, n in _EXTRA_NAMES.items()}


def _extra_kw(mode, extras):
    """functional's keywords of a cell's extra parameters from their slots (arrays or None)."""
    return {_arg_name(n): a for n, a in zip(_EXTRA_NAMES[mode], extras)}


def _zoneout_masks(shape, p, dtype):
    """Zoneout's training masks: 1 (keep the previous state) with probability p, else 0, per
    step, sequence and unit; or None when p is 0."""
    if p <= 0.0:
        return None
    return (default_generator().random(shape) < p).astype(dtype)


def _kernel_forward(mode, x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, lengths, h_mask, reverse,
                    training, batch_first, extras=(None,), zoneout=(None, None)):
    """functional.forward on arrays, straight into the compiled kernel when every array already
    has the kernel's layout (C-contiguous, w_ih's dtype): its checks are the kernel's own.
    Anything else goes through functional.forward, which converts what it may and raises the
    same errors for what it may not."""
    try:
        return _core.forward(_CELL[mode], x, w_ih, w_hh, b_ih, b_hh, w_hr, h0, c0, lengths,
                             h_mask, reverse, training, batch_first,
                             None if all(e is None for e in extras) else tuple(extras),
                             zoneout[0], zoneout[1])
    except (TypeError, ValueError):
        return F.forward(mode, x, w_ih, w_hh, b_ih, b_hh, w_hr=w_hr, h0=h0, c0=c0,
                         lengths=lengths, reverse=reverse, training=training, h_mask=h_mask,
                         batch_first=batch_first, zoneout_h=zoneout[0], zoneout_c=zoneout[1],
                         **_extra_kw(mode, extras))


def _kernel_backward(mode, reserve, x, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, h_mask, reverse,
                     dy, dh_n, dc_n, y, batch_first, extras=(None,), zoneout=(None, None)):
    """functional.backward as a tuple (dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr, then
    the extras' slots), with _kernel_forward's fast path."""
    try:
        res = _core.backward(_CELL[mode], reserve, x, w_ih, w_hh, b_ih, b_hh, w_hr, lengths,
                             h_mask, reverse, dy, dh_n, dc_n, y, batch_first,
                             None if all(e is None for e in extras) else tuple(extras),
                             zoneout[0], zoneout[1])
        return (*res[:8], *(res[8] if res[8] else (None,) * _NSLOT[mode]))
    except (TypeError, ValueError):
        d = F.backward(mode, reserve, x, w_ih, w_hh, b_ih, b_hh, y=y, w_hr=w_hr,
                       lengths=lengths, reverse=reverse, dy=dy, dh_n=dh_n, dc_n=dc_n,
                       h_mask=h_mask, batch_first=batch_first, zoneout_h=zoneout[0],
                       zoneout_c=zoneout[1], **_extra_kw(mode, extras))
        return (d["dx"], d["dh0"], d["dc0"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"],
                d["w_hr"], *_extra_grads(mode, d))


def _extra_grads(mode, d):
    """The extras' slots' gradients from functional.backward's dict."""
    names = _EXTRA_NAMES[mode]
    return tuple(d[_arg_name(n)] for n in names) if names else (None,)


def _contiguous(a):
    return a if a is None or a.flags.c_contiguous else np.ascontiguousarray(a)


# The named ops of the recurrent layers (see rnnfast.tensor.OPS), per cell kind ``mode``:
# - "<mode>": one layer, one direction; inputs (x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, w_p),
#   None where absent (w_p: lstm_peephole's peephole weights; layernorm_lstm has four slots
#   there, gamma_x, gamma_h, gamma_c, beta_c: _EXTRA_NAMES); attributes reverse,
#   batch_first, lengths (int64 (B,) or None) and h_mask (the recurrent dropout mask or None);
#   results (y, h_n) or (y, h_n, c_n);
# - "<mode>_bidirectional": both directions of one layer; inputs x, then (h0, c0, w_ih, w_hh,
#   b_ih, b_hh, w_hr, w_p) of the forward direction and of the reverse one; attributes
#   batch_first, lengths, h_mask, h_mask_reverse; results y, h_n (, c_n) of each direction;
# - "<mode>_cell": one step of a cell; inputs (x (B, I), h, c, w_ih, w_hh, b_ih, b_hh);
#   results h' or (h', c').
# Each forward runs the kernel as the layer does (inference mode).

def _layer_forward(mode):
    n = _NSLOT[mode]

    def forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, *extras, reverse, batch_first, lengths,
                h_mask):
        assert len(extras) == n, f"{mode}: expected {n} extra parameter slots, got {len(extras)}"
        y, h_n, c_n, _ = F.forward(mode, x, w_ih, w_hh, b_ih, b_hh, w_hr=w_hr, h0=h0, c0=c0,
                                   lengths=lengths, reverse=reverse, training=False,
                                   h_mask=h_mask, batch_first=batch_first,
                                   **_extra_kw(mode, extras))
        return (y, h_n) if c_n is None else (y, h_n, c_n)
    return forward


def _bidirectional_forward(mode):
    one = _layer_forward(mode)
    k = 7 + _NSLOT[mode]  # one direction's inputs after x

    def forward(x, *weights, batch_first, lengths, h_mask, h_mask_reverse):
        return (one(x, *weights[:k], reverse=False, batch_first=batch_first, lengths=lengths,
                    h_mask=h_mask)
                + one(x, *weights[k:], reverse=True, batch_first=batch_first, lengths=lengths,
                      h_mask=h_mask_reverse))
    return forward


def _cell_forward(mode):
    one = _layer_forward(mode)

    def forward(x, h, c, w_ih, w_hh, b_ih, b_hh):
        res = one(x[None], h, c, w_ih, w_hh, b_ih, b_hh, None, *(None,) * _NSLOT[mode],
                  reverse=False, batch_first=False, lengths=None, h_mask=None)
        return res[1:] if _HAS_C[mode] else res[1]
    return forward


_LAYER_OPS = {m: register_op(m, _NODE_NAME[m], ("reverse", "batch_first", "lengths", "h_mask"),
                             _layer_forward(m)) for m in F.MODES}
_BIDIRECTIONAL_OPS = {m: register_op(m + "_bidirectional", _NODE_NAME[m],
                                     ("batch_first", "lengths", "h_mask", "h_mask_reverse"),
                                     _bidirectional_forward(m)) for m in F.MODES}
_CELL_OPS = {m: register_op(m + "_cell", _NODE_NAME[m], (), _cell_forward(m)) for m in F.MODES}


def _no_trace_zoneout(zoneouts):
    """A tracer (rnnfast.onnx) records the layer ops without zoneout: refuse rather than
    record a different model."""
    if _grad_mode.trace is not None and any(z is not None for z in zoneouts):
        raise ValueError("zoneout: expected 0 while tracing (the traced layer ops have no "
                         "zoneout), got a zoneout probability")


def _run_layer(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, reverse, h_mask,
               batch_first=False, extras=(None,), zoneout=(None, None)):
    """One layer, one direction, as ONE autograd node whose results are y, h_n (and c_n), each
    with its own gradient; extras: the cell's extra parameters' slots (_EXTRA_NAMES); zoneout:
    (zoneout_h, zoneout_c), each None, masks or a probability (functional.forward). Returns
    Tensors (y, h_n, c_n or None)."""
    _no_trace_zoneout(zoneout)
    inputs = (x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, *extras)
    track = is_grad_enabled() and any(t is not None and t._requires_grad for t in inputs)
    arr = [None if t is None else _contiguous(t.data) for t in inputs]
    y, h_n, c_n, reserve = _kernel_forward(mode, arr[0], arr[3], arr[4], arr[5], arr[6], arr[7],
                                           arr[1], arr[2], lengths, h_mask, reverse, track,
                                           batch_first, arr[8:], zoneout)
    if not track:
        if _grad_mode.trace is not None:        # a tracer sees what was computed from what
            res = _make_many((y, h_n) if c_n is None else (y, h_n, c_n), inputs, None,
                             op=_LAYER_OPS[mode], attrs=(reverse, batch_first, lengths, h_mask))
            return res[0], res[1], (res[2] if c_n is not None else None)
        return _wrap(y), _wrap(h_n), (None if c_n is None else _wrap(c_n))

    def backward(grads):
        # kernel order dx, dh0, dc0, w_ih, w_hh, b_ih, b_hh, w_hr, extras: the inputs' order
        return tuple(_kernel_backward(mode, reserve, arr[0], arr[3], arr[4], arr[5], arr[6],
                                      arr[7], lengths, h_mask, reverse, grads[0], grads[1],
                                      grads[2] if len(grads) == 3 else None, y, batch_first,
                                      arr[8:], zoneout))

    # the backward reads the forward's y: an in-place write into it makes backward raise
    outs = _make_many((y, h_n) if c_n is None else (y, h_n, c_n), inputs, backward,
                      op=_LAYER_OPS[mode], attrs=(reverse, batch_first, lengths, h_mask),
                      saves_out=(0,))
    return outs[0], outs[1], (outs[2] if c_n is not None else None)


def _run_bidirectional(mode, x, states, weights, lengths, h_masks, batch_first=False,
                       zoneouts=((None, None), (None, None))):
    """Both directions of one layer as ONE autograd node whose forward and backward each run
    the two directions at once in C++ (functional.forward_pair / backward_pair); its results
    are each direction's y, h_n (and c_n).

    states: ((h0_f, c0_f), (h0_r, c0_r)); weights: (forward, reverse), each
    (w_ih, w_hh, b_ih, b_hh, w_hr, *extras' slots);
    h_masks: (mask_f, mask_r); zoneouts: each direction's (zoneout_h, zoneout_c). Returns
    ((y, h_n, c_n), (y, h_n, c_n)) as Tensors.
    """
    _no_trace_zoneout(zoneouts[0] + zoneouts[1])
    inputs = [x]
    for d in range(2):
        inputs += [states[d][0], states[d][1], *weights[d]]
    track = is_grad_enabled() and any(t is not None and t.requires_grad for t in inputs)
    xa = x.data

    def args(d):
        h0, c0 = states[d]
        w_ih, w_hh, b_ih, b_hh, w_hr, *ex = (None if t is None else t.data for t in weights[d])
        return dict(x=xa, w_ih=w_ih, w_hh=w_hh, b_ih=b_ih, b_hh=b_hh, w_hr=w_hr,
                    h0=None if h0 is None else h0.data, c0=None if c0 is None else c0.data,
                    lengths=lengths, reverse=bool(d), training=track, h_mask=h_masks[d],
                    batch_first=batch_first, zoneout_h=zoneouts[d][0],
                    zoneout_c=zoneouts[d][1], **_extra_kw(mode, ex))

    a = [args(0), args(1)]
    res = F.forward_pair(mode, a[0], a[1])
    per_dir = 3 if res[0][2] is not None else 2
    attrs = (batch_first, lengths, h_masks[0], h_masks[1])
    if not track:
        if _grad_mode.trace is not None:        # a tracer sees what was computed from what
            outs = _make_many([z for r in res for z in r[:per_dir]], tuple(inputs), None,
                              op=_BIDIRECTIONAL_OPS[mode], attrs=attrs)
            return _directions(outs, per_dir)
        return tuple((_wrap(y), _wrap(h), None if c is None else _wrap(c)) for y, h, c, _ in res)

    reserves = [r[3] for r in res]
    ys = [r[0] for r in res]
    results = [z for r in res for z in r[:per_dir]]
    del res

    def backward(grads):
        calls = []
        for d in range(2):
            mine = grads[d * per_dir:(d + 1) * per_dir]
            calls.append(dict(reserve=reserves[d], x=xa, y=ys[d], w_ih=a[d]["w_ih"],
                              w_hh=a[d]["w_hh"], b_ih=a[d]["b_ih"], b_hh=a[d]["b_hh"],
                              w_hr=a[d]["w_hr"], lengths=lengths,
                              reverse=bool(d),
                              dy=mine[0], dh_n=mine[1],
                              dc_n=mine[2] if per_dir == 3 else None, h_mask=h_masks[d],
                              batch_first=batch_first, zoneout_h=zoneouts[d][0],
                              zoneout_c=zoneouts[d][1],
                              **{_arg_name(n): a[d][_arg_name(n)]
                                 for n in _EXTRA_NAMES[mode]}))
        gf, gr = F.backward_pair(mode, calls[0], calls[1])
        every = [gf["dx"] + gr["dx"]]
        for gd in (gf, gr):
            every += [gd["dh0"], gd["dc0"], gd["w_ih"], gd["w_hh"], gd["b_ih"], gd["b_hh"],
                      gd["w_hr"], *_extra_grads(mode, gd)]
        return tuple(every)

    # the backward reads each direction's y: an in-place write into one makes backward raise
    outs = _make_many(results, tuple(inputs), backward, op=_BIDIRECTIONAL_OPS[mode],
                      attrs=attrs, saves_out=(0, per_dir))
    return _directions(outs, per_dir)


def _directions(outs, per_dir):
    """((y, h_n, c_n), (y, h_n, c_n)) of a bidirectional node's results (c_n None but LSTM)."""
    if per_dir == 3:
        return (outs[0], outs[1], outs[2]), (outs[3], outs[4], outs[5])
    return (outs[0], outs[1], None), (outs[2], outs[3], None)


class RNNBase(Module):
    """Shared machinery of RNN, LSTM and GRU (torch.nn.RNNBase's parameters and layout)."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, recurrent_dropout=0.0,
                 input_dropout=0.0, dtype=np.float32, zoneout=0.0, zoneout_c=0.0,
                 forget_bias=None, weight_dropout=0.0):
        super().__init__()
        self.mode = mode
        self._has_c = _HAS_C[mode]
        self.input_size = _check_size(input_size, "input_size")
        self.hidden_size = _check_size(hidden_size, "hidden_size")
        self.num_layers = _check_size(num_layers, "num_layers")
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = _check_prob("dropout", dropout, allow_one=True)
        if self.dropout > 0 and self.num_layers == 1:     # torch's warning, word for word
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=3)
        self.bidirectional = bool(bidirectional)
        self.proj_size = _check_size(proj_size, "proj_size", minimum=0)
        if self.proj_size and not self._has_c:
            raise ValueError(f"proj_size: expected 0 (projection is LSTM only), got {proj_size}")
        if self.proj_size >= self.hidden_size:
            raise ValueError(f"proj_size: expected a size < hidden_size ({hidden_size}), got "
                             f"{proj_size}")
        self.recurrent_dropout = _check_prob("recurrent_dropout", recurrent_dropout)
        # A scan cell (MinGRU, MinLSTM) has no recurrent weight: no W_hh, no b_hh, nothing for
        # recurrent dropout to act on.
        recurrent = _CELLS[mode].recurrence != "scan"
        if self.recurrent_dropout and not recurrent:
            raise ValueError(f"recurrent_dropout: expected 0 for {mode} (its gates read the "
                             f"input only), got {recurrent_dropout}")
        self.input_dropout = _check_prob("input_dropout", input_dropout)
        self.zoneout = _check_prob("zoneout", zoneout)
        self.zoneout_c = _check_prob("zoneout_c", zoneout_c)
        if (self.zoneout or self.zoneout_c) and _CELLS[mode].recurrence == "scan":
            raise ValueError(f"zoneout: expected 0 for {mode} (its gates read the input only: "
                             f"zoneout is for the cells with a recurrent weight), got "
                             f"{zoneout or zoneout_c}")
        if self.zoneout_c and not self._has_c:
            raise ValueError(f"zoneout_c: expected 0 for {mode} (no cell state), got "
                             f"{zoneout_c}")
        self.weight_dropout = _check_prob("weight_dropout", weight_dropout)
        if self.weight_dropout and _CELLS[mode].recurrence != "product":
            raise ValueError(f"weight_dropout: expected 0 for {mode} (no recurrent weight "
                             f"matrix W_hh), got {weight_dropout}")
        dtype = _float_dtype(dtype, "dtype")

        H = self.hidden_size
        H_out = self.proj_size or H
        D = 2 if self.bidirectional else 1
        k = 1.0 / math.sqrt(H)
        rng = default_generator()

        def init(*shape):  # torch: every parameter ~ U(-1/sqrt(H), 1/sqrt(H))
            return Parameter(rng.uniform(-k, k, size=shape).astype(dtype))

        for layer in range(self.num_layers):
            in_k = self.input_size if layer == 0 else H_out * D
            for direction in range(D):
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                for name, param in self._layer_parameters(in_k, init, dtype):
                    setattr(self, name + sfx, param)
        self.forget_bias = self._init_forget_bias(forget_bias)

    def _init_forget_bias(self, value):
        """forget_bias: None keeps the default initialization; a float sets the forget gate's
        slice of every bias_ih to it and of every bias_hh to 0 (the gate's total bias is the
        value; Keras' unit_forget_bias=True is 1.0), after the default draws."""
        if value is None:
            return None
        if "f" not in _CELLS[self.mode].gates:
            raise ValueError(f"forget_bias: expected None for {self.mode} (no forget gate), "
                             f"got {value}")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating,
                                                              np.integer)):
            raise TypeError(f"forget_bias: expected None or a float, got "
                            f"{type(value).__name__}")
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"forget_bias: expected a finite float, got {value}")
        if not self.bias:
            raise ValueError(f"forget_bias: expected None with bias=False (it initializes the "
                             f"biases), got {value}")
        H = self.hidden_size
        f = _CELLS[self.mode].gates.index("f")
        for name, prm in self._parameters.items():
            if name.startswith("bias_ih_l"):
                prm.data[f * H:(f + 1) * H] = value
            elif name.startswith("bias_hh_l"):
                prm.data[f * H:(f + 1) * H] = 0.0
        return value

    def _layer_parameters(self, in_k, init, dtype):
        """The parameters of one layer and direction whose input has ``in_k`` features, as
        (name without the _l{k} suffix, Parameter), drawn in this order with ``init(*shape)``
        (U(-1/sqrt(H), 1/sqrt(H))); a scan cell (MinGRU, MinLSTM) has no weight_hh and no
        bias_hh. A cell with other parameters overrides it."""
        G, H = _GATES[self.mode], self.hidden_size
        H_out = self.proj_size or H
        recurrent = _CELLS[self.mode].recurrence != "scan"
        params = [("weight_ih", init(G * H, in_k))]
        if recurrent:
            params.append(("weight_hh", init(G * H, H_out)))
        if self.bias:
            params.append(("bias_ih", init(G * H)))
            if recurrent:
                params.append(("bias_hh", init(G * H)))
        if self.proj_size:
            params.append(("weight_hr", init(H_out, H)))
        # the peepholes and the normalization's shifts start at zero (ONNX), its gains at one
        # (haste)
        for name, blocks in _CELLS[self.mode].extras:
            start = 1.0 if name.startswith("gamma") else 0.0
            params.append((name, Parameter(np.full(blocks * H, start, dtype))))
        return params

    # -- helpers ---------------------------------------------------------------------------
    def _weights(self, layer, direction):
        """(w_ih, w_hh, b_ih, b_hh, w_hr, *extras' slots) of one layer and direction, None where
        absent (the slots: _EXTRA_NAMES, or one None for a cell without extras)."""
        sfx = f"_l{layer}" + ("_reverse" if direction else "")
        params = self._parameters
        names = _EXTRA_NAMES[self.mode] or ("weight_p",)
        return tuple(params.get(n + sfx) for n in
                     ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr", *names))

    def _call_weights(self, layer, direction, training):
        """_weights of one call: in training mode with weight_dropout p, W_hh times a fresh
        inverted-dropout mask (DropConnect: 0 with probability p, else 1/(1-p), one mask per
        call, layer and direction), through autograd, so that W_hh's gradient is the masked
        one."""
        w = self._weights(layer, direction)
        if not (training and self.weight_dropout > 0):
            return w
        w_hh = w[1]
        return (w[0], w_hh * _dropout_mask(w_hh.shape, self.weight_dropout, w_hh.dtype),
                *w[2:])

    @property
    def _dtype(self):
        return self._parameters["weight_ih_l0"].dtype

    def flatten_parameters(self):
        """A no-op, as torch's on the CPU (it compacts cuDNN's weight buffer on a GPU)."""

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "rnn_relu":
            s += ", nonlinearity='relu'"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.recurrent_dropout:
            s += f", recurrent_dropout={self.recurrent_dropout}"
        if self.input_dropout:
            s += f", input_dropout={self.input_dropout}"
        if self.zoneout:
            s += f", zoneout={self.zoneout}"
        if self.zoneout_c:
            s += f", zoneout_c={self.zoneout_c}"
        if self.forget_bias is not None:
            s += f", forget_bias={self.forget_bias}"
        if self.weight_dropout:
            s += f", weight_dropout={self.weight_dropout}"
        if self.mode == "gru_reset_before":
            s += ", reset_after=False"
        if self.mode == "lstm_peephole":
            s += ", peephole=True"
        return s

    def _state(self, name, s, shape, batched):
        s = _as_input(s, self._dtype, name)
        want = shape if batched else (shape[0], shape[2])
        if tuple(s.shape) != want:
            raise ValueError(f"{name}: expected shape {want}, got {tuple(s.shape)}")
        return s if batched else s.reshape(shape[0], 1, shape[2])

    # -- forward -----------------------------------------------------------------------------
    def forward(self, input, hx=None, lengths=None):
        """Run the layers over ``input``: (T, B, I), (B, T, I) with ``batch_first``, (T, I)
        unbatched, or a PackedSequence (then the output is one too, and ``lengths`` comes from
        it). Returns ``(output, h_n)``, for LSTM ``(output, (h_n, c_n))``."""
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError("lengths: a PackedSequence carries its own lengths; give "
                                 "lengths= only with a padded tensor")
            output, state = self._forward(input.padded, hx, input.lengths, False)
            return input._with_padded(output), state
        return self._forward(input, hx, lengths, self.batch_first)

    def _forward(self, input, hx, lengths, batch_first):
        dt = self._dtype
        x = _as_input(input, dt)
        if x.ndim not in (2, 3):
            raise ValueError(f"input: expected a 2-D (unbatched) or 3-D (batched) input, got "
                             f"{x.ndim}-D with shape {tuple(x.shape)}")
        batched = x.ndim == 3
        bf = batched and batch_first  # the kernels read and write (B, T, ..) in place
        if not batched:
            x = x.reshape(x.shape[0], 1, x.shape[1])
        T, B, I = (x.shape[1], x.shape[0], x.shape[2]) if bf else x.shape
        if I != self.input_size:
            shape = tuple(input.shape) if hasattr(input, "shape") else tuple(x.shape)
            raise ValueError(f"input: expected {self.input_size} features (input_size), got "
                             f"{I} (input shape {shape})")
        if T == 0 or B == 0:
            raise ValueError(f"input: expected at least one step and one sequence, got T={T}, "
                             f"B={B}")
        if lengths is not None and not batched:
            lengths = [lengths] if np.ndim(lengths) == 0 else lengths
        lengths = _lengths(lengths, B, T)

        H, D, L = self.hidden_size, 2 if self.bidirectional else 1, self.num_layers
        H_out = self.proj_size or H
        h0 = c0 = None
        if self._has_c:
            if hx is not None:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise TypeError("hx: expected a tuple (h_0, c_0) for LSTM, got "
                                    f"{type(hx).__name__}")
                h0 = self._state("h_0", hx[0], (L * D, B, H_out), batched)
                c0 = self._state("c_0", hx[1], (L * D, B, H), batched)
        elif hx is not None:
            h0 = self._state("hx", hx, (L * D, B, H_out), batched)

        training = self.training
        h_n, c_n = [], []
        layer_in = x
        for layer in range(L):
            if training and self.input_dropout > 0:
                shape = (B, 1, layer_in.shape[2]) if bf else (1, B, layer_in.shape[2])
                mask = _dropout_mask(shape, self.input_dropout, dt)
                layer_in = layer_in * mask
            masks = [None] * D
            if training and self.recurrent_dropout > 0:
                masks = [_dropout_mask((B, H_out), self.recurrent_dropout, dt) for _ in range(D)]
            zoneouts = [(None, None)] * D
            if self.zoneout or self.zoneout_c:
                if training:  # per step, sequence and unit, each layer and direction
                    zh = (B, T, H_out) if bf else (T, B, H_out)
                    zc = (B, T, H) if bf else (T, B, H)
                    zoneouts = [(_zoneout_masks(zh, self.zoneout, dt),
                                 _zoneout_masks(zc, self.zoneout_c, dt)) for _ in range(D)]
                else:  # the expectation
                    zoneouts = [(self.zoneout or None, self.zoneout_c or None)] * D
            states = [(None if h0 is None else h0[layer * D + d],
                       None if c0 is None else c0[layer * D + d]) for d in range(D)]
            if D == 2:  # both directions at once, one node
                results = _run_bidirectional(self.mode, layer_in, states,
                                             [self._call_weights(layer, d, training)
                                              for d in range(2)],
                                             lengths, masks, bf, zoneouts)
            else:
                w_ih, w_hh, b_ih, b_hh, w_hr, *extras = self._call_weights(layer, 0, training)
                results = [_run_layer(self.mode, layer_in, states[0][0], states[0][1], w_ih,
                                      w_hh, b_ih, b_hh, w_hr, lengths, False, masks[0], bf,
                                      tuple(extras), zoneouts[0])]
            outs = []
            for y, hn, cn in results:
                outs.append(y)
                h_n.append(hn)
                c_n.append(cn)
            layer_out = outs[0] if D == 1 else cat(outs, dim=2)
            if training and self.dropout > 0 and layer < L - 1:
                layer_out = layer_out * _dropout_mask(layer_out.shape, self.dropout, dt)
            layer_in = layer_out

        output = layer_in
        if len(h_n) == 1:  # one layer, one direction: no copy through stack
            h_n = h_n[0].reshape(1, *h_n[0].shape)
            c_n = c_n[0].reshape(1, *c_n[0].shape) if self._has_c else None
        else:
            h_n = stack(h_n, dim=0)
            c_n = stack(c_n, dim=0) if self._has_c else None
        if not batched:
            output = output.reshape(T, output.shape[2])
            h_n = h_n.reshape(L * D, H_out)
            c_n = c_n.reshape(L * D, H) if c_n is not None else None
        if self._has_c:
            return output, (h_n, c_n)
        return output, h_n


class RNN(RNNBase):
    """Multi-layer Elman RNN with a tanh or ReLU non-linearity over an input sequence.

    For each element of the input sequence, each layer computes::

        h_t = act(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh)

    where h_t is the hidden state at time t, x_t the input at time t (the previous layer's
    output after the first layer), h_(t-1) the state at t-1 (the initial state at t = 0), and
    act is tanh or relu. Each (layer, direction) is one C++ call over the whole sequence and
    one autograd node (backpropagation through time in one C++ call).

    Args:
        input_size (int): the number of features H_in of the input x.
        hidden_size (int): the number of features H of the hidden state h.
        num_layers (int, optional): the number of stacked layers; layer k > 0 reads the output
            of layer k-1. Default: 1.
        nonlinearity (str, optional): ``'tanh'`` or ``'relu'``. Default: ``'tanh'``.
        bias (bool, optional): if ``False``, the layers have no ``bias_ih`` / ``bias_hh``.
            Default: ``True``.
        batch_first (bool, optional): if ``True``, the input and output are (N, L, *) instead
            of (L, N, *); the hidden states stay (D * num_layers, N, *). Default: ``False``.
        dropout (float, optional): the probability of an inverted-dropout mask on the output
            of every layer but the last, in training mode; in [0, 1]. Default: 0.
        bidirectional (bool, optional): if ``True``, each layer runs forward and backward in
            time and concatenates the two outputs (D = 2). Default: ``False``.
        recurrent_dropout (float, optional): rnnfast extra, not in torch: variational
            (Keras-style) dropout on h_(t-1) before W_hh, one mask per sequence, layer and
            direction, constant in time, applied inside the kernel in training mode; in
            [0, 1). Default: 0.
        input_dropout (float, optional): rnnfast extra: one dropout mask per sequence and layer
            on the layer's input, constant in time, in training mode; in [0, 1). Default: 0.
        zoneout (float, optional): rnnfast extra, not in torch: zoneout (Krueger et al.
            2016, as haste's) on h, inside the kernel: in training mode h_t = d_t * h_(t-1) +
            (1 - d_t) * h~_t, h~_t the new state above, with keep masks d_t ~ Bernoulli(p)
            per step, sequence, unit, layer and direction; in eval mode d_t = p (the
            expectation); in [0, 1). Default: 0.
        weight_dropout (float, optional): rnnfast extra: DropConnect (Wan et al. 2013;
            AWD-LSTM's WeightDrop) on the recurrent weights: in training mode each call uses
            ``weight_hh * m`` with m one inverted-dropout mask per call, layer and direction (0
            with probability p, else 1/(1-p)), so ``weight_hh``'s gradient is the masked one;
            in eval mode the plain weights; in [0, 1). Default: 0.
        dtype (optional): the parameters' dtype, float32 or float64 (a NumPy or rnnfast
            dtype); inputs are cast to it. Default: ``np.float32``.
        device (optional): ``None`` or the CPU, the only device (another raises ValueError).
            Default: ``None``.

    Inputs: input, hx=None, lengths=None
        * **input**: (L, N, H_in), or (N, L, H_in) with ``batch_first=True``, or (L, H_in)
          unbatched, or a :class:`rnnfast.nn.utils.rnn.PackedSequence`: a Tensor (its graph
          is kept), a NumPy array or nested sequences of numbers.
        * **hx**: the initial hidden state, (D * num_layers, N, H_out), or
          (D * num_layers, H_out) unbatched. Default: zeros.
        * **lengths** (rnnfast extra): ``None`` or N integers in [1, L], each sequence's valid
          length in a padded batch, with a PackedSequence's semantics without packing: the
          output past a sequence's length is zero, its final state is the one at its last
          valid step, and the reverse direction starts there. Not allowed with a
          PackedSequence, which carries its own lengths.

        where::

            L = sequence length, N = batch size, D = 2 if bidirectional else 1,
            H_in = input_size, H_cell = hidden_size,
            H_out = proj_size if proj_size > 0 else hidden_size

    Outputs: output, h_n
        * **output**: (L, N, D * H_out), or (N, L, D * H_out) with ``batch_first=True``, or
          (L, D * H_out) unbatched: the last layer's h_t for every t (both directions
          concatenated); a PackedSequence when the input is one.
        * **h_n**: (D * num_layers, N, H_out), or (D * num_layers, H_out) unbatched: the final
          hidden state of each layer and direction.

    Attributes:
        weight_ih_l[k]: the input-hidden weights W_ih of layer k, of shape
            (1*hidden_size, input_size) for k = 0, else (1*hidden_size, D*hidden_size).
        weight_hh_l[k]: the hidden-hidden weights W_hh of layer k, of shape
            (1*hidden_size, hidden_size).
        bias_ih_l[k]: the input-hidden bias b_ih of layer k, of shape
            (1*hidden_size).
        bias_hh_l[k]: the hidden-hidden bias b_ih of layer k, of shape
            (1*hidden_size).
        The reverse direction's parameters carry the suffix ``_reverse``. Every parameter is
        initialized from U(-sqrt(k), sqrt(k)) with k = 1 / hidden_size, drawn from
        ``rnnfast.manual_seed``'s generator (torch's distribution, not torch's numbers).

    Differences from torch: the ``recurrent_dropout``, ``input_dropout``, ``zoneout``,
    ``weight_dropout`` and ``lengths`` extras; ``dtype`` is a NumPy dtype, and ``device``
    (keyword) accepts only the CPU.

    Example::

        >>> rnn = rnnfast.nn.RNN(10, 20, 2)
        >>> input = rnnfast.randn(5, 3, 10)
        >>> h0 = rnnfast.randn(2, 3, 20)
        >>> output, hn = rnn(input, h0)
        >>> tuple(output.shape), tuple(hn.shape)
        ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, recurrent_dropout=0.0,
                 input_dropout=0.0, dtype=np.float32, device=None, zoneout=0.0,
                 weight_dropout=0.0):
        _device.check_device(device)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("rnn_" + nonlinearity, input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, 0, recurrent_dropout,
                         input_dropout, dtype, zoneout, weight_dropout=weight_dropout)


class LSTM(RNNBase):
    """Multi-layer long short-term memory (LSTM) RNN over an input sequence.

    For each element of the input sequence, each layer computes, in torch's gate order
    (i, f, g, o) along the rows of the weights::

        i_t = sigmoid(W_ii x_t + b_ii + W_hi h_(t-1) + b_hi)
        f_t = sigmoid(W_if x_t + b_if + W_hf h_(t-1) + b_hf)
        g_t = tanh(W_ig x_t + b_ig + W_hg h_(t-1) + b_hg)
        o_t = sigmoid(W_io x_t + b_io + W_ho h_(t-1) + b_ho)
        c_t = f_t * c_(t-1) + i_t * g_t
        h_t = o_t * tanh(c_t)

    where h_t and c_t are the hidden and cell states at time t, x_t the input at time t (the
    previous layer's output after the first layer) and * the elementwise product. With
    ``proj_size > 0`` the hidden state is projected, h_t = W_hr (o_t * tanh(c_t)), and has
    proj_size features. With ``peephole=True`` (ONNX's LSTM with peepholes P) the gates also
    see the cell state through per-unit weights p_i, p_f, p_o: ``+ p_i * c_(t-1)`` inside i_t,
    ``+ p_f * c_(t-1)`` inside f_t and ``+ p_o * c_t`` inside o_t. Each (layer, direction) is
    one C++ call over the whole sequence and one autograd node.

    Args:
        input_size (int): the number of features H_in of the input x.
        hidden_size (int): the number of features H of the hidden state h.
        num_layers (int, optional): the number of stacked layers; layer k > 0 reads the output
            of layer k-1. Default: 1.
        bias (bool, optional): if ``False``, the layers have no ``bias_ih`` / ``bias_hh``.
            Default: ``True``.
        batch_first (bool, optional): if ``True``, the input and output are (N, L, *) instead
            of (L, N, *); the hidden states stay (D * num_layers, N, *). Default: ``False``.
        dropout (float, optional): the probability of an inverted-dropout mask on the output
            of every layer but the last, in training mode; in [0, 1]. Default: 0.
        bidirectional (bool, optional): if ``True``, each layer runs forward and backward in
            time and concatenates the two outputs (D = 2). Default: ``False``.
        proj_size (int, optional): if > 0, an LSTM with projections of this size (must be
            < hidden_size). Default: 0.
        recurrent_dropout (float, optional): rnnfast extra, not in torch: variational
            (Keras-style) dropout on h_(t-1) before W_hh, one mask per sequence, layer and
            direction, constant in time, applied inside the kernel in training mode; in
            [0, 1). Default: 0.
        input_dropout (float, optional): rnnfast extra: one dropout mask per sequence and layer
            on the layer's input, constant in time, in training mode; in [0, 1). Default: 0.
        zoneout (float, optional): rnnfast extra, not in torch: zoneout (Krueger et al.
            2016, as haste's) on h, inside the kernel: in training mode h_t = d_t * h_(t-1) +
            (1 - d_t) * h~_t, h~_t the new state above, with keep masks d_t ~ Bernoulli(p)
            per step, sequence, unit, layer and direction; in eval mode d_t = p (the
            expectation); in [0, 1). Default: 0.
        weight_dropout (float, optional): rnnfast extra: DropConnect (Wan et al. 2013;
            AWD-LSTM's WeightDrop) on the recurrent weights: in training mode each call uses
            ``weight_hh * m`` with m one inverted-dropout mask per call, layer and direction (0
            with probability p, else 1/(1-p)), so ``weight_hh``'s gradient is the masked one;
            in eval mode the plain weights; in [0, 1). Default: 0.
        zoneout_c (float, optional): rnnfast extra: zoneout on the cell state likewise,
            c_t = d^c_t * c_(t-1) + (1 - d^c_t) * c~_t with masks of its own (h~_t is
            o_t * tanh(c~_t), from the new c~_t); 0 by default as in haste's LSTM, whose
            zoneout is on h only (Krueger et al. zone out c and h at separate rates, e.g. 0.5
            and 0.05). With ``proj_size`` zoneout acts on the projected h. Default: 0.
        forget_bias (float, optional): rnnfast extra: None keeps the default
            initialization; a float sets the forget gate's slice of every ``bias_ih`` to it
            and of every ``bias_hh`` to 0, so that the gate's total bias starts at the value
            (Keras' ``unit_forget_bias=True`` is 1.0). Requires ``bias=True``. Default: None.
        dtype (optional): the parameters' dtype, float32 or float64 (a NumPy or rnnfast
            dtype); inputs are cast to it. Default: ``np.float32``.
        device (optional): ``None`` or the CPU, the only device (another raises ValueError).
            Default: ``None``.
        peephole (bool, optional): rnnfast extra: peephole connections (see above), the
            parameters ``weight_p_l[k]``. Default: ``False``.

    Inputs: input, (h_0, c_0)=None, lengths=None
        * **input**: (L, N, H_in), or (N, L, H_in) with ``batch_first=True``, or (L, H_in)
          unbatched, or a :class:`rnnfast.nn.utils.rnn.PackedSequence`: a Tensor (its graph
          is kept), a NumPy array or nested sequences of numbers.
        * **h_0**: the initial hidden state, (D * num_layers, N, H_out), or
          (D * num_layers, H_out) unbatched. Default: zeros (when ``hx`` is not given).
        * **c_0**: the initial cell state, (D * num_layers, N, H_cell), or
          (D * num_layers, H_cell) unbatched. Default: zeros.
        * **lengths** (rnnfast extra): ``None`` or N integers in [1, L], each sequence's valid
          length in a padded batch, with a PackedSequence's semantics without packing: the
          output past a sequence's length is zero, its final state is the one at its last
          valid step, and the reverse direction starts there. Not allowed with a
          PackedSequence, which carries its own lengths.

        where::

            L = sequence length, N = batch size, D = 2 if bidirectional else 1,
            H_in = input_size, H_cell = hidden_size,
            H_out = proj_size if proj_size > 0 else hidden_size

    Outputs: output, (h_n, c_n)
        * **output**: (L, N, D * H_out), or (N, L, D * H_out) with ``batch_first=True``, or
          (L, D * H_out) unbatched: the last layer's h_t for every t (both directions
          concatenated); a PackedSequence when the input is one.
        * **h_n**: (D * num_layers, N, H_out), or (D * num_layers, H_out) unbatched: the final
          hidden state of each layer and direction.
        * **c_n**: (D * num_layers, N, H_cell), or (D * num_layers, H_cell) unbatched: the
          final cell state of each layer and direction.

    Attributes:
        weight_ih_l[k]: the input-hidden weights (W_ii|W_if|W_ig|W_io) of layer k, of shape
            (4*hidden_size, input_size) for k = 0, else (4*hidden_size, D*H_out).
        weight_hh_l[k]: the hidden-hidden weights (W_hi|W_hf|W_hg|W_ho) of layer k, of shape
            (4*hidden_size, H_out).
        bias_ih_l[k]: the input-hidden bias (b_ii|b_if|b_ig|b_io) of layer k, of shape
            (4*hidden_size).
        bias_hh_l[k]: the hidden-hidden bias (b_hi|b_hf|b_hg|b_ho) of layer k, of shape
            (4*hidden_size).
        weight_hr_l[k]: the projection weights of layer k, of shape (proj_size, hidden_size);
            only with ``proj_size > 0``.
        weight_p_l[k]: the peephole weights (p_i|p_f|p_o) of layer k, of shape
            (3*hidden_size); only with ``peephole=True``; initialized to zeros.
        The reverse direction's parameters carry the suffix ``_reverse``. Every parameter is
        initialized from U(-sqrt(k), sqrt(k)) with k = 1 / hidden_size, drawn from
        ``rnnfast.manual_seed``'s generator (torch's distribution, not torch's numbers).

    Differences from torch: the ``recurrent_dropout``, ``input_dropout``, ``zoneout``,
    ``weight_dropout`` and ``lengths`` extras; ``dtype`` is a NumPy dtype, and ``device``
    (keyword) accepts only the CPU.

    Example::

        >>> lstm = rnnfast.nn.LSTM(10, 20, 2)
        >>> input = rnnfast.randn(5, 3, 10)
        >>> h0, c0 = rnnfast.randn(2, 3, 20), rnnfast.randn(2, 3, 20)
        >>> output, (hn, cn) = lstm(input, (h0, c0))
        >>> tuple(output.shape), tuple(hn.shape), tuple(cn.shape)
        ((5, 3, 20), (2, 3, 20), (2, 3, 20))
        >>> out, _ = lstm(rnnfast.randn(5, 3, 10), lengths=[5, 2, 4])   # padded batch
        >>> bool((out[2:, 1] == 0).all())
        True
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, recurrent_dropout=0.0,
                 input_dropout=0.0, dtype=np.float32, peephole=False, device=None, zoneout=0.0,
                 zoneout_c=0.0, forget_bias=None, weight_dropout=0.0):
        _device.check_device(device)
        self.peephole = bool(peephole)
        super().__init__("lstm_peephole" if self.peephole else "lstm", input_size, hidden_size,
                         num_layers, bias, batch_first, dropout, bidirectional, proj_size,
                         recurrent_dropout, input_dropout, dtype, zoneout, zoneout_c,
                         forget_bias, weight_dropout)


class GRU(RNNBase):
    """Multi-layer gated recurrent unit (GRU) RNN over an input sequence.

    For each element of the input sequence, each layer computes, in torch's gate order
    (r, z, n) along the rows of the weights::

        r_t = sigmoid(W_ir x_t + b_ir + W_hr h_(t-1) + b_hr)
        z_t = sigmoid(W_iz x_t + b_iz + W_hz h_(t-1) + b_hz)
        n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_(t-1) + b_hn))
        h_t = (1 - z_t) * n_t + z_t * h_(t-1)

    or, with ``reset_after=False`` (Keras' ``reset_after=False``, ONNX's
    ``linear_before_reset=0``, the original formulation), the reset gate applied to the state
    before the recurrent product::

        n_t = tanh(W_in x_t + b_in + W_hn (r_t * h_(t-1)) + b_hn)

    where h_t is the hidden state at time t, x_t the input at time t (the previous layer's
    output after the first layer), r_t, z_t, n_t the reset, update and new gates and * the
    elementwise product. Each (layer, direction) is one C++ call over the whole sequence and
    one autograd node.

    Args:
        input_size (int): the number of features H_in of the input x.
        hidden_size (int): the number of features H of the hidden state h.
        num_layers (int, optional): the number of stacked layers; layer k > 0 reads the output
            of layer k-1. Default: 1.
        bias (bool, optional): if ``False``, the layers have no ``bias_ih`` / ``bias_hh``.
            Default: ``True``.
        batch_first (bool, optional): if ``True``, the input and output are (N, L, *) instead
            of (L, N, *); the hidden states stay (D * num_layers, N, *). Default: ``False``.
        dropout (float, optional): the probability of an inverted-dropout mask on the output
            of every layer but the last, in training mode; in [0, 1]. Default: 0.
        bidirectional (bool, optional): if ``True``, each layer runs forward and backward in
            time and concatenates the two outputs (D = 2). Default: ``False``.
        recurrent_dropout (float, optional): rnnfast extra, not in torch: variational
            (Keras-style) dropout on h_(t-1) before W_hh, one mask per sequence, layer and
            direction, constant in time, applied inside the kernel in training mode; in
            [0, 1). Default: 0.
        input_dropout (float, optional): rnnfast extra: one dropout mask per sequence and layer
            on the layer's input, constant in time, in training mode; in [0, 1). Default: 0.
        zoneout (float, optional): rnnfast extra, not in torch: zoneout (Krueger et al.
            2016, as haste's) on h, inside the kernel: in training mode h_t = d_t * h_(t-1) +
            (1 - d_t) * h~_t, h~_t the new state above, with keep masks d_t ~ Bernoulli(p)
            per step, sequence, unit, layer and direction; in eval mode d_t = p (the
            expectation); in [0, 1). Default: 0.
        weight_dropout (float, optional): rnnfast extra: DropConnect (Wan et al. 2013;
            AWD-LSTM's WeightDrop) on the recurrent weights: in training mode each call uses
            ``weight_hh * m`` with m one inverted-dropout mask per call, layer and direction (0
            with probability p, else 1/(1-p)), so ``weight_hh``'s gradient is the masked one;
            in eval mode the plain weights; in [0, 1). Default: 0.
        dtype (optional): the parameters' dtype, float32 or float64 (a NumPy or rnnfast
            dtype); inputs are cast to it. Default: ``np.float32``.
        device (optional): ``None`` or the CPU, the only device (another raises ValueError).
            Default: ``None``.
        reset_after (bool, optional): rnnfast extra: ``False`` applies the reset gate before
            the recurrent product (see above). Default: ``True`` (torch's GRU).

    Inputs: input, hx=None, lengths=None
        * **input**: (L, N, H_in), or (N, L, H_in) with ``batch_first=True``, or (L, H_in)
          unbatched, or a :class:`rnnfast.nn.utils.rnn.PackedSequence`: a Tensor (its graph
          is kept), a NumPy array or nested sequences of numbers.
        * **hx**: the initial hidden state, (D * num_layers, N, H_out), or
          (D * num_layers, H_out) unbatched. Default: zeros.
        * **lengths** (rnnfast extra): ``None`` or N integers in [1, L], each sequence's valid
          length in a padded batch, with a PackedSequence's semantics without packing: the
          output past a sequence's length is zero, its final state is the one at its last
          valid step, and the reverse direction starts there. Not allowed with a
          PackedSequence, which carries its own lengths.

        where::

            L = sequence length, N = batch size, D = 2 if bidirectional else 1,
            H_in = input_size, H_cell = hidden_size,
            H_out = proj_size if proj_size > 0 else hidden_size

    Outputs: output, h_n
        * **output**: (L, N, D * H_out), or (N, L, D * H_out) with ``batch_first=True``, or
          (L, D * H_out) unbatched: the last layer's h_t for every t (both directions
          concatenated); a PackedSequence when the input is one.
        * **h_n**: (D * num_layers, N, H_out), or (D * num_layers, H_out) unbatched: the final
          hidden state of each layer and direction.

    Attributes:
        weight_ih_l[k]: the input-hidden weights (W_ir|W_iz|W_in) of layer k, of shape
            (3*hidden_size, input_size) for k = 0, else (3*hidden_size, D*hidden_size).
        weight_hh_l[k]: the hidden-hidden weights (W_hr|W_hz|W_hn) of layer k, of shape
            (3*hidden_size, hidden_size).
        bias_ih_l[k]: the input-hidden bias (b_ir|b_iz|b_in) of layer k, of shape
            (3*hidden_size).
        bias_hh_l[k]: the hidden-hidden bias (b_hr|b_hz|b_hn) of layer k, of shape
            (3*hidden_size).
        The reverse direction's parameters carry the suffix ``_reverse``. Every parameter is
        initialized from U(-sqrt(k), sqrt(k)) with k = 1 / hidden_size, drawn from
        ``rnnfast.manual_seed``'s generator (torch's distribution, not torch's numbers).

    Differences from torch: the ``recurrent_dropout``, ``input_dropout``, ``zoneout``,
    ``weight_dropout`` and ``lengths`` extras; ``dtype`` is a NumPy dtype, and ``device``
    (keyword) accepts only the CPU.

    Example::

        >>> gru = rnnfast.nn.GRU(10, 20, 2, batch_first=True)
        >>> input = rnnfast.randn(3, 5, 10)
        >>> output, hn = gru(input)
        >>> tuple(output.shape), tuple(hn.shape)
        ((3, 5, 20), (2, 3, 20))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, recurrent_dropout=0.0, input_dropout=0.0,
                 dtype=np.float32, reset_after=True, device=None, zoneout=0.0,
                 weight_dropout=0.0):
        _device.check_device(device)
        self.reset_after = bool(reset_after)
        super().__init__("gru" if self.reset_after else "gru_reset_before", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
                         recurrent_dropout, input_dropout, dtype, zoneout,
                         weight_dropout=weight_dropout)


class MinGRU(RNNBase):
    """Multi-layer minGRU over an input sequence (L. Feng, F. Tung, M. O. Ahmed, Y. Bengio,
    H. Hajimirsadeghi, "Were RNNs All We Needed?", 2024), in its sequential mode.

    Its gates read the input only, never h_(t-1); for each element of the input sequence,
    each layer computes, in the gate order (z, h~) along the rows of the weights::

        z_t = sigmoid(W_iz x_t + b_iz)
        h~_t = W_ih~ x_t + b_ih~
        h_t = (1 - z_t) * h_(t-1) + z_t * h~_t

    a linear recurrence h_t = a_t * h_(t-1) + b_t with a_t in (0, 1), which the kernels run as
    a scan over time, split over the threads by (sequence, unit) or by chunks of steps. There
    is no ``weight_hh`` and no ``bias_hh``, hence no recurrent dropout. Each (layer, direction)
    is one C++ call over the whole sequence and one autograd node.

    Args:
        input_size (int): the number of features H_in of the input x.
        hidden_size (int): the number of features H of the hidden state h.
        num_layers (int, optional): the number of stacked layers; layer k > 0 reads the output
            of layer k-1. Default: 1.
        bias (bool, optional): if ``False``, the layers have no ``bias_ih``. Default: ``True``.
        batch_first (bool, optional): if ``True``, the input and output are (N, L, *) instead
            of (L, N, *); the hidden states stay (D * num_layers, N, *). Default: ``False``.
        dropout (float, optional): the probability of an inverted-dropout mask on the output
            of every layer but the last, in training mode; in [0, 1]. Default: 0.
        bidirectional (bool, optional): if ``True``, each layer runs forward and backward in
            time and concatenates the two outputs (D = 2). Default: ``False``.
        dtype (optional): the parameters' dtype, float32 or float64 (a NumPy or rnnfast
            dtype); inputs are cast to it. Default: ``np.float32``.
        device (optional): ``None`` or the CPU, the only device (another raises ValueError).
            Default: ``None``.

    Inputs: input, hx=None, lengths=None
        * **input**: (L, N, H_in), or (N, L, H_in) with ``batch_first=True``, or (L, H_in)
          unbatched, or a :class:`rnnfast.nn.utils.rnn.PackedSequence`: a Tensor (its graph
          is kept), a NumPy array or nested sequences of numbers.
        * **hx**: the initial hidden state, (D * num_layers, N, H), or (D * num_layers, H)
          unbatched. Default: zeros. A call per step with ``hx`` the previous call's ``h_n``
          gives the outputs of one call over the whole sequence (streaming inference):
          bitwise, unless that call's scan was split by time (a few sequences on many
          threads, or ``RNNFAST_SCAN=time``), then within rounding.
        * **lengths**: ``None`` or N integers in [1, L], each sequence's valid length in a
          padded batch, with a PackedSequence's semantics: the output past a sequence's length
          is zero, its final state is the one at its last valid step, and the reverse
          direction starts there.

        where L = sequence length, N = batch size, D = 2 if bidirectional else 1.

    Outputs: output, h_n
        * **output**: (L, N, D * H), or (N, L, D * H) with ``batch_first=True``, or (L, D * H)
          unbatched: the last layer's h_t for every t (both directions concatenated).
        * **h_n**: (D * num_layers, N, H), or (D * num_layers, H) unbatched: the final hidden
          state of each layer and direction.

    Attributes:
        weight_ih_l[k]: the input weights (W_iz|W_ih~) of layer k, of shape
            (2*hidden_size, input_size) for k = 0, else (2*hidden_size, D*hidden_size).
        bias_ih_l[k]: the bias (b_iz|b_ih~) of layer k, of shape (2*hidden_size).
        The reverse direction's parameters carry the suffix ``_reverse``. Every parameter is
        initialized from U(-sqrt(k), sqrt(k)) with k = 1 / hidden_size (as torch's RNN),
        drawn from ``rnnfast.manual_seed``'s generator.

    Example::

        >>> m = rnnfast.nn.MinGRU(10, 20, 2, batch_first=True)
        >>> output, hn = m(rnnfast.randn(3, 5, 10))
        >>> tuple(output.shape), tuple(hn.shape)
        ((3, 5, 20), (2, 3, 20))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=np.float32, device=None):
        _device.check_device(device)
        super().__init__("mingru", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, 0, 0.0, 0.0, dtype)


class MinLSTM(RNNBase):
    """Multi-layer minLSTM over an input sequence (L. Feng, F. Tung, M. O. Ahmed, Y. Bengio,
    H. Hajimirsadeghi, "Were RNNs All We Needed?", 2024), in its sequential mode.

    Its gates read the input only, never h_(t-1), and it keeps no cell state; for each element
    of the input sequence, each layer computes, in the gate order (f, i, h~) along the rows of
    the weights::

        f_t = sigmoid(W_if x_t + b_if)
        i_t = sigmoid(W_ii x_t + b_ii)
        h~_t = W_ih~ x_t + b_ih~
        h_t = f_t / (f_t + i_t) * h_(t-1) + i_t / (f_t + i_t) * h~_t

    a linear recurrence h_t = a_t * h_(t-1) + b_t with a_t in (0, 1), which the kernels run as
    a scan over time, split over the threads by (sequence, unit) or by chunks of steps. There
    is no ``weight_hh`` and no ``bias_hh``, hence no recurrent dropout. Each (layer, direction)
    is one C++ call over the whole sequence and one autograd node.

    Args:
        input_size (int): the number of features H_in of the input x.
        hidden_size (int): the number of features H of the hidden state h.
        num_layers (int, optional): the number of stacked layers; layer k > 0 reads the output
            of layer k-1. Default: 1.
        bias (bool, optional): if ``False``, the layers have no ``bias_ih``. Default: ``True``.
        batch_first (bool, optional): if ``True``, the input and output are (N, L, *) instead
            of (L, N, *); the hidden states stay (D * num_layers, N, *). Default: ``False``.
        dropout (float, optional): the probability of an inverted-dropout mask on the output
            of every layer but the last, in training mode; in [0, 1]. Default: 0.
        bidirectional (bool, optional): if ``True``, each layer runs forward and backward in
            time and concatenates the two outputs (D = 2). Default: ``False``.
        forget_bias (float, optional): rnnfast extra: None keeps the default
            initialization; a float sets the f gate's slice of every ``bias_ih`` (its one
            bias) to it, f = sigmoid(W_f x + b_f) starting near sigmoid(value). Requires
            ``bias=True``. Default: None.
        dtype (optional): the parameters' dtype, float32 or float64 (a NumPy or rnnfast
            dtype); inputs are cast to it. Default: ``np.float32``.
        device (optional): ``None`` or the CPU, the only device (another raises ValueError).
            Default: ``None``.

    Inputs: input, hx=None, lengths=None
        * **input**: (L, N, H_in), or (N, L, H_in) with ``batch_first=True``, or (L, H_in)
          unbatched, or a :class:`rnnfast.nn.utils.rnn.PackedSequence`: a Tensor (its graph
          is kept), a NumPy array or nested sequences of numbers.
        * **hx**: the initial hidden state, (D * num_layers, N, H), or (D * num_layers, H)
          unbatched. Default: zeros. A call per step with ``hx`` the previous call's ``h_n``
          gives the outputs of one call over the whole sequence (streaming inference):
          bitwise, unless that call's scan was split by time (a few sequences on many
          threads, or ``RNNFAST_SCAN=time``), then within rounding.
        * **lengths**: ``None`` or N integers in [1, L], each sequence's valid length in a
          padded batch, with a PackedSequence's semantics: the output past a sequence's length
          is zero, its final state is the one at its last valid step, and the reverse
          direction starts there.

        where L = sequence length, N = batch size, D = 2 if bidirectional else 1.

    Outputs: output, h_n
        * **output**: (L, N, D * H), or (N, L, D * H) with ``batch_first=True``, or (L, D * H)
          unbatched: the last layer's h_t for every t (both directions concatenated).
        * **h_n**: (D * num_layers, N, H), or (D * num_layers, H) unbatched: the final hidden
          state of each layer and direction.

    Attributes:
        weight_ih_l[k]: the input weights (W_if|W_ii|W_ih~) of layer k, of shape
            (3*hidden_size, input_size) for k = 0, else (3*hidden_size, D*hidden_size).
        bias_ih_l[k]: the bias (b_if|b_ii|b_ih~) of layer k, of shape (3*hidden_size).
        The reverse direction's parameters carry the suffix ``_reverse``. Every parameter is
        initialized from U(-sqrt(k), sqrt(k)) with k = 1 / hidden_size (as torch's RNN),
        drawn from ``rnnfast.manual_seed``'s generator.

    Example::

        >>> m = rnnfast.nn.MinLSTM(10, 20, bidirectional=True)
        >>> output, hn = m(rnnfast.randn(5, 3, 10))
        >>> tuple(output.shape), tuple(hn.shape)
        ((5, 3, 40), (2, 3, 20))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=np.float32, device=None,
                 forget_bias=None):
        _device.check_device(device)
        super().__init__("minlstm", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, 0, 0.0, 0.0, dtype, forget_bias=forget_bias)


class LayerNormLSTM(RNNBase):
    """Multi-layer layer-normalized LSTM over an input sequence (haste's LayerNormLSTM).

    Each layer computes, in torch's gate order (i, f, g, o) along the rows of the weights::

        a_t = LN(W_ih x_t) * gamma_x + LN(W_hh h_(t-1)) * gamma_h + b_ih + b_hh
        i_t, f_t, o_t = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g_t = tanh(a_g)
        c_t = f_t * c_(t-1) + i_t * g_t
        h_t = o_t * tanh(LN(c_t) * gamma_c + beta_c)

    where LN(v) = (v - mean(v)) / sqrt(var(v) + 1e-5) over one sequence's row (the 4 *
    hidden_size entries of each product, the hidden_size entries of c_t; var the biased
    variance) and * the elementwise product. Each (layer, direction) is one C++ call over the
    whole sequence and one autograd node. Inputs, outputs and the other options are
    :class:`LSTM`'s (no projection).

    Args:
        input_size (int): the number of features of the input x.
        hidden_size (int): the number of features of the hidden state h.
        num_layers (int, optional): stacked layers. Default: 1.
        bias (bool, optional): use the biases b_ih and b_hh. Default: ``True``.
        batch_first (bool, optional): input and output are (N, L, ..). Default: ``False``.
        dropout (float, optional): dropout on the outputs of every layer but the last, in
            training mode; in [0, 1]. Default: 0.
        bidirectional (bool, optional): a reverse direction too. Default: ``False``.
        forget_bias (float, optional): rnnfast extra: None keeps the default
            initialization; a float sets the forget gate's slice of every ``bias_ih`` to it
            and of every ``bias_hh`` to 0, so that the gate's total bias starts at the value
            (Keras' ``unit_forget_bias=True`` is 1.0). Requires ``bias=True``. Default: None.
        dtype (optional): the parameters' dtype, float32 or float64. Default: ``np.float32``.
        device (optional): ``None`` or the CPU, the only device (another raises ValueError).
            Default: ``None``.
        recurrent_dropout (float, optional): variational dropout on the state W_hh sees, one
            mask per sequence, layer and direction, constant in time, in training mode; in
            [0, 1). Default: 0.
        zoneout (float, optional): rnnfast extra, not in torch: zoneout (Krueger et al.
            2016, as haste's) on h, inside the kernel: in training mode h_t = d_t * h_(t-1) +
            (1 - d_t) * h~_t, h~_t the new state above, with keep masks d_t ~ Bernoulli(p)
            per step, sequence, unit, layer and direction; in eval mode d_t = p (the
            expectation); in [0, 1). Default: 0.
        weight_dropout (float, optional): rnnfast extra: DropConnect (Wan et al. 2013;
            AWD-LSTM's WeightDrop) on the recurrent weights: in training mode each call uses
            ``weight_hh * m`` with m one inverted-dropout mask per call, layer and direction (0
            with probability p, else 1/(1-p)), so ``weight_hh``'s gradient is the masked one;
            in eval mode the plain weights; in [0, 1). Default: 0.
        zoneout_c (float, optional): rnnfast extra: zoneout on the cell state likewise,
            c_t = d^c_t * c_(t-1) + (1 - d^c_t) * c~_t with masks of its own (h~_t is
            o_t * tanh(c~_t), from the new c~_t); 0 by default as in haste's LSTM, whose
            zoneout is on h only (Krueger et al. zone out c and h at separate rates, e.g. 0.5
            and 0.05). Default: 0.

    Inputs: input, (h_0, c_0)=None, lengths=None -- as :class:`LSTM`'s.

    Outputs: output, (h_n, c_n) -- as :class:`LSTM`'s.

    Attributes:
        weight_ih_l[k], weight_hh_l[k], bias_ih_l[k], bias_hh_l[k]: as :class:`LSTM`'s,
            initialized as torch's LSTM: U(-sqrt(k), sqrt(k)) with k = 1 / hidden_size.
        gamma_x_l[k], gamma_h_l[k]: the gains of the normalized input and recurrent products
            of layer k, of shape (4*hidden_size); initialized to ones.
        gamma_c_l[k], beta_c_l[k]: the gain and shift of the normalized cell state, of shape
            (hidden_size); initialized to ones and zeros.
        The reverse direction's parameters carry the suffix ``_reverse``.

    Example::

        >>> lstm = rnnfast.nn.LayerNormLSTM(10, 20, 2)
        >>> output, (hn, cn) = lstm(rnnfast.randn(5, 3, 10))
        >>> tuple(output.shape), tuple(hn.shape), tuple(cn.shape)
        ((5, 3, 20), (2, 3, 20), (2, 3, 20))
        >>> tuple(lstm.gamma_x_l0.shape), float(lstm.gamma_c_l1.data.min())
        ((80,), 1.0)
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=np.float32, device=None,
                 recurrent_dropout=0.0, zoneout=0.0, zoneout_c=0.0, forget_bias=None,
                 weight_dropout=0.0):
        _device.check_device(device)
        super().__init__("layernorm_lstm", input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, 0, recurrent_dropout, 0.0, dtype,
                         zoneout, zoneout_c, forget_bias, weight_dropout)


class LayerNormGRU(RNNBase):
    """Multi-layer layer-normalized GRU over an input sequence.

    Each layer computes torch's GRU (reset gate after the recurrent product, gates r, z, n
    along the rows of the weights) with its two pre-activations normalized::

        u_t = LN(W_ih x_t) * gamma_x + b_ih
        v_t = LN(W_hh h_(t-1)) * gamma_h + b_hh
        r_t = sigmoid(u_r + v_r);  z_t = sigmoid(u_z + v_z)
        n_t = tanh(u_n + r_t * v_n)
        h_t = (1 - z_t) * n_t + z_t * h_(t-1)

    where LN(v) = (v - mean(v)) / sqrt(var(v) + 1e-5) over one sequence's row of the 3 *
    hidden_size entries (var the biased variance) and * the elementwise product. Each
    (layer, direction) is one C++ call over the whole sequence and one autograd node. Inputs,
    outputs and the other options are :class:`GRU`'s.

    Args:
        input_size (int): the number of features of the input x.
        hidden_size (int): the number of features of the hidden state h.
        num_layers (int, optional): stacked layers. Default: 1.
        bias (bool, optional): use the biases b_ih and b_hh. Default: ``True``.
        batch_first (bool, optional): input and output are (N, L, ..). Default: ``False``.
        dropout (float, optional): dropout on the outputs of every layer but the last, in
            training mode; in [0, 1]. Default: 0.
        bidirectional (bool, optional): a reverse direction too. Default: ``False``.
        dtype (optional): the parameters' dtype, float32 or float64. Default: ``np.float32``.
        device (optional): ``None`` or the CPU, the only device (another raises ValueError).
            Default: ``None``.
        recurrent_dropout (float, optional): variational dropout on the state W_hh sees (the
            z * h_(t-1) term keeps the whole state), one mask per sequence, layer and
            direction, constant in time, in training mode; in [0, 1). Default: 0.
        zoneout (float, optional): rnnfast extra, not in torch: zoneout (Krueger et al.
            2016, as haste's) on h, inside the kernel: in training mode h_t = d_t * h_(t-1) +
            (1 - d_t) * h~_t, h~_t the new state above, with keep masks d_t ~ Bernoulli(p)
            per step, sequence, unit, layer and direction; in eval mode d_t = p (the
            expectation); in [0, 1). Default: 0.
        weight_dropout (float, optional): rnnfast extra: DropConnect (Wan et al. 2013;
            AWD-LSTM's WeightDrop) on the recurrent weights: in training mode each call uses
            ``weight_hh * m`` with m one inverted-dropout mask per call, layer and direction (0
            with probability p, else 1/(1-p)), so ``weight_hh``'s gradient is the masked one;
            in eval mode the plain weights; in [0, 1). Default: 0.

    Inputs: input, h_0=None, lengths=None -- as :class:`GRU`'s.

    Outputs: output, h_n -- as :class:`GRU`'s.

    Attributes:
        weight_ih_l[k], weight_hh_l[k], bias_ih_l[k], bias_hh_l[k]: as :class:`GRU`'s,
            initialized as torch's GRU: U(-sqrt(k), sqrt(k)) with k = 1 / hidden_size.
        gamma_x_l[k], gamma_h_l[k]: the gains of the normalized input and recurrent products
            of layer k, of shape (3*hidden_size); initialized to ones.
        The reverse direction's parameters carry the suffix ``_reverse``.

    Example::

        >>> gru = rnnfast.nn.LayerNormGRU(10, 20, 2)
        >>> output, hn = gru(rnnfast.randn(5, 3, 10))
        >>> tuple(output.shape), tuple(hn.shape), tuple(gru.gamma_h_l1.shape)
        ((5, 3, 20), (2, 3, 20), (60,))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, dtype=np.float32, device=None,
                 recurrent_dropout=0.0, zoneout=0.0, weight_dropout=0.0):
        _device.check_device(device)
        super().__init__("layernorm_gru", input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, 0, recurrent_dropout, 0.0, dtype,
                         zoneout, weight_dropout=weight_dropout)


class RNNCellBase(Module):
    """One step of a recurrent cell; one call is one C++ step, forward and backward."""

    def __init__(self, mode, input_size, hidden_size, bias=True, dtype=np.float32):
        super().__init__()
        self.mode = mode
        self.input_size = _check_size(input_size, "input_size")
        self.hidden_size = _check_size(hidden_size, "hidden_size")
        self.bias = bool(bias)
        dtype = _float_dtype(dtype, "dtype")
        G, H = _GATES[mode], self.hidden_size
        k = 1.0 / math.sqrt(H)
        rng = default_generator()
        init = lambda *s: Parameter(rng.uniform(-k, k, size=s).astype(dtype))  # noqa: E731
        self.weight_ih = init(G * H, self.input_size)
        self.weight_hh = init(G * H, H)
        if self.bias:
            self.bias_ih = init(G * H)
            self.bias_hh = init(G * H)
        else:
            self.bias_ih = None
            self.bias_hh = None

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.mode == "rnn_relu":
            s += ", nonlinearity='relu'"
        return s

    def _step(self, input, h, c):
        """One step: (h', c') as Tensors (c' None unless LSTM), ONE autograd node whose
        forward and backward are one kernel call each with T = 1."""
        params = self._parameters
        w_ih, w_hh = params["weight_ih"], params["weight_hh"]
        dt = w_ih.data.dtype
        x = input if type(input) is Tensor and input.data.dtype == dt else _as_input(input, dt)
        if x.ndim != 2:
            if x.ndim != 1:
                raise ValueError(f"input: expected a 1-D (unbatched) or 2-D (batch, "
                                 f"{self.input_size}) input, got shape {tuple(x.shape)}")
            return self._unbatched_step(x, h, c, dt)
        B, I = x.data.shape
        if I != self.input_size:
            raise ValueError(f"input: expected {self.input_size} features (input_size), got {I}")
        if B == 0:
            raise ValueError("input: expected a batch of at least one, got 0")
        want = (B, self.hidden_size)
        h = _cell_state("h", h, want, dt)
        c = _cell_state("c", c, want, dt)
        return _cell_step(self.mode, x, h, c, w_ih, w_hh, params.get("bias_ih"),
                          params.get("bias_hh"))

    def _unbatched_step(self, x, h, c, dt):
        H = self.hidden_size
        if x.shape[0] != self.input_size:
            raise ValueError(f"input: expected {self.input_size} features (input_size), got "
                             f"{x.shape[0]}")
        h = _cell_state("h", h, (H,), dt)
        c = _cell_state("c", c, (H,), dt)
        params = self._parameters
        hn, cn = _cell_step(self.mode, x.reshape(1, x.shape[0]),
                            None if h is None else h.reshape(1, H),
                            None if c is None else c.reshape(1, H), params["weight_ih"],
                            params["weight_hh"], params.get("bias_ih"), params.get("bias_hh"))
        return hn.reshape(H), (None if cn is None else cn.reshape(H))


def _cell_state(name, s, want, dt):
    """A cell's h or c argument as a Tensor of shape ``want`` and dtype ``dt`` (or None)."""
    if s is None:
        return None
    if not (type(s) is Tensor and s.data.dtype == dt):
        s = _as_input(s, dt, name)
    if s.data.shape != want:
        raise ValueError(f"{name}: expected shape {want}, got {tuple(s.shape)}")
    return s


def _cell_step(mode, x, h, c, w_ih, w_hh, b_ih, b_hh):
    """One kernel step of a cell on Tensors x (B, I), h, c (B, H) or None, and the cell's
    parameters: (h', c' or None), one node whose results are h' and c'."""
    inputs = (x, h, c, w_ih, w_hh, b_ih, b_hh)
    track = False
    if _grad_mode.enabled:                      # is_grad_enabled(), inlined: a hot path
        for t in inputs:
            if t is not None and t._requires_grad:
                track = True
                break
    xd = x.data
    B, I = xd.shape
    xa = _contiguous(xd.reshape(1, B, I))
    ha = None if h is None else _contiguous(h.data)
    ca = None if c is None else _contiguous(c.data)
    wi, wh = w_ih.data, w_hh.data
    bi = None if b_ih is None else b_ih.data
    bh = None if b_hh is None else b_hh.data
    y, h_n, c_n, reserve = _kernel_forward(mode, xa, wi, wh, bi, bh, None, ha, ca, None, None,
                                           False, track, False)
    lstm = c_n is not None
    if not track:
        if _grad_mode.trace is not None:        # a tracer sees what was computed from what
            if lstm:
                return _make_many((h_n, c_n), inputs, None, op=_CELL_OPS[mode])
            return _make(h_n, inputs, None, op=_CELL_OPS[mode]), None
        return _wrap(h_n), (None if c_n is None else _wrap(c_n))

    def backward(g):
        dh, dc = g if lstm else (g, None)
        every = list(_kernel_backward(mode, reserve, xa, wi, wh, bi, bh, None, None, None,
                                      False, None, dh, dc, y, False))
        every[0] = every[0].reshape(B, I)
        # the kernel's order dx, dh0, dc0, w_ih, w_hh, b_ih, b_hh (w_hr): the inputs' order
        return tuple(every[:7])

    if lstm:
        return _make_many((h_n, c_n), inputs, backward, op=_CELL_OPS[mode])
    return _make(h_n, inputs, backward, op=_CELL_OPS[mode]), None


class RNNCell(RNNCellBase):
    """An Elman RNN cell with a tanh or ReLU non-linearity: one time step.

    ::

        h' = act(W_ih x + b_ih + W_hh h + b_hh)

    One call is one C++ step, forward and backward, and one autograd node.

    Args:
        input_size (int): the number of features of the input x.
        hidden_size (int): the number of features of the hidden state h.
        bias (bool, optional): if ``False``, the cell has no ``bias_ih`` / ``bias_hh``.
            Default: ``True``.
        nonlinearity (str, optional): ``'tanh'`` or ``'relu'``. Default: ``'tanh'``.
        dtype (optional): the parameters' dtype, float32 or float64 (a NumPy or rnnfast
            dtype); inputs are cast to it. Default: ``np.float32``.
        device (optional): ``None`` or the CPU, the only device (another raises ValueError).
            Default: ``None``.

    Inputs: input, hidden=None
        * **input**: (N, H_in) or (H_in,) unbatched.
        * **hidden**: the state h, (N, H_out) or (H_out,) unbatched. Default: zeros.

        where H_in = input_size, H_out = hidden_size, N = batch size.

    Outputs: h'
        * **h'**: (N, H_out) or (H_out,) unbatched: the next hidden state.

    Attributes:
        weight_ih: the input-hidden weights W_ih, of shape (1*hidden_size, input_size).
        weight_hh: the hidden-hidden weights W_hh, of shape (1*hidden_size, hidden_size).
        bias_ih: the input-hidden bias, of shape (1*hidden_size); ``None`` without bias.
        bias_hh: the hidden-hidden bias, of shape (1*hidden_size); ``None`` without bias.
        Every parameter is initialized from U(-sqrt(k), sqrt(k)) with k = 1 / hidden_size,
        drawn from ``rnnfast.manual_seed``'s generator.

    Differences from torch: ``dtype`` is a NumPy dtype, and ``device`` accepts only the CPU.

    Example::

        >>> cell = rnnfast.nn.RNNCell(10, 20)
        >>> x = rnnfast.randn(6, 3, 10)
        >>> hx = rnnfast.randn(3, 20)
        >>> for i in range(6):
        ...     hx = cell(x[i], hx)
        >>> tuple(hx.shape)
        (3, 20)
    """

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh",
                 dtype=np.float32, device=None):
        _device.check_device(device)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("rnn_" + nonlinearity, input_size, hidden_size, bias, dtype)

    def forward(self, input, hx=None):
        return self._step(input, hx, None)[0]


class LSTMCell(RNNCellBase):
    """A long short-term memory (LSTM) cell: one time step.

    In torch's gate order (i, f, g, o) along the rows of the weights::

        i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)
        f = sigmoid(W_if x + b_if + W_hf h + b_hf)
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)
        o = sigmoid(W_io x + b_io + W_ho h + b_ho)
        c' = f * c + i * g
        h' = o * tanh(c')

    One call is one C++ step, forward and backward, and one autograd node.

    Args:
        input_size (int): the number of features of the input x.
        hidden_size (int): the number of features of the hidden state h.
        bias (bool, optional): if ``False``, the cell has no ``bias_ih`` / ``bias_hh``.
            Default: ``True``.
        dtype (optional): the parameters' dtype, float32 or float64 (a NumPy or rnnfast
            dtype); inputs are cast to it. Default: ``np.float32``.
        device (optional): ``None`` or the CPU, the only device (another raises ValueError).
            Default: ``None``.

    Inputs: input, (h_0, c_0)=None
        * **input**: (N, H_in) or (H_in,) unbatched.
        * **h_0**: the hidden state, (N, H_out) or (H_out,) unbatched. Default: zeros (when
          ``hx`` is not given).
        * **c_0**: the cell state, (N, H_out) or (H_out,) unbatched. Default: zeros.

        where H_in = input_size, H_out = hidden_size, N = batch size.

    Outputs: (h_1, c_1)
        * **h_1**: (N, H_out) or (H_out,) unbatched: the next hidden state.
        * **c_1**: (N, H_out) or (H_out,) unbatched: the next cell state.

    Attributes:
        weight_ih: the input-hidden weights (W_ii|W_if|W_ig|W_io), of shape
            (4*hidden_size, input_size).
        weight_hh: the hidden-hidden weights (W_hi|W_hf|W_hg|W_ho), of shape
            (4*hidden_size, hidden_size).
        bias_ih: the input-hidden bias, of shape (4*hidden_size); ``None`` without bias.
        bias_hh: the hidden-hidden bias, of shape (4*hidden_size); ``None`` without bias.
        Every parameter is initialized from U(-sqrt(k), sqrt(k)) with k = 1 / hidden_size,
        drawn from ``rnnfast.manual_seed``'s generator.

    Differences from torch: ``dtype`` is a NumPy dtype, and ``device`` accepts only the CPU;
    no ``proj_size`` (as torch's cell).

    Example::

        >>> cell = rnnfast.nn.LSTMCell(10, 20)
        >>> x = rnnfast.randn(2, 3, 10)
        >>> hx, cx = rnnfast.randn(3, 20), rnnfast.randn(3, 20)
        >>> for i in range(2):
        ...     hx, cx = cell(x[i], (hx, cx))
        >>> tuple(hx.shape), tuple(cx.shape)
        ((3, 20), (3, 20))
    """

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32, device=None):
        _device.check_device(device)
        super().__init__("lstm", input_size, hidden_size, bias, dtype)

    def forward(self, input, hx=None):
        if hx is None:
            h = c = None
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"hx: expected a tuple (h, c), got {type(hx).__name__}")
            h, c = hx
        return self._step(input, h, c)


class GRUCell(RNNCellBase):
    """A gated recurrent unit (GRU) cell: one time step.

    In torch's gate order (r, z, n) along the rows of the weights::

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h

    One call is one C++ step, forward and backward, and one autograd node.

    Args:
        input_size (int): the number of features of the input x.
        hidden_size (int): the number of features of the hidden state h.
        bias (bool, optional): if ``False``, the cell has no ``bias_ih`` / ``bias_hh``.
            Default: ``True``.
        dtype (optional): the parameters' dtype, float32 or float64 (a NumPy or rnnfast
            dtype); inputs are cast to it. Default: ``np.float32``.
        device (optional): ``None`` or the CPU, the only device (another raises ValueError).
            Default: ``None``.

    Inputs: input, hidden=None
        * **input**: (N, H_in) or (H_in,) unbatched.
        * **hidden**: the state h, (N, H_out) or (H_out,) unbatched. Default: zeros.

        where H_in = input_size, H_out = hidden_size, N = batch size.

    Outputs: h'
        * **h'**: (N, H_out) or (H_out,) unbatched: the next hidden state.

    Attributes:
        weight_ih: the input-hidden weights (W_ir|W_iz|W_in), of shape (3*hidden_size, input_size).
        weight_hh: the hidden-hidden weights (W_hr|W_hz|W_hn), of shape
            (3*hidden_size, hidden_size).
        bias_ih: the input-hidden bias, of shape (3*hidden_size); ``None`` without bias.
        bias_hh: the hidden-hidden bias, of shape (3*hidden_size); ``None`` without bias.
        Every parameter is initialized from U(-sqrt(k), sqrt(k)) with k = 1 / hidden_size,
        drawn from ``rnnfast.manual_seed``'s generator.

    Differences from torch: ``dtype`` is a NumPy dtype, and ``device`` accepts only the CPU.

    Example::

        >>> cell = rnnfast.nn.GRUCell(10, 20)
        >>> hx = cell(rnnfast.randn(3, 10))
        >>> tuple(hx.shape)
        (3, 20)
    """

    def __init__(self, input_size, hidden_size, bias=True, dtype=np.float32, device=None):
        _device.check_device(device)
        super().__init__("gru", input_size, hidden_size, bias, dtype)

    def forward(self, input, hx=None):
        return self._step(input, hx, None)[0]
