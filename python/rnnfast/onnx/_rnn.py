"""ONNX ``RNN`` / ``LSTM`` / ``GRU`` operators for rnnfast.nn's recurrent layers and cells.

A layer's node (one direction, or both directions of a bidirectional layer) becomes one ONNX
operator with the weights rearranged into ONNX's layout at export time (they are parameters:
initializers): W (D, G*H, I), R (D, G*H, H), B (D, 2*G*H), the gates in ONNX's order, with
``lengths=`` as ``sequence_lens`` (ONNX's semantics are rnnfast's: outputs past a sequence's
end are zero, h_n is the state at its last step, the reverse direction starts there) and
``batch_first`` as Transposes around the operator. A multi-layer layer is so a stack of
operators, each direction's results taken apart with Gathers as the layer takes them.

An LSTM with ``proj_size`` (h_t = W_hr m_t, m_t = o_t * tanh(c_t)), which ONNX's LSTM lacks,
runs as a plain LSTM on m_t: its gates take W_hh h_{t-1} = (W_hh W_hr) m_{t-1}, so
R = W_hh W_hr, and W_hr is one MatMul after the operator. A given h_0 (no W_hr m_0) enters as
extra input features, h_0 at the direction's first step (t = 0 forward, t = length - 1 in
reverse) and 0 elsewhere, with W_hh as their input weights; the operator's own initial h is
then 0. (python/rnnfast/torch/_onnx.py does the same for rnnfast.torch.)

A cell's step is the same operator over one step.
"""

from __future__ import annotations

import numpy as np

from ._emit import emits

__all__ = ["CELLS"]

# Per cell kind (rnnfast.functional.MODES): the ONNX operator, torch's gate order -> ONNX's
# (LSTM i, f, g, o -> i, o, f, c; GRU r, z, n -> z, r, h) and the operator's attributes
# (activations listed once, repeated per direction). The GRU with reset_after=False is ONNX's
# default GRU (linear_before_reset=0); the LSTM's peephole weights are the operator's 8th
# input P (D, 3 * H), in ONNX's order i, o, f (see _peepholes).
CELLS = {
    "rnn_tanh": ("RNN", (0,), {"activations": ["Tanh"]}),
    "rnn_relu": ("RNN", (0,), {"activations": ["Relu"]}),
    "lstm": ("LSTM", (0, 3, 1, 2), {}),
    "gru": ("GRU", (1, 0, 2), {"linear_before_reset": 1}),
    "gru_reset_before": ("GRU", (1, 0, 2), {"linear_before_reset": 0}),
    "lstm_peephole": ("LSTM", (0, 3, 1, 2), {}),
}


def _gates(w, order, H):
    """Rows of ``w`` (G * H, ...) or entries of a bias (G * H,) in ONNX's gate order."""
    return np.concatenate([w[g * H:(g + 1) * H] for g in order], axis=0)


def _peepholes(w_p, H):
    """ONNX's P of one direction (3 * H,): rnnfast's peephole weights (p_i, p_f, p_o) in
    ONNX's order i, o, f."""
    return np.concatenate([w_p[:H], w_p[2 * H:], w_p[H:2 * H]])


def _first_step_mask(b, T, lengths, reverse, dtype):
    """(T, B, 1) or (T, 1, 1): 1 at a direction's first step (t = 0 forward; t = length - 1
    in reverse, T - 1 without lengths), else 0."""
    if not reverse or lengths is None:
        m = np.zeros((T, 1, 1), dtype)
        m[T - 1 if reverse else 0] = 1
        return b.const(m, "first_step")
    last = b.op("Sub", [b.value(lengths, np.int64), b.ints([1])])          # (B,)
    steps = b.const(np.arange(T, dtype=np.int64).reshape(T, 1), "steps")
    hit = b.op("Equal", [steps, b.op("Unsqueeze", [last, b.ints([0])])])    # (T, B)
    return b.op("Unsqueeze", [b.op("Cast", [hit], to=b.tensor_type(dtype)), b.ints([2])])


