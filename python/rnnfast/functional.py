"""Functional entry points to the fused C++ kernels: one layer, one direction.

``forward`` runs a whole sequence through one recurrent layer (vanilla RNN with tanh or relu,
LSTM with optional projection, GRU, IndRNN) and, when ``training``, returns an opaque
``reserve`` that ``backward`` consumes to run backpropagation through time in one C++ call.
Conventions are PyTorch's (gate order, formulas, weight layout, packed-sequence semantics for
``lengths``); see ``rnnfast.reference`` for the plain NumPy version of the same maths.

Shapes: x [T,B,I]; h0, h_n [B,H_out]; c0, c_n [B,H] (LSTM); y [T,B,H_out]; with
``batch_first=True`` x, y (and dx, dy) are [B,T,..] instead, read and written in place;
w_ih [G*H,I]; w_hh [G*H,H_out]; b_ih, b_hh [G*H]; w_hr [H_out,H] (projected LSTMs only);
w_p [3*H] (lstm_peephole only); gamma_x, gamma_h [4*H], gamma_c, beta_c [H] (layernorm_lstm
only; layernorm_gru: gamma_x, gamma_h [3*H]); lengths [B] integers in [1, T]. G = 1 (rnn_*,
indrnn_*), 4 (lstm, lstm_peephole, layernorm_lstm), 3 (gru, gru_reset_before, layernorm_gru),
2 (mingru: z, h~), 3 (minlstm: f, i, h~). IndRNN (indrnn_relu, indrnn_tanh: h_t = act(W_ih x
+ b_ih + u * h_{t-1})) takes w_hh = u [H], one weight per unit, and b_ih only: b_hh is None.
The scan cells mingru and minlstm (minGRU and minLSTM, Feng et al. 2024) have no recurrent
weight: w_hh, b_hh and h_mask are None for them (their gates read x only).
Zoneout (``zoneout_h``, ``zoneout_c``: keep masks shaped as y, or a probability; see
``forward``) is for every cell but mingru and minlstm.

This module does not stack layers, combine directions or track gradients: nn modules do.
"""

from __future__ import annotations

import numpy as np

from . import _core
from ._cells import CELLS, EXTRA_ARGS, MODES, arg_name, cell_kind, check_zoneout

__all__ = ["MODES", "forward", "backward", "forward_pair", "backward_pair"]

# The kernels' cell enum (rnnfast._core.Cell) of each cell name.
_CELL = {k.name: _core.Cell(k.id) for k in CELLS.values()}


def _mode_id(mode):
    return _CELL[cell_kind(mode).name]


# What each extra parameter is, for the error messages.
_EXTRA_WHAT = {"w_p": "peephole weights", "gamma_x": "input normalization gains",
               "gamma_h": "recurrent normalization gains", "gamma_c": "cell normalization gains",
               "beta_c": "cell normalization shifts"}


def _extras(mode, given, dt, w_ih):
    """The cell's extra parameters as the kernels take them (rnnfast._cells, extras), from
    ``given`` (keyword -> array or None): lstm_peephole's w_p, layernorm_lstm's gamma_x,
    gamma_h, gamma_c, beta_c. ValueError naming the keyword when one is given to a cell
    without it, missing, or of the wrong shape."""
    kind = cell_kind(mode)
    mine = {arg_name(n): blocks for n, blocks in kind.extras}
    for name, a in given.items():
        if a is not None and name not in mine:
            raise ValueError(f"{name}: expected None for mode {mode!r} (it has no "
                             f"{_EXTRA_WHAT.get(name, name)}), got an array")
    if not mine:
        return None
    w = np.asarray(w_ih)
    H = w.shape[0] // kind.num_gates if w.ndim == 2 else None
    out = []
    for name, blocks in mine.items():
        a = given.get(name)
        if a is None:
            raise ValueError(f"{name}: expected the {_EXTRA_WHAT.get(name, name)} "
                             f"({blocks}*H,) of {mode!r}, got None")
        a = _as(name, a, dt, False)
        if H is not None and a.shape != (blocks * H,):
            raise ValueError(f"{name}: expected shape ({blocks * H},) ({blocks}*H), "
                             f"got {a.shape}")
        out.append(a)
    return tuple(out)


