"""rnncell_loop (examples/rnncell_loop.py, part 2) as a benchmark program: an RNNCell stepped
by hand in a Python loop over the time steps, a Linear head on the last state, trained with
MSELoss and Adam to output the sum of its inputs; a shuffling DataLoader over a TensorDataset.

Fixed size: 12,800 synthetic sequences of 10 steps drawn from U(-1, 1) (fixed seed), 32 hidden
units (the example's), batches of 64: 200 steps per epoch, each of 10 cell calls forward and
10 backward. The example draws a fresh batch every step; here the data is a fixed set so that
an epoch is defined.
"""

import numpy as np

from ._harness import build as _build

DATA = None

SIZES = {
    "full": dict(n=12800, seq_len=10, hidden=32, batch=64, lr=3e-3),
    "tiny": dict(n=128, seq_len=5, hidden=8, batch=32, lr=3e-3),
}


def make_data(cfg, seed):
    x = np.random.default_rng(seed).uniform(-1, 1, (cfg["n"], cfg["seq_len"], 1))
    return dict(x=x.astype(np.float32), y=x.sum(axis=(1, 2)).astype(np.float32))


def torch_program(data, cfg, seed, shuffle):
    import torch
    from torch import nn, optim
    from torch.utils.data import DataLoader, TensorDataset

    class SumRegressor(nn.Module):
        def __init__(self, hidden_size):
            super().__init__()
            self.cell = nn.RNNCell(1, hidden_size)
            self.head = nn.Linear(hidden_size, 1)
            self.hidden_size = hidden_size

        def forward(self, x):
            h = torch.zeros(x.shape[0], self.hidden_size)
            for t in range(x.shape[1]):
                h = self.cell(x[:, t], h)
            return self.head(h).reshape(-1)

    torch.manual_seed(seed)
    model = SumRegressor(cfg["hidden"])
    dataset = TensorDataset(torch.tensor(data["x"]), torch.tensor(data["y"]))
    loader = DataLoader(dataset, batch_size=cfg["batch"], shuffle=shuffle)
    optimizer = optim.Adam(model.parameters(), lr=cfg["lr"])
    loss_fn = nn.MSELoss()

    def train_epoch():
        model.train()
        losses = []
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses

    return model, train_epoch


def rnnfast_program(data, cfg, seed, shuffle):
    import rnnfast as torch
    from rnnfast import nn, optim
    from rnnfast.utils.data import DataLoader, TensorDataset

    class SumRegressor(nn.Module):
        def __init__(self, hidden_size):
            super().__init__()
            self.cell = nn.RNNCell(1, hidden_size)
            self.head = nn.Linear(hidden_size, 1)
            self.hidden_size = hidden_size

        def forward(self, x):
            h = torch.zeros(x.shape[0], self.hidden_size)
            for t in range(x.shape[1]):
                h = self.cell(x[:, t], h)
            return self.head(h).reshape(-1)

    torch.manual_seed(seed)
    model = SumRegressor(cfg["hidden"])
    dataset = TensorDataset(torch.tensor(data["x"]), torch.tensor(data["y"]))
    loader = DataLoader(dataset, batch_size=cfg["batch"], shuffle=shuffle)
    optimizer = optim.Adam(model.parameters(), lr=cfg["lr"])
    loss_fn = nn.MSELoss()

    def train_epoch():
        model.train()
        losses = []
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses

    return model, train_epoch


def build(framework, seed=0, size="full", shuffle=True):
    """This program for ``framework`` ("rnnfast" or "torch"); see _harness.build."""
    import sys
    return _build(sys.modules[__name__], framework, seed, size, shuffle)
