"""The non-recurrent ops of a training step -- Linear, Embedding, the losses, the optimizer
steps -- through rnnfast.nn / rnnfast.optim on the C++ kernels (rnnfast/ops.h), against the
NumPy code they replaced (still in the package: the path float16 data takes, forced here for
float32) and torch, at the sizes of the tutorial programs (a word-level language model over a
10,000-word vocabulary, 35 steps x 64 sequences = 2240 rows).

Each case first checks rnnfast's results against torch's, then times every implementation in
interleaved rounds (rnnfast.bench's time_tasks: the order rotated each round, the previous
implementation's spinning threads let go idle before the next one is timed, calls repeated up
to 2 ms a sample) and reports medians and the ratios to rnnfast. All three run at the same
thread count (rnnfast.set_num_threads, torch.set_num_threads and, with threadpoolctl
installed, NumPy's BLAS).

    python benchmarks/ops_bench.py [--rounds 15] [--threads N] [--cases linear,adam,...]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys

import numpy as np

import rnnfast
from rnnfast import nn, optim
from rnnfast.bench.suite import time_tasks
from rnnfast.nn import functional as F
from rnnfast.optim import optimizer as _optimizer

ROWS, VOCAB, EMB, HIDDEN = 35 * 64, 10000, 128, 256


@contextlib.contextmanager
def numpy_path():
    """rnnfast.nn / rnnfast.optim with the kernels switched off: the NumPy code beside them."""
    saved_dtype = F._kernel_dtype
    classes = (optim.SGD, optim.Adam, optim.RMSprop, optim.Adagrad)
    saved_steps = {c: c.__dict__.get("_kernel_step") for c in classes}
    F._kernel_dtype = lambda *a: None
    for c in classes:
        c._kernel_step = _optimizer.Optimizer._kernel_step
    try:
        yield
    finally:
        F._kernel_dtype = saved_dtype
        for c, f in saved_steps.items():
            if f is None:
                del c._kernel_step
            else:
                c._kernel_step = f


def _rng():
    return np.random.default_rng(0)


# ---- cases: each returns {impl: callable} and a check -----------------------------------------

def case_linear():
    rng = _rng()
    x = rng.standard_normal((ROWS, HIDDEN), dtype=np.float32)
    g = rng.standard_normal((ROWS, VOCAB), dtype=np.float32)
    lin = nn.Linear(HIDDEN, VOCAB)

    def ours():
        xt = rnnfast.tensor(x, requires_grad=True)
        lin.zero_grad()
        lin(xt).backward(g)
        return xt.grad, lin.weight.grad, lin.bias.grad

    def torch_fn(torch):
        tl = torch.nn.Linear(HIDDEN, VOCAB)
        with torch.no_grad():
            tl.weight.copy_(torch.tensor(lin.weight.data))
            tl.bias.copy_(torch.tensor(lin.bias.data))
        xt, gt = torch.tensor(x), torch.tensor(g)

        def run():
            xr = xt.clone().requires_grad_()
            tl.zero_grad()
            tl(xr).backward(gt)
            return xr.grad, tl.weight.grad, tl.bias.grad
        return run
    return f"Linear {HIDDEN}->{VOCAB}, {ROWS} rows, fwd+bwd", ours, torch_fn


def case_linear_fwd():
    rng = _rng()
    x = rng.standard_normal((ROWS, HIDDEN), dtype=np.float32)
    lin = nn.Linear(HIDDEN, VOCAB)

    def ours():
        with rnnfast.no_grad():
            return (lin(x).data,)

    def torch_fn(torch):
        tl = torch.nn.Linear(HIDDEN, VOCAB)
        with torch.no_grad():
            tl.weight.copy_(torch.tensor(lin.weight.data))
            tl.bias.copy_(torch.tensor(lin.bias.data))
        xt = torch.tensor(x)

        def run():
            with torch.no_grad():
                return (tl(xt),)
        return run
    return f"Linear {HIDDEN}->{VOCAB}, {ROWS} rows, inference", ours, torch_fn


def case_cross_entropy(smoothing=0.0):
    rng = _rng()
    z = rng.standard_normal((ROWS, VOCAB), dtype=np.float32) * 3
    t = rng.integers(0, VOCAB, ROWS)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=smoothing)

    def ours():
        zt = rnnfast.tensor(z, requires_grad=True)
        loss = loss_fn(zt, t)
        loss.backward()
        return loss.data, zt.grad

    def torch_fn(torch):
        zt, tt = torch.tensor(z), torch.tensor(t)
        tf = torch.nn.CrossEntropyLoss(label_smoothing=smoothing)

        def run():
            zr = zt.clone().requires_grad_()
            loss = tf(zr, tt)
            loss.backward()
            return loss, zr.grad
        return run
    extra = f", label_smoothing={smoothing}" if smoothing else ""
    return f"CrossEntropyLoss {ROWS}x{VOCAB}{extra}, fwd+bwd", ours, torch_fn


def case_embedding():
    rng = _rng()
    idx = rng.integers(0, VOCAB, (35, 64))
    g = rng.standard_normal((35, 64, EMB), dtype=np.float32)
    emb = nn.Embedding(VOCAB, EMB)

    def ours():
        emb.zero_grad()
        emb(idx).backward(g)
        return (emb.weight.grad,)

    def torch_fn(torch):
        te = torch.nn.Embedding(VOCAB, EMB)
        with torch.no_grad():
            te.weight.copy_(torch.tensor(emb.weight.data))
        it, gt = torch.tensor(idx), torch.tensor(g)

        def run():
            te.zero_grad()
            te(it).backward(gt)
            return (te.weight.grad,)
        return run
    return f"Embedding {VOCAB}x{EMB}, {ROWS} indices, fwd+bwd", ours, torch_fn


def case_bce():
    rng = _rng()
    x = rng.standard_normal((256, 1000), dtype=np.float32) * 2
    y = (rng.random((256, 1000)) < 0.3).astype(np.float32)
    pw = rng.uniform(0.5, 3.0, 1000).astype(np.float32)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pw)

    def ours():
        xt = rnnfast.tensor(x, requires_grad=True)
        loss = loss_fn(xt, y)
        loss.backward()
        return loss.data, xt.grad

    def torch_fn(torch):
        xt, yt = torch.tensor(x), torch.tensor(y)
        tf = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw))

        def run():
            xr = xt.clone().requires_grad_()
            loss = tf(xr, yt)
            loss.backward()
            return loss, xr.grad
        return run
    return "BCEWithLogitsLoss 256x1000, pos_weight (1000,), fwd+bwd", ours, torch_fn


def case_mse():
    rng = _rng()
    x = rng.standard_normal((ROWS, HIDDEN), dtype=np.float32)
    y = rng.standard_normal((ROWS, HIDDEN), dtype=np.float32)
    loss_fn = nn.MSELoss()

    def ours():
        xt = rnnfast.tensor(x, requires_grad=True)
        loss = loss_fn(xt, y)
        loss.backward()
        return loss.data, xt.grad

    def torch_fn(torch):
        xt, yt = torch.tensor(x), torch.tensor(y)

        def run():
            xr = xt.clone().requires_grad_()
            loss = torch.nn.functional.mse_loss(xr, yt)
            loss.backward()
            return loss, xr.grad
        return run
    return f"MSELoss {ROWS}x{HIDDEN}, fwd+bwd", ours, torch_fn


# A word-level language model's parameters: Embedding, a 1-layer LSTM, the output Linear.
LM_SHAPES = [(VOCAB, EMB), (4 * HIDDEN, EMB), (4 * HIDDEN, HIDDEN), (4 * HIDDEN,), (4 * HIDDEN,),
             (VOCAB, HIDDEN), (VOCAB,)]


def case_optimizer(name, **kw):
    rng = _rng()
    datas = [rng.standard_normal(s, dtype=np.float32) * 0.1 for s in LM_SHAPES]
    grads = [rng.standard_normal(s, dtype=np.float32) * 0.01 for s in LM_SHAPES]
    params = [nn.Parameter(d.copy()) for d in datas]
    for p, g in zip(params, grads):
        p.grad = g
    opt = getattr(optim, name)(params, **kw)
    opt.step()      # the state exists from here on, as in a training loop

    def ours():
        opt.step()
        return tuple(p.data for p in params)

    def torch_fn(torch):
        tp = [torch.nn.Parameter(torch.tensor(d.copy())) for d in datas]
        for p, g in zip(tp, grads):
            p.grad = torch.tensor(g)
        topt = getattr(torch.optim, name)(tp, **kw)
        topt.step()

        def run():
            topt.step()
            return tuple(tp)
        return run
    n = sum(int(np.prod(s)) for s in LM_SHAPES)
    opts = ", ".join(f"{k}={v}" for k, v in kw.items())
    return f"{name}({opts}) step, {n / 1e6:.2f}M params in {len(LM_SHAPES)} tensors", ours, \
        torch_fn


class _WordLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMB)
        self.lstm = nn.LSTM(EMB, HIDDEN)
        self.out = nn.Linear(HIDDEN, VOCAB)

    def forward(self, idx):
        y, _ = self.lstm(self.embed(idx))
        return self.out(y)


def case_word_lm():
    """One training step of the word-level language model: Embedding, LSTM, Linear over the
    vocabulary, cross entropy at every step, Adam (the LSTM is the same kernel in both
    rnnfast columns)."""
    rng = _rng()
    idx = rng.integers(0, VOCAB, (35, 64))
    tgt = rng.integers(0, VOCAB, (35, 64))
    rnnfast.manual_seed(0)
    model = _WordLM()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    init = {k: v.copy() for k, v in model.state_dict().items()}

    def ours():
        opt.zero_grad()
        loss = loss_fn(model(idx).reshape(-1, VOCAB), tgt.reshape(-1))
        loss.backward()
        opt.step()
        return (loss.data,)

    def torch_fn(torch):
        class TorchLM(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = torch.nn.Embedding(VOCAB, EMB)
                self.lstm = torch.nn.LSTM(EMB, HIDDEN)
                self.out = torch.nn.Linear(HIDDEN, VOCAB)

            def forward(self, i):
                y, _ = self.lstm(self.embed(i))
                return self.out(y)
        tm = TorchLM()
        tm.load_state_dict({k: torch.from_numpy(v) for k, v in init.items()})
        topt = torch.optim.Adam(tm.parameters(), lr=1e-3)
        it, tt = torch.from_numpy(idx), torch.from_numpy(tgt.reshape(-1))

        def run():
            topt.zero_grad()
            loss = torch.nn.functional.cross_entropy(tm(it).reshape(-1, VOCAB), tt)
            loss.backward()
            topt.step()
            return (loss,)
        return run
    return (f"word LM step: Embedding, LSTM {EMB}->{HIDDEN}, Linear, CE, Adam; 35x64", ours,
            torch_fn)


CASES = {
    "linear": case_linear,
    "linear_inference": case_linear_fwd,
    "cross_entropy": case_cross_entropy,
    "cross_entropy_smoothing": lambda: case_cross_entropy(0.1),
    "embedding": case_embedding,
    "bce_with_logits": case_bce,
    "mse": case_mse,
    "adam": lambda: case_optimizer("Adam", lr=1e-3),
    "adamw": lambda: case_optimizer("AdamW", lr=1e-3),
    "sgd": lambda: case_optimizer("SGD", lr=0.1, momentum=0.9),
    "rmsprop": lambda: case_optimizer("RMSprop", lr=1e-3),
    "adagrad": lambda: case_optimizer("Adagrad", lr=1e-2),
    "word_lm_step": case_word_lm,
}


# ---- driver -----------------------------------------------------------------------------------

def _blas_limit(threads):
    try:
        import threadpoolctl
    except ImportError:
        return contextlib.nullcontext()
    return threadpoolctl.threadpool_limits(threads, user_api="blas")


def _check(name, ours, theirs, torch):
    """rnnfast's results against torch's (float32: relative to each array's scale)."""
    for a, b in zip(ours, theirs):
        b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
        a = np.asarray(a)
        scale = max(float(np.abs(b).max()), 1e-30) if b.size else 1.0
        err = float(np.abs(a - b).max()) / scale if b.size else 0.0
        if not err <= 1e-4:
            raise SystemExit(f"{name}: rnnfast differs from torch by {err:.2e} (relative)")


def run_case(key, rounds, torch):
    title, ours, torch_fn = CASES[key]()
    impls = {"rnnfast": ours}
    theirs = torch_fn(torch) if torch is not None else None
    if theirs is not None:
        _check(title, ours(), theirs(), torch)
        impls["torch"] = theirs

    def numpy_fn():
        with numpy_path():
            return ours()
    impls["numpy"] = numpy_fn
    samples = time_tasks({(k, "step"): f for k, f in impls.items()}, rounds)
    return title, {k[0]: statistics.median(v) * 1e3 for k, v in samples.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--cases", default=",".join(CASES),
                    help="comma-separated, from: " + ", ".join(CASES))
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args(argv)
    torch = None
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ImportError:
            torch = None
    rnnfast.set_num_threads(args.threads)
    print(f"rnnfast {rnnfast.__version__} ({rnnfast._core.isa()}), {args.threads} thread(s), "
          f"{args.rounds} interleaved rounds, float32; medians in ms; ratio = time / rnnfast's")
    head = f"{'case':<62} {'rnnfast':>8} {'numpy':>8} {'ratio':>6}"
    if torch is not None:
        head += f" {'torch':>8} {'ratio':>6}"
    print(head)
    with _blas_limit(args.threads):
        for key in args.cases.split(","):
            title, med = run_case(key.strip(), args.rounds, torch)
            line = (f"{title:<62} {med['rnnfast']:8.2f} {med['numpy']:8.2f} "
                    f"{med['numpy'] / med['rnnfast']:6.2f}")
            if "torch" in med:
                line += f" {med['torch']:8.2f} {med['torch'] / med['rnnfast']:6.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())