def _recurrent(mode, dt, w_hh, b_hh, h_mask):
    """(w_hh, b_hh, h_mask) as the kernels take them: arrays for the cells with a recurrent
    product; None for the scan cells (mingru, minlstm), ValueError naming the argument when
    one is given to them."""
    kind = cell_kind(mode)
    if kind.recurrence == "scan":
        why = {"w_hh": "its gates read x only: no recurrent weight",
               "b_hh": "one bias, b_ih", "h_mask": "no recurrent product to drop out"}
        for name, a in (("w_hh", w_hh), ("b_hh", b_hh), ("h_mask", h_mask)):
            if a is not None:
                raise ValueError(f"{name}: expected None for mode {mode!r} ({why[name]}), "
                                 f"got an array")
        return None, None, None
    return (_as("w_hh", w_hh, dt, False), _as("b_hh", b_hh, dt), _as("h_mask", h_mask, dt))


def _dtype_of(w_ih):
    w = np.asarray(w_ih)
    if w.dtype not in (np.float32, np.float64):
        raise TypeError(f"w_ih: expected a float32 or float64 array, got dtype {w.dtype}")
    return w.dtype


def _as(name, a, dtype, optional=True):
    """Cast to a C-contiguous array of the kernel dtype; reject non-numeric data."""
    if a is None:
        if optional:
            return None
        raise ValueError(f"{name}: expected an array, got None")
    if type(a) is np.ndarray and a.dtype == dtype and a.flags.c_contiguous:
        return a  # the common case, checked cheaply
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numeric data, got dtype {arr.dtype}")
    return np.asarray(arr, dtype=dtype, order="C")  # 0-d stays 0-d (ascontiguousarray: 1-d)


def _lengths(lengths):
    if lengths is None:
        return None
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"lengths: expected integers, got dtype {arr.dtype}")
    return np.asarray(arr, dtype=np.int64, order="C")


