"""A whole torch model before and after ``rnnfast.torch.convert``: training steps per second.

The model of issue #15's target: Embedding(20,000 x 128) -> 2-layer bidirectional LSTM(256)
-> Linear(512 -> 2) on the last step's output, cross entropy, Adam; batches of 64 sequences of
100 tokens (random ids and labels: the work per step does not depend on the data). Both models
start from the same weights (the converted one is a deep copy of torch's, converted in place:
the same Parameters keep training), train on the same batches, and their steps alternate
(torch, rnnfast.torch, torch, ...) after warm-up steps; the table gives the median milliseconds
per step of each, their ratio, and the losses of the last step (equal up to float rounding at
the first step; they drift apart slowly as the rounding differs).

    python benchmarks/torch_model.py                 # 2 threads (the machine's cores)
    python benchmarks/torch_model.py --threads 1 --steps 10

Needs torch. Prints the CPU and the load average: on a shared machine compare the ratio, not
the times.
"""

import argparse
import copy
import os
import platform
import time

import numpy as np


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def build(torch, vocab, emb, hidden):
    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(vocab, emb)
            self.rnn = torch.nn.LSTM(emb, hidden, num_layers=2, bidirectional=True,
                                     batch_first=True)
            self.head = torch.nn.Linear(2 * hidden, 2)

        def forward(self, ids):
            out, _ = self.rnn(self.embed(ids))
            return self.head(out[:, -1])

    return Classifier()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--steps", type=int, default=20, help="timed steps of each model")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=100)
    ap.add_argument("--vocab", type=int, default=20000)
    ap.add_argument("--emb", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads < 1:
        raise ValueError(f"--threads: expected >= 1, got {args.threads}")

    import torch

    import rnnfast
    import rnnfast.torch as rtorch

    torch.set_num_threads(args.threads)
    rnnfast.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    ref = build(torch, args.vocab, args.emb, args.hidden)
    fast = rtorch.convert(copy.deepcopy(ref))
    models = {"torch": ref, "rnnfast.torch": fast}
    optims = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in models.items()}
    loss_fn = torch.nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(args.seed)
    n = args.warmup + args.steps
    ids = [torch.randint(args.vocab, (args.batch, args.tokens), generator=g) for _ in range(n)]
    labels = [torch.randint(2, (args.batch,), generator=g) for _ in range(n)]

    times = {k: [] for k in models}
    losses = {k: [] for k in models}
    for i in range(n):
        for k, m in models.items():
            t0 = time.perf_counter()
            optims[k].zero_grad()
            loss = loss_fn(m(ids[i]), labels[i])
            loss.backward()
            optims[k].step()
            dt = time.perf_counter() - t0
            losses[k].append(loss.item())
            if i >= args.warmup:
                times[k].append(dt)

    med = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
    print(f"cpu: {cpu_name()} | threads: {args.threads} | torch {torch.__version__} | "
          f"rnnfast {rnnfast.__version__} | load average {os.getloadavg()[0]:.2f}")
    print(f"model: Embedding({args.vocab} x {args.emb}) -> 2-layer bidirectional "
          f"LSTM({args.hidden}) -> Linear({2 * args.hidden} -> 2); batch {args.batch} x "
          f"{args.tokens} tokens; Adam; {args.steps} timed steps each after {args.warmup}")
    print(f"{'model':<16}{'ms/step':>10}{'first loss':>12}{'last loss':>12}")
    for k in models:
        print(f"{k:<16}{med[k]:>10.1f}{losses[k][0]:>12.5f}{losses[k][-1]:>12.5f}")
    print(f"torch / rnnfast.torch: {med['torch'] / med['rnnfast.torch']:.2f}x per step "
          f"(load average at the end {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