def _run(b, mode, x_name, T, B, dirs, lengths, masks, batch_first, reverse=False):
    """One ONNX operator over ``x_name`` (time-major after the Transpose ``batch_first``
    adds; T, B its sizes) for the directions ``dirs``: [(h0, c0, w_ih, w_hh, b_ih, b_hh,
    w_hr, w_p)] (values of the trace, None where absent). Returns [(y, h_n, c_n or None)] per
    direction: y (T, B, H_out) (batch-major with ``batch_first``), h_n (B, H_out), c_n (B, H).
    """
    if any(m is not None for m in masks):
        raise NotImplementedError(
            f"rnnfast.onnx.export: op '{mode}' with recurrent or input dropout in training mode "
            f"has no ONNX mapping: call model.eval() before exporting")
    op_type, order, attrs = CELLS[mode]
    D = len(dirs)
    arrays = [[b.array(w) for w in d[2:7]] for d in dirs]   # w_ih, w_hh, b_ih, b_hh, w_hr
    peeps = [None if len(d) < 8 or d[7] is None else b.array(d[7]) for d in dirs]  # w_p
    dt = arrays[0][0].dtype
    H = arrays[0][0].shape[0] // len(order)
    proj = arrays[0][4] is not None
    if batch_first:
        x_name = b.op("Transpose", [x_name], perm=[1, 0, 2])

    Ws, Rs, Bs = [], [], []
    for w_ih, w_hh, b_ih, b_hh, w_hr in arrays:
        Ws.append(_gates(w_ih, order, H))
        r = _gates(w_hh, order, H)
        Rs.append(r @ w_hr if proj else r)
        if b_ih is not None or b_hh is not None:
            zeros = np.zeros(len(order) * H, dt)
            Bs.append(np.concatenate([_gates(zeros if b_ih is None else b_ih, order, H),
                                      _gates(zeros if b_hh is None else b_hh, order, H)]))
    h0s = [d[0] for d in dirs]
    c0s = [d[1] for d in dirs]

    init_h = None
    if proj:
        if any(h is not None for h in h0s):
            # h_0 as extra input features at each direction's first step, with W_hh as
            # their weights (zero for the other direction's block)
            extra = []
            for d, h0 in enumerate(h0s):
                P = arrays[d][1].shape[1]
                h = b.value(h0, dt) if h0 is not None else b.scalar(0, dt, (B, P))
                mask = _first_step_mask(b, T, lengths, reverse or d == 1, dt)
                extra.append(b.op("Mul", [mask, b.op("Unsqueeze", [h, b.ints([0])])]))
            x_name = b.op("Concat", [x_name] + extra, axis=2)
            for d in range(D):
                blocks = [_gates(arrays[j][1], order, H) if j == d else
                          np.zeros((len(order) * H, arrays[j][1].shape[1]), dt)
                          for j in range(D)]
                Ws[d] = np.concatenate([Ws[d]] + blocks, axis=1)
        if any(c is not None for c in c0s):
            init_h = b.scalar(0, dt, (D, B, H))
    elif any(h is not None for h in h0s):
        init_h = b.op("Concat", [b.op("Unsqueeze", [b.value(h, dt) if h is not None else
                                                    b.scalar(0, dt, (B, H)), b.ints([0])])
                                 for h in h0s], axis=0)
    has_c = op_type == "LSTM"
    init_c = None
    if has_c and any(c is not None for c in c0s):
        init_c = b.op("Concat", [b.op("Unsqueeze", [b.value(c, dt) if c is not None else
                                                    b.scalar(0, dt, (B, H)), b.ints([0])])
                                 for c in c0s], axis=0)
    seq = None if lengths is None else b.value(lengths, np.int32)

    inputs = [x_name, b.const(np.stack(Ws), f"{op_type}_W"), b.const(np.stack(Rs), f"{op_type}_R"),
              b.const(np.stack(Bs), f"{op_type}_B") if Bs else None, seq, init_h]
    if has_c:
        inputs.append(init_c)
    if any(p is not None for p in peeps):
        inputs.append(b.const(np.stack([_peepholes(p, H) for p in peeps]), "LSTM_P"))
    kw = {k: (v * D if isinstance(v, list) else v) for k, v in attrs.items()}
    direction = "bidirectional" if D == 2 else ("reverse" if reverse else "forward")
    n_out = 3 if has_c else 2
    outs = b.op(op_type, inputs, n_out=n_out, hidden_size=H, direction=direction, **kw)
    Y, Y_h = outs[0], outs[1]
    Y_c = outs[2] if has_c else None

    results = []
    for d in range(D):
        at = b.const(np.array(d, dtype=np.int64), "direction")
        y = b.op("Gather", [Y, at], axis=1)                 # (T, B, H)
        h = b.op("Gather", [Y_h, at], axis=0)               # (B, H)
        c = None if Y_c is None else b.op("Gather", [Y_c, at], axis=0)
        if proj:
            w_hr_t = b.const(np.ascontiguousarray(arrays[d][4].T), "W_hr_T")
            y = b.op("MatMul", [y, w_hr_t])
            h = b.op("MatMul", [h, w_hr_t])
        if batch_first:
            y = b.op("Transpose", [y], perm=[1, 0, 2])
        results.append((y, h, c))
    return results


def _sizes(x, batch_first):
    shape = x.data.shape
    return (shape[1], shape[0]) if batch_first else (shape[0], shape[1])


@emits(*CELLS)
def _layer(b, node):
    mode = node.op.name
    reverse, batch_first, lengths, h_mask = node.attrs
    x, h0, c0, *ws = node.inputs
    T, B = _sizes(x, batch_first)
    (y, h, c), = _run(b, mode, b.value(x), T, B, [(h0, c0, *ws)], lengths, [h_mask],
                      batch_first, reverse)
    return [y, h] + ([c] if c is not None else [])


@emits(*[m + "_bidirectional" for m in CELLS])
def _bidirectional(b, node):
    mode = node.op.name[:-len("_bidirectional")]
    batch_first, lengths, mask_f, mask_r = node.attrs
    x = node.inputs[0]
    T, B = _sizes(x, batch_first)
    dirs = [tuple(node.inputs[1:9]), tuple(node.inputs[9:17])]
    res = _run(b, mode, b.value(x), T, B, dirs, lengths, [mask_f, mask_r], batch_first)
    out = []
    for y, h, c in res:
        out += [y, h] + ([c] if c is not None else [])
    return out


@emits(*[m + "_cell" for m in CELLS])
def _cell(b, node):
    mode = node.op.name[:-len("_cell")]
    x, h, c, w_ih, w_hh, b_ih, b_hh = node.inputs
    B = x.data.shape[0]
    x1 = b.op("Unsqueeze", [b.value(x), b.ints([0])])      # one step: (1, B, I)
    (y, h_n, c_n), = _run(b, mode, x1, 1, B, [(h, c, w_ih, w_hh, b_ih, b_hh, None, None)],
                          None, [None], False)
    return [h_n, c_n] if c_n is not None else [h_n]
