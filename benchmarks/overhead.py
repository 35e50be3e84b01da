"""Python overhead per op: rnnfast's autograd, modules and recurrent cells against torch's, at
tiny sizes where the arithmetic is negligible and the cost is the bookkeeping (graph nodes,
dtype and shape checks, module calls, the kernels' argument checks).

Run from the repository root (needs torch; threadpoolctl, when installed, limits NumPy's BLAS
to the same thread count):

    python benchmarks/overhead.py                 # 2 threads, 15 rounds
    python benchmarks/overhead.py --threads 1 --rounds 25 --json overhead.json

Every case is one small callable per framework that runs the op ``n`` times; rounds are
interleaved (each round times every case of both frameworks, in alternating order) and each
figure is the median over rounds of the time per op. The ops' inputs require grad (each call
records a node) unless the case says ``no_grad``; ``backward/op`` is the backward walk of a
chain of ops divided by its length. The two loops at the end are the issue's program: an
LSTMCell stepped by hand for 100 steps at batch 8 with a loss summed over the steps, trained
(forward and backward), and the same cell at batch 1 without gradients. Before timing, the
loop's loss and one weight gradient are checked against torch's (same weights). The last row
is a product large enough for a threaded BLAS (64x128 @ 128x128, with grad) followed by an
LSTM layer's forward (T=10, B=32, H=128): the cost of the two together shows whether the
product's threads get in the way of the next kernel call.

Not here: large sizes (python -m rnnfast), whole programs (python -m rnnfast --programs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

B, F = 8, 64          # the tiny operands: (B, F) activations, (F, F) weights
I, H, T = 32, 64, 100  # the LSTMCell loop: input and hidden size, steps


def _threadpool_limits(n):
    """Limit NumPy's BLAS to n threads if threadpoolctl is installed (else leave it)."""
    try:
        import threadpoolctl
    except ImportError:
        return None
    return threadpoolctl.threadpool_limits(n, user_api="blas")