def forward(mode, x, w_ih, w_hh=None, b_ih=None, b_hh=None, *, w_hr=None, h0=None, c0=None,
            lengths=None, reverse=False, training=True, h_mask=None, batch_first=False,
            w_p=None, gamma_x=None, gamma_h=None, gamma_c=None, beta_c=None, zoneout_h=None,
            zoneout_c=None):
    """Run one layer over a whole sequence.

    Returns ``(y, h_n, c_n, reserve)``; ``c_n`` is None unless the cell has a cell state (the
    LSTMs) and ``reserve`` is None unless ``training``. All float arrays are cast to
    ``w_ih``'s dtype. ``h_mask`` [B,H_out] is a recurrent (variational) dropout mask, already
    scaled: W_hh sees h_{t-1} * h_mask at every step. ``batch_first``: x is [B,T,I] and y
    [B,T,H_out] (the kernels read and write that layout in place). No autograd:
    ``rnnfast.nn`` builds on this.

    Args:
        mode (str): the cell, one of ``MODES``: 'rnn_tanh', 'rnn_relu', 'lstm', 'gru',
            'gru_reset_before' (the reset gate before the recurrent product, Keras'
            ``reset_after=False``), 'lstm_peephole' (ONNX's peepholes, ``w_p``),
            'indrnn_relu', 'indrnn_tanh' (IndRNN: one recurrent weight per unit), 'mingru' or
            'minlstm' (minGRU, minLSTM: gates from x only, no ``w_hh``, ``b_hh``,
            ``h_mask``), 'layernorm_lstm' or 'layernorm_gru' (haste's layer-normalized cells,
            ``gamma_x``, ``gamma_h`` and, for the LSTM, ``gamma_c``, ``beta_c``; see
            ``rnnfast.reference``).
        x (array): the input, [T,B,I] ([B,T,I] with ``batch_first``).
        w_ih (array): [G*H,I], float32 or float64; its dtype is the computation's.
        w_hh (array): [G*H,H_out]; for IndRNN the vector u, [H]; None for mingru and minlstm
            (the default: required for the other cells).
        b_ih (array, optional): [G*H]. Default: ``None`` (no bias).
        b_hh (array, optional): [G*H]; None for IndRNN (one bias). Default: ``None``.
        w_hr (array, optional, keyword-only): [H_out,H], the LSTM projection. Default: ``None``.
        h0 (array, optional): the initial hidden state [B,H_out]. Default: zeros.
        c0 (array, optional): the initial cell state [B,H] (LSTM). Default: zeros.
        lengths (array of ints, optional): [B], each sequence's length in [1, T], with
            packed-sequence semantics (y zero past a length, h_n at the last valid step, the
            reverse direction starting there). Default: ``None`` (all T).
        reverse (bool, optional): run from the last step to the first. Default: ``False``.
        training (bool, optional): also return the ``reserve`` that ``backward`` needs.
            Default: ``True``.
        h_mask (array, optional): [B,H_out], the scaled recurrent dropout mask. Default:
            ``None``.
        batch_first (bool, optional): x and y are [B,T,..]. Default: ``False``.
        w_p (array, optional, keyword-only): [3*H], lstm_peephole's peephole weights
            (p_i, p_f, p_o); required for that cell, None for the others. Default: ``None``.
        gamma_x, gamma_h (array, optional, keyword-only): [4*H], layernorm_lstm's gains of
            the normalized input and recurrent products; required for that cell, None for
            the others. Default: ``None``.
        gamma_c, beta_c (array, optional, keyword-only): [H], layernorm_lstm's gain and
            shift of the normalized cell state; likewise. Default: ``None``.
        zoneout_h, zoneout_c (array or float, optional, keyword-only): zoneout (Krueger et
            al. 2016) on h and (the LSTMs) c: keep masks d_t [T,B,H_out] for h, [T,B,H] for
            c ([B,T,..] with ``batch_first``; training: Bernoulli(p) in {0, 1}) or a
            probability p (the
            constant mask p: inference's expectation). The state carried on (and y, h_n,
            c_n) is h_t = d^h_t h_{t-1} + (1 - d^h_t) h~_t, c_t = d^c_t c_{t-1} +
            (1 - d^c_t) c~_t, h~_t and c~_t the cell's usual new state (the LSTMs' h~_t
            from c~_t; projected, h~_t = W_hr (o_t tanh(c~_t))). For every cell but mingru
            and minlstm. Default: ``None`` (no zoneout).

    Returns:
        tuple: ``(y, h_n, c_n, reserve)`` as NumPy arrays (see above).

    Raises:
        ValueError / TypeError: an unknown ``mode``, a non-float ``w_ih``, or arrays whose
        shapes or dtypes do not fit, naming the argument.

    Example::

        >>> T, B, I, H = 5, 2, 3, 4
        >>> x = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
        >>> w_ih = np.full((4 * H, I), 0.1, np.float32)
        >>> w_hh = np.full((4 * H, H), 0.1, np.float32)
        >>> y, h_n, c_n, reserve = rnnfast.functional.forward("lstm", x, w_ih, w_hh)
        >>> y.shape, h_n.shape, c_n.shape, bool((y[-1] == h_n).all())
        ((5, 2, 4), (2, 4), (2, 4), True)
    """
    cell = _mode_id(mode)
    return _core.forward(cell, **_forward_args(
        mode, x, w_ih, w_hh, b_ih, b_hh, w_hr=w_hr, h0=h0, c0=c0, lengths=lengths,
        reverse=reverse, training=training, h_mask=h_mask, batch_first=batch_first, w_p=w_p,
        gamma_x=gamma_x, gamma_h=gamma_h, gamma_c=gamma_c, beta_c=beta_c,
        zoneout_h=zoneout_h, zoneout_c=zoneout_c))


