"""Benchmark cases: build one problem, check every implementation's results, then time them.

A case is one cell at one size (T, B, I, H) and one thread count. The cells are "lstm", "gru"
and "rnn_tanh" (one layer, one direction, through rnnfast.functional, the kernels' entry point)
and "lstm_2x_bi", a 2-layer bidirectional LSTM (rnnfast.nn.LSTM(I, H, num_layers=2,
bidirectional=True) against torch.nn.LSTM with the same weights; its size's I is the first
layer's input, the second layer's is 2H). Each case runs in four stages:

1. check: rnnfast's inference output, training output and every gradient are compared with the
   NumPy reference (run in float64, the oracle; for lstm_2x_bi its one-layer functions composed:
   both directions of layer 1, concatenated, into layer 2) and with torch when present; any
   mismatch raises MismatchError before anything is timed. Peers that fail their own check
   lose their column.
2. time: a warm-up, then ``repeats`` rounds in which every (implementation, phase) pair is timed
   once, interleaved (A B C A B C ...) and rotated each round, because the machines this runs on
   are noisy shared VMs; medians are reported. Between implementations the suite waits until
   the previous one's spinning threads are idle (see wait_idle: NumPy's OpenBLAS threads spin
   for 0.1 s after every call), then warms the next one up again (see time_tasks): otherwise,
   on 2 cores, each implementation is timed partly against its predecessor's thread pool.
3. GEMM rate: the machine's float32 matrix-product rate at the FLOP-matching shape and the same
   thread count (see gemm.py), measured once per (shape, threads) and run.
4. report: ms per call, GFLOP/s, percent of the GEMM rate and the speedup of rnnfast over every
   other implementation. After all cases, run() measures the peak memory of a training step of
   rnnfast and torch, each in a fresh process (see memory.py).

By default every case runs at 1 thread and at all cores (default_threads).

lstm_ragged times variable lengths (rnnfast's lengths=, torch's PackedSequence; no
onnxruntime column) beside the full batch of the same size. mingru and minlstm (the scan cells,
no recurrent weight) run at the "scan" size, a long sequence of a few rows (T=4096, B=8,
I=H=512), beside rnnfast's own gru and lstm of that size.

What it does not do: no projections, no float64 timing; NumPy's own BLAS
thread count is left as it is.
"""

from __future__ import annotations

import gc
import math
import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from .. import _cells, _core
from . import gemm as _gemm, memory as _memory, peers

__all__ = ["CELLS", "GATES", "QUICK_CASES", "QUICK_MEMORY_CASES", "QUICK_TOP_THREADS_ONLY",
           "SIZES", "STACKS", "MismatchError", "Problem", "StackedProblem", "all_cores",
           "default_threads", "flops", "gemm_shapes", "make_impl", "make_problem", "parse_size",
           "run", "run_case", "time_tasks", "wait_idle", "with_partners"]

# Module cells, run through rnnfast.nn: name -> (one-layer mode, layers, bidirectional, loss).
# loss "outputs": the training step's loss weighs every output (y.backward(dy)); "final": only
# the final state h_n (h_n.backward(dh_n)), the classic sequence classifier, whose gradients
# decay over the steps into the subnormal range (docs/NUMERICS.md): gru_bi_final against
# gru_bi shows what that costs.
STACKS = {"lstm_2x_bi": ("lstm", 2, True, "outputs"), "gru_bi": ("gru", 1, True, "outputs"),
          "gru_bi_final": ("gru", 1, True, "final")}
# Ragged cells: one layer with variable lengths (uniform in [1, T], one of them T), as
# lengths= (rnnfast, the reference) and as a PackedSequence (torch): name -> the one-layer cell,
# whose full batch at the same size runs beside it (the cost of the padding, or its absence).
RAGGED = {"lstm_ragged": "lstm"}
# Cell kinds torch has no module for (nn.GRU(reset_after=False), nn.LSTM(peephole=True),
# nn.IndRNN, nn.MinGRU, nn.MinLSTM, nn.LayerNormLSTM, nn.LayerNormGRU): one layer, checked
# against the NumPy reference, with no torch or onnxruntime column; the layer-normalized cells
# get an rnnfast.torch column (peers.RNNFAST_TORCH_ONLY) and a "torch loop" one (peers.LOOPED:
# the cell as a torch.nn.Module time loop, as torch users write it); beside "gru"
# and "lstm" at the same size they show what the variant costs, and IndRNN (no recurrent
# product: the input GEMM and an elementwise time loop) what a step without W_hh costs beside
# "rnn_tanh".
# The scan cells (minGRU, minLSTM; no W_hh: their matrix products are the input's only) each
# run beside the cell they replace, at the same size (the partner).
SCANS = {"mingru": "gru", "minlstm": "lstm"}
VARIANTS = ("gru_reset_before", "lstm_peephole", "indrnn_relu", *SCANS, "layernorm_lstm",
            "layernorm_gru")
CELLS = ("lstm", "gru", "rnn_tanh", *STACKS, *RAGGED, *VARIANTS)
# gates of each benchmark cell: its one-layer cell's (rnnfast._cells)
GATES = {c: _cells.GATES[c] for c in ("lstm", "gru", "rnn_tanh", *VARIANTS)}
GATES.update({s: _cells.GATES[STACKS[s][0]] for s in STACKS})
GATES.update({r: _cells.GATES[RAGGED[r]] for r in RAGGED})

