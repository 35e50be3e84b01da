"""Plain NumPy reference for one recurrent layer: forward and backpropagation through time.

This module is the oracle that the tests hold the C++ kernels to, and the NumPy baseline of the
benchmark suite. The maths and conventions are PyTorch's (gate order, GRU formula, weight layout,
packed-sequence semantics for ``lengths``), and the signatures match
``rnnfast.functional.forward`` / ``backward``, except that the saved state is a plain dict here.

Modes (the cell kinds of ``rnnfast._cells``), with a_* = W_i* x + b_i* + W_h* h' + b_h*, where
h' = h_{t-1} * h_mask with recurrent dropout and h' = h_{t-1} without:

- ``rnn_tanh``, ``rnn_relu``: h_t = act(a).
- ``lstm`` (gates i, f, g, o): c_t = sigmoid(a_f) c_{t-1} + sigmoid(a_i) tanh(a_g),
  h_t = sigmoid(a_o) tanh(c_t) (times W_hr when projected).
- ``lstm_peephole`` (gates i, f, g, o; ONNX's LSTM with peepholes P): as lstm, but
  i = sigmoid(a_i + p_i c_{t-1}), f = sigmoid(a_f + p_f c_{t-1}), o = sigmoid(a_o + p_o c_t),
  with the peephole weights w_p = (p_i, p_f, p_o).
- ``layernorm_lstm`` (gates i, f, g, o; haste's LayerNormLSTM): with
  LN(v) = (v - mean(v)) / sqrt(var(v) + 1e-5) over one row's entries (var the biased
  variance), a = LN(W_ih x) gamma_x + LN(W_hh h') gamma_h + b_ih + b_hh (each LN over the row's
  4*H entries), c_t as lstm's, h_t = sigmoid(a_o) tanh(LN(c_t) gamma_c + beta_c) (LN over H);
  the gains gamma_x, gamma_h [4*H], gamma_c [H] and the shift beta_c [H]. No projection.
- ``layernorm_gru`` (gates r, z, n): the gru below with its two pre-activations normalized,
  u = LN(W_ih x) gamma_x + b_ih and v = LN(W_hh h') gamma_h + b_hh (LN over the row's 3*H
  entries): r = sigmoid(u_r + v_r), z = sigmoid(u_z + v_z), n = tanh(u_n + r v_n),
  h_t = (1 - z) n + z h_{t-1}; the gains gamma_x, gamma_h [3*H].
- ``gru`` (gates r, z, n; PyTorch's GRU, ONNX's linear_before_reset=1):
  n = tanh(W_in x + b_in + r * (W_hn h' + b_hn)), h_t = (1 - z) n + z h_{t-1}.
- ``gru_reset_before`` (gates r, z, n; Keras' reset_after=False, ONNX's
  linear_before_reset=0): n = tanh(W_in x + b_in + W_hn (r * h') + b_hn), otherwise as gru.

Both GRUs' z * h_{t-1} term takes the unmasked state.

Zoneout (Krueger et al. 2016; every mode but the scan cells, mingru and minlstm): with keep
masks d^h_t [T,B,H_out] and d^c_t [T,B,H] (``zoneout_h``, ``zoneout_c``: arrays, or a
probability p for the constant mask p of inference), the state a step carries on (and y, h_n,
c_n) is h_t = d^h_t h_{t-1} + (1 - d^h_t) h~_t and c_t = d^c_t c_{t-1} + (1 - d^c_t) c~_t,
where h~_t, c~_t are the cell's new state above (the LSTMs' h~_t from c~_t, projected by W_hr
when it is given). BPTT: dL/dh~_t = (1 - d^h_t) dL/dh_t into the cell, and dL/dh_{t-1} gains
d^h_t dL/dh_t directly (c likewise).

- ``indrnn_relu``, ``indrnn_tanh`` (IndRNN, Li et al. 2018, "Independently Recurrent Neural
  Network"): h_t = act(W_ih x + b_ih + u * h'), act = relu or tanh, with one recurrent weight
  per unit: w_hh is the vector u of shape (H,), elementwise, not a matrix product. One bias
  (b_ih; b_hh must be None), no projection, no cell state. Backpropagation through time:
  dh_t = dy_t + dh'_t (the part from step t+1), da_t = dh_t * act'(h_t), dh'_{t-1} = da_t * u
  (* h_mask), du = sum over steps of da_t * h'_{t-1}, dW_ih = sum da_t^T x_t,
  db_ih = sum da_t, dx_t = da_t W_ih.

The scan cells, minGRU and minLSTM in their sequential mode (L. Feng, F. Tung, M. O. Ahmed,
Y. Bengio, H. Hajimirsadeghi, "Were RNNs All We Needed?", 2024), whose gates read x_t only
(no w_hh, no b_hh, no h_mask: pass None; one bias b_ih), with p_* = W_i* x_t + b_i*:

- ``mingru`` (gates z, h): z = sigmoid(p_z), h~ = p_h, h_t = (1 - z) h_{t-1} + z h~.
- ``minlstm`` (gates f, i, h): f = sigmoid(p_f), i = sigmoid(p_i), h~ = p_h,
  h_t = f / (f + i) h_{t-1} + i / (f + i) h~.

Both are h_t = a_t h_{t-1} + b_t with a_t in (0, 1). Their BPTT: g_t = dL/dh_t = dy_t +
a_{t+1} g_{t+1} (dh_n at a sequence's last step), dL/dh_{t-1} = a_t g_t; mingru: dp_z =
g_t (h~ - h_{t-1}) z (1 - z), dp_h = g_t z; minlstm, with s = f + i: dp_f = -g_t i (h~ -
h_{t-1}) / s^2 f (1 - f), dp_i = g_t f (h~ - h_{t-1}) / s^2 i (1 - i), dp_h = g_t i / s.

What it does not do: no speed tricks (one Python loop over time, one matrix product per term,
masks for variable lengths), no stacking of layers and no combining of directions (one layer,
one direction; the nn modules do the rest). It imports nothing but NumPy.

Shapes (time-major): x [T,B,I]; h0, h_n [B,H_out]; c0, c_n [B,H] (lstm, lstm_peephole only);
y [T,B,H_out]; w_ih [G*H,I]; w_hh [G*H,H_out] (indrnn_*: [H]; mingru, minlstm: None); b_ih,
b_hh [G*H] (indrnn_*, mingru, minlstm: b_ih only); w_hr [H_out,H] (projected lstm or
lstm_peephole only, H_out < H; otherwise H_out = H); w_p [3*H] (lstm_peephole only, in the
order p_i, p_f, p_o; ONNX's P orders them i, o, f); gamma_x, gamma_h [4*H], gamma_c, beta_c
[H] (layernorm_lstm only; layernorm_gru takes gamma_x, gamma_h [3*H]); lengths [B] integers
in [1, T].
G = 1 (rnn_tanh, rnn_relu, indrnn_relu, indrnn_tanh), 4 (lstm, lstm_peephole, layernorm_lstm:
gates i, f, g, o), 3 (gru, gru_reset_before, layernorm_gru: gates r, z, n), 2 (mingru: z, h),
3 (minlstm: f, i, h).
"""

