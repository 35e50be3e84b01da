"""rnnfast.torch under torch.distributed: a converted model in DistributedDataParallel (gloo,
two processes on loopback) gets, after one step, the gradients a single process computes on
the whole batch (float64, against the converted model and against torch.nn's own); training
with uneven batch counts per rank finishes under torch's Join and ends where a single-process
replay of the same updates ends. And the thread rule for torchrun's OMP_NUM_THREADS=1
(rnnfast/torch/_threads.py). The example under torchrun: tests/test_examples.py.
"""

import datetime
import logging
import os
import socket

import numpy as np
import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("torch.distributed with the gloo backend is not available in this torch build",
                allow_module_level=True)

import torch.nn.functional as F  # noqa: E402
from torch.distributed.algorithms.join import Join  # noqa: E402
from torch.nn.parallel import DistributedDataParallel as DDP  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence  # noqa: E402

import rnnfast  # noqa: E402
import rnnfast.torch as rt  # noqa: E402
from rnnfast import _core  # noqa: E402
from rnnfast.torch import _threads  # noqa: E402

WORLD = 2
BATCH = 8                       # the whole batch of the gradient check, split over the ranks
T, I, C = 7, 5, 3
LR = 0.1


def steps_of(rank):
    """Batches per rank in the Join run: uneven (3 and 5)."""
    return 3 + 2 * rank


class Net(torch.nn.Module):
    """Packed (unsorted) input through a 2-layer bidirectional LSTM and a GRU, then Linear."""

    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(I, 6, num_layers=2, bidirectional=True, batch_first=True,
                                  dtype=torch.float64)
        self.gru = torch.nn.GRU(12, 7, batch_first=True, dtype=torch.float64)
        self.fc = torch.nn.Linear(7, C, dtype=torch.float64)

    def forward(self, x, lengths):
        out, _ = self.lstm(pack_padded_sequence(x, lengths, batch_first=True,
                                                enforce_sorted=False))
        _, h = self.gru(out)
        return self.fc(h[-1])


def net(seed=0):
    torch.manual_seed(seed)
    return Net()


def batch(seed, size):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(size, T, I, generator=g, dtype=torch.float64)
    lengths = torch.randint(1, T + 1, (size,), generator=g)
    y = torch.randint(0, C, (size,), generator=g)
    return x, lengths, y