def build_cases(rf, torch):
    """[(name, n, rnnfast callable, torch callable)]: each callable runs its op n times."""
    rng = np.random.default_rng(0)

    def pair(*shape, grad=True):
        a = rng.standard_normal(shape).astype(np.float32)
        return (rf.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad))

    (ra, ta), (rb, tb) = pair(B, F), pair(B, F)
    rw, tw = pair(F, F)
    rbias, tbias = pair(F)
    rseq, tseq = pair(T, B, F, grad=False)
    r_lin, t_lin = rf.nn.Linear(F, F), torch.nn.Linear(F, F)
    r_lstm, t_lstm = rf.nn.LSTMCell(I, H), torch.nn.LSTMCell(I, H)
    r_gru, t_gru = rf.nn.GRUCell(I, H), torch.nn.GRUCell(I, H)
    rx, tx = pair(B, I, grad=False)
    rh, th = pair(B, H)
    rx1, tx1 = pair(1, I, grad=False)
    rh1, th1 = pair(1, H, grad=False)

    def loop(n, fn):
        def run():
            for _ in range(n):
                fn()
        return run

    def no_grad(mod, n, fn):
        def run():
            with mod.no_grad():
                for _ in range(n):
                    fn()
        return run

    def chain(mod, x, n):
        def run():
            y = x
            for _ in range(n // 2):
                y = y * 0.5 + 1.0
            y.sum().backward()
        return run

    def chain_forward(mod, x, n):
        def run():
            y = x
            for _ in range(n // 2):
                y = y * 0.5 + 1.0
        return run

    n = 200
    cases = [
        ("add", n, loop(n, lambda: ra + rb), loop(n, lambda: ta + tb)),
        ("add no_grad", n, no_grad(rf, n, lambda: ra + rb), no_grad(torch, n, lambda: ta + tb)),
        ("add bias (broadcast)", n, loop(n, lambda: ra + rbias), loop(n, lambda: ta + tbias)),
        ("mul scalar", n, loop(n, lambda: ra * 0.5), loop(n, lambda: ta * 0.5)),
        ("matmul 8x64 @ 64x64", n, loop(n, lambda: ra @ rw), loop(n, lambda: ta @ tw)),
        ("sum", n, loop(n, lambda: ra.sum()), loop(n, lambda: ta.sum())),
        ("tanh", n, loop(n, lambda: ra.tanh()), loop(n, lambda: ta.tanh())),
        ("sigmoid", n, loop(n, lambda: ra.sigmoid()), loop(n, lambda: ta.sigmoid())),
        ("getitem x[t]", n, loop(n, lambda: rseq[5]), loop(n, lambda: tseq[5])),
        ("cat dim=1", n, loop(n, lambda: rf.cat([ra, rb], dim=1)),
         loop(n, lambda: torch.cat([ta, tb], dim=1))),
        ("Linear(64, 64)", n, loop(n, lambda: r_lin(ra)), loop(n, lambda: t_lin(ta))),
        ("LSTMCell step B=8", n, loop(n, lambda: r_lstm(rx, (rh, rh))),
         loop(n, lambda: t_lstm(tx, (th, th)))),
        ("GRUCell step B=8", n, loop(n, lambda: r_gru(rx, rh)), loop(n, lambda: t_gru(tx, th))),
        ("LSTMCell step B=1 no_grad", n, no_grad(rf, n, lambda: r_lstm(rx1, (rh1, rh1))),
         no_grad(torch, n, lambda: t_lstm(tx1, (th1, th1)))),
        ("chain forward/op", n, chain_forward(rf, ra, n), chain_forward(torch, ta, n)),
        ("chain forward+backward/op", n, chain(rf, ra, n), chain(torch, ta, n)),
    ]
    return cases


def build_loops(rf, torch):
    """The issue's LSTMCell loops: [(name, rnnfast callable, torch callable)], the cells
    sharing torch's initial weights; checks the trained loop's loss and gradient first."""
    torch.manual_seed(0)
    t_cell = torch.nn.LSTMCell(I, H)
    r_cell = rf.nn.LSTMCell(I, H)
    r_cell.load_state_dict({k: v.detach().numpy() for k, v in t_cell.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((T, B, I)).astype(np.float32)
    rx, tx = rf.tensor(x), torch.tensor(x)

    def train(mod, cell, xs, zeros):
        def run():
            h = c = zeros(B, H)
            loss = 0
            for t in range(T):
                h, c = cell(xs[t], (h, c))
                loss = loss + h.sum()
            loss.backward()
            return loss
        return run

    def infer(mod, cell, xs, zeros):
        def run():
            with mod.no_grad():
                h = c = zeros(1, H)
                for t in range(T):
                    h, c = cell(xs[t, :1], (h, c))
            return h
        return run

    def rzeros(*s):
        return rf.tensor(np.zeros(s, np.float32))

    r_train, t_train = train(rf, r_cell, rx, rzeros), train(torch, t_cell, tx, torch.zeros)
    lr, lt = float(r_train()), float(t_train().detach())
    gr, gt = r_cell.weight_hh.grad, t_cell.weight_hh.grad.numpy()
    if not (abs(lr - lt) <= 1e-4 * max(1.0, abs(lt))
            and np.allclose(gr, gt, rtol=1e-3, atol=1e-3 * np.abs(gt).max())):
        raise SystemExit(f"check failed: LSTMCell loop loss {lr} (rnnfast) against {lt} "
                         f"(torch), weight_hh grad max diff {np.abs(gr - gt).max()}")
    r_cell.zero_grad()
    t_cell.zero_grad()

    # a threaded-BLAS-sized product, then a kernel call
    r_lstm, t_lstm = rf.nn.LSTM(128, 128), torch.nn.LSTM(128, 128)
    rng = np.random.default_rng(2)
    a, w = (rng.standard_normal(s).astype(np.float32) for s in ((64, 128), (128, 128)))
    seq = rng.standard_normal((10, 32, 128)).astype(np.float32)
    ra, rw = rf.tensor(a, requires_grad=True), rf.tensor(w, requires_grad=True)
    ta, tw = torch.tensor(a, requires_grad=True), torch.tensor(w, requires_grad=True)
    rseq, tseq = rf.tensor(seq), torch.tensor(seq)

    def product_then_layer(mod, a, w, layer, xs):
        def run():
            y = a @ w
            with mod.no_grad():
                layer(xs)
            return y
        return run

    return [("LSTMCell loop, 100 steps B=8, train", r_train, t_train),
            ("LSTMCell loop, 100 steps B=1, no_grad", infer(rf, r_cell, rx, rzeros),
             infer(torch, t_cell, tx, torch.zeros)),
            ("64x128 @ 128x128, then LSTM(128) T=10", product_then_layer(rf, ra, rw, r_lstm, rseq),
             product_then_layer(torch, ta, tw, t_lstm, tseq))]


def measure(items, rounds, warmup=2):
    """Median seconds of each callable over ``rounds`` interleaved rounds (the two frameworks'
    order alternating from round to round). items: [(key, callable)]."""
    samples = {k: [] for k, _ in items}
    for r in range(warmup + rounds):
        order = items if r % 2 == 0 else items[::-1]
        for key, fn in order:
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            if r >= warmup:
                samples[key].append(dt)
    return {k: statistics.median(v) for k, v in samples.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="threads of rnnfast, torch and BLAS")
    ap.add_argument("--rounds", type=int, default=11, help="interleaved timed rounds")
    ap.add_argument("--json", metavar="PATH", help="also write the medians as JSON")
    args = ap.parse_args(argv)

    import torch

    import rnnfast as rf

    load = os.getloadavg()[0]
    rf.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    limits = _threadpool_limits(args.threads)
    loops = build_loops(rf, torch)
    cases = build_cases(rf, torch)
    items = []
    for name, _n, fr, ft in cases:
        items += [((name, "rnnfast"), fr), ((name, "torch"), ft)]
    per_op = measure(items, args.rounds)
    items = []
    for name, fr, ft in loops:
        items += [((name, "rnnfast"), fr), ((name, "torch"), ft)]
    whole = measure(items, args.rounds)

    print(f"rnnfast {rf.__version__} | torch {torch.__version__} | numpy {np.__version__} | "
          f"python {sys.version.split()[0]} | threads {args.threads} | BLAS limited: "
          f"{'yes' if limits is not None else 'no (threadpoolctl missing)'}")
    print(f"medians of {args.rounds} interleaved rounds; torch/rnnfast above 1: rnnfast faster; "
          f"load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print()
    print(f"{'op (float32, tiny)':<40}{'rnnfast us':>12}{'torch us':>12}{'torch/rnnfast':>15}")
    rows = []
    for name, n, _, _ in cases:
        r, t = per_op[(name, "rnnfast")] / n * 1e6, per_op[(name, "torch")] / n * 1e6
        rows.append(dict(case=name, unit="us", rnnfast=r, torch=t))
        print(f"{name:<40}{r:>12.2f}{t:>12.2f}{t / r:>14.2f}x")
    print()
    print(f"{'program':<40}{'rnnfast ms':>12}{'torch ms':>12}{'torch/rnnfast':>15}")
    for name, _, _ in loops:
        r, t = whole[(name, "rnnfast")] * 1e3, whole[(name, "torch")] * 1e3
        rows.append(dict(case=name, unit="ms", rnnfast=r, torch=t))
        print(f"{name:<40}{r:>12.2f}{t:>12.2f}{t / r:>14.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(threads=args.threads, rounds=args.rounds, rows=rows,
                           load_average=[load, os.getloadavg()[0]]), f, indent=1)


if __name__ == "__main__":
    main()