from __future__ import annotations

import numpy as np

from ._cells import MODES, cell_kind, check_zoneout

__all__ = ["MODES", "forward", "backward"]



# ----------------------------------------------------------------------------- activations

def _sigmoid(a):
    # exp(-|a|) never overflows, so huge inputs saturate to 0 or 1 without a warning.
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e))


def _d_sigmoid(y):  # derivative written from the output y = sigmoid(a)
    return y * (1 - y)


def _d_tanh(y):  # derivative written from the output y = tanh(a)
    return 1 - y * y


_LN_EPS = 1e-5


def _ln(v):
    """Layer normalization of each row of v: (normalized rows, 1/sqrt(var + eps) [rows, 1])."""
    mean = v.mean(axis=-1, keepdims=True)
    rstd = 1 / np.sqrt(((v - mean) ** 2).mean(axis=-1, keepdims=True) + _LN_EPS)
    return (v - mean) * rstd, rstd


def _d_ln(d, vn, rstd):
    """Gradient wrt v of LN(v), given d, the gradient wrt the normalized rows vn."""
    return rstd * (d - d.mean(axis=-1, keepdims=True)
                   - vn * (d * vn).mean(axis=-1, keepdims=True))


def _zoneout(name, z, dt, T, B, H):
    """zoneout_h or zoneout_c as [T,B,H] keep masks in dt (H: h's H_out, or c's H; a
    probability p: the constant p), or None (checked by _cells.check_zoneout)."""
    if z is None:
        return None
    if hasattr(z, "shape") and getattr(z, "ndim", 0) > 0:
        return _array(name, z, dt, (T, B, H))
    return None if float(z) == 0.0 else np.full((T, B, H), float(z), dtype=dt)


def _zone(d, prev, new):
    """Zoneout's state: d * prev + (1 - d) * new (new without a mask d)."""
    return new if d is None else d * prev + (1 - d) * new


def _relu(a):
    return np.maximum(a, 0)


def _d_relu(y):  # derivative written from the output y = relu(a); 0 at the kink, as PyTorch
    return (y > 0).astype(y.dtype)


# ----------------------------------------------------------------------------- validation

def _dtype_of(w_ih):
    dtype = np.asarray(w_ih).dtype
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"w_ih: expected a float32 or float64 array, got dtype {dtype}")
    return dtype


def _array(name, a, dtype, shape):
    """A fresh copy of ``a`` in ``dtype``, checked against ``shape`` (a tuple; None = any size)."""
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numeric data, got dtype {arr.dtype}")
    if arr.ndim != len(shape):
        raise ValueError(f"{name}: expected {len(shape)} dimensions {_fmt(shape)}, "
                         f"got shape {arr.shape}")
    if any(want is not None and want != got for want, got in zip(shape, arr.shape)):
        raise ValueError(f"{name}: expected shape {_fmt(shape)}, got {arr.shape}")
    return np.array(arr, dtype=dtype)  # a copy: the cache must not see later edits by the caller


