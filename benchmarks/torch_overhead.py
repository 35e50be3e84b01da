"""What an rnnfast.torch module costs per call beyond the kernels, against rnnfast.nn's module
and against the least any torch module over the same kernels can cost.

Three ways to run the same one-layer recurrent module (same weights, same kernels) at issue
#15's latency size (T = 100, B = 1, I = 64, H = 256) and at T = 1 (a cell step's size, where
the fixed cost is most of the call):

- ``rnnfast.nn``: rnnfast's own module and autograd;
- ``rnnfast.torch``: the torch module after ``rnnfast.torch.convert``;
- ``torch floor``: a bare ``torch.autograd.Function`` whose forward and backward call the same
  two kernels on NumPy views made once, with no argument checks, no module, no options, called
  through the C entry point of ``Function.apply`` (as rnnfast.torch calls its own): what
  torch's own autograd machinery (the Function's node, the backward engine, AccumulateGrad for
  the input and each parameter, ``Tensor.backward``'s argument handling) costs by itself.

Then (unless ``--no-engines``) the two autograds alone, on trivial graphs with the same five
leaves: one node (a bare Function; a node of rnnfast.nn's own) and a few built-in ops (torch's
C++ nodes): what torch's machinery costs against rnnfast.nn's, whatever the module over it.

A training step is ``zero_grad(set_to_none)``, the call, and ``y.backward(dy)``; inference is
the call under ``no_grad``. Each figure is the median over interleaved rounds (every way in
turn, each round ``--calls`` calls) of the time per call, and, since the kernels' own time
varies most on a shared machine, of the time outside the kernels (the step's time minus the
time spent in rnnfast's C++ forward and backward calls, read around each call).

    python benchmarks/torch_overhead.py                   # 2 threads, 40 rounds
    python benchmarks/torch_overhead.py --threads 1 --rounds 60 --cells lstm

Needs torch. Prints the CPU and the load average.
"""

import argparse
import os
import statistics
import sys
import time

CELLS = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN"}


class _Clock:
    """rnnfast's C++ module with its forward/backward timed: the seconds spent inside them."""

    def __init__(self, core):
        self._core, self.inside = core, 0.0

    def __getattr__(self, name):
        return getattr(self._core, name)

    def _timed(self, fn, args):
        t = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.inside += time.perf_counter() - t

    def forward(self, *a):
        return self._timed(self._core.forward, a)

    def backward(self, *a):
        return self._timed(self._core.backward, a)


def floor_function(torch, clock, cell_id, weights):
    """The bare autograd.Function: x -> (y, h_n[, c_n]) through the kernels, weights' views made
    once, gradients for x and the weights."""
    views = [w.detach().numpy() for w in weights]

    class Floor(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, *ws):
            xa = x.detach().numpy()
            y, h, c, res = clock.forward(cell_id, xa, *views, None, None, None, None, None,
                                         False, any(ctx.needs_input_grad), False)
            ctx.saved = xa, res, y
            out = (torch.from_numpy(y), torch.from_numpy(h))
            return out + (torch.from_numpy(c),) if c is not None else out

        @staticmethod
        def backward(ctx, dy, *_):
            xa, res, y = ctx.saved
            dx, _, _, *dw = clock.backward(cell_id, res, xa, *views, None, None, None, False,
                                           dy.numpy(), None, None, y, False)[:8]
            return (torch.from_numpy(dx), *[torch.from_numpy(a) for a in dw[:4]])

    # Function.apply's Python wrapper costs microseconds that a module need not pay (rnnfast.torch
    # calls the C entry point it ends in, as here)
    try:
        c_apply = super(torch.autograd.Function, Floor).apply
    except AttributeError:
        c_apply = Floor.apply
    Floor.apply_c = staticmethod(c_apply)
    return Floor