# (T, B, I, H). "tiny" exists for smoke tests; it is never part of a default run.
SIZES = {
    "small": (50, 32, 64, 128),
    "medium": (100, 64, 256, 256),
    "large": (50, 64, 512, 512),
    "xlarge": (25, 32, 1024, 1024),
    "latency": (100, 1, 64, 256),
    "classifier": (200, 32, 128, 64),
    "long": (200, 64, 128, 256),
    "scan": (4096, 8, 512, 512),
    "tiny": (3, 2, 4, 5),
}
DEFAULT_SIZES = ("small", "medium", "large", "xlarge", "latency")
# The sizes a cell runs at when none are given (--full, or --cells without --sizes).
CELL_SIZES = {"lstm_2x_bi": ("medium",), "gru_bi": ("classifier",),
              "gru_bi_final": ("classifier",), "lstm_ragged": ("long",),
              **{v: ("medium", "latency") for v in VARIANTS},
              **{v: ("medium", "large", "latency") for v in peers.LOOPED},
              **{c: ("scan",) for c in SCANS}}

# What `python -m rnnfast` runs with no options, at 1 thread and at all cores: small enough
# for the NumPy reference to keep the whole run under a minute on a 2-core machine. Cases in
# QUICK_TOP_THREADS_ONLY run in the pass of the largest thread count only (lstm/medium at 1
# thread is the slowest case), and QUICK_MEMORY_CASES are the only ones whose memory is
# measured (each takes a fresh torch process).
QUICK_CASES = tuple([(c, s) for c in CELLS[:3] for s in ("small", "latency")]
                    + [("lstm", "medium")])
QUICK_TOP_THREADS_ONLY = (("lstm", "medium"),)
QUICK_MEMORY_CASES = (("lstm", "medium"),)

# Check tolerances for float32 results, scale-aware: |got - want| <= ATOL*max|want| + RTOL*|want|.
RTOL = 1e-4
ATOL = 1e-4
# The layer-normalized LSTM's float32 results drift further from float64 over a sequence than
# the other cells' (normalizing c_t before its tanh amplifies rounding where a row's spread is
# small): on the suite's medium case every float32 implementation is off by more than the
# tolerance above -- rnnfast by 3.2e-3 of the scale, the float32 NumPy reference by 1.7e-3,
# the torch loop by 1.1e-3 in y -- so its check widens by this factor (the other sizes: about
# 1e-4 for rnnfast, 6e-5 for the float32 reference).
CHECK_WIDER = {"layernorm_lstm": 50.0}

PHASES = ("infer", "train")

# Seconds of untimed calls (at least one) after every switch of implementation, see time_tasks.
REWARM = 0.03


class MismatchError(AssertionError):
    """rnnfast's result differs from the reference or a peer beyond the tolerance."""


def _structure(cell):
    """(one-layer mode, layers, directions) of a cell."""
    if cell not in GATES:
        raise ValueError(f"cell: expected one of {CELLS}, got {cell!r}")
    mode, layers, bidirectional, _ = STACKS.get(cell, (RAGGED.get(cell, cell), 1, False,
                                                       "outputs"))
    return mode, layers, 2 if bidirectional else 1


def gemm_shapes(cell, T, B, I, H):
    """The matrix products a forward call is worth: [(M, K, N, count)], one entry per layer,
    count = directions. Layer l's products equal [T*B x (I_l+H)] @ [(I_l+H) x G*H] in FLOPs
    (input and recurrent products side by side), with I_l = I for the first layer and D*H above.
    A cell without a recurrent product (IndRNN: u * h, elementwise) has the input product only,
    [T*B x I_l] @ [I_l x G*H].
    """
    mode, layers, D = _structure(cell)
    G = GATES[mode]
    rec = 0 if _cells.cell_kind(mode).recurrence != "product" else H
    return [(T * B, (I if layer == 0 else D * H) + rec, G * H, D) for layer in range(layers)]


def flops(cell, T, B, I, H, phase="infer"):
    """Floating-point operations of one call, counting the matrix products only.

    Forward: 2*T*B*G*H*(I+H) (input and recurrent products; IndRNN 2*T*B*H*I, see gemm_shapes;
    the scan cells 2*T*B*G*H*I, they have no recurrent product), summed over layers and
    directions for a stacked cell (the second layer's input size is 2H for lstm_2x_bi); a
    training step (forward + backward) counts as 3x forward, since backward does two products
    of the same size.
    """
    f = sum(2.0 * m * k * n * count for m, k, n, count in gemm_shapes(cell, T, B, I, H))
    return 3.0 * f if phase == "train" else f


def parse_size(spec):
    """A size name from SIZES, or "TxBxIxH" (e.g. "3x2x4x5"). Returns (label, (T, B, I, H))."""
    if isinstance(spec, (tuple, list)):
        dims = tuple(int(d) for d in spec)
        label = "x".join(map(str, dims))
    elif spec in SIZES:
        return spec, SIZES[spec]
    else:
        try:
            dims = tuple(int(d) for d in str(spec).lower().split("x"))
        except ValueError:
            dims = ()
        label = str(spec)
    if len(dims) != 4 or min(dims) < 1:
        raise ValueError(f"size: expected one of {sorted(SIZES)} or TxBxIxH with positive "
                         f"integers, got {spec!r}")
    return label, dims


