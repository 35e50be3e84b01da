"""Training throughput of one model under DistributedDataParallel on one machine: samples per
second of 1 process x 2 threads against 2 processes x 1 thread (torchrun, gloo), the same
model and the same global batch.

The model is a torch program converted with rnnfast.torch.convert: Embedding 10,000 x 64 ->
bidirectional LSTM 128 -> Linear on both final states -> 2 classes, cross entropy, Adam,
float32; batches of 64 sequences of 100 tokens (synthetic ids: the cost does not depend on
the values). "1x2" is one ordinary process (no DDP) with torch.set_num_threads(2) and
rnnfast.set_num_threads(2) on the whole batch; "2x1" is torchrun --standalone
--nproc_per_node 2 with DDP, each rank taking 32 sequences with 1 thread (torch's and
rnnfast's). A run times --steps steps after 3 warm-up steps (the ranks meet at a barrier before
and after, and the DDP ranks check that their parameters are still identical); samples per
second = steps x 64 / seconds. Runs of the configurations alternate (1x2, 2x1, 2x1, 1x2, ...)
for --rounds rounds and the medians are reported, with the load average before and after (the
machine may be shared).

Run from the repository root (needs torch):

    python benchmarks/ddp_throughput.py                  # 5 rounds of 20 steps
    python benchmarks/ddp_throughput.py --rounds 9 --steps 30
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

GLOBAL_BATCH, T, VOCAB, EMB, HIDDEN, CLASSES = 64, 100, 10_000, 64, 128, 2
WARMUP = 3


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def loadavg():
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def worker(args):
    """One process of a run: build the model, train --steps steps, print the RESULT (rank 0)."""
    import torch
    import torch.distributed as dist

    import rnnfast
    import rnnfast.torch

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(VOCAB, EMB)
            self.lstm = torch.nn.LSTM(EMB, HIDDEN, batch_first=True, bidirectional=True)
            self.fc = torch.nn.Linear(2 * HIDDEN, CLASSES)

        def forward(self, ids):
            _, (h_n, _) = self.lstm(self.emb(ids))
            return self.fc(torch.cat([h_n[-2], h_n[-1]], dim=1))

    distributed = "RANK" in os.environ
    if distributed:
        dist.init_process_group("gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
    else:
        rank, world = 0, 1
    torch.set_num_threads(args.threads)
    rnnfast.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = rnnfast.torch.convert(Model())
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    local = GLOBAL_BATCH // world
    g = torch.Generator().manual_seed(rank)
    batches = [(torch.randint(0, VOCAB, (local, T), generator=g),
                torch.randint(0, CLASSES, (local,), generator=g)) for _ in range(4)]

    def step(i):
        ids, y = batches[i % len(batches)]
        loss = torch.nn.functional.cross_entropy(net(ids), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for i in range(WARMUP):
        step(i)
    if distributed:
        dist.barrier()
    start = time.perf_counter()
    for i in range(args.steps):
        step(i)
    if distributed:
        dist.barrier()
    seconds = time.perf_counter() - start
    if distributed:             # check before reporting: DDP kept the replicas identical
        flat = torch.cat([q.detach().reshape(-1) for q in model.parameters()])
        ref = flat.clone()
        dist.broadcast(ref, src=0)
        if not torch.equal(flat, ref):
            sys.exit(f"rank {rank}: parameters differ from rank 0's after {args.steps} steps")
    if rank == 0:
        print("RESULT " + json.dumps({"samples_per_s": args.steps * GLOBAL_BATCH / seconds,
                                      "world": world, "threads": rnnfast.get_num_threads(),
                                      "torch_threads": torch.get_num_threads()}), flush=True)
    if distributed:
        dist.destroy_process_group()


def run(config, steps):
    """One run of a configuration "PxT"; returns its RESULT."""
    procs, threads = (int(v) for v in config.split("x"))
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    cmd = [__file__, "--worker", "--threads", str(threads), "--steps", str(steps)]
    if procs == 1:
        cmd = [sys.executable, *cmd]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
               str(procs), *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.exit(f"{config} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=20, help="timed steps per run")
    p.add_argument("--configs", default="1x2,2x1",
                   help="processes x threads per process, comma-separated (default 1x2,2x1)")
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    configs = args.configs.split(",")
    for c in configs:
        procs, _, threads = c.partition("x")
        if not (procs.isdigit() and threads.isdigit() and int(procs) >= 1 and int(threads) >= 1
                and GLOBAL_BATCH % int(procs) == 0):
            p.error(f"--configs: expected PxT with P dividing {GLOBAL_BATCH}, got {c!r}")

    import torch
    print(f"CPU: {cpu_model()}; {usable_cores()} usable cores; Python "
          f"{platform.python_version()}, torch {torch.__version__}")
    print(f"model: Embedding {VOCAB} x {EMB} -> bidirectional LSTM {HIDDEN} -> Linear {CLASSES}, "
          f"Adam, float32; global batch {GLOBAL_BATCH} x {T} tokens; {args.steps} timed steps "
          f"per run, {args.rounds} rounds")
    print(f"load average before: {loadavg()}")
    samples = {c: [] for c in configs}
    for r in range(args.rounds):
        order = configs if r % 2 == 0 else configs[::-1]
        for c in order:
            res = run(c, args.steps)
            samples[c].append(res["samples_per_s"])
            print(f"round {r + 1}: {c}: {res['samples_per_s']:.0f} samples/s "
                  f"({res['world']} process(es), rnnfast {res['threads']} / torch "
                  f"{res['torch_threads']} thread(s) each)", flush=True)
    print(f"load average after: {loadavg()}")
    base = statistics.median(samples[configs[0]])
    print("median samples per second:")
    for c in configs:
        m = statistics.median(samples[c])
        print(f"  {c}: {m:7.0f}  (x{m / base:.2f} of {configs[0]}; range "
              f"{min(samples[c]):.0f}-{max(samples[c]):.0f})")


if __name__ == "__main__":
    main()