def _fmt(shape):  # as Python writes a tuple, "?" for any size: (12,), (?, 4)
    return "(" + ", ".join("?" if s is None else str(s) for s in shape) + (
        ",)" if len(shape) == 1 else ")")


def _active_mask(lengths, T, B):
    """[T,B] booleans: step t of sequence b is processed iff t < lengths[b]."""
    if lengths is None:
        return np.ones((T, B), dtype=bool)
    lengths = np.asarray(lengths)
    if lengths.dtype.kind not in "iu":
        raise TypeError(f"lengths: expected integers, got dtype {lengths.dtype}")
    if lengths.shape != (B,):
        raise ValueError(f"lengths: expected shape ({B},), got {lengths.shape}")
    if B and (lengths.min() < 1 or lengths.max() > T):
        raise ValueError(f"lengths: expected integers in [1, {T}], got {lengths.tolist()}")
    return np.arange(T)[:, None] < lengths[None, :]


# ----------------------------------------------------------------------------- forward

def forward(mode, x, w_ih, w_hh=None, b_ih=None, b_hh=None, *, w_hr=None, h0=None, c0=None,
            lengths=None, reverse=False, h_mask=None, w_p=None, gamma_x=None, gamma_h=None,
            gamma_c=None, beta_c=None, zoneout_h=None, zoneout_c=None):
    """Run one layer, one direction, over a whole sequence.

    Returns ``(y, h_n, c_n, cache)``: ``c_n`` is None unless the mode has a cell state (lstm,
    lstm_peephole); ``cache`` is a dict holding what ``backward`` needs. Every float input is
    cast to ``w_ih``'s dtype. ``w_p`` [3*H], the peephole weights (p_i, p_f, p_o), is required
    for ``"lstm_peephole"`` and must be None for every other mode; ``gamma_x``, ``gamma_h``
    [4*H], ``gamma_c``, ``beta_c`` [H] likewise for ``"layernorm_lstm"`` (``gamma_x``,
    ``gamma_h`` [3*H] for ``"layernorm_gru"``); ``w_hr``
    (projection, not for layernorm_lstm) and ``c0`` are for the modes with a cell state.

    With ``lengths``, sequence b is processed for t < lengths[b] only: y[t, b] is zero beyond,
    and h_n[b], c_n[b] are its state after its own last step. With ``reverse`` the steps run
    from t = lengths[b]-1 (or T-1) down to 0, as the reverse half of a PyTorch bidirectional layer.
    ``h_mask`` [B,H_out] is a recurrent (variational) dropout mask: W_hh sees h_{t-1} * h_mask
    at every step (GRU's z * h_{t-1} term keeps the unmasked state). ``zoneout_h``,
    ``zoneout_c``: zoneout's keep masks [T,B,H] or a probability (the module docstring).
    """
    kind = cell_kind(mode)
    mode = kind.name
    check_zoneout(kind, zoneout_h, zoneout_c)
    if kind.recurrence == "scan":
        for name, a in (("gamma_x", gamma_x), ("gamma_h", gamma_h), ("gamma_c", gamma_c),
                        ("beta_c", beta_c)):
            if a is not None:
                raise ValueError(f"{name}: expected None for mode {mode!r} (it has no such "
                                 f"normalization parameter), got an array")
        return _scan_forward(kind, x, w_ih, w_hh, b_ih, b_hh, w_hr=w_hr, h0=h0, c0=c0,
                             lengths=lengths, reverse=reverse, h_mask=h_mask, w_p=w_p)
    G = kind.num_gates
    peephole = mode == "lstm_peephole"
    layernorm = mode in ("layernorm_lstm", "layernorm_gru")
    reset_before = mode == "gru_reset_before"
    diagonal = kind.recurrence == "diagonal"  # indrnn_*: w_hh is u (H,), one bias
    dt = _dtype_of(w_ih)
    x = _array("x", x, dt, (None, None, None))
    T, B, I = x.shape
    w_ih = _array("w_ih", w_ih, dt, (None, I))
    if w_ih.shape[0] == 0 or w_ih.shape[0] % G:
        raise ValueError(f"w_ih: expected shape ({G}*H, {I}) with H >= 1 for mode {mode!r}, "
                         f"got {w_ih.shape}")
    H = w_ih.shape[0] // G

    H_out = H
    if w_hr is not None and layernorm:
        raise ValueError(f"w_hr: expected None for mode {mode!r} (no projection), got an array")
    if w_hr is not None:
        if not kind.has_c:
            raise ValueError(f"w_hr: expected None for mode {mode!r} (projection is for the "
                             f"modes with a cell state, lstm and lstm_peephole), got an array")
        w_hr = _array("w_hr", w_hr, dt, (None, H))
        H_out = w_hr.shape[0]
        if not 0 < H_out < H:
            raise ValueError(f"w_hr: expected shape (H_out, {H}) with 0 < H_out < {H}, "
                             f"got {w_hr.shape}")
    w_hh = _array("w_hh", w_hh, dt, (H,) if diagonal else (G * H, H_out))
    if peephole:
        if w_p is None:
            raise ValueError(f"w_p: expected the peephole weights, an array of shape ({3 * H},) "
                             f"(p_i, p_f, p_o), for mode {mode!r}, got None")
        w_p = _array("w_p", w_p, dt, (3 * H,))
    elif w_p is not None:
        raise ValueError(f"w_p: expected None for mode {mode!r} (peephole weights are "
                         f"lstm_peephole only), got an array")
    ln = {"gamma_x": gamma_x, "gamma_h": gamma_h, "gamma_c": gamma_c, "beta_c": beta_c}
    mine = {n: b for n, b in kind.extras} if layernorm else {}
    for name in tuple(ln):
        if name not in mine:
            if ln.pop(name) is not None:
                raise ValueError(f"{name}: expected None for mode {mode!r} (it has no such "
                                 f"normalization parameter), got an array")
        elif ln[name] is None:
            raise ValueError(f"{name}: expected an array of shape ({mine[name] * H},) for mode "
                             f"{mode!r}, got None")
        else:
            ln[name] = _array(name, ln[name], dt, (mine[name] * H,))

    if diagonal and b_hh is not None:
        raise ValueError(f"b_hh: expected None for mode {mode!r} (one bias, b_ih), got an array")
    if diagonal:
        has_bias = b_ih is not None
        b_ih = _array("b_ih", b_ih, dt, (H,)) if has_bias else np.zeros(H, dtype=dt)
        b_hh = np.zeros(H, dtype=dt)  # not a parameter: a zero with no gradient
    elif (b_ih is None) != (b_hh is None):
        raise ValueError("b_ih, b_hh: expected both arrays or both None, got "
                         f"b_ih={'None' if b_ih is None else 'array'}, "
                         f"b_hh={'None' if b_hh is None else 'array'}")
    elif b_ih is not None:
        has_bias = True
        b_ih = _array("b_ih", b_ih, dt, (G * H,))
        b_hh = _array("b_hh", b_hh, dt, (G * H,))
    else:
        has_bias = False
        b_ih = b_hh = np.zeros(G * H, dtype=dt)  # no bias is a zero bias with no gradient

    h = np.zeros((B, H_out), dtype=dt) if h0 is None else _array("h0", h0, dt, (B, H_out))
    c = None
    if kind.has_c:
        c = np.zeros((B, H), dtype=dt) if c0 is None else _array("c0", c0, dt, (B, H))
    elif c0 is not None:
        raise ValueError(f"c0: expected None for mode {mode!r} (a cell state is for lstm and "
                         f"lstm_peephole only), got an array")

    if h_mask is not None:
        h_mask = _array("h_mask", h_mask, dt, (B, H_out))
    zh = _zoneout("zoneout_h", zoneout_h, dt, T, B, H_out)
    zc = _zoneout("zoneout_c", zoneout_c, dt, T, B, H)
    active = _active_mask(lengths, T, B)
    order = range(T - 1, -1, -1) if reverse else range(T)

    y = np.zeros((T, B, H_out), dtype=dt)
    steps = []  # one dict per processed step, in processing order
    for t in order:
        m = active[t][:, None]  # [B,1]: rows whose sequence is still running at step t
        gi = x[t] @ w_ih.T + b_ih  # [B,G*H]
        h_in = h if h_mask is None else h * h_mask  # what W_hh sees
        # [B,G*H]; IndRNN: one weight per unit, elementwise
        gh = (h_in * w_hh if diagonal else h_in @ w_hh.T) + b_hh
        s = {"t": t, "h_prev": h, "h_in": h_in}
        dc_t = None if zc is None else zc[t]
        if diagonal:  # indrnn_relu, indrnn_tanh
            act = _relu if mode == "indrnn_relu" else np.tanh
            h_new = act(gi + gh)
            s["h"] = h_new
        elif G == 1:  # rnn_tanh, rnn_relu
            act = np.tanh if mode == "rnn_tanh" else _relu
            h_new = act(gi + gh)
            s["h"] = h_new
        elif layernorm and kind.has_c:  # the biases come after the normalization
            xn, rx = _ln(x[t] @ w_ih.T)
            hn, rh = _ln(h_in @ w_hh.T)
            a = xn * ln["gamma_x"] + hn * ln["gamma_h"] + b_ih + b_hh
            i = _sigmoid(a[:, 0 * H:1 * H])
            f = _sigmoid(a[:, 1 * H:2 * H])
            g = np.tanh(a[:, 2 * H:3 * H])
            o = _sigmoid(a[:, 3 * H:4 * H])
            c_new = f * c + i * g
            cn, rc = _ln(c_new)
            tz = np.tanh(cn * ln["gamma_c"] + ln["beta_c"])
            h_new = o * tz
            s.update(c_prev=c, c_new=c_new, i=i, f=f, g=g, o=o, xn=xn, rx=rx, hnorm=hn, rh=rh,
                     cn=cn, rc=rc, tz=tz)
            c = np.where(m, _zone(dc_t, c, c_new), c)
        elif layernorm:  # layernorm_gru: the GRU's two pre-activations, normalized
            xn, rx = _ln(x[t] @ w_ih.T)
            hn, rh = _ln(h_in @ w_hh.T)
            u = xn * ln["gamma_x"] + b_ih
            v = hn * ln["gamma_h"] + b_hh
            r = _sigmoid(u[:, 0 * H:1 * H] + v[:, 0 * H:1 * H])
            z = _sigmoid(u[:, 1 * H:2 * H] + v[:, 1 * H:2 * H])
            vn = v[:, 2 * H:3 * H]
            n = np.tanh(u[:, 2 * H:3 * H] + r * vn)
            h_new = (1 - z) * n + z * h
            s.update(r=r, z=z, n=n, hn=vn, xn=xn, rx=rx, hnorm=hn, rh=rh)
        elif kind.has_c:  # lstm, lstm_peephole
            a = gi + gh
            a_i, a_f, a_o = a[:, 0 * H:1 * H], a[:, 1 * H:2 * H], a[:, 3 * H:4 * H]
            if peephole:  # i and f see c_{t-1}
                a_i = a_i + w_p[0 * H:1 * H] * c
                a_f = a_f + w_p[1 * H:2 * H] * c
            i = _sigmoid(a_i)
            f = _sigmoid(a_f)
            g = np.tanh(a[:, 2 * H:3 * H])
            c_new = f * c + i * g
            if peephole:  # o sees c_t
                a_o = a_o + w_p[2 * H:3 * H] * c_new
            o = _sigmoid(a_o)
            tc = np.tanh(c_new)
            r = o * tc  # the unprojected hidden state [B,H]
            h_new = r @ w_hr.T if w_hr is not None else r
            s.update(c_prev=c, c_new=c_new, i=i, f=f, g=g, o=o, tc=tc, r=r)
            c = np.where(m, _zone(dc_t, c, c_new), c)
        else:  # gru, gru_reset_before
            r = _sigmoid(gi[:, 0 * H:1 * H] + gh[:, 0 * H:1 * H])
            z = _sigmoid(gi[:, 1 * H:2 * H] + gh[:, 1 * H:2 * H])
            if reset_before:
                # W_hn sees r * h' (gh's n block, W_hn h' + b_hn, is not used)
                rh = r * h_in
                hn = rh @ w_hh[2 * H:3 * H].T + b_hh[2 * H:3 * H]
                n = np.tanh(gi[:, 2 * H:3 * H] + hn)
                s["rh"] = rh
            else:
                hn = gh[:, 2 * H:3 * H]  # W_hn h + b_hn, needed for dr
                n = np.tanh(gi[:, 2 * H:3 * H] + r * hn)
            h_new = (1 - z) * n + z * h
            s.update(r=r, z=z, n=n, hn=hn)
        h_new = _zone(None if zh is None else zh[t], h, h_new)
        # Finished sequences keep their state and emit zeros.
        h = np.where(m, h_new, h)
        y[t] = np.where(m, h_new, 0)
        steps.append(s)

    cache = {"mode": mode, "dtype": dt, "dims": (T, B, I, H, H_out), "x": x, "w_ih": w_ih,
             "w_hh": w_hh, "w_hr": w_hr, "w_p": w_p, "has_bias": has_bias, "active": active,
             "steps": steps, "h_mask": h_mask, "ln": ln if layernorm else None,
             "zoneout": (zh, zc)}
    return y, h, c, cache