@dataclass
class Problem:
    """One case's data, float32, time-major, PyTorch layout; h0 [B,H], c0 [B,H] (lstm only)."""

    cell: str
    size: str
    T: int
    B: int
    I: int  # the shape legend's name
    H: int
    x: np.ndarray
    w_ih: np.ndarray
    w_hh: np.ndarray | None  # None for the scan cells (SCANS), as b_hh
    b_ih: np.ndarray
    b_hh: np.ndarray | None  # None for IndRNN (one bias; its w_hh is u, [H]) and the scan cells
    h0: np.ndarray
    c0: np.ndarray | None
    dy: np.ndarray
    lengths: np.ndarray | None = None  # ragged cells: [B] int64
    # the cell's extra parameters by functional's keywords (lstm_peephole: w_p [3*H];
    # layernorm_*: the gains and shift)
    extras: dict = field(default_factory=dict)

    layers = 1
    bidirectional = False

    @property
    def mode(self):
        return RAGGED.get(self.cell, self.cell)

    @property
    def grad_keys(self):
        """torch parameter name -> the key of its gradient in the results (functional's)."""
        return {k: g for k, g in (("weight_ih_l0", "w_ih"), ("weight_hh_l0", "w_hh"),
                                  ("bias_ih_l0", "b_ih"), ("bias_hh_l0", "b_hh"))
                if k in self.params}

    @property
    def dims(self):
        return self.T, self.B, self.I, self.H

    @property
    def state_shape(self):
        return self.B, self.H

    @property
    def params(self):
        """The weights under torch's state_dict names (those the cell has)."""
        every = {"weight_ih_l0": self.w_ih, "weight_hh_l0": self.w_hh, "bias_ih_l0": self.b_ih,
                 "bias_hh_l0": self.b_hh}
        return {k: v for k, v in every.items() if v is not None}

    def states(self):
        """h0, c0 (None unless lstm) in torch's layout [L*D,B,H]."""
        return self.h0[None], None if self.c0 is None else self.c0[None]

    def arrays(self, dtype=np.float32):
        """The inputs as keyword arguments of functional/reference.forward, cast to dtype."""
        def cast(a):
            return None if a is None else a.astype(dtype)
        return {"x": cast(self.x), "w_ih": cast(self.w_ih), "w_hh": cast(self.w_hh),
                "b_ih": cast(self.b_ih), "b_hh": cast(self.b_hh), "h0": cast(self.h0),
                "c0": cast(self.c0), "lengths": self.lengths,
                **{k: cast(v) for k, v in self.extras.items()}}

    @property
    def token_fraction(self):
        """The share of the T*B positions that are real steps (1 without lengths)."""
        return 1.0 if self.lengths is None else float(self.lengths.sum()) / (self.T * self.B)


@dataclass
class StackedProblem:
    """A stacked cell's data (see STACKS): x [T,B,I]; params under torch's state_dict names;
    h0, c0 [L*D,B,H] (c0 lstm only); the loss gradient: dy [T,B,D*H] wrt the output (loss
    "outputs"), or dh_n [L*D,B,H] wrt the final state (loss "final", dy None)."""

    cell: str
    size: str
    T: int
    B: int
    I: int
    H: int
    mode: str
    layers: int
    bidirectional: bool
    x: np.ndarray
    params: dict
    h0: np.ndarray
    c0: np.ndarray | None
    dy: np.ndarray | None
    dh_n: np.ndarray | None = None

    @property
    def dims(self):
        return self.T, self.B, self.I, self.H

    @property
    def directions(self):
        return 2 if self.bidirectional else 1

    @property
    def state_shape(self):
        return self.layers * self.directions, self.B, self.H

    @property
    def grad_keys(self):
        return {name: name for name in self.params}

    def states(self):
        return self.h0, self.c0


def make_problem(cell, size, seed=0):
    """Random inputs and weights, initialised as PyTorch does: U(-1/sqrt(H), 1/sqrt(H))."""
    mode, layers, D = _structure(cell)
    label, (T, B, I, H) = parse_size(size)
    rng = np.random.default_rng(seed)
    G = GATES[mode]
    k = 1.0 / math.sqrt(H)

    def u(*shape, scale=k):
        return rng.uniform(-scale, scale, size=shape).astype(np.float32)

    lstm = _cells.cell_kind(mode).has_c
    if cell not in STACKS:
        p = Problem(
            cell=cell, size=label, T=T, B=B, I=I, H=H,
            x=u(T, B, I, scale=1.0), w_ih=u(G * H, I), w_hh=u(G * H, H), b_ih=u(G * H),
            b_hh=u(G * H), h0=u(B, H, scale=0.5), c0=u(B, H, scale=0.5) if lstm else None,
            dy=rng.standard_normal((T, B, H)).astype(np.float32))
        for name, blocks in _cells.cell_kind(mode).extras:  # gains around 1, the rest around 0
            start = 1.0 if name.startswith("gamma") else 0.0
            p.extras[_cells.arg_name(name)] = (start + u(blocks * H)).astype(np.float32)
        if _cells.cell_kind(mode).recurrence == "diagonal":  # IndRNN: u ~ U(0, 1), as nn.IndRNN
            p.w_hh = rng.uniform(0, 1, size=H).astype(np.float32)
            p.b_hh = None
        if cell in SCANS:  # drawn as for the others, so that x and dy are the partner's too
            p.w_hh = p.b_hh = None
        if cell in RAGGED:
            lengths = rng.integers(1, T + 1, size=B)
            lengths[rng.integers(0, B)] = T  # the padded output keeps its T steps
            p.lengths = lengths.astype(np.int64)
        return p
    x = u(T, B, I, scale=1.0)
    params = {}
    for layer in range(layers):  # torch's names, in its order
        in_size = I if layer == 0 else D * H
        for d in range(D):
            sfx = f"_l{layer}{'_reverse' if d else ''}"
            params["weight_ih" + sfx] = u(G * H, in_size)
            params["weight_hh" + sfx] = u(G * H, H)
            params["bias_ih" + sfx] = u(G * H)
            params["bias_hh" + sfx] = u(G * H)
    LD = layers * D
    h0 = u(LD, B, H, scale=0.5)
    c0 = u(LD, B, H, scale=0.5) if lstm else None
    if STACKS[cell][3] == "final":
        dy, dh_n = None, rng.standard_normal((LD, B, H)).astype(np.float32)
    else:
        dy, dh_n = rng.standard_normal((T, B, D * H)).astype(np.float32), None
    return StackedProblem(
        cell=cell, size=label, T=T, B=B, I=I, H=H, mode=mode, layers=layers,
        bidirectional=D == 2, x=x, params=params, h0=h0, c0=c0, dy=dy, dh_n=dh_n)


