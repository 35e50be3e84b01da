"""The optional peers of the benchmark: torch.nn.LSTM/GRU/RNN and the same module in onnxruntime.

Both are imported lazily and only here, so the suite runs (without their columns) when they are
absent. torch runs the exact weights of the case in float32 with rnnfast's thread count, as one
layer or, for a stacked cell (lstm_2x_bi), as torch.nn.LSTM(I, H, num_layers=2,
bidirectional=True) loaded with the case's state_dict: inference under torch.no_grad(),
training as forward + backward of (y*dy).sum() with gradients for x, h0, c0 and every
parameter. onnxruntime runs the torch module exported with torch.onnx.export (inference only);
an export that fails costs its column, never the run. rnnfast.torch runs torch's module
converted in place, or, for the cells torch has no module for but rnnfast.torch has
(RNNFAST_TORCH_ONLY: the layer-normalized cells), rnnfast.torch's own module with the case's
weights, gains and shift, called and trained as torch's.

For the layer-normalized cells, which torch.nn lacks, the peer is the cell written as a
torch.nn.Module time loop ("torch loop", TorchLoopImpl), its step TorchScript'ed where that
works. What it does not do: no torch.compile variants, no ONNX training.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings

__all__ = ["LOOPED", "OnnxImpl", "RNNFAST_TORCH_ONLY", "TorchImpl", "TorchLoopImpl",
           "get_torch_threads", "make_onnxruntime", "make_torch", "make_torch_loop",
           "module_train_step", "onnxruntime_version", "set_torch_threads", "torch_version"]

# The benchmark's cells with an rnnfast.torch module but none in torch.nn: cell -> the class.
RNNFAST_TORCH_ONLY = {"layernorm_lstm": "LayerNormLSTM", "layernorm_gru": "LayerNormGRU"}


def torch_version():
    try:
        import torch
    except Exception:  # not installed, or a broken install: either way no torch column
        return None
    return torch.__version__


def onnxruntime_version():
    try:
        import onnxruntime
    except Exception:
        return None
    return onnxruntime.__version__


def set_torch_threads(n):
    import torch
    torch.set_num_threads(int(n))


def get_torch_threads():
    import torch
    return torch.get_num_threads()


def _torch_module(p):
    """A torch RNN/LSTM/GRU holding the case's weights (p.params, torch's names), in eval mode."""
    import torch
    kw = {"num_layers": p.layers, "bias": True, "bidirectional": p.bidirectional}
    if p.mode == "lstm":
        m = torch.nn.LSTM(p.I, p.H, **kw)
    elif p.mode == "gru":
        m = torch.nn.GRU(p.I, p.H, **kw)
    elif p.mode == "rnn_tanh":
        m = torch.nn.RNN(p.I, p.H, nonlinearity="tanh", **kw)
    else:
        raise ValueError(f"cell: no torch module for {p.cell!r}")
    m.load_state_dict({k: torch.from_numpy(a) for k, a in p.params.items()})
    # eval() only matters for export: without inter-layer dropout eval and train are the same.
    return m.float().eval()


def _torch_states(torch, p):
    """h0, c0 (None unless lstm) as fresh torch tensors [L*D,B,H]."""
    h0, c0 = p.states()
    return (torch.from_numpy(h0.copy()),
            None if c0 is None else torch.from_numpy(c0.copy()))


def module_train_step(m, xg, h0g, c0g, hx, dy, dh_n=None, zero_grad=None):
    """One training step of a torch.nn-shaped module (torch's or rnnfast's): fresh gradients
    for the parameters and the leaves xg, h0g, c0g (as an optimizer's zero_grad(set_to_none=True)
    leaves them), forward, and y.backward(dy), the gradient of (y*dy).sum() without building the
    product; with dh_n (and dy None), h_n.backward(dh_n) instead: a loss on the final state.
    hx(h0, c0) makes the module's state argument; zero_grad, the module's, when m is a
    function calling it. Returns the module's output."""
    (zero_grad or m.zero_grad)(set_to_none=True)
    for t in (xg, h0g, c0g):
        if t is not None:
            t.grad = None
    out = m(xg, hx(h0g, c0g))
    if dh_n is not None:
        h_n = out[1][0] if isinstance(out[1], tuple) else out[1]
        h_n.backward(dh_n)
    else:
        out[0].backward(dy)
    return out


