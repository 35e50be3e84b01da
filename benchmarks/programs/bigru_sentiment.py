"""bigru_sentiment (examples/bigru_sentiment.py) as a benchmark program: IMDB reviews,
Embedding -> bidirectional GRU over padded batches with their lengths -> Linear on both final
states -> one logit, BCEWithLogitsLoss, Adam, gradient clipping, a shuffling DataLoader with a
padding collate function.

Fixed size: the first 320 reviews of the examples' training split, each review's last 250
words, the example's full-run vocabulary (the 20,000 most frequent words of the 20,000
training reviews), 64 embedding dims and 64 units each way, batches of 64: 5 steps per epoch
(the torch twin takes about ten times rnnfast's time). Without the example's dropout: its
Keras-style recurrent and per-sequence input dropout have no torch counterpart, and with the
same model in both frameworks the losses can be compared. Both versions pad and pack each
batch (pad_sequence, pack_padded_sequence).
"""

from . import _data
from ._harness import build as _build

DATA = "movie_reviews"

SIZES = {
    "full": dict(n=320, vocab=20000, maxlen=250, emb=64, hidden=64, batch=64, lr=2e-3),
    "tiny": dict(n=128, vocab=500, vocab_from=128, maxlen=30, emb=8, hidden=8, batch=32, lr=2e-3),
}


def make_data(cfg, seed):
    vocab_size, pairs = _data.imdb(cfg["n"], cfg["vocab"], cfg["maxlen"], float,
                                   cfg.get("vocab_from"))
    return dict(vocab_size=vocab_size, train_set=pairs)


def torch_program(data, cfg, seed, shuffle):
    import torch
    from torch import nn, optim
    from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence
    from torch.utils.data import DataLoader

    class BiGRUSentiment(nn.Module):
        def __init__(self, vocab_size, emb, hidden):
            super().__init__()
            self.embed = nn.Embedding(vocab_size, emb, padding_idx=0)
            self.gru = nn.GRU(emb, hidden, batch_first=True, bidirectional=True)
            self.fc = nn.Linear(2 * hidden, 1)

        def forward(self, ids, lengths):
            x = self.embed(ids)
            x = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            _, h_n = self.gru(x)
            return self.fc(torch.cat([h_n[0], h_n[1]], dim=1)).reshape(-1)

    def collate(batch):
        ids = [torch.tensor(s) for s, _ in batch]
        lengths = torch.tensor([len(s) for s in ids])
        labels = torch.tensor([y for _, y in batch])
        return pad_sequence(ids, batch_first=True), lengths, labels

    torch.manual_seed(seed)
    model = BiGRUSentiment(data["vocab_size"], cfg["emb"], cfg["hidden"])
    loader = DataLoader(data["train_set"], batch_size=cfg["batch"], shuffle=shuffle,
                        collate_fn=collate)
    optimizer = optim.Adam(model.parameters(), lr=cfg["lr"])
    loss_fn = nn.BCEWithLogitsLoss()

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

    class BiGRUSentiment(nn.Module):
        def __init__(self, vocab_size, emb, hidden):
            super().__init__()
            self.embed = nn.Embedding(vocab_size, emb, padding_idx=0)
            self.gru = nn.GRU(emb, hidden, batch_first=True, bidirectional=True)
            self.fc = nn.Linear(2 * hidden, 1)

        def forward(self, ids, lengths):
            x = self.embed(ids)
            x = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            _, h_n = self.gru(x)
            return self.fc(torch.cat([h_n[0], h_n[1]], dim=1)).reshape(-1)

    def collate(batch):
        ids = [torch.tensor(s) for s, _ in batch]
        lengths = torch.tensor([len(s) for s in ids])
        labels = torch.tensor([y for _, y in batch])
        return pad_sequence(ids, batch_first=True), lengths, labels

    torch.manual_seed(seed)
    model = BiGRUSentiment(data["vocab_size"], cfg["emb"], cfg["hidden"])
    loader = DataLoader(data["train_set"], batch_size=cfg["batch"], shuffle=shuffle,
                        collate_fn=collate)
    optimizer = optim.Adam(model.parameters(), lr=cfg["lr"])
    loss_fn = nn.BCEWithLogitsLoss()

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