# ----------------------------------------------------------------------------- implementations
# Each implementation exposes infer() and train() (the timed calls, returning whatever is
# natural for it) and infer_results(r) / train_results(r), which turn those returns into NumPy
# arrays for the check: y, h_n, c_n and, for training, the gradients dx, dh0, dc0, w_ih, w_hh,
# b_ih, b_hh. train is None where an implementation cannot train.

class _ArrayResults:
    """infer() returns (y, h_n, c_n), train() (y, h_n, c_n, {gradient name: array})."""

    @staticmethod
    def infer_results(r):
        return {"y": r[0], "h_n": r[1], "c_n": r[2]}

    @staticmethod
    def train_results(r):
        return {"y": r[0], "h_n": r[1], "c_n": r[2], **r[3]}


class RnnfastImpl(_ArrayResults):
    name = "rnnfast"

    def __init__(self, p):
        from .. import functional  # imported here so that --help works without the C++ module
        self._f = functional  # looked up per call, so tests can monkeypatch the kernels
        self.p = p
        self.kw = p.arrays(np.float32)

    def infer(self):
        kw = self.kw
        return self._f.forward(self.p.mode, kw["x"], kw["w_ih"], kw["w_hh"], kw["b_ih"],
                               kw["b_hh"], h0=kw["h0"], c0=kw["c0"], lengths=kw["lengths"],
                               training=False, **self._extras())

    def _extras(self):
        return {k: self.kw[k] for k in self.p.extras}

    def train(self):
        kw, cell = self.kw, self.p.mode
        y, h_n, c_n, reserve = self._f.forward(cell, kw["x"], kw["w_ih"], kw["w_hh"], kw["b_ih"],
                                               kw["b_hh"], h0=kw["h0"], c0=kw["c0"],
                                               lengths=kw["lengths"], training=True,
                                               **self._extras())
        grads = self._f.backward(cell, reserve, kw["x"], kw["w_ih"], kw["w_hh"], kw["b_ih"],
                                 kw["b_hh"], y=y, dy=self.p.dy, lengths=kw["lengths"],
                                 **self._extras())
        return y, h_n, c_n, grads



class ReferenceImpl(RnnfastImpl):
    """The NumPy reference; with dtype=float64 it is the oracle of the check."""

    name = "numpy"

    def __init__(self, p, dtype=np.float32):
        from .. import reference
        self._r = reference
        self.p = p
        self.kw = p.arrays(dtype)
        self.dy = p.dy.astype(dtype)

    def infer(self):
        return self._r.forward(self.p.mode, **self.kw)

    def train(self):
        y, h_n, c_n, cache = self._r.forward(self.p.mode, **self.kw)
        return y, h_n, c_n, self._r.backward(cache, dy=self.dy)


class RnnfastStackImpl:
    """A stacked cell through rnnfast.nn (the module users call): inference under no_grad,
    training as forward + backward of the scalar loss (y*dy).sum(), passed as y.backward(dy)
    as torch's column does (or (h_n*dh_n).sum() as h_n.backward(dh_n) for a "final" loss),
    with fresh gradients for x, h0, c0 and every parameter."""

    name = "rnnfast"

    def __init__(self, p):
        import rnnfast  # here, so that --help works without the C++ module
        self.rf = rnnfast
        self.p = p
        cls = {"lstm": rnnfast.nn.LSTM, "gru": rnnfast.nn.GRU, "rnn_tanh": rnnfast.nn.RNN}[p.mode]
        self.m = cls(p.I, p.H, num_layers=p.layers, bidirectional=p.bidirectional)
        self.m.load_state_dict(p.params)
        self.lstm = p.mode == "lstm"
        self.xg = rnnfast.tensor(p.x, requires_grad=True)
        self.h0g = rnnfast.tensor(p.h0, requires_grad=True)
        self.c0g = rnnfast.tensor(p.c0, requires_grad=True) if self.lstm else None

    def _hx(self, h0, c0):
        return (h0, c0) if self.lstm else h0

    def infer(self):
        with self.rf.no_grad():
            return self.m(self.p.x, self._hx(self.p.h0, self.p.c0))

    def train(self):
        return peers.module_train_step(self.m, self.xg, self.h0g, self.c0g, self._hx, self.p.dy,
                                       self.p.dh_n)

    def infer_results(self, r):
        y, hx = r
        h_n, c_n = hx if self.lstm else (hx, None)
        return {"y": y.numpy(), "h_n": h_n.numpy(), "c_n": None if c_n is None else c_n.numpy()}

    def train_results(self, r):
        """The outputs and every gradient of the train() call just made (None where one is
        missing, which the check reports)."""
        out = self.infer_results(r)
        out.update(dx=self.xg.grad, dh0=self.h0g.grad,
                   dc0=self.c0g.grad if self.lstm else None)
        params = dict(self.m.named_parameters())
        for name in self.p.params:
            out[name] = params[name].grad if name in params else None
        return out