def backward(mode, reserve, x, w_ih, w_hh=None, b_ih=None, b_hh=None, *, y, w_hr=None,
             lengths=None, reverse=False, dy=None, dh_n=None, dc_n=None, h_mask=None,
             batch_first=False, w_p=None, gamma_x=None, gamma_h=None, gamma_c=None,
             beta_c=None, zoneout_h=None, zoneout_c=None):
    """Backpropagation through time for a ``forward(..., training=True)`` call.

    ``mode``, ``x``, the weights, ``lengths``, ``h_mask``, ``reverse``, ``batch_first``,
    ``zoneout_h`` and ``zoneout_c`` must be those of the forward call, and ``y`` its output,
    unchanged: the state each step read is ``y`` one step back, so the reserve does not hold it
    twice (as cuDNN's RNN backward takes y). A ``y`` whose last steps differ from that
    forward's ``h_n`` raises ValueError.
    Returns a dict with ``dx``, ``dh0``, ``dc0`` (None unless lstm) and the parameter gradients
    ``w_ih``, ``w_hh`` (IndRNN: [H]; None for mingru, minlstm), ``b_ih``, ``b_hh`` (None
    without bias, and for IndRNN, mingru, minlstm), ``w_hr`` (None unless projected), ``w_p``
    (None unless lstm_peephole) and ``gamma_x``, ``gamma_h``, ``gamma_c``, ``beta_c`` (None
    unless a layer-normalized cell has them).

    Args:
        mode, reserve, x, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, reverse, h_mask,
        batch_first, w_p, gamma_x, gamma_h, gamma_c, beta_c, zoneout_h, zoneout_c: as given
        to (and, for
        ``reserve``, returned by) ``forward``.
        y (array, keyword-only): the ``y`` that ``forward`` returned, unchanged.
        dy (array, optional): the gradient of y, y's shape. Default: ``None`` (zero).
        dh_n (array, optional): the gradient of h_n [B,H_out]. Default: ``None`` (zero).
        dc_n (array, optional): the gradient of c_n [B,H] (LSTM). Default: ``None`` (zero).

    Returns:
        dict: the gradients, NumPy arrays of the inputs' shapes (see above).

    Raises:
        ValueError: a missing ``reserve`` or ``y``, or one that is not that forward's.

    Example::

        >>> T, B, I, H = 5, 2, 3, 4
        >>> x = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
        >>> w_ih = np.full((3 * H, I), 0.1, np.float32)
        >>> w_hh = np.full((3 * H, H), 0.1, np.float32)
        >>> y, h_n, _, reserve = rnnfast.functional.forward("gru", x, w_ih, w_hh)
        >>> g = rnnfast.functional.backward("gru", reserve, x, w_ih, w_hh, y=y,
        ...                                 dy=np.ones_like(y))
        >>> g["dx"].shape, g["w_ih"].shape, g["b_ih"] is None
        ((5, 2, 3), (12, 3), True)
    """
    cell = _mode_id(mode)
    return _grads(_core.backward(cell, **_backward_args(
        mode, reserve, x, w_ih, w_hh, b_ih, b_hh, y=y, w_hr=w_hr, lengths=lengths,
        reverse=reverse, dy=dy, dh_n=dh_n, dc_n=dc_n, h_mask=h_mask, batch_first=batch_first,
        w_p=w_p, gamma_x=gamma_x, gamma_h=gamma_h, gamma_c=gamma_c, beta_c=beta_c,
        zoneout_h=zoneout_h, zoneout_c=zoneout_c)), mode)


_GRAD_KEYS = ("dx", "dh0", "dc0", "w_ih", "w_hh", "b_ih", "b_hh", "w_hr")


def _grads(res, mode):
    """The kernels' backward result as backward's dict (each extra parameter's keyword: its
    gradient, None for the extras of other cells)."""
    d = dict(zip(_GRAD_KEYS, res))
    d.update(dict.fromkeys(EXTRA_ARGS))
    for (name, _), g in zip(cell_kind(mode).extras, res[8] or ()):
        d[arg_name(name)] = g
    return d


_NO_ZONEOUT = {"zoneout_h": None, "zoneout_c": None}


