"""rnn_memory (examples/rnn_memory.py) as a benchmark program: a many-to-one tanh RNN reads 20
steps of noise and outputs the sign of the input at step 5; Linear on the last step's output,
CrossEntropyLoss, Adam, gradient clipping, a shuffling DataLoader over a TensorDataset.

Fixed size: 25,600 synthetic sequences of 20 steps (the generator's seed is fixed), 32 hidden
units (the example's), batches of 64: 400 steps per epoch.
"""

import numpy as np

from ._harness import build as _build

DATA = None

SIZES = {
    "full": dict(n=25600, seq_len=20, step=5, hidden=32, batch=64, lr=3e-3),
    "tiny": dict(n=192, seq_len=8, step=3, hidden=8, batch=32, lr=3e-3),
}


def make_data(cfg, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((cfg["n"], cfg["seq_len"], 1)).astype(np.float32)
    y = (x[:, cfg["step"] - 1, 0] > 0).astype(np.int64)
    return dict(x=x, y=y)


def torch_program(data, cfg, seed, shuffle):
    import torch
    from torch import nn, optim
    from torch.utils.data import DataLoader, TensorDataset

    class ManyToOne(nn.Module):
        def __init__(self, hidden):
            super().__init__()
            self.rnn = nn.RNN(1, hidden, batch_first=True)
            self.fc = nn.Linear(hidden, 2)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.fc(out[:, -1])

    torch.manual_seed(seed)
    model = ManyToOne(cfg["hidden"])
    dataset = TensorDataset(torch.tensor(data["x"]), torch.tensor(data["y"]))
    loader = DataLoader(dataset, batch_size=cfg["batch"], shuffle=shuffle)
    optimizer = optim.Adam(model.parameters(), lr=cfg["lr"])
    loss_fn = nn.CrossEntropyLoss()

    def train_epoch():
        model.train()
        losses = []
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
        return losses

    return model, train_epoch


def rnnfast_program(data, cfg, seed, shuffle):
    import rnnfast as torch
    from rnnfast import nn, optim
    from rnnfast.utils.data import DataLoader, TensorDataset

    class ManyToOne(nn.Module):
        def __init__(self, hidden):
            super().__init__()
            self.rnn = nn.RNN(1, hidden, batch_first=True)
            self.fc = nn.Linear(hidden, 2)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.fc(out[:, -1])

    torch.manual_seed(seed)
    model = ManyToOne(cfg["hidden"])
    dataset = TensorDataset(torch.tensor(data["x"]), torch.tensor(data["y"]))
    loader = DataLoader(dataset, batch_size=cfg["batch"], shuffle=shuffle)
    optimizer = optim.Adam(model.parameters(), lr=cfg["lr"])
    loss_fn = nn.CrossEntropyLoss()

    def train_epoch():
        model.train()
        losses = []
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
        return losses

    return model, train_epoch


def build(framework, seed=0, size="full", shuffle=True):
    """This program for ``framework`` ("rnnfast" or "torch"); see _harness.build."""
    import sys
    return _build(sys.modules[__name__], framework, seed, size, shuffle)