def join_batch(rank, step):
    return batch(100 + 10 * rank + step, BATCH // WORLD)


def worker(rank, world, port, out):
    """One rank: a DDP step on its half of the batch (gradients saved), then SGD training over
    steps_of(rank) batches inside Join (final parameters saved)."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    try:
        model = rt.convert(net())
        ddp = DDP(model)
        x, lengths, y = batch(0, BATCH)
        part = slice(rank * BATCH // world, (rank + 1) * BATCH // world)
        F.cross_entropy(ddp(x[part], lengths[part]), y[part]).backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters()}

        model = rt.convert(net())
        ddp = DDP(model)
        opt = torch.optim.SGD(ddp.parameters(), lr=LR)
        with Join([ddp]):
            for step in range(steps_of(rank)):
                x, lengths, y = join_batch(rank, step)
                opt.zero_grad()
                F.cross_entropy(ddp(x, lengths), y).backward()
                opt.step()
        final = {n: p.detach().clone() for n, p in model.named_parameters()}
        torch.save({"grads": grads, "final": final, "converted": type(model.lstm).__module__},
                   os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Run the two ranks once (spawned, loopback, a free port) and load what each saved."""
    out = tmp_path_factory.mktemp("ddp")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = torch.multiprocessing.start_processes(worker, args=(WORLD, port, str(out)),
                                                nprocs=WORLD, join=False, start_method="spawn")
    try:
        for _ in range(180):                 # at most 3 minutes; the ranks take seconds
            if ctx.join(timeout=1):
                break
        else:
            pytest.fail("the DDP ranks did not finish within 3 minutes")
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.terminate()
    return [torch.load(out / f"rank{r}.pt") for r in range(WORLD)]


def single_process_grads(model):
    x, lengths, y = batch(0, BATCH)
    F.cross_entropy(model(x, lengths), y).backward()
    return {n: p.grad for n, p in model.named_parameters()}


def test_ddp_gradients_equal_one_process_on_the_whole_batch(ranks):
    assert ranks[0]["converted"] == "rnnfast.torch.modules"
    oracles = {"rnnfast.torch": single_process_grads(rt.convert(net())),
               "torch.nn": single_process_grads(net())}
    for r, saved in enumerate(ranks):
        for name, oracle in oracles.items():
            assert saved["grads"].keys() == oracle.keys()
            for p, g in oracle.items():
                np.testing.assert_allclose(saved["grads"][p].numpy(), g.numpy(), rtol=1e-9,
                                           atol=0, err_msg=f"rank {r}, {p}, vs {name}")


def test_ddp_join_with_uneven_batches_finishes_where_one_process_replay_ends(ranks):
    """Inside Join, a rank that ran out of batches shadows the all-reduce with zeros and the
    sum is still divided by the world size; at the end the replicas hold the last rank's
    parameters. Replay those updates in one process with torch.nn's model."""
    model = net()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    for step in range(max(steps_of(r) for r in range(WORLD))):
        opt.zero_grad()
        active = [r for r in range(WORLD) if step < steps_of(r)]
        loss = sum(F.cross_entropy(model(*join_batch(r, step)[:2]), join_batch(r, step)[2])
                   for r in active) / WORLD
        loss.backward()
        opt.step()
    for r, saved in enumerate(ranks):
        for p, value in model.named_parameters():
            np.testing.assert_allclose(saved["final"][p].numpy(), value.detach().numpy(),
                                       rtol=1e-9, atol=0, err_msg=f"rank {r}, {p}")
    assert any(not torch.equal(ranks[0]["final"][p], v) for p, v in net().named_parameters())


# ---------------------------------------------------------------------------------------------
# the thread rule

@pytest.mark.parametrize("env, cores, expected", [
    ({"LOCAL_WORLD_SIZE": "2", "OMP_NUM_THREADS": "1"}, 8, 4),
    ({"LOCAL_WORLD_SIZE": "3", "OMP_NUM_THREADS": "1"}, 8, 2),
    ({"LOCAL_WORLD_SIZE": "16", "OMP_NUM_THREADS": "1"}, 8, 1),
    ({"LOCAL_WORLD_SIZE": "2", "OMP_NUM_THREADS": " 1 "}, 8, 4),
    ({"LOCAL_WORLD_SIZE": "2", "OMP_NUM_THREADS": "3"}, 8, 0),     # the user's own value
    ({"LOCAL_WORLD_SIZE": "2"}, 8, 0),                              # not torchrun's default
    ({"LOCAL_WORLD_SIZE": "1", "OMP_NUM_THREADS": "1"}, 8, 0),      # one rank per machine
    ({"OMP_NUM_THREADS": "1"}, 8, 0),                               # not under torchrun
    ({"LOCAL_WORLD_SIZE": "two", "OMP_NUM_THREADS": "1"}, 8, 0),
])
def test_rank_share(monkeypatch, env, cores, expected):
    monkeypatch.setattr(_threads, "_usable_cores", lambda: cores)
    assert _threads.rank_share(env) == expected


@pytest.fixture
def thread_state(monkeypatch):
    before_t, before_r = torch.get_num_threads(), _core.get_num_threads()
    monkeypatch.setattr(rnnfast, "_threads_explicit", False)
    monkeypatch.setattr(_threads, "_share", None)
    monkeypatch.setattr(_threads, "_usable_cores", lambda: 8)
    yield
    torch.set_num_threads(before_t)
    _core.set_num_threads(before_r)


def test_torchrun_default_spreads_cores_over_local_ranks(monkeypatch, caplog, thread_state):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    m, x = rt.GRU(3, 4), torch.randn(5, 2, 3, requires_grad=True)
    with caplog.at_level(logging.WARNING, logger="rnnfast.torch"):
        m(x)
        assert rnnfast.get_num_threads() == 4               # 8 cores / 2 local ranks
        m(x)[0].sum().backward()                           # second call: no second line
        assert rnnfast.get_num_threads() == 4
    lines = [r.getMessage() for r in caplog.records if r.name == "rnnfast.torch"]
    assert len(lines) == 1 and "4 thread(s) per rank" in lines[0], lines
    torch.set_num_threads(2)                                # the user's torch count wins
    m(x)
    assert rnnfast.get_num_threads() == 2
    torch.set_num_threads(1)
    rnnfast.set_num_threads(1)                              # and rnnfast's own count
    m(x)
    assert rnnfast.get_num_threads() == 1


def test_user_omp_value_is_followed(monkeypatch, caplog, thread_state):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    torch.set_num_threads(1)
    with caplog.at_level(logging.WARNING, logger="rnnfast.torch"):
        rt.LSTM(3, 4)(torch.randn(5, 2, 3))
    assert rnnfast.get_num_threads() == 1                   # torch's count, as without torchrun
    assert not [r for r in caplog.records if r.name == "rnnfast.torch"]


def test_only_local_rank_zero_says_so(monkeypatch, caplog, thread_state):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    with caplog.at_level(logging.WARNING, logger="rnnfast.torch"):
        rt.RNN(3, 4)(torch.randn(5, 2, 3))
    assert rnnfast.get_num_threads() == 4
    assert not [r for r in caplog.records if r.name == "rnnfast.torch"]