class TorchImpl:
    name = "torch"

    def __init__(self, p, m=None):
        """m: the module to run (rnnfast.torch's own, RNNFAST_TORCH_ONLY), else torch's."""
        import torch
        self.torch = torch
        self.p = p
        self.lstm = p.mode in ("lstm", "layernorm_lstm")
        self.m = _torch_module(p) if m is None else m
        self.x = torch.from_numpy(p.x.copy())
        self.h0, self.c0 = _torch_states(torch, p)
        lengths = getattr(p, "lengths", None)
        self.lengths = None if lengths is None else torch.from_numpy(lengths.copy())
        self.dy = None if p.dy is None else torch.from_numpy(p.dy.copy())
        dh_n = getattr(p, "dh_n", None)
        self.dh_n = None if dh_n is None else torch.from_numpy(dh_n.copy())
        # Leaves with requires_grad for the training step: rnnfast computes dx, dh0, dc0 too.
        self.xg = self.x.clone().requires_grad_(True)
        self.h0g = self.h0.clone().requires_grad_(True)
        self.c0g = self.c0.clone().requires_grad_(True) if self.lstm else None

    def _hx(self, h0, c0):
        return (h0, c0) if self.lstm else h0

    def _module(self, x, hx):
        """The module's call; with lengths through torch's packed path (unsorted) and back to
        the padded layout, as a user of variable lengths writes it."""
        if self.lengths is None:
            return self.m(x, hx)
        rnn = self.torch.nn.utils.rnn
        packed = rnn.pack_padded_sequence(x, self.lengths, enforce_sorted=False)
        out, state = self.m(packed, hx)
        return rnn.pad_packed_sequence(out, total_length=self.p.T)[0], state

    def infer(self):
        with self.torch.no_grad():
            return self._module(self.x, self._hx(self.h0, self.c0))

    def train(self):
        return module_train_step(self._module, self.xg, self.h0g, self.c0g, self._hx, self.dy,
                                 self.dh_n, zero_grad=self.m.zero_grad)

    def _state(self, t):
        """A state or its gradient in the case's layout ([B,H] for one layer, else [L*D,B,H])."""
        return None if t is None else t.detach().numpy().reshape(self.p.state_shape)

    def infer_results(self, r):
        y, hx = r
        h_n, c_n = hx if self.lstm else (hx, None)
        return {"y": y.detach().numpy(), "h_n": self._state(h_n), "c_n": self._state(c_n)}

    def train_results(self, r):
        """The outputs and the gradients of the train() call just made."""
        out = self.infer_results(r)
        out.update(dx=self.xg.grad.numpy(), dh0=self._state(self.h0g.grad),
                   dc0=self._state(self.c0g.grad) if self.lstm else None)
        params = dict(self.m.named_parameters())
        keys = dict(self.p.grad_keys)
        # the cell's extras (a one-layer case's gamma_x_l0, ...) under functional's keywords
        keys.update({f"{k}_l0": k for k in getattr(self.p, "extras", {}) if f"{k}_l0" in params})
        for name, key in keys.items():
            g = params[name].grad
            out[key] = None if g is None else g.numpy()
        return out


class RnnfastTorchImpl(TorchImpl):
    """rnnfast.torch: the same torch module converted in place (rnnfast.torch.convert), called
    and trained exactly as torch's: what a torch user gets from the one-line change."""
    name = "rnnfast.torch"

    def __init__(self, p):
        import rnnfast.torch as rtorch
        cls = RNNFAST_TORCH_ONLY.get(p.mode)
        if cls is None:
            super().__init__(p)
            rtorch.convert(self.m)
            return
        import torch
        m = getattr(rtorch, cls)(p.I, p.H)  # one layer, as the case
        m.load_state_dict({k: torch.from_numpy(a) for k, a in
                           {**p.params, **{f"{k}_l0": v for k, v in p.extras.items()}}.items()})
        super().__init__(p, m.float().eval())


def rnnfast_torch_available():
    """Whether rnnfast.torch imports (torch installed)."""
    if torch_version() is None:
        return False
    try:
        import rnnfast.torch  # noqa: F401
    except ImportError:
        return False
    return True


def make_rnnfast_torch(p, threads):
    """An RnnfastTorchImpl for the case, or None without torch. Sets torch's thread count."""
    if not rnnfast_torch_available():
        return None
    set_torch_threads(threads)
    return RnnfastTorchImpl(p)