# ----------------------------------------------------------------------------- backward

def backward(cache, dy=None, dh_n=None, dc_n=None):
    """Backpropagation through time for one ``forward`` call.

    ``dy``, ``dh_n``, ``dc_n`` are the loss gradients wrt ``y``, ``h_n``, ``c_n`` (None = zeros;
    ``dy`` past a sequence's end is ignored). Returns a dict of fresh arrays: ``dx``, ``dh0``,
    ``dc0`` (None unless lstm or lstm_peephole), ``w_ih``, ``w_hh``, ``b_ih``, ``b_hh`` (None
    without bias), ``w_hr`` (None unless projected), ``w_p`` (None unless lstm_peephole), and
    for layernorm_lstm also ``gamma_x``, ``gamma_h``, ``gamma_c``, ``beta_c`` (layernorm_gru:
    ``gamma_x``, ``gamma_h``).
    """
    mode = cache["mode"]
    kind = cell_kind(mode)
    if kind.recurrence == "scan":
        return _scan_backward(cache, dy, dh_n, dc_n)
    dt = cache["dtype"]
    T, B, I, H, H_out = cache["dims"]
    x, w_ih, w_hh, w_hr = cache["x"], cache["w_ih"], cache["w_hh"], cache["w_hr"]
    w_p = cache["w_p"]  # None unless lstm_peephole
    active = cache["active"]
    G = kind.num_gates
    reset_before = mode == "gru_reset_before"
    diagonal = kind.recurrence == "diagonal"

    dy = np.zeros((T, B, H_out), dtype=dt) if dy is None else _array("dy", dy, dt, (T, B, H_out))
    dh = np.zeros((B, H_out), dtype=dt) if dh_n is None else _array("dh_n", dh_n, dt, (B, H_out))
    dc = None
    if kind.has_c:
        dc = np.zeros((B, H), dtype=dt) if dc_n is None else _array("dc_n", dc_n, dt, (B, H))
    elif dc_n is not None:
        raise ValueError(f"dc_n: expected None for mode {mode!r} (a cell state is for lstm and "
                         f"lstm_peephole only), got an array")

    dx = np.zeros_like(x)
    dw_ih = np.zeros_like(w_ih)
    dw_hh = np.zeros_like(w_hh)
    db_ih = np.zeros(G * H, dtype=dt)
    db_hh = np.zeros(G * H, dtype=dt)
    dw_hr = np.zeros_like(w_hr) if w_hr is not None else None
    dw_p = np.zeros_like(w_p) if w_p is not None else None
    ln = cache["ln"]  # layernorm_lstm's gains and shift, else None
    dln = {k: np.zeros_like(v) for k, v in ln.items()} if ln is not None else None

    h_mask = cache["h_mask"]
    zh, zc = cache["zoneout"]

    def through_w_hh(dgh):  # gradient wrt h_{t-1} along h_{t-1} * h_mask -> W_hh
        d = dgh @ w_hh
        return d if h_mask is None else d * h_mask

    for s in reversed(cache["steps"]):
        t = s["t"]
        m = active[t][:, None]
        dh_new = dh + np.where(m, dy[t], 0)  # gradient reaching this step's output h_new
        # Zoneout: d * dL/dh_t goes to h_{t-1} directly, (1 - d) * dL/dh_t into the cell's
        # new state (c likewise); nothing on rows past their sequence's end.
        kept_h = kept_c = 0
        if zh is not None:
            d = np.where(m, zh[t], 0)
            kept_h, dh_new = d * dh_new, (1 - d) * dh_new
        if zc is not None:
            d = np.where(m, zc[t], 0)
            kept_c, dc = d * dc, (1 - d) * dc
        # dgi, dgh: gradients wrt the pre-activations W_ih x + b_ih and W_hh h + b_hh (for
        # gru_reset_before's n block, W_hn (r * h) + b_hn); they are the same tensor except for
        # gru's n gate, where r multiplies the recurrent part.
        if diagonal:  # indrnn_*: h_new = act(gi + u * h_in)
            d_act = _d_relu if mode == "indrnn_relu" else _d_tanh
            da = dh_new * d_act(s["h"])
            dgi = dgh = da
            dh_prev = da * w_hh if h_mask is None else da * w_hh * h_mask
        elif G == 1:  # rnn_tanh, rnn_relu
            d_act = _d_tanh if mode == "rnn_tanh" else _d_relu
            da = dh_new * d_act(s["h"])
            dgi = dgh = da
            dh_prev = through_w_hh(da)
        elif ln is not None and kind.has_c:  # layernorm_lstm
            i, f, g, o, tz = s["i"], s["f"], s["g"], s["o"], s["tz"]
            da_o = dh_new * tz * _d_sigmoid(o)
            dz = np.where(m, dh_new * o * _d_tanh(tz), 0)  # wrt LN(c_t) gamma_c + beta_c
            dln["gamma_c"] += (dz * s["cn"]).sum(axis=0)
            dln["beta_c"] += dz.sum(axis=0)
            dc_new = dc + _d_ln(dz * ln["gamma_c"], s["cn"], s["rc"])
            da = np.concatenate([
                dc_new * g * _d_sigmoid(i),
                dc_new * s["c_prev"] * _d_sigmoid(f),
                dc_new * i * _d_tanh(g),
                da_o,
            ], axis=1)
            da = np.where(m, da, 0)
            dln["gamma_x"] += (da * s["xn"]).sum(axis=0)
            dln["gamma_h"] += (da * s["hnorm"]).sum(axis=0)
            dbi = dbh = da  # the biases are added after the normalization
            dgi = _d_ln(da * ln["gamma_x"], s["xn"], s["rx"])  # wrt W_ih x
            dgh = _d_ln(da * ln["gamma_h"], s["hnorm"], s["rh"])  # wrt W_hh h'
            dh_prev = through_w_hh(dgh)
            dc = np.where(m, dc_new * f, dc)
        elif ln is not None:  # layernorm_gru: h_new = (1-z) n + z h_prev
            r, z, n, vn = s["r"], s["z"], s["n"], s["hn"]
            dan = dh_new * (1 - z) * _d_tanh(n)
            daz = dh_new * (s["h_prev"] - n) * _d_sigmoid(z)
            dar = dan * vn * _d_sigmoid(r)
            du = np.where(m, np.concatenate([dar, daz, dan], axis=1), 0)  # wrt u
            dv = np.where(m, np.concatenate([dar, daz, dan * r], axis=1), 0)  # wrt v
            dln["gamma_x"] += (du * s["xn"]).sum(axis=0)
            dln["gamma_h"] += (dv * s["hnorm"]).sum(axis=0)
            dbi, dbh = du, dv
            dgi = _d_ln(du * ln["gamma_x"], s["xn"], s["rx"])  # wrt W_ih x
            dgh = _d_ln(dv * ln["gamma_h"], s["hnorm"], s["rh"])  # wrt W_hh h'
            dh_prev = dh_new * z + through_w_hh(dgh)
        elif kind.has_c:  # lstm, lstm_peephole
            i, f, g, o, tc = s["i"], s["f"], s["g"], s["o"], s["tc"]
            if w_hr is not None:  # h_new = W_hr r
                dw_hr += np.where(m, dh_new, 0).T @ s["r"]
                dr = dh_new @ w_hr
            else:
                dr = dh_new
            da_o = dr * tc * _d_sigmoid(o)
            dc_new = dc + dr * o * _d_tanh(tc)  # c_new feeds both c_n and h_new = o*tanh(c_new)
            if w_p is not None:  # ...and o's pre-activation, through p_o * c_new
                dc_new = dc_new + da_o * w_p[2 * H:3 * H]
            da = np.concatenate([
                dc_new * g * _d_sigmoid(i),
                dc_new * s["c_prev"] * _d_sigmoid(f),
                dc_new * i * _d_tanh(g),
                da_o,
            ], axis=1)
            da = np.where(m, da, 0)
            dgi = dgh = da
            dh_prev = through_w_hh(da)
            dc_prev = dc_new * f
            if w_p is not None:  # c_prev also fed i and f through p_i, p_f
                da_i, da_f, da_o = da[:, 0 * H:1 * H], da[:, 1 * H:2 * H], da[:, 3 * H:4 * H]
                dc_prev = dc_prev + da_i * w_p[0 * H:1 * H] + da_f * w_p[1 * H:2 * H]
                dw_p += np.concatenate([(da_i * s["c_prev"]).sum(axis=0),
                                        (da_f * s["c_prev"]).sum(axis=0),
                                        (da_o * s["c_new"]).sum(axis=0)])
            dc = np.where(m, dc_prev, dc)
        else:  # gru, gru_reset_before: h_new = (1-z) n + z h_prev
            r, z, n, hn = s["r"], s["z"], s["n"], s["hn"]
            dan = dh_new * (1 - z) * _d_tanh(n)
            daz = dh_new * (s["h_prev"] - n) * _d_sigmoid(z)
            if reset_before:  # n = tanh(gi_n + W_hn (r * h_in) + b_hn)
                drh = dan @ w_hh[2 * H:3 * H]  # gradient wrt r * h_in
                dar = drh * s["h_in"] * _d_sigmoid(r)
                dgi = dgh = np.concatenate([dar, daz, dan], axis=1)
                # h_in reaches the gates through W_hh's r and z blocks and through r * h_in
                dh_in = np.concatenate([dar, daz], axis=1) @ w_hh[:2 * H] + drh * r
                dh_prev = dh_new * z + (dh_in if h_mask is None else dh_in * h_mask)
            else:  # gru: n = tanh(gi_n + r * hn), hn = W_hn h_in + b_hn
                dar = dan * hn * _d_sigmoid(r)
                dgi = np.concatenate([dar, daz, dan], axis=1)
                dgh = np.concatenate([dar, daz, dan * r], axis=1)
                dh_prev = dh_new * z + through_w_hh(dgh)
        # Rows past their sequence's end passed the state through unchanged: no gate gradient,
        # and the incoming gradient flows on untouched.
        if ln is None:
            dbi, dbh = dgi, dgh
        dgi = np.where(m, dgi, 0)
        dgh = np.where(m, dgh, 0)
        dbi = np.where(m, dbi, 0)
        dbh = np.where(m, dbh, 0)
        dh = np.where(m, dh_prev, dh) + kept_h
        if dc is not None:
            dc = dc + kept_c

        dx[t] = dgi @ w_ih
        dw_ih += dgi.T @ x[t]
        if diagonal:  # u multiplied h_in elementwise
            dw_hh += (dgh * s["h_in"]).sum(axis=0)
        elif reset_before:  # W_hn's input is r * h_in, the other blocks' h_in
            dw_hh[:2 * H] += dgh[:, :2 * H].T @ s["h_in"]
            dw_hh[2 * H:] += dgh[:, 2 * H:].T @ s["rh"]
        else:
            dw_hh += dgh.T @ s["h_in"]
        db_ih += dbi.sum(axis=0)
        db_hh += dbh.sum(axis=0)

    has_bias = cache["has_bias"]
    return {"dx": dx, "dh0": dh, "dc0": dc, "w_ih": dw_ih, "w_hh": dw_hh,
            "b_ih": db_ih if has_bias else None,
            "b_hh": db_hh if has_bias and not diagonal else None,
            "w_hr": dw_hr, "w_p": dw_p, **(dln or {})}