def build(torch, rnnfast, cell, T, clock):
    import rnnfast.nn as rnn
    import rnnfast.torch as rt
    name = CELLS[cell]
    cell_id = rnnfast._core.Cell(rnnfast._cells.cell_kind(cell).id)
    I, H = 64, 256
    torch.manual_seed(0)
    tm = getattr(torch.nn, name)(I, H)
    ours = rt.convert(getattr(torch.nn, name)(I, H))
    ours.load_state_dict(tm.state_dict())
    nm = getattr(rnn, name)(I, H)
    nm.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    params = list(tm.parameters())
    Floor = floor_function(torch, clock, cell_id, params)
    x = torch.randn(T, 1, I, requires_grad=True)
    dy = torch.randn(T, 1, H)
    xn = rnnfast.Tensor(x.detach().numpy().copy(), requires_grad=True)
    dyn = dy.numpy()

    def torch_step(m):
        def step():
            m.zero_grad(set_to_none=True)
            x.grad = None
            m(x)[0].backward(dy)
        return step

    def floor_step():
        tm.zero_grad(set_to_none=True)
        x.grad = None
        Floor.apply_c(x, *params)[0].backward(dy)

    def nn_step():
        nm.zero_grad()
        xn.grad = None
        nm(xn)[0].backward(dyn)

    def no_grad(fn, ctx):
        def run():
            with ctx():
                fn()
        return run

    # the floor computes what the module does: the same outputs and gradients
    for step in (torch_step(ours), floor_step):
        step()
    grads = [[p.grad for p in m.parameters()] for m in (ours, tm)]
    x.grad = None
    Floor.apply(x, *params)[0].backward(dy)
    dx_floor = x.grad
    x.grad = None
    ours(x)[0].backward(dy)
    for a, b in zip([x.grad, *grads[0]], [dx_floor, *grads[1]]):
        if not torch.allclose(a, b, rtol=1e-5, atol=1e-6):
            raise AssertionError(f"{cell}: the floor's gradients differ from rnnfast.torch's")

    return {
        ("train", "rnnfast.nn"): nn_step,
        ("train", "rnnfast.torch"): torch_step(ours),
        ("train", "torch floor"): floor_step,
        ("infer", "rnnfast.nn"): no_grad(lambda: nm(xn), rnnfast.no_grad),
        ("infer", "rnnfast.torch"): no_grad(lambda: ours(x), torch.no_grad),
        ("infer", "torch floor"): no_grad(lambda: Floor.apply_c(x, *params), torch.no_grad),
    }


def measure(cases, clock, rounds, calls):
    total = {k: [] for k in cases}
    outside = {k: [] for k in cases}
    for fn in cases.values():
        for _ in range(calls):
            fn()
    for r in range(rounds):
        keys = list(cases) if r % 2 == 0 else list(reversed(list(cases)))
        for k in keys:
            fn = cases[k]
            clock.inside = 0.0
            t = time.perf_counter()
            for _ in range(calls):
                fn()
            dt = time.perf_counter() - t
            total[k].append(dt / calls)
            outside[k].append((dt - clock.inside) / calls)
    return ({k: statistics.median(v) for k, v in total.items()},
            {k: statistics.median(v) for k, v in outside.items()})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--calls", type=int, default=20, help="calls per round and way")
    ap.add_argument("--cells", nargs="+", default=list(CELLS), choices=list(CELLS))
    ap.add_argument("--steps", nargs="+", type=int, default=[100, 1], help="sequence lengths")
    ap.add_argument("--no-engines", dest="engines", action="store_false",
                    help="skip the autograd engines' comparison on a trivial graph")
    args = ap.parse_args(argv)
    for name in ("threads", "rounds", "calls"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name}: expected at least 1, got {getattr(args, name)}")
    if min(args.steps) < 1:
        raise ValueError(f"--steps: expected lengths of at least 1, got {args.steps}")
    try:
        import torch
    except ImportError:
        sys.exit("torch_overhead.py needs torch (pip install torch)")
    import rnnfast
    import rnnfast.nn.rnn as nn_rnn
    import rnnfast.torch._ops as ops
    torch.set_num_threads(args.threads)
    rnnfast.set_num_threads(args.threads)
    core = ops._core
    clock = _Clock(core)
    ops._core = nn_rnn._core = clock
    try:
        report(torch, rnnfast, clock, args)
    finally:
        ops._core = nn_rnn._core = core
    return 0