def make_torch(p, threads):
    """A TorchImpl for the case, or None without torch. Sets torch's thread count."""
    if torch_version() is None:
        return None
    set_torch_threads(threads)
    return TorchImpl(p)


def _flat_module(torch, m, lstm):
    """Wrap the module so that it returns flat outputs (y, h_n[, c_n]), as ONNX export needs."""
    class Flat(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = m

        def forward(self, x, h0, c0=None):
            if lstm:
                y, (h_n, c_n) = self.m(x, (h0, c0))
                return y, h_n, c_n
            y, h_n = self.m(x, h0)
            return y, h_n

    return Flat().eval()


def _export(torch, module, args, path, names_in, names_out):
    """torch.onnx.export, quietly: the TorchScript exporter first (fast), then the dynamo one."""
    errors = []
    for dynamo in (False, True):
        sink = io.StringIO()
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(sink), \
                    contextlib.redirect_stderr(sink):
                warnings.simplefilter("ignore")
                torch.onnx.export(module, args, path, input_names=names_in,
                                  output_names=names_out, dynamo=dynamo)
            if os.path.exists(path):
                return None
            errors.append(f"dynamo={dynamo}: no file written")
        except Exception as e:  # any exporter failure just costs the column
            msg = str(e).strip().splitlines()
            errors.append(f"dynamo={dynamo}: {type(e).__name__}: {msg[0] if msg else ''}")
    return "; ".join(errors)


class OnnxImpl:
    name = "onnxruntime"
    train = None  # inference only

    def __init__(self, session, feeds, lstm):
        self.session = session
        self.feeds = feeds
        self.lstm = lstm

    def infer(self):
        return self.session.run(None, self.feeds)

    def infer_results(self, r):
        return {"y": r[0], "h_n": r[1], "c_n": r[2] if self.lstm else None}


def make_onnxruntime(p, threads, notes):
    """An OnnxImpl for the case, or None (with a note) when torch, onnxruntime or export fail."""
    if torch_version() is None or onnxruntime_version() is None:
        return None
    if getattr(p, "lengths", None) is not None:
        notes.append(f"{p.cell} {p.size}: no onnxruntime column (the export takes no lengths)")
        return None
    import onnxruntime as ort
    import torch

    lstm = p.mode == "lstm"
    module = _flat_module(torch, _torch_module(p), lstm)
    x = torch.from_numpy(p.x.copy())
    h0, c0 = _torch_states(torch, p)
    args = (x, h0, c0) if lstm else (x, h0)
    names_in = ["x", "h0", "c0"][:len(args)]
    names_out = ["y", "h_n", "c_n"][:len(args)]
    label = f"{p.cell} {p.size}"
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, f"{p.cell}.onnx")
        err = _export(torch, module, args, path, names_in, names_out)
        if err is not None:
            notes.append(f"{label}: onnxruntime column skipped, torch.onnx.export failed ({err})")
            return None
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # onnxruntime's workers spin between and after runs, as they do by default: turning
        # spinning off slows it when its idle core must be woken up (docs/ARCHITECTURE.md); the
        # suite instead waits for the spinning to end before timing the next one.
        try:
            session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        except Exception as e:
            notes.append(f"{label}: onnxruntime column skipped, the exported model does not "
                         f"load ({type(e).__name__}: {e})")
            return None
    # Feed by position: exporters may rename inputs, never reorder them.
    arrays = [a.numpy() for a in args]
    inputs = session.get_inputs()
    if len(inputs) != len(arrays):
        notes.append(f"{label}: onnxruntime column skipped, the exported model takes "
                     f"{len(inputs)} inputs, expected {len(arrays)}")
        return None
    feeds = {i.name: a for i, a in zip(inputs, arrays, strict=True)}
    return OnnxImpl(session, feeds, lstm)


# The layer-normalized cells have no torch.nn module: their peer is the cell written as a
# torch.nn.Module time loop (what a torch user writes, issue 6760 of torch), the per-step cell
# compiled with TorchScript when that works in this torch (otherwise eager), the input
# product and its normalization hoisted out of the loop as one batched call.
LOOPED = ("layernorm_lstm", "layernorm_gru")


