"""Data shared by more than one program: fixed slices of the real datasets, prepared with NumPy
and rnnfast.data once and then handed to both twins (the preparation is not timed).

The loaders read files of pip packages through rnnfast.datasets; a missing package raises
ModuleNotFoundError with the pip command, which the runner reports as a skipped program.
"""

from __future__ import annotations

import functools
import re

import numpy as np

from rnnfast import data, datasets


@functools.cache
def _imdb_split():
    """The examples' IMDB training split (80/20, stratified, seed 0): texts and labels."""
    texts, labels = datasets.imdb_reviews()
    tr_x, _, tr_y, _ = datasets.train_test_split(texts, labels, test_size=0.2, seed=0,
                                                 stratify=labels)
    return tr_x, tr_y


_IMDB_TOKENS = []


def _imdb_tokens(k):
    """The first k reviews of the split as word lists (tokenized once, as far as asked)."""
    texts = _imdb_split()[0]
    k = len(texts) if k is None else k
    _IMDB_TOKENS.extend(data.tokenize_words(t) for t in texts[len(_IMDB_TOKENS):k])
    return _IMDB_TOKENS[:k]


@functools.cache
def _imdb_vocab(vocab_size, vocab_from):
    return data.Vocab.build(_imdb_tokens(vocab_from), max_size=vocab_size)


def imdb(n, vocab_size, maxlen, label=int, vocab_from=None):
    """The first ``n`` reviews of the examples' IMDB training split as a list of (word ids
    (L,) int64, label) pairs: a vocabulary of the ``vocab_size`` most frequent words of the
    first ``vocab_from`` reviews (None: the whole split, as the examples do; ids 0 <pad>,
    1 <unk>), each review's last ``maxlen`` words, ``label`` applied to the 0/1 label.
    Returns (vocabulary size, pairs)."""
    tokens, labels = _imdb_tokens(n), _imdb_split()[1]
    vocab = _imdb_vocab(vocab_size, vocab_from)
    pairs = []
    for toks, y in zip(tokens, labels[:n]):
        ids = vocab.encode(toks[-maxlen:]).astype(np.int64)
        pairs.append((ids if len(ids) else np.array([vocab.unk_index], np.int64), label(y)))
    return len(vocab), pairs


@functools.cache
def shakespeare():
    return datasets.shakespeare()


def char_windows(n_chars, T):
    """The first ``n_chars`` characters of Shakespeare as consecutive, non-overlapping windows:
    inputs (N, T) int64 and next-character targets (N, T), and the number of symbols (over the
    whole text, so the vocabulary does not depend on the slice)."""
    text = shakespeare()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = np.array([stoi[c] for c in text[:n_chars + 1]], dtype=np.int64)
    n = (len(ids) - 1) // T
    return ids[:n * T].reshape(n, T), ids[1:n * T + 1].reshape(n, T), len(chars)


_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)*|[.,;:!?]|\n")


@functools.cache
def _word_tokens(n_chars):
    """The first n_chars characters of the plays (None: all) as text_generator's tokens."""
    return _TOKEN.findall(re.sub(r"\n+", "\n", shakespeare()[:n_chars].lower()))


@functools.cache
def _word_vocab(vocab_size, vocab_chars):
    tokens = _word_tokens(vocab_chars)
    return data.Vocab.build(tokens[:int(0.9 * len(tokens))], max_size=vocab_size)


def word_windows(n_tokens, T, vocab_size, vocab_chars=None):
    """Shakespeare as lower-cased words, punctuation marks and line breaks (text_generator's
    tokens), over a vocabulary of the ``vocab_size`` most frequent tokens of the first 90% of
    the first ``vocab_chars`` characters (None: of the plays, as the example does): the first
    ``n_tokens`` tokens as consecutive windows of T, inputs (N, T) int64 and next-token
    targets (N, T). Returns (inputs, targets, vocabulary size)."""
    vocab = _word_vocab(vocab_size, vocab_chars)
    # About 4.2 characters per token: tokenize only as much text as the windows need.
    tokens = _word_tokens(min(len(shakespeare()), 6 * n_tokens + 600))[:n_tokens + 1]
    ids = vocab.encode(tokens).astype(np.int64)
    n = (len(ids) - 1) // T
    return ids[:n * T].reshape(n, T), ids[1:n * T + 1].reshape(n, T), len(vocab)


def shakespeare_words(min_letters, max_letters, n):
    """``n`` distinct words of min_letters..max_letters letters from Shakespeare, in a fixed
    shuffled order (seq2seq_attention's words)."""
    words = sorted({w for w in re.findall(r"[a-z]+", shakespeare().lower())
                    if min_letters <= len(w) <= max_letters})
    order = np.random.default_rng(0).permutation(len(words))
    return [words[i] for i in order[:n]]
