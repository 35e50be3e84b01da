"""What rnnfast.torch's RNN, LSTM and GRU run while ``torch.onnx.export`` traces them.

A recurrent layer becomes one standard ONNX ``RNN``, ``LSTM`` or ``GRU`` operator per layer
(both directions in one), with ``lengths=`` as its ``sequence_lens`` input, so that any ONNX
runtime runs the exported model without rnnfast. The weights are rearranged into ONNX's
layout with torch ops on the parameters (constant-folded by the exporters); the operator
itself is emitted as

- ``torch.onnx.ops.symbolic_multi_out`` under the dynamo-based exporter (``dynamo=True``,
  torch's default), which turns it into the ONNX operator as it is;
- an autograd.Function whose ``symbolic`` builds the node under the TorchScript-based
  exporter (``dynamo=False``).

An LSTM with ``proj_size`` (which ONNX's LSTM lacks, and which torch's exporters refuse) runs
as a plain LSTM on the unprojected state m_t = o_t * tanh(c_t), h_t = W_hr m_t: its gates
take W_hh h_{t-1} = (W_hh W_hr) m_{t-1}, so R = W_hh W_hr, and W_hr is one MatMul after the
operator. An initial h_0, which is no W_hr m_0, enters as an extra input feature that is h_0
at a direction's first step (t = 0 forward, t = length - 1 backward) and 0 elsewhere, with
W_hh as its input weight; the operator's own initial h is then 0.
"""

from __future__ import annotations

import torch

__all__ = ["exporting", "layer"]

# torch's gate order -> ONNX's: LSTM i, f, g, o -> i, o, f, c; GRU r, z, n -> z, r, h. The GRU
# with reset_after=False is ONNX's GRU with linear_before_reset=0, the LSTM with peepholes
# ONNX's LSTM with its input P.
_GATES = {"lstm": (0, 3, 1, 2), "gru": (1, 0, 2), "rnn_tanh": (0,), "rnn_relu": (0,),
          "gru_reset_before": (1, 0, 2), "lstm_peephole": (0, 3, 1, 2)}
_OP = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN", "rnn_relu": "RNN",
       "gru_reset_before": "GRU", "lstm_peephole": "LSTM"}
# rnnfast's peephole weights (p_i, p_f, p_o) -> ONNX's P order i, o, f
_PEEPHOLES = (0, 2, 1)


_FLAGS = None  # (TorchScript exporter's GLOBALS, dynamo exporter's _flags), on first use


def exporting():
    """True while torch.onnx.export (either exporter) runs the model: the flags that
    torch.onnx.is_in_onnx_export reads, without its two imports per call (torch.onnx is
    imported at the first call, not with rnnfast.torch)."""
    global _FLAGS
    if _FLAGS is None:
        try:
            from torch.onnx._internal.exporter import _flags
            from torch.onnx._internal.torchscript_exporter._globals import GLOBALS
            _FLAGS = (GLOBALS, _flags)
        except ImportError:  # another torch layout: the public function
            _FLAGS = False
    if _FLAGS is False or torch.compiler.is_compiling():  # Dynamo traces only the public one
        return torch.onnx.is_in_onnx_export()
    return _FLAGS[0].in_onnx_export or _FLAGS[1]._is_onnx_exporting


def _gates(ws, mode, H):
    """The directions' weights stacked, (D, G * H, ...), with the gates in ONNX's order (one
    Gather on a (D, G, H, ...) view)."""
    w = torch.stack(ws)
    if mode in ("rnn_tanh", "rnn_relu"):
        return w
    order = torch.tensor(_GATES[mode], device=w.device)
    return w.unflatten(1, (len(order), H)).index_select(1, order).flatten(1, 2)


