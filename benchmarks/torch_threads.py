"""Whether rnnfast's threads and torch's get in each other's way when a torch program mixes
their work (issue #15: no oversubscription when both run).

rnnfast.torch runs its kernels on rnnfast's own OpenMP team (the libgomp that rnnfast._core
links) and torch runs its ops on its own (the libgomp copy inside torch's wheel); both teams
have ``torch.get_num_threads()`` threads unless ``rnnfast.set_num_threads`` was called. A model
calls one op after the other, so the two teams never have work at the same time; but each
runtime's idle threads spin for a while after a parallel region before they sleep, so an op that
starts right after the other runtime's op can share the cores with spinning threads.

For each case, timed interleaved (every way in turn, each round ``--calls`` calls), medians:

- ``rnnfast alone``: the converted layer (torch.nn.LSTM after rnnfast.torch.convert) called
  back to back;
- ``rnnfast after torch``: the same call right after a torch op that runs on torch's threads
  (``--torch-op``: a Linear(1024, 1024) over 256 rows, or an LSTM of the case's size on
  torch.nn), the rnnfast call's time only;
- ``torch alone`` and ``torch after rnnfast``: the same for the torch op;

and the threads the process holds (``/proc/self/task``). Cases: the latency size (T = 100,
B = 1, I = 64, H = 256) in inference and training, and the medium size (T = 100, B = 64,
I = H = 256) in inference.

    python benchmarks/torch_threads.py                  # 2 threads, 30 rounds
    python benchmarks/torch_threads.py --rnnfast-threads 1

Needs torch. Prints the CPU and the load average.
"""

import argparse
import os
import statistics
import sys
import time

CASES = {"latency": (100, 1, 64, 256), "medium": (100, 64, 256, 256)}


def _threads():
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def build(torch, rt, case, phase, torch_op):
    T, B, I, H = CASES[case]
    torch.manual_seed(0)
    ours = rt.convert(torch.nn.LSTM(I, H))
    x = torch.randn(T, B, I, requires_grad=phase == "train")
    dy = torch.randn(T, B, H)
    if torch_op == "linear":
        lin = torch.nn.Linear(1024, 1024)
        xl = torch.randn(256, 1024)

        def theirs():
            with torch.no_grad():
                lin(xl)
    else:
        tm = torch.nn.LSTM(I, H)
        xt = torch.randn(T, B, I)

        def theirs():
            with torch.no_grad():
                tm(xt)

    if phase == "train":
        def rnnfast_call():
            ours.zero_grad(set_to_none=True)
            x.grad = None
            ours(x)[0].backward(dy)
    else:
        def rnnfast_call():
            with torch.no_grad():
                ours(x)
    return rnnfast_call, theirs


def measure(first, second, rounds, calls):
    """Median seconds of ``second`` called alone, and right after ``first``: [alone, after]."""
    alone, after = [], []
    for _ in range(calls):
        first()
        second()
    for r in range(rounds):
        for which in ((0, 1) if r % 2 == 0 else (1, 0)):
            dt = 0.0
            for _ in range(calls):
                if which:
                    first()
                t = time.perf_counter()
                second()
                dt += time.perf_counter() - t
            (after if which else alone).append(dt / calls)
    return statistics.median(alone), statistics.median(after)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="torch's threads")
    ap.add_argument("--rnnfast-threads", type=int, default=None,
                    help="rnnfast.set_num_threads (default: follow torch)")
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--calls", type=int, default=10, help="calls per round and way")
    ap.add_argument("--torch-op", choices=("linear", "lstm"), default="linear")
    ap.add_argument("--cases", nargs="+", default=["latency:infer", "latency:train",
                                                   "medium:infer"])
    args = ap.parse_args(argv)
    for name in ("threads", "rounds", "calls"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name}: expected at least 1, got {getattr(args, name)}")
    if args.rnnfast_threads is not None and args.rnnfast_threads < 1:
        raise ValueError(f"--rnnfast-threads: expected at least 1, got {args.rnnfast_threads}")
    cases = []
    for c in args.cases:
        case, _, phase = c.partition(":")
        if case not in CASES or phase not in ("infer", "train"):
            raise ValueError(f"--cases: expected entries like latency:infer or medium:train "
                             f"(sizes {sorted(CASES)}), got {c!r}")
        cases.append((case, phase))
    try:
        import torch
    except ImportError:
        sys.exit("torch_threads.py needs torch (pip install torch)")
    import rnnfast
    import rnnfast.torch as rt
    from rnnfast.bench.report import cpu_model
    torch.set_num_threads(args.threads)
    if args.rnnfast_threads is not None:
        rnnfast.set_num_threads(args.rnnfast_threads)
    print(f"# {cpu_model()}, torch {torch.__version__} at {args.threads} thread(s), rnnfast at "
          f"{args.rnnfast_threads or 'torch'}'s, load average {os.getloadavg()[0]:.2f}; torch "
          f"op: {args.torch_op}; {args.rounds} rounds of {args.calls} calls; milliseconds per "
          "call, medians")
    print(f"{'case':8s} {'phase':6s} {'rnnfast alone':>14s} {'after torch':>12s} {'ratio':>6s} "
          f"{'torch alone':>12s} {'after rnnfast':>14s} {'ratio':>6s} {'threads':>8s}")
    for case, phase in cases:
        ours, theirs = build(torch, rt, case, phase, args.torch_op)
        r_alone, r_after = measure(theirs, ours, args.rounds, args.calls)
        t_alone, t_after = measure(ours, theirs, args.rounds, args.calls)
        print(f"{case:8s} {phase:6s} {r_alone * 1e3:14.3f} {r_after * 1e3:12.3f} "
              f"{r_after / r_alone:6.2f} {t_alone * 1e3:12.3f} {t_after * 1e3:14.3f} "
              f"{t_after / t_alone:6.2f} {_threads() or '?':>8}")
    print(f"# load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