class ReferenceStackImpl(_ArrayResults):
    """A stacked cell in the NumPy reference: its one-layer, one-direction forward and backward
    composed as torch stacks them (both directions of a layer read the layer's input; their
    outputs, concatenated forward then reverse, are the next layer's input). With
    dtype=float64 it is the oracle of the check."""

    name = "numpy"

    def __init__(self, p, dtype=np.float32):
        from .. import reference
        self._r = reference
        self.p = p
        self.x = p.x.astype(dtype)
        self.w = {k: v.astype(dtype) for k, v in p.params.items()}
        self.h0 = p.h0.astype(dtype)
        self.c0 = None if p.c0 is None else p.c0.astype(dtype)
        D = p.directions
        self.dy = (np.zeros((p.T, p.B, D * p.H), dtype) if p.dy is None else p.dy.astype(dtype))
        self.dh_n = None if p.dh_n is None else p.dh_n.astype(dtype)

    def _forward(self):
        p, w = self.p, self.w
        D = p.directions
        layer_in, h_n, c_n, caches = self.x, [], [], []
        for layer in range(p.layers):
            outs = []
            for d in range(D):
                k, sfx = layer * D + d, f"_l{layer}{'_reverse' if d else ''}"
                y, h, c, cache = self._r.forward(
                    p.mode, layer_in, w["weight_ih" + sfx], w["weight_hh" + sfx],
                    w["bias_ih" + sfx], w["bias_hh" + sfx], h0=self.h0[k],
                    c0=None if self.c0 is None else self.c0[k], reverse=bool(d))
                outs.append(y)
                h_n.append(h)
                c_n.append(c)
                caches.append(cache)
            layer_in = np.concatenate(outs, axis=2) if D > 1 else outs[0]
        c_n = np.stack(c_n) if self.c0 is not None else None
        return layer_in, np.stack(h_n), c_n, caches

    def infer(self):
        return self._forward()

    def train(self):
        y, h_n, c_n, caches = self._forward()
        p, H, D = self.p, self.p.H, self.p.directions
        grads, dh0, dc0 = {}, [None] * len(caches), [None] * len(caches)
        dy = self.dy
        for layer in reversed(range(p.layers)):
            dx = 0
            for d in range(D):
                k, sfx = layer * D + d, f"_l{layer}{'_reverse' if d else ''}"
                top = self.dh_n is not None and layer == p.layers - 1
                g = self._r.backward(caches[k], dy=dy[:, :, d * H:(d + 1) * H],
                                     dh_n=self.dh_n[k] if top else None)
                dx = dx + g["dx"]  # both directions read the layer's input
                dh0[k], dc0[k] = g["dh0"], g["dc0"]
                for kind, key in (("weight_ih", "w_ih"), ("weight_hh", "w_hh"),
                                  ("bias_ih", "b_ih"), ("bias_hh", "b_hh")):
                    grads[kind + sfx] = g[key]
            dy = dx
        out = {"dx": dy, "dh0": np.stack(dh0),
               "dc0": np.stack(dc0) if self.c0 is not None else None}
        out.update((name, grads[name]) for name in p.params)  # torch's order
        return y, h_n, c_n, out



def make_impl(p, name, dtype=np.float32):
    """rnnfast's or the NumPy reference's implementation of a problem ("rnnfast" or "numpy")."""
    stacked = isinstance(p, StackedProblem)
    if name == "rnnfast":
        return RnnfastStackImpl(p) if stacked else RnnfastImpl(p)
    if name == "numpy":
        return ReferenceStackImpl(p, dtype) if stacked else ReferenceImpl(p, dtype)
    raise ValueError(f"name: expected 'rnnfast' or 'numpy', got {name!r}")


# ----------------------------------------------------------------------------- checking

def compare(label, name, got, want, rtol=RTOL, atol=ATOL):
    """Raise MismatchError unless got matches want; return the max error relative to max|want|."""
    if want is None:
        return None
    if got is None:
        raise MismatchError(f"{label}: {name} is missing (expected an array of shape "
                            f"{np.shape(want)})")
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        if got.size != want.size:  # torch's h_n is [1,B,H] where ours is [B,H]
            raise MismatchError(f"{label}: {name} has shape {got.shape}, expected {want.shape}")
        got = got.reshape(want.shape)
    if not np.all(np.isfinite(got)):
        raise MismatchError(f"{label}: {name} contains NaN or inf")
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    scale = scale if scale > 0 else 1.0
    err = np.abs(got - want)
    # Below the smallest normal float32 the kernels flush results to zero (docs/NUMERICS.md):
    # a gradient that decayed that far (a loss on the final state of a long sequence) is zero.
    floor = max(atol * scale, float(np.finfo(np.float32).tiny))
    bad = err > floor + rtol * np.abs(want)
    if np.any(bad):
        idx = np.unravel_index(int(np.argmax(np.where(bad, err, -1))), err.shape)
        raise MismatchError(
            f"{label}: {name} differs: max |error| {err.max():.3g} at {tuple(map(int, idx))} "
            f"(got {got[idx]:.6g}, expected {want[idx]:.6g}); tolerance {floor:.3g} + "
            f"{rtol:g}*|expected|; {int(bad.sum())} of {bad.size} elements out of tolerance")
    return float(err.max() / scale) if err.size else 0.0


def compare_all(label, got, want, rtol=RTOL, atol=ATOL):
    """Compare every array that `want` has; return {name: relative error}."""
    return {k: compare(label, k, got.get(k), v, rtol, atol)
            for k, v in want.items() if v is not None and k in got}


def check_case(p, impls, oracle, notes, rtol=RTOL, atol=ATOL):
    """Check rnnfast against the oracle and the torch peer; drop peers that fail their own check.

    Returns {"against": [...], "errors": {against: {phase: {name: rel. error}}}}. Raises
    MismatchError when rnnfast is wrong.
    """
    case = f"{p.cell} {p.size} {'x'.join(map(str, p.dims))}"
    fast = impls["rnnfast"]
    wants = {}
    if oracle is not None:
        wants["numpy reference (float64)"] = oracle
    if "torch" in impls:
        wants["torch"] = impls["torch"]
    # Inference first: a wrong forward is reported as such, not by the training step it
    # feeds (whose backward rejects a y that disagrees with its own reserve).
    fast_inf = fast.infer_results(fast.infer())
    errors = {against: {"infer": compare_all(f"{case}: rnnfast inference vs {against}",
                                             fast_inf, impl.infer_results(impl.infer()),
                                             rtol, atol)}
              for against, impl in wants.items()}
    fast_tr = fast.train_results(fast.train())
    for against, impl in wants.items():
        errors[against]["train"] = compare_all(f"{case}: rnnfast training step vs {against}",
                                               fast_tr, impl.train_results(impl.train()),
                                               rtol, atol)
    # Peers without gradients (onnxruntime) are checked against rnnfast, now known good.
    for name in [n for n in impls if n not in ("rnnfast", "torch")]:
        impl = impls[name]
        try:
            compare_all(f"{case}: {name} inference vs rnnfast", impl.infer_results(impl.infer()),
                        fast_inf, rtol, atol)
            if impl.train is not None and name != "numpy":
                compare_all(f"{case}: {name} training step vs rnnfast",
                            impl.train_results(impl.train()), fast_tr, rtol, atol)
        except MismatchError as e:
            if name == "numpy":  # the float32 reference disagreeing is a reference bug: loud
                raise
            notes.append(f"{case}: {name} column skipped, its result disagrees: {e}")
            del impls[name]
    return {"against": list(wants), "errors": errors}


