"""lstm_timeseries (examples/lstm_timeseries.py) as a benchmark program: forecasting Seattle's
hourly temperature 6 hours ahead from a 48-hour window with LSTM (whole output sequence) ->
LSTM -> Linear on the last step, MSELoss, Adam, gradient clipping, a shuffling DataLoader over
a TensorDataset.

Fixed size: the first 4,480 of the example's 6,954 Seattle training windows (from the first
80% of the 8,759 hourly values, standardized) and its full-run model (64 units per layer),
batches of 64: 70 steps per epoch.
"""

import numpy as np

from ._harness import build as _build

DATA = "vega_datasets"

SIZES = {
    "full": dict(n=4480, window=48, horizon=6, hidden=64, batch=64, lr=2e-3),
    "tiny": dict(n=128, window=12, horizon=6, hidden=8, batch=32, lr=2e-3),
}


def make_data(cfg, seed):
    from rnnfast import datasets
    series = datasets.seattle_temps()
    train = series[:int(0.8 * len(series))]
    z = (train - train.mean()) / train.std()
    window, horizon = cfg["window"], cfg["horizon"]
    n = len(z) - window - horizon + 1
    x = z[np.arange(n)[:, None] + np.arange(window)][..., None].astype(np.float32)
    y = z[np.arange(n) + window - 1 + horizon].astype(np.float32)
    return dict(x=x[:cfg["n"]], y=y[:cfg["n"]])


def torch_program(data, cfg, seed, shuffle):
    import torch
    from torch import nn, optim
    from torch.utils.data import DataLoader, TensorDataset

    class Forecaster(nn.Module):
        def __init__(self, hidden):
            super().__init__()
            self.lstm1 = nn.LSTM(1, hidden, batch_first=True)
            self.lstm2 = nn.LSTM(hidden, hidden, batch_first=True)
            self.fc = nn.Linear(hidden, 1)

        def forward(self, x):
            seq, _ = self.lstm1(x)
            out, _ = self.lstm2(seq)
            return self.fc(out[:, -1]).reshape(-1)

    torch.manual_seed(seed)
    model = Forecaster(cfg["hidden"])
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
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
        return losses

    return model, train_epoch


def rnnfast_program(data, cfg, seed, shuffle):
    import rnnfast as torch
    from rnnfast import nn, optim
    from rnnfast.utils.data import DataLoader, TensorDataset

    class Forecaster(nn.Module):
        def __init__(self, hidden):
            super().__init__()
            self.lstm1 = nn.LSTM(1, hidden, batch_first=True)
            self.lstm2 = nn.LSTM(hidden, hidden, batch_first=True)
            self.fc = nn.Linear(hidden, 1)

        def forward(self, x):
            seq, _ = self.lstm1(x)
            out, _ = self.lstm2(seq)
            return self.fc(out[:, -1]).reshape(-1)

    torch.manual_seed(seed)
    model = Forecaster(cfg["hidden"])
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
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
        return losses

    return model, train_epoch


def build(framework, seed=0, size="full", shuffle=True):
    """This program for ``framework`` ("rnnfast" or "torch"); see _harness.build."""
    import sys
    return _build(sys.modules[__name__], framework, seed, size, shuffle)
