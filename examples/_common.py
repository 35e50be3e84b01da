"""Plumbing shared by the examples (not part of rnnfast): command-line options, the output
folder, optional matplotlib, a data-package check, and the final machine-readable RESULT line
that tests/test_examples.py reads; and the data preparation that more than one example does
the same way (IMDB reviews as word ids, padded batches, windows of a token stream). Each
example stays readable on its own: its model, training and results stay in it.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import numpy as np

import rnnfast
from rnnfast import data, datasets, nn

EXAMPLES = pathlib.Path(__file__).resolve().parent


def parser(doc: str, name: str) -> argparse.ArgumentParser:
    """An ArgumentParser with the options every example has."""
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="a short run (seconds) that still shows learning")
    p.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    p.add_argument("--threads", type=int, default=None,
                   help="kernel threads (default: rnnfast's, OMP_NUM_THREADS or all cores)")
    p.add_argument("--out", type=pathlib.Path, default=EXAMPLES / "output" / name,
                   help=f"folder for plots and samples (default: examples/output/{name})")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    return p


def setup(args) -> np.random.Generator:
    """Seed rnnfast and return a NumPy generator for the data; set threads; make --out."""
    rnnfast.manual_seed(args.seed)
    if args.threads:
        rnnfast.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"rnnfast {rnnfast.__version__}, {rnnfast.get_num_threads()} thread(s), "
          f"{'quick' if args.quick else 'full'} run, output in {args.out}")
    return np.random.default_rng(args.seed)


def load(loader, *args, **kwargs):
    """Call a rnnfast.datasets loader; a missing data package ends the program with the pip
    command instead of a traceback."""
    try:
        return loader(*args, **kwargs)
    except ModuleNotFoundError as e:
        sys.exit(f"{loader.__name__}: {e}")


def imdb(rng, n_train, n_test, vocab_size, maxlen, label=int):
    """IMDB reviews (rnnfast.datasets.imdb_reviews()) as (word ids, label) pairs: split 80/20
    (stratified, fixed seed); n_train training reviews drawn with rng (None: all of them) and
    the first n_test test reviews (None: all). The vocab_size most frequent training words
    (lower-cased by rnnfast.data.tokenize_words) form the vocabulary, the rest map to <unk>;
    each review keeps its LAST maxlen words (where reviewers tend to sum up), an empty one a
    single <unk>. Returns (vocab, train_set, test_set); a list is a map-style dataset."""
    texts, labels = load(datasets.imdb_reviews)
    tr_x, te_x, tr_y, te_y = datasets.train_test_split(texts, labels, test_size=0.2, seed=0,
                                                       stratify=labels)
    keep = rng.permutation(len(tr_x))[:n_train]
    tr_x, tr_y = [tr_x[i] for i in keep], tr_y[keep]
    te_x, te_y = te_x[:n_test], te_y[:n_test]
    vocab = data.Vocab.build((data.tokenize_words(t) for t in tr_x), max_size=vocab_size)

    def encode(texts, labels):
        out = []
        for text, y in zip(texts, labels):
            ids = vocab.encode(data.tokenize_words(text)[-maxlen:])
            out.append((ids if len(ids) else np.array([vocab.unk_index]), label(y)))
        return out

    return vocab, encode(tr_x, tr_y), encode(te_x, te_y)


def padded_loaders(train_set, test_set, batch_size, seed):
    """(train, test) DataLoaders over (sequence, label) pairs whose batches are padded to
    their longest sequence, with the lengths (rnnfast.data.pad_collate): the training one
    reshuffles every epoch, the test one keeps its order in batches of 256."""
    train_loader = data.DataLoader(train_set, batch_size=batch_size, shuffle=True,
                                   collate_fn=data.pad_collate, seed=seed)
    test_loader = data.DataLoader(test_set, batch_size=256, collate_fn=data.pad_collate)
    return train_loader, test_loader


def windows(stream, starts, T):
    """Windows of T + 1 tokens of a 1-D id stream starting at `starts` (B,): inputs (B, T)
    and next-token targets (B, T)."""
    chunk = stream[starts[:, None] + np.arange(T + 1)]
    return chunk[:, :-1], chunk[:, 1:]


def window_loss(model, stream, T, n_windows, batch=64):
    """A language model's mean cross entropy (nats per token) over n_windows fixed, evenly
    spaced windows of T tokens of the stream; model(ids) returns (logits (B, T, V), state)."""
    loss_fn = nn.CrossEntropyLoss()
    starts = np.linspace(0, len(stream) - T - 2, n_windows).astype(np.int64)
    model.eval()
    total = 0.0
    with rnnfast.no_grad():
        for i in range(0, n_windows, batch):
            x, y = windows(stream, starts[i:i + batch], T)
            logits, _ = model(x)
            total += loss_fn(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item() * len(x)
    model.train()
    return total / n_windows


def pyplot(args):
    """matplotlib.pyplot with a file-only backend, or None (with a note) when it is missing
    or --no-plots was given."""
    if args.no_plots:
        return None
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("note: matplotlib is not installed, so no plots (pip install matplotlib)")
        return None
    return plt


class Timer:
    def __init__(self):
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start


def result(**values):
    """Print the final machine-readable line: RESULT {json}."""
    clean = {k: (round(float(v), 6) if isinstance(v, (float, np.floating)) else v)
             for k, v in values.items()}
    print("RESULT " + json.dumps(clean), flush=True)