# ----------------------------------------------------------------------------- scan cells

def _scan_forward(kind, x, w_ih, w_hh, b_ih, b_hh, *, w_hr, h0, c0, lengths, reverse, h_mask,
                  w_p):
    """forward for mingru and minlstm (see the module's docstring)."""
    mode = kind.name
    G = kind.num_gates
    dt = _dtype_of(w_ih)
    why = {"w_hh": "its gates read x only: no recurrent weight", "b_hh": "one bias, b_ih",
           "h_mask": "no recurrent product to drop out", "w_hr": "no projection",
           "c0": "no cell state", "w_p": "no peephole weights"}
    for name, a in (("w_hh", w_hh), ("b_hh", b_hh), ("h_mask", h_mask), ("w_hr", w_hr),
                    ("c0", c0), ("w_p", w_p)):
        if a is not None:
            raise ValueError(f"{name}: expected None for mode {mode!r} ({why[name]}), got an "
                             f"array")
    x = _array("x", x, dt, (None, None, None))
    T, B, I = x.shape
    w_ih = _array("w_ih", w_ih, dt, (None, I))
    if w_ih.shape[0] == 0 or w_ih.shape[0] % G:
        raise ValueError(f"w_ih: expected shape ({G}*H, {I}) with H >= 1 for mode {mode!r}, "
                         f"got {w_ih.shape}")
    H = w_ih.shape[0] // G
    has_bias = b_ih is not None
    b = _array("b_ih", b_ih, dt, (G * H,)) if has_bias else np.zeros(G * H, dtype=dt)
    h = np.zeros((B, H), dtype=dt) if h0 is None else _array("h0", h0, dt, (B, H))
    active = _active_mask(lengths, T, B)
    order = range(T - 1, -1, -1) if reverse else range(T)

    y = np.zeros((T, B, H), dtype=dt)
    steps = []
    for t in order:
        m = active[t][:, None]
        p = x[t] @ w_ih.T + b  # [B,G*H]
        ht = p[:, (G - 1) * H:]  # h~, the last block
        if mode == "mingru":
            z = _sigmoid(p[:, :H])
            a, bt = 1 - z, z * ht
            gates = {"z": z}
        else:  # minlstm
            f = _sigmoid(p[:, :H])
            i = _sigmoid(p[:, H:2 * H])
            a, bt = f / (f + i), i / (f + i) * ht
            gates = {"f": f, "i": i}
        h_new = a * h + bt
        steps.append({"t": t, "h_prev": h, "ht": ht, "a": a, **gates})
        h = np.where(m, h_new, h)
        y[t] = np.where(m, h_new, 0)

    cache = {"mode": mode, "dtype": dt, "dims": (T, B, I, H, H), "x": x, "w_ih": w_ih,
             "has_bias": has_bias, "active": active, "steps": steps}
    return y, h, None, cache