def _loop_cells(torch):
    """(lstm_step, gru_step, scripted): the two cells' steps, TorchScript'ed where possible."""
    F = torch.nn.functional

    def lstm_step(px, h, c, w_hh, gamma_h, b, gamma_c, beta_c):
        # px: LN(W_ih x) * gamma_x + b_ih for this step; b: b_hh
        G = w_hh.size(0)
        a = px + F.layer_norm(torch.mm(h, w_hh.t()), [G], gamma_h, b)
        i, f, g, o = a.chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        H = c.size(1)
        h = torch.sigmoid(o) * torch.tanh(F.layer_norm(c, [H], gamma_c, beta_c))
        return h, c

    def gru_step(px, h, w_hh, gamma_h, b):
        # px: LN(W_ih x) * gamma_x + b_ih for this step; b: b_hh
        G = w_hh.size(0)
        v = F.layer_norm(torch.mm(h, w_hh.t()), [G], gamma_h, b)
        u_r, u_z, u_n = px.chunk(3, 1)
        v_r, v_z, v_n = v.chunk(3, 1)
        r = torch.sigmoid(u_r + v_r)
        z = torch.sigmoid(u_z + v_z)
        n = torch.tanh(u_n + r * v_n)
        return (1 - z) * n + z * h

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.jit.script(lstm_step), torch.jit.script(gru_step), True
    except Exception:  # no TorchScript in this torch: the eager cell is the peer
        return lstm_step, gru_step, False


def _loop_module(torch, p):
    """A torch.nn.Module holding the case's weights under rnnfast.nn's names (the extras as
    gamma_x_l0, ...), whose forward(x, hx) runs the cell's time loop; and whether its step
    is TorchScript'ed."""
    F = torch.nn.functional
    lstm_step, gru_step, scripted = _loop_cells(torch)
    lstm = p.mode == "layernorm_lstm"
    G = p.w_ih.shape[0]

    class Loop(torch.nn.Module):
        def __init__(self):
            super().__init__()
            for name, a in (*p.params.items(), *((f"{k}_l0", v) for k, v in p.extras.items())):
                self.register_parameter(name, torch.nn.Parameter(torch.from_numpy(a.copy())))

        def forward(self, x, hx):
            h, c = hx if lstm else (hx, None)
            h, c = h[0], None if c is None else c[0]
            # every step's LN(W_ih x) * gamma_x + b_ih in one call
            px = F.layer_norm(torch.matmul(x, self.weight_ih_l0.t()), [G], self.gamma_x_l0,
                              self.bias_ih_l0)
            ys = []
            for t in range(x.shape[0]):
                if lstm:
                    h, c = lstm_step(px[t], h, c, self.weight_hh_l0, self.gamma_h_l0,
                                     self.bias_hh_l0, self.gamma_c_l0, self.beta_c_l0)
                else:
                    h = gru_step(px[t], h, self.weight_hh_l0, self.gamma_h_l0, self.bias_hh_l0)
                ys.append(h)
            y = torch.stack(ys)
            return y, ((h[None], c[None]) if lstm else h[None])

    return Loop(), scripted


class TorchLoopImpl(TorchImpl):
    """A layer-normalized cell as a torch.nn.Module loop (see LOOPED), trained as TorchImpl
    trains torch's modules; the extras' gradients are checked too."""
    name = "torch loop"

    def __init__(self, p):
        import torch
        if p.mode not in LOOPED:
            raise ValueError(f"cell: expected one of {LOOPED}, got {p.cell!r}")
        if getattr(p, "lengths", None) is not None:
            raise ValueError(f"{p.cell}: the torch loop takes no lengths")
        self.torch = torch
        self.p = p
        self.lstm = p.mode == "layernorm_lstm"
        self.m, self.scripted = _loop_module(torch, p)
        self.x = torch.from_numpy(p.x.copy())
        self.h0, self.c0 = _torch_states(torch, p)
        self.lengths = None
        self.dy = torch.from_numpy(p.dy.copy())
        self.dh_n = None
        self.xg = self.x.clone().requires_grad_(True)
        self.h0g = self.h0.clone().requires_grad_(True)
        self.c0g = self.c0.clone().requires_grad_(True) if self.lstm else None

    def train_results(self, r):
        out = super().train_results(r)
        params = dict(self.m.named_parameters())
        for k in self.p.extras:
            out[k] = params[f"{k}_l0"].grad.numpy()
        return out


def make_torch_loop(p, threads):
    """A TorchLoopImpl for a LOOPED case, or None without torch. Sets torch's thread count."""
    if torch_version() is None:
        return None
    set_torch_threads(threads)
    return TorchLoopImpl(p)