def report(torch, rnnfast, clock, args):
    from rnnfast.bench.report import cpu_model
    print(f"# {cpu_model()}, {args.threads} thread(s), torch {torch.__version__}, load average "
          f"{os.getloadavg()[0]:.2f}; {args.rounds} rounds of {args.calls} calls; microseconds "
          "per call: total, and outside the kernels")
    print(f"{'cell':9s} {'T':>4s} {'phase':6s} {'way':14s} {'total':>9s} {'outside':>8s} "
          f"{'vs rnnfast.nn':>14s}")
    for cell in args.cells:
        for T in args.steps:
            total, outside = measure(build(torch, rnnfast, cell, T, clock), clock,
                                     args.rounds, args.calls)
            for (phase, way) in total:
                d = outside[(phase, way)] - outside[(phase, "rnnfast.nn")]
                diff = "" if way == "rnnfast.nn" else f"{d * 1e6:+.1f}"
                print(f"{cell:9s} {T:4d} {phase:6s} {way:14s} {total[(phase, way)] * 1e6:9.1f} "
                      f"{outside[(phase, way)] * 1e6:8.1f} {diff:>14s}")
    if args.engines:
        engines = measure_engines(torch, rnnfast, args.rounds, args.calls)
        print("# the machinery alone: a training step of trivial graphs over x (1, 1) and 4 "
              "parameters (see measure_engines), microseconds")
        for way, t in engines.items():
            print(f"engine    {way:28s} {t * 1e6:9.1f}")
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")


def measure_engines(torch, rnnfast, rounds, calls):
    """What each autograd costs by itself for a training step of trivial graphs over x (1, 1)
    and 4 parameters (W1, W2 (4, 1), b1, b2 (4,)), with no work to speak of: one node taking
    all five (torch: a bare autograd.Function, the floor's kind of node; rnnfast.nn: a node of
    its own autograd, as its modules make), and the expression x W1^T + b1 + x W2^T + b2 in
    built-in ops (torch's: C++ autograd nodes). Any torch module pays torch's side; a C++ node
    is not cheaper than the Function."""
    import numpy as np

    from rnnfast.tensor import _make
    tp = [torch.nn.Parameter(torch.randn(4, 1)) for _ in range(2)] + [
        torch.nn.Parameter(torch.randn(4)) for _ in range(2)]
    tx = torch.randn(1, 1, requires_grad=True)
    tdy = torch.randn(1, 4)

    class Bare(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w1, w2, b1, b2):
            return x.new_zeros(1, 4)

        @staticmethod
        def backward(ctx, g):
            return (torch.zeros(1, 1), torch.zeros(4, 1), torch.zeros(4, 1), torch.zeros(4),
                    torch.zeros(4))

    try:
        bare_apply = super(torch.autograd.Function, Bare).apply
    except AttributeError:
        bare_apply = Bare.apply
    rp = [rnnfast.nn.Parameter(p.detach().numpy().copy()) for p in tp]
    rx = rnnfast.Tensor(tx.detach().numpy().copy(), requires_grad=True)
    rdy = tdy.numpy()

    def bare_backward(g):
        return (np.zeros((1, 1), np.float32), np.zeros((4, 1), np.float32),
                np.zeros((4, 1), np.float32), np.zeros(4, np.float32), np.zeros(4, np.float32))

    def clear(ps, x):
        for p in ps:
            p.grad = None
        x.grad = None

    def torch_node():
        clear(tp, tx)
        bare_apply(tx, *tp).backward(tdy)

    def rnnfast_node():
        clear(rp, rx)
        _make(np.zeros((1, 4), np.float32), (rx, *rp), bare_backward, name="Bare").backward(rdy)

    def torch_ops():
        clear(tp, tx)
        (torch.addmm(tp[2], tx, tp[0].t()) + torch.addmm(tp[3], tx, tp[1].t())).backward(tdy)

    def rnnfast_ops():
        clear(rp, rx)
        (rx @ rp[0].T + rp[2] + rx @ rp[1].T + rp[3]).backward(rdy)

    ways = {"one node: torch Function": torch_node, "one node: rnnfast.nn": rnnfast_node,
            "ops: torch built-in (C++)": torch_ops, "ops: rnnfast.nn": rnnfast_ops}
    times = {k: [] for k in ways}
    for fn in ways.values():
        for _ in range(calls):
            fn()
    for r in range(rounds):
        for k in (list(ways) if r % 2 == 0 else list(reversed(list(ways)))):
            t = time.perf_counter()
            for _ in range(calls):
                ways[k]()
            times[k].append((time.perf_counter() - t) / calls)
    return {k: statistics.median(v) for k, v in times.items()}


if __name__ == "__main__":
    sys.exit(main())