def _zoneout(mode, dt, zoneout_h, zoneout_c, w_hr):
    """zoneout_h and zoneout_c as the kernels take them (None, a float, or a C-contiguous
    array of dtype dt; the masks' shape is the kernels' check), checked against the cell."""
    if zoneout_h is None and zoneout_c is None:  # the common call: nothing to check
        return _NO_ZONEOUT
    check_zoneout(cell_kind(mode), zoneout_h, zoneout_c)

    def one(name, z):
        if z is None or (hasattr(z, "shape") and getattr(z, "ndim", 0) > 0):
            return _as(name, z, dt)
        return float(z)
    return dict(zoneout_h=one("zoneout_h", zoneout_h), zoneout_c=one("zoneout_c", zoneout_c))


def _forward_args(mode, x, w_ih, w_hh, b_ih=None, b_hh=None, *, w_hr=None, h0=None, c0=None,
                  lengths=None, reverse=False, training=True, h_mask=None, batch_first=False,
                  zoneout_h=None, zoneout_c=None, **extras):
    """forward's arguments as the kernels take them, by name (extras: the keywords of
    EXTRA_ARGS)."""
    dt = _dtype_of(w_ih)
    w_hh, b_hh, h_mask = _recurrent(mode, dt, w_hh, b_hh, h_mask)
    return dict(x=_as("x", x, dt, False), w_ih=_as("w_ih", w_ih, dt, False),
                w_hh=w_hh, b_ih=_as("b_ih", b_ih, dt),
                b_hh=b_hh, w_hr=_as("w_hr", w_hr, dt), h0=_as("h0", h0, dt),
                c0=_as("c0", c0, dt), lengths=_lengths(lengths),
                h_mask=h_mask, reverse=bool(reverse),
                training=bool(training), batch_first=bool(batch_first),
                extras=_extras(mode, extras, dt, w_ih),
                **_zoneout(mode, dt, zoneout_h, zoneout_c, w_hr))


def _backward_args(mode, reserve, x, w_ih, w_hh, b_ih=None, b_hh=None, *, y, w_hr=None,
                   lengths=None, reverse=False, dy=None, dh_n=None, dc_n=None, h_mask=None,
                   batch_first=False, zoneout_h=None, zoneout_c=None, **extras):
    """backward's arguments as the kernels take them, by name (extras as _forward_args)."""
    dt = _dtype_of(w_ih)
    if reserve is None:
        raise ValueError("reserve: expected the reserve of a forward(training=True) call, got None")
    if y is None:
        raise ValueError("y: expected the output y of the forward(training=True) call, got None")
    w_hh, b_hh, h_mask = _recurrent(mode, dt, w_hh, b_hh, h_mask)
    return dict(reserve=_as("reserve", reserve, dt, False), x=_as("x", x, dt, False),
                w_ih=_as("w_ih", w_ih, dt, False), w_hh=w_hh,
                b_ih=_as("b_ih", b_ih, dt), b_hh=b_hh,
                w_hr=_as("w_hr", w_hr, dt), lengths=_lengths(lengths),
                h_mask=h_mask, reverse=bool(reverse), dy=_as("dy", dy, dt),
                dh_n=_as("dh_n", dh_n, dt), dc_n=_as("dc_n", dc_n, dt),
                y=_as("y", y, dt, False), batch_first=bool(batch_first),
                extras=_extras(mode, extras, dt, w_ih),
                **_zoneout(mode, dt, zoneout_h, zoneout_c, w_hr))


def forward_pair(mode, a, b):
    """Two independent ``forward`` calls -- the two directions of a bidirectional layer -- run
    at once, one thread each, when that beats running them one after the other (see
    ``rnnfast::run_pair``). ``a`` and ``b`` are dicts of ``forward``'s arguments after
    ``mode``; returns the two results of ``forward``."""
    cell = _mode_id(mode)
    return _core.forward_pair(cell, _forward_args(mode, **a), _forward_args(mode, **b))


def backward_pair(mode, a, b):
    """``backward`` of two independent calls at once; ``a`` and ``b`` are dicts of
    ``backward``'s arguments after ``mode``. Returns the two gradient dicts."""
    cell = _mode_id(mode)
    ra, rb = _core.backward_pair(cell, _backward_args(mode, **a), _backward_args(mode, **b))
    return _grads(ra, mode), _grads(rb, mode)