def _scan_backward(cache, dy, dh_n, dc_n):
    """backward for mingru and minlstm: BPTT through h_t = a_t h_{t-1} + b_t."""
    mode = cache["mode"]
    dt = cache["dtype"]
    T, B, I, H, _ = cache["dims"]
    x, w_ih, active = cache["x"], cache["w_ih"], cache["active"]
    G = cell_kind(mode).num_gates
    if dc_n is not None:
        raise ValueError(f"dc_n: expected None for mode {mode!r} (no cell state), got an array")
    dy = np.zeros((T, B, H), dtype=dt) if dy is None else _array("dy", dy, dt, (T, B, H))
    dh = np.zeros((B, H), dtype=dt) if dh_n is None else _array("dh_n", dh_n, dt, (B, H))
    dx = np.zeros_like(x)
    dw_ih = np.zeros_like(w_ih)
    db = np.zeros(G * H, dtype=dt)
    for s in reversed(cache["steps"]):
        t = s["t"]
        m = active[t][:, None]
        g = dh + np.where(m, dy[t], 0)  # dL/dh_t
        hp, ht = s["h_prev"], s["ht"]
        if mode == "mingru":
            z = s["z"]
            dp = np.concatenate([g * (ht - hp) * _d_sigmoid(z), g * z], axis=1)
        else:  # minlstm: h = f/(f+i) hp + i/(f+i) ht
            f, i = s["f"], s["i"]
            q = g * (ht - hp) / (f + i) ** 2
            dp = np.concatenate([-q * i * _d_sigmoid(f), q * f * _d_sigmoid(i),
                                 g * i / (f + i)], axis=1)
        dp = np.where(m, dp, 0)
        dh = np.where(m, s["a"] * g, dh)
        dx[t] = dp @ w_ih
        dw_ih += dp.T @ x[t]
        db += dp.sum(axis=0)
    return {"dx": dx, "dh0": dh, "dc0": None, "w_ih": dw_ih, "w_hh": None,
            "b_ih": db if cache["has_bias"] else None, "b_hh": None, "w_hr": None, "w_p": None}