# ----------------------------------------------------------------------------- timing

def _time_once(fn, number):
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def _running_threads(me):
    """How many of this process's threads other than ``me`` are running or runnable (state R
    in /proc/self/task/*/stat); None where /proc is not there (not Linux)."""
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return None
    n = 0
    for tid in tids:
        if tid == me:
            continue
        try:
            with open(f"/proc/self/task/{tid}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # the thread ended meanwhile
            continue
        # "tid (comm) state ...": comm may hold spaces and parentheses, the last ")" ends it.
        if stat[stat.rfind(b")") + 2:stat.rfind(b")") + 3] == b"R":
            n += 1
    return n


def wait_idle(max_wait=0.5, poll=0.0005, quiet=0.025):
    """Sleep until no other thread of the process burns CPU, for at most ``max_wait`` seconds.

    Thread pools (OpenBLAS under NumPy, onnxruntime, libgomp) spin after a call before they
    sleep, and a spinning pool steals the cores of whatever is timed next (how long and how
    much: docs/ARCHITECTURE.md, "Benchmark suite"). Returns the seconds waited.

    On Linux the threads' scheduler states are polled every ``poll`` seconds: idle is no other
    thread running or runnable in two polls in a row. A spinning thread is always runnable, so
    this sees it at once. CPU times cannot: the kernel adds the CPU time of a thread running on
    another core only at scheduler ticks (every 4 or 10 ms), so over a short window a thread
    spinning flat out often shows none. Elsewhere, the fallback therefore waits for a window
    of ``quiet`` seconds (several ticks) in which the process's CPU time grows by less than a
    fifth of it while this thread sleeps.
    """
    t0 = time.perf_counter()
    me = str(threading.get_native_id())
    calm = 0
    while time.perf_counter() - t0 < max_wait:
        n = _running_threads(me)
        if n is None:
            break
        calm = calm + 1 if n == 0 else 0
        if calm >= 2:
            return time.perf_counter() - t0
        time.sleep(poll)
    else:
        return time.perf_counter() - t0
    while time.perf_counter() - t0 < max_wait:
        c0 = time.process_time()
        time.sleep(quiet)
        if time.process_time() - c0 < 0.2 * quiet:
            break
    return time.perf_counter() - t0


def time_tasks(tasks, repeats, warmup=1, min_sample=0.002, settle=0.5):
    """Seconds per call of every task, timed interleaved.

    ``tasks`` maps (implementation, phase) keys to zero-argument callables. After ``warmup``
    calls each, every task gets a call count so that one sample lasts at least ``min_sample``
    seconds (faster calls drown in timer noise); then ``repeats`` rounds time each task once,
    in an order rotated by one each round. Returns {key: [seconds per call of each sample]}.

    Whenever the implementation changes (in the warm-up too, whose times set the call counts),
    the previous one's threads are first let go idle (``wait_idle``, at most ``settle``
    seconds; 0 skips both steps) and, in the timed rounds, the next one is called untimed for
    at least ``REWARM`` seconds (at least once): after an idle pause the first calls are slower
    on a VM (threads, vCPUs and caches warm up again); one call was not enough
    (docs/ARCHITECTURE.md, "Benchmark suite").
    """
    keys = list(tasks)
    previous = [None]

    def switch_to(k, call):
        if settle > 0 and k[0] != previous[0]:
            wait_idle(settle)
            # The pools just waited out may have made rnnfast's teams late (another
            # implementation's spinning threads): start the next one without that backoff.
            reset = getattr(_core, "_reset_thread_backoff", None)
            if reset is not None:
                reset()
            if call:
                t0 = time.perf_counter()
                tasks[k]()
                while time.perf_counter() - t0 < REWARM:
                    tasks[k]()
        previous[0] = k[0]

    number = {}
    for k in keys:
        switch_to(k, call=False)
        first = None
        for _ in range(max(1, warmup)):
            t = _time_once(tasks[k], 1)
            first = t if first is None else min(first, t)
        number[k] = max(1, min(1000, math.ceil(min_sample / max(first, 1e-9))))
    samples = {k: [] for k in keys}
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()  # as timeit does: a collection in one sample is noise, not the kernel
    try:
        for r in range(repeats):
            shift = r % len(keys)
            for k in keys[shift:] + keys[:shift]:
                switch_to(k, call=True)
                samples[k].append(_time_once(tasks[k], number[k]))
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


# ----------------------------------------------------------------------------- running

@dataclass
class Options:
    repeats: int = 7
    warmup: int = 1
    min_sample: float = 0.002
    settle: float = 0.5
    reference: bool = True
    torch: bool = True
    onnxruntime: bool = True
    check: bool = True
    rtol: float = RTOL
    atol: float = ATOL
    seed: int = 0
    gemm_repeats: int = 5


def run_case(cell, size, threads, opts, notes, gemm_cache=None):
    """Check and time one case; return its result dict (see run). gemm_cache: a dict shared
    by the cases of a run, so that each (GEMM shape, threads) is measured once."""
    t_start = time.perf_counter()
    p = make_problem(cell, size, seed=opts.seed)
    impls = {"rnnfast": make_impl(p, "rnnfast")}
    if opts.reference:
        impls["numpy"] = make_impl(p, "numpy")
    if (opts.torch or opts.onnxruntime) and cell in VARIANTS:
        own = opts.torch and cell in peers.RNNFAST_TORCH_ONLY  # rnnfast.torch's own module
        rt = peers.make_rnnfast_torch(p, threads) if own else None
        if rt is not None:
            impls["rnnfast.torch"] = rt
        loop = peers.make_torch_loop(p, threads) if opts.torch and cell in peers.LOOPED else None
        if loop is not None:
            impls[loop.name] = loop
            if not loop.scripted:
                notes.append(f"{cell} {p.size}: the torch loop's step runs eagerly (TorchScript "
                             "failed to compile it)")
        notes.append(f"{cell} {p.size}: torch has no such cell (no torch"
                     + (" or" if own else ", rnnfast.torch or") + " onnxruntime column"
                     + ("; a torch loop of the cell instead)" if loop is not None else ")"))
    elif opts.torch:
        t = peers.make_torch(p, threads)
        if t is not None:
            impls["torch"] = t
        rt = peers.make_rnnfast_torch(p, threads)
        if rt is not None:
            impls["rnnfast.torch"] = rt
    if opts.onnxruntime and opts.torch and cell not in VARIANTS:
        o = peers.make_onnxruntime(p, threads, notes)
        if o is not None:
            impls["onnxruntime"] = o

    check = None
    if opts.check:
        oracle = make_impl(p, "numpy", np.float64) if opts.reference else None
        wider = CHECK_WIDER.get(cell, 1.0)
        check = check_case(p, impls, oracle, notes, opts.rtol * wider, opts.atol * wider)
        if not check["against"]:
            notes.append(f"{cell} {p.size}: rnnfast unchecked (no reference and no torch)")

    tasks = {}
    for name, impl in impls.items():
        tasks[(name, "infer")] = impl.infer
        if impl.train is not None:
            tasks[(name, "train")] = impl.train
    samples = time_tasks(tasks, opts.repeats, opts.warmup, opts.min_sample, opts.settle)
    del tasks, impls  # free the problem's peers before the GEMM's buffers are made

    T, B, I, H = p.dims
    shapes = gemm_shapes(cell, T, B, I, H)
    gemm = _gemm.rate(shapes, threads, _gemm.libraries(opts.torch, threads), cache=gemm_cache,
                      repeats=opts.gemm_repeats, min_sample=opts.min_sample, settle=opts.settle)

    results = {}
    share = getattr(p, "token_fraction", 1.0)  # a ragged batch's real steps only
    for (name, phase), s in samples.items():
        med = float(np.median(s))
        gflops = share * flops(cell, *p.dims, phase) / med / 1e9
        results.setdefault(name, {})[phase] = {
            "median_ms": med * 1e3,
            "min_ms": float(np.min(s)) * 1e3,
            "samples_ms": [v * 1e3 for v in s],
            "gflops": gflops,
            "pct_gemm": 100.0 * gflops / gemm["gflops"],
        }
    speedup = {}
    for name, res in results.items():
        if name == "rnnfast":
            continue
        speedup[name] = {ph: res[ph]["median_ms"] / results["rnnfast"][ph]["median_ms"]
                         for ph in res if ph in results["rnnfast"]}
    return {"cell": cell, "size": p.size, "T": T, "B": B, "I": I, "H": H, "threads": threads,
            "layers": p.layers, "bidirectional": p.bidirectional,
            "flops": {ph: flops(cell, T, B, I, H, ph) for ph in PHASES},
            "results": results, "speedup": speedup, "gemm": gemm, "check": check,
            "wall_s": time.perf_counter() - t_start}


def _case(cell, size):
    """Validate one (cell, size) pair early, before anything runs."""
    _structure(cell)
    parse_size(size)
    return cell, size


def _cases(cells, sizes):
    """The (cell, size) pairs of a run; a ragged cell brings its full-batch partner along."""
    if cells is None and sizes is None:
        return list(QUICK_CASES)
    cells = list(cells) if cells is not None else list(CELLS)
    out = []
    for c in cells:
        for s in (sizes if sizes is not None else CELL_SIZES.get(c, DEFAULT_SIZES)):
            out.append(_case(c, s))
    return with_partners(out)


def with_partners(cases):
    """cases, with the partner of each ragged case (its full batch) and of each scan case (the
    cell it replaces) appended where missing."""
    out = list(cases)
    for c, s in cases:
        partner = RAGGED.get(c) or SCANS.get(c)
        if partner and (partner, s) not in out:
            out.append((partner, s))
    return out


def run(cells=None, sizes=None, threads=None, repeats=7, warmup=1, *, reference=True,
        torch=True, onnxruntime=True, check=True, min_sample=0.002, settle=0.5, seed=0,
        keep_going=False, cases=None, on_case=None, memory=True, memory_steps=3,
        gemm_repeats=5, top_threads_only=None):
    """Run the suite and return a report dict (JSON-serialisable).

    cells, sizes: lists (sizes: names from SIZES, "TxBxIxH" strings or (T, B, I, H) tuples),
    run as their product (a cell's default sizes, CELL_SIZES or DEFAULT_SIZES, where sizes is
    None); both None runs the quick default (QUICK_CASES, with QUICK_TOP_THREADS_ONLY and
    QUICK_MEMORY_CASES unless top_threads_only or memory say otherwise); or cases, an
    explicit list of (cell, size) pairs.
    threads: an int or a list of ints (default: default_threads(), 1 and all cores); each
    count is one pass over the cases, rnnfast, torch, onnxruntime and the GEMM rate running with
    the same count; (cell, size) pairs in top_threads_only run in the largest count's pass only.
    repeats: timed rounds; settle: see time_tasks.
    reference/torch/onnxruntime=False skip that implementation. With keep_going, a case
    whose check fails is recorded under "failures" instead of raising MismatchError.
    on_case(report, case) is called after every case (the CLI prints rows as they finish).
    memory: after the passes, measure the peak memory of ``memory_steps`` training steps of
    rnnfast and torch for every (cell, size) that ran (True), only those of a list of
    (cell, size) pairs, or none (False); each in a fresh process (memory.py), at the largest
    thread count.

    The report holds "environment", "options", "implementations", "cases" (one dict per case:
    cell, size, T, B, I, H, threads, layers, bidirectional, flops, results[impl][phase] with
    median_ms, min_ms, samples_ms, gflops, pct_gemm; speedup[impl][phase] = impl time /
    rnnfast time; gemm, the GEMM rate (gemm.rate); check), "memory" (memory.measure_cases, or
    None), "notes" and "failures".
    """
    import rnnfast

    from . import report as _report

    opts = Options(repeats=max(1, int(repeats)), warmup=max(0, int(warmup)),
                   min_sample=float(min_sample), settle=float(settle), reference=reference,
                   torch=torch, onnxruntime=onnxruntime, check=check, seed=seed,
                   gemm_repeats=max(1, int(gemm_repeats)))
    quick = cases is None and cells is None and sizes is None
    cases = _cases(cells, sizes) if cases is None else with_partners(
        [_case(c, s) for c, s in cases])
    if quick and top_threads_only is None:
        top_threads_only = QUICK_TOP_THREADS_ONLY
    if quick and memory is True:
        memory = list(QUICK_MEMORY_CASES)
    top_only = {(c, parse_size(s)[0]) for c, s in top_threads_only or ()}
    thread_list = _thread_list(threads)
    notes = []
    skipped = [f"{c}/{s}" for c, s in cases if (c, parse_size(s)[0]) in top_only]
    if skipped and len(set(thread_list)) > 1:
        notes.append(f"{', '.join(skipped)}: run at {max(thread_list)} threads only"
                     + (" (the quick default, to stay under a minute)" if quick else ""))
    impls = ["rnnfast"] + (["numpy"] if reference else [])
    if torch:
        if peers.torch_version() is not None:
            impls.append("torch")
            if peers.rnnfast_torch_available():
                impls.append("rnnfast.torch")
            if any(c in peers.LOOPED for c, _ in cases):
                impls.append(peers.TorchLoopImpl.name)
        else:
            notes.append("torch not importable: torch and onnxruntime columns skipped")
    if torch and onnxruntime and "torch" in impls:
        if peers.onnxruntime_version() is not None:
            impls.append("onnxruntime")
        else:
            notes.append("onnxruntime not importable: onnxruntime column skipped")

    options = dict(vars(opts))
    options.update(cases=[[c, parse_size(s)[0]] for c, s in cases], threads=thread_list,
                   top_threads_only=sorted(map(list, top_only)),
                   rewarm=REWARM if opts.settle > 0 else 0.0,
                   memory=memory if isinstance(memory, bool) else [list(m) for m in memory],
                   memory_steps=int(memory_steps))
    rep = {"environment": _report.environment(thread_list), "options": options,
           "implementations": impls, "cases": [], "memory": None,
           "gemm_libraries": [_gemm.describe(lib) for lib in _gemm.libraries(torch)],
           "notes": notes,
           "failures": []}

    old_threads = _get_threads(rnnfast)
    if old_threads is None:
        notes.append("rnnfast.set_num_threads is missing: rnnfast ran with its default thread "
                     "count, the peers with the count shown")
    old_torch = peers.get_torch_threads() if "torch" in impls else None
    gemm_cache = {}
    try:
        for n in thread_list:
            _set_threads(rnnfast, n)
            if "torch" in impls:
                peers.set_torch_threads(n)
            for cell, size in cases:
                if n != max(thread_list) and (cell, parse_size(size)[0]) in top_only:
                    continue
                try:
                    case = run_case(cell, size, n, opts, notes, gemm_cache)
                except MismatchError as e:
                    if not keep_going:
                        raise
                    case = {"cell": cell, "size": parse_size(size)[0], "threads": n,
                            "error": str(e)}
                    rep["failures"].append(case)
                else:
                    rep["cases"].append(case)
                if on_case is not None:
                    on_case(rep, case)
    finally:
        if old_threads is not None:
            _set_threads(rnnfast, old_threads)
        if old_torch is not None:
            peers.set_torch_threads(old_torch)
    if memory:
        todo = list(dict.fromkeys((c["cell"], c["size"]) for c in rep["cases"]))
        if memory is not True:  # a list of (cell, size): those of them that ran
            wanted = {(c, parse_size(s)[0]) for c, s in memory}
            todo = [cs for cs in todo if cs in wanted]
        rep["memory"] = _memory.measure_cases(
            todo, ["rnnfast"] + (["torch"] if "torch" in impls else []), max(thread_list),
            steps=memory_steps, seed=seed)
    return rep


def _get_threads(rnnfast):
    get = getattr(rnnfast, "get_num_threads", None)
    return int(get()) if callable(get) else None


def _set_threads(rnnfast, n):
    set_ = getattr(rnnfast, "set_num_threads", None)
    if callable(set_):
        set_(int(n))


def all_cores():
    """The cores this process may run on (its CPU affinity), else os.cpu_count()."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_threads():
    """The default thread passes: 1 thread, then all cores (just [1] on one core)."""
    n = all_cores()
    return [1, n] if n > 1 else [1]


def _thread_list(threads):
    if threads is None:
        return default_threads()
    if isinstance(threads, int):
        threads = [threads]
    out = [int(t) for t in threads]
    if not out or min(out) < 1:
        raise ValueError(f"threads: expected positive integers, got {threads!r}")
    return out