def layer(mode, x, ws, ws_r, h0, c0, lens):
    """One layer (both directions) as one ONNX operator.

    x: (T, B, I) time-major; ws, ws_r: (w_ih, w_hh, b_ih, b_hh, w_hr) of each direction, then
    w_p (3 * H,) for lstm_peephole (ws_r None for one direction); h0: (D, B, H_out) or None;
    c0: (D, B, H) or None; lens: (B,) int64 or None. Returns y (T, B, D * H_out), h_n
    (D, B, H_out), c_n (D, B, H) or None, as rnnfast's kernels do.
    """
    dirs = [ws] if ws_r is None else [ws, ws_r]
    D = len(dirs)
    # parameter shapes are static: plain ints (the TorchScript tracer would make them tensors)
    H = int(dirs[0][1].shape[1] if dirs[0][4] is None else dirs[0][4].shape[1])
    proj = dirs[0][4] is not None
    dt = x.dtype
    T, B = x.shape[0], x.shape[1]

    W = _gates([w[0] for w in dirs], mode, H)
    R = _gates([w[1] for w in dirs], mode, H)  # (D, G * H, H_out)
    Bias = None
    if dirs[0][2] is not None:  # ONNX's B: (D, 2 * G * H), the input biases then the hidden
        Bias = _gates([torch.stack((w[2], w[3]), 1) for w in dirs], mode, H)
        Bias = Bias.transpose(1, 2).flatten(1)
    if proj:
        if h0 is not None:
            # h_0's extra input features: direction d's block of W_hh on its own h_0 block
            eye = torch.eye(D, dtype=R.dtype, device=R.device)
            W = torch.cat([W, (R[:, :, None, :] * eye[:, None, :, None]).flatten(2)], 2)
        R = R @ torch.stack([w[4] for w in dirs])  # W_hh W_hr: (D, G * H, H)
    seq = None if lens is None else lens.to(torch.int32)

    init_h = h0
    if proj:
        init_h = None
        if h0 is not None:
            steps = torch.arange(T, device=x.device)
            extra = [(steps == 0).to(dt)[:, None, None] * h0[0][None]]
            if D == 2:
                last = (T - 1) if lens is None else (lens - 1)[None, :]
                first_r = steps[:, None] == last  # (T, B) or (T, 1)
                extra.append(first_r.to(dt)[:, :, None] * h0[1][None])
            x = torch.cat([x, *extra], 2)
        if c0 is not None:
            init_h = x.new_zeros(D, B, H)

    attrs = {"hidden_size": H, "direction": "bidirectional" if D == 2 else "forward"}
    if mode == "gru":
        attrs["linear_before_reset"] = 1
    elif mode == "gru_reset_before":
        attrs["linear_before_reset"] = 0
    elif mode in ("rnn_tanh", "rnn_relu"):
        attrs["activations"] = ["Tanh" if mode == "rnn_tanh" else "Relu"] * D
    lstm = _OP[mode] == "LSTM"
    inputs = [x, W, R, Bias, seq, init_h]
    if lstm:
        inputs.append(c0)
    if mode == "lstm_peephole":  # ONNX's P: (D, 3 * H), in its order i, o, f
        p = torch.stack([w[5] for w in dirs]).unflatten(1, (3, H))
        inputs.append(p.index_select(1, torch.tensor(_PEEPHOLES, device=p.device)).flatten(1))
    n_out = 3 if lstm else 2
    while inputs[-1] is None:  # trailing optional inputs are left out
        inputs.pop()
    shapes = [(T, D, B, H)] + [(D, B, H)] * (n_out - 1)
    outs = _emit(_OP[mode], inputs, attrs, dt, shapes)

    Y, Y_h = outs[0], outs[1]
    Y_c = outs[2] if lstm else None
    if proj:
        w_hr_t = torch.stack([w[4] for w in dirs]).transpose(1, 2)  # (D, H, P)
        Y = torch.matmul(Y, w_hr_t[None])  # (T, D, B, P)
        Y_h = torch.matmul(Y_h, w_hr_t)
    y = Y.permute(0, 2, 1, 3).flatten(2)
    return y, Y_h, Y_c


def _emit(op, inputs, attrs, dt, shapes):
    if torch.jit.is_tracing():  # the TorchScript-based exporter
        return _Symbolic.apply(op, tuple(sorted(attrs.items())), shapes, *inputs)
    try:
        from torch.onnx.ops import symbolic_multi_out
    except ImportError as e:  # torch < 2.8
        raise RuntimeError(
            f"rnnfast.torch: ONNX export with the dynamo-based exporter needs torch.onnx.ops "
            f"(torch 2.8 or later), this is torch {torch.__version__}: upgrade torch, or "
            "export with dynamo=False") from e
    return symbolic_multi_out(op, inputs, attrs, dtypes=[dt] * len(shapes), shapes=shapes)


class _Symbolic(torch.autograd.Function):
    """An ONNX operator for the TorchScript-based exporter: traced as zeros of the outputs'
    shapes (only the graph is kept), exported as the node itself."""

    @staticmethod
    def forward(ctx, op, attrs, shapes, *inputs):
        x = inputs[0]
        return tuple(x.new_zeros([int(s) for s in shape]) for shape in shapes)

    @staticmethod
    def symbolic(g, op, attrs, shapes, *inputs):
        from torch.onnx._internal.torchscript_exporter import symbolic_helper

        args = [symbolic_helper._optional_input_placeholder_tensor(g) if v is None else v
                for v in inputs]
        kw = {k + ("_i" if isinstance(v, int) else "_s"): v for k, v in attrs}  # int or str(s)
        return g.op(op, *args, outputs=len(shapes), **kw)
