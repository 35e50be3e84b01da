"""Data loading with torch.utils.data's names and behaviour: Dataset, TensorDataset, Subset,
random_split, the samplers and DataLoader, whose batches are rnnfast Tensors as torch's are
(``.numpy()`` gives the array; NumPy functions accept them as they are); ``pad_collate`` for
variable-length sequences, whose lengths go straight to ``layer(x, lengths=...)``; Keras'
``pad_sequences``; and a small token ``Vocab`` with ``tokenize_words``.

Deliberately absent: worker processes (``num_workers`` is accepted and the batches are loaded
in the calling process), pinned memory, batch samplers, iterable-style datasets. Shuffling
draws from ``rnnfast.manual_seed``'s generator unless a ``seed`` / ``generator`` is given.
"""

from __future__ import annotations

import collections
import math
import numbers
import re
from collections.abc import Mapping, Sequence

import numpy as np

from .tensor import Tensor, _wrap, default_generator

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "Sampler", "SequentialSampler",
           "RandomSampler", "DataLoader", "default_collate", "default_convert", "pad_collate",
           "pad_sequences", "Vocab", "tokenize_words", "tokenize_chars"]


def _tensor(arr):
    """A NumPy array (or scalar) of numbers as a Tensor sharing its memory; other data (strings)
    as it is."""
    arr = np.asarray(arr)
    return _wrap(arr) if arr.dtype.kind in "biuf" else arr


def default_convert(data):
    """NumPy arrays and scalars of numbers in ``data`` (nested in tuples, lists and dicts) as
    Tensors, as torch's default_convert; Tensors, Python numbers and strings unchanged."""
    if isinstance(data, (np.ndarray, np.generic)):
        return _tensor(data)
    if isinstance(data, Mapping):
        return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(v) for v in data))
    if isinstance(data, (tuple, list)):
        return type(data)(default_convert(v) for v in data)
    return data


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} does not define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} does not define __len__")


def _as_data_array(x, name):
    if isinstance(x, Tensor):
        return x.data
    arr = np.asarray(x)
    if arr.dtype.hasobject:
        raise TypeError(f"{name}: expected an array of numbers (or strings), got dtype object; "
                        f"ragged sequences belong in a custom Dataset with pad_collate")
    return arr


class TensorDataset(Dataset):
    """Samples are tuples ``(a[i], b[i], ...)`` of the given arrays (NumPy arrays, rnnfast
    Tensors or anything ``np.asarray`` accepts), which must share their first dim; numeric
    items come back as Tensors (views, as torch's TensorDataset returns).

    Args:
        *arrays: one or more arrays (or Tensors) of the same length along their first dim.

    Raises:
        ValueError: no array, a 0-d array, or first dims that differ (naming ``arrays[i]``).

    Example::

        >>> ds = rnnfast.data.TensorDataset(np.zeros((10, 5, 3)), np.arange(10))
        >>> x, y = ds[2]
        >>> len(ds), tuple(x.shape), y.item()
        (10, (5, 3), 2)
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("TensorDataset: expected at least one array")
        self.arrays = tuple(_as_data_array(a, f"arrays[{i}]") for i, a in enumerate(arrays))
        for i, a in enumerate(self.arrays):
            if a.ndim == 0:
                raise ValueError(f"arrays[{i}]: expected at least 1 dim, got a scalar")
        n = self.arrays[0].shape[0]
        for i, a in enumerate(self.arrays[1:], 1):
            if a.shape[0] != n:
                raise ValueError(f"arrays[{i}]: size mismatch between arrays: first dim "
                                 f"{a.shape[0]}, arrays[0] has {n}")

    def __getitem__(self, index):
        return tuple(_tensor(a[index]) for a in self.arrays)

    def __len__(self):
        return self.arrays[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    Args:
        dataset (Dataset): the whole dataset.
        indices (sequence of ints): the indices of the subset's samples.

    Example::

        >>> ds = rnnfast.data.TensorDataset(np.arange(10))
        >>> sub = rnnfast.data.Subset(ds, [7, 3])
        >>> len(sub), sub[0][0].item()
        (2, 7)
    """

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = [int(i) for i in np.asarray(indices, dtype=np.int64).reshape(-1)]

    def __getitem__(self, index):
        return self.dataset[self.indices[index]]

    def __len__(self):
        return len(self.indices)


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into non-overlapping Subsets of the given ``lengths`` (ints adding up
    to ``len(dataset)``, or fractions adding up to 1, whose remainders go one each to the
    first subsets, as torch does), in a random order from ``generator`` (an int seed or an
    ``np.random.Generator``; default ``rnnfast.manual_seed``'s generator).

    Args:
        dataset (Dataset): the dataset to split.
        lengths (sequence of ints or floats): the sizes (or fractions) of the parts.
        generator (int, np.random.Generator or None, optional): the source of the order.
            Default: ``None``.

    Returns:
        list of Subset: one per length.

    Raises:
        ValueError: lengths that do not add up to ``len(dataset)`` (or to 1).

    Example::

        >>> ds = rnnfast.data.TensorDataset(np.arange(10))
        >>> train, val = rnnfast.data.random_split(ds, [0.8, 0.2], generator=0)
        >>> len(train), len(val)
        (8, 2)
    """
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise ValueError("lengths: expected at least one length")
    if all(isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in lengths):
        sizes = [int(x) for x in lengths]
    elif math.isclose(sum(lengths), 1.0) and all(0 <= x <= 1 for x in lengths):
        sizes = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
    else:
        raise ValueError(f"lengths: expected ints adding up to {n} (the dataset's length) or "
                         f"fractions adding up to 1, got {lengths}")
    if any(x < 0 for x in sizes) or sum(sizes) != n:
        raise ValueError(f"lengths: expected non-negative sizes adding up to {n} (the "
                         f"dataset's length), got {sizes}")
    order = _as_generator(generator, "generator").permutation(n)
    bounds = np.cumsum([0] + sizes)
    return [Subset(dataset, order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def _as_generator(seed, name):
    """An int seed, an np.random.Generator or None (the global generator, looked up at each
    use) -> the generator to draw from."""
    if seed is None:
        return default_generator()
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
        return np.random.Generator(np.random.PCG64(int(seed)))
    raise TypeError(f"{name}: expected a non-negative int, an np.random.Generator or None, "
                    f"got {seed!r}")


class Sampler:
    """An iterable of dataset indices (subclasses define ``__iter__`` and ``__len__``)."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} does not define __iter__")


class SequentialSampler(Sampler):
    """The indices 0, 1, ..., len(data_source) - 1, in order.

    Args:
        data_source (Sized): the dataset whose indices are produced.

    Example::

        >>> list(rnnfast.data.SequentialSampler(range(3)))
        [0, 1, 2]
    """

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A new random order of the indices each epoch (``replacement``: ``num_samples`` draws
    with replacement), from ``generator`` (int seed, np.random.Generator, or None for
    ``rnnfast.manual_seed``'s generator).

    Args:
        data_source (Sized): the dataset whose indices are drawn.
        replacement (bool, optional): draw with replacement. Default: ``False``.
        num_samples (int, optional): the number of draws, only with ``replacement=True``.
            Default: ``None`` (``len(data_source)``).
        generator (int, np.random.Generator or None, optional): the source of the draws.
            Default: ``None``.

    Raises:
        ValueError: ``num_samples`` not a positive int, or given without ``replacement``.

    Example::

        >>> sorted(rnnfast.data.RandomSampler(range(5), generator=0))
        [0, 1, 2, 3, 4]
    """

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = bool(replacement)
        if num_samples is not None and (isinstance(num_samples, bool) or
                                        not isinstance(num_samples, numbers.Integral) or
                                        num_samples < 1):
            raise ValueError(f"num_samples: expected a positive int, got {num_samples!r}")
        if num_samples is not None and not replacement:
            raise ValueError("num_samples: only with replacement=True (without replacement "
                             "every index is drawn once)")
        self._num_samples = num_samples
        self._generator = None if generator is None else _as_generator(generator, "generator")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        gen = self._generator if self._generator is not None else default_generator()
        n = len(self.data_source)
        if self.replacement:
            return iter(int(i) for i in gen.integers(0, n, self.num_samples))
        return iter(int(i) for i in gen.permutation(n))

    def __len__(self):
        return self.num_samples


def default_collate(batch):
    """Stack a list of samples into a batch, as torch's default_collate: Tensors / NumPy
    arrays -> one Tensor with a new first dim; numbers -> a 1-D Tensor (Python ints int64,
    floats float64, as torch); strings -> list; tuples / lists -> tuple of collated fields;
    dicts -> dict of collated values.

    Args:
        batch (list): the samples, of one structure.

    Returns:
        The batch, with the samples' structure.

    Raises:
        TypeError: an empty or non-list batch, or samples that cannot be collated.
        ValueError: arrays of different shapes (use ``pad_collate`` for sequences).

    Example::

        >>> x, y = rnnfast.data.default_collate([(np.zeros(3), 1), (np.ones(3), 0)])
        >>> tuple(x.shape), y.tolist()
        ((2, 3), [1, 0])
    """
    if not isinstance(batch, Sequence) or isinstance(batch, (str, bytes)) or not len(batch):
        raise TypeError(f"batch: expected a non-empty list of samples, got {type(batch).__name__}")
    elem = batch[0]
    if isinstance(elem, (Tensor, np.ndarray, np.generic)):
        arrs = [b.data if isinstance(b, Tensor) else np.asarray(b) for b in batch]
        if arrs[0].dtype.hasobject:
            raise TypeError("default_collate: cannot collate arrays of dtype object")
        shapes = {a.shape for a in arrs}
        if len(shapes) > 1:
            raise ValueError(f"default_collate: samples have different shapes {sorted(shapes)}; "
                             f"use collate_fn=rnnfast.data.pad_collate for sequences of "
                             f"different lengths")
        return _tensor(np.stack(arrs))
    if isinstance(elem, bool):
        return _wrap(np.array(batch, dtype=bool))
    if isinstance(elem, numbers.Integral):
        return _wrap(np.array(batch, dtype=np.int64))
    if isinstance(elem, numbers.Real):
        return _wrap(np.array(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):       # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, (tuple, list)):
        n = len(elem)
        if any(len(b) != n for b in batch):
            raise ValueError("default_collate: each sample in the batch must have the same "
                             "number of fields")
        return tuple(default_collate(list(s)) for s in zip(*batch))
    raise TypeError(f"default_collate: cannot collate samples of type {type(elem).__name__}")


def pad_collate(batch, padding_value=0, batch_first=True):
    """Collate ``(sequence, label, ...)`` samples whose sequences differ in length.

    Each sequence is a Tensor, array or list of shape (L_i, ...). Returns ``(padded, lengths,
    labels, ...)``, all Tensors: ``padded`` (B, L_max, ...) (or (L_max, B, ...) without
    ``batch_first``), padded after each sequence's end with ``padding_value`` and in the
    sequences' common dtype; ``lengths`` int64 (B,); the other fields collated by
    ``default_collate``.
    Samples that are bare sequences give ``(padded, lengths)``. To change the options pass
    ``functools.partial(pad_collate, padding_value=-1)`` as the ``collate_fn``.

    Args:
        batch (list): the samples: ``(sequence, label, ...)`` tuples or bare sequences.
        padding_value (number, optional): the value after each sequence's end. Default: 0.
        batch_first (bool, optional): ``padded`` is (B, L_max, ...) rather than
            (L_max, B, ...). Default: ``True``.

    Returns:
        tuple: ``(padded, lengths, labels, ...)`` or ``(padded, lengths)``.

    Example::

        >>> padded, lengths, labels = rnnfast.data.pad_collate([([1, 2, 3], 0), ([4], 1)])
        >>> padded.tolist(), lengths.tolist(), labels.tolist()
        ([[1, 2, 3], [4, 0, 0]], [3, 1], [0, 1])
    """
    if not isinstance(batch, Sequence) or not len(batch):
        raise TypeError(f"batch: expected a non-empty list of samples, got {type(batch).__name__}")
    bare = not isinstance(batch[0], (tuple, list)) or (
        len(batch[0]) and isinstance(batch[0][0], numbers.Number))
    seqs = [s if bare else s[0] for s in batch]
    seqs = [s.data if isinstance(s, Tensor) else np.asarray(s) for s in seqs]
    for i, s in enumerate(seqs):
        if s.ndim == 0:
            raise ValueError(f"pad_collate: sample {i}'s sequence is a scalar; expected shape "
                             f"(length, ...)")
        if s.dtype.hasobject:
            raise TypeError(f"pad_collate: sample {i}'s sequence has dtype object")
    feat = seqs[0].shape[1:]
    for i, s in enumerate(seqs):
        if s.shape[1:] != feat:
            raise ValueError(f"pad_collate: sample {i}'s sequence has shape {s.shape}, expected "
                             f"(length,) + {feat}")
    lengths = np.array([s.shape[0] for s in seqs], dtype=np.int64)
    dtype = np.result_type(*seqs)
    padded = np.full((len(seqs), int(lengths.max(initial=0))) + feat, padding_value, dtype=dtype)
    for i, s in enumerate(seqs):
        padded[i, :len(s)] = s
    if not batch_first:
        padded = np.ascontiguousarray(np.swapaxes(padded, 0, 1))
    padded, lengths = _tensor(padded), _wrap(lengths)
    if bare:
        return padded, lengths
    rest = [list(s[1:]) for s in batch]
    return (padded, lengths) + tuple(default_collate(list(f)) for f in zip(*rest))


class DataLoader:
    """Iterate over ``dataset`` in batches of ``batch_size`` samples merged by ``collate_fn``
    (``default_collate`` if None), as torch's DataLoader: batches are Tensors. ``shuffle``
    draws a new order every epoch from ``seed``'s generator (an int or an
    ``np.random.Generator``; ``generator=`` is the same), or from rnnfast's global generator
    (``rnnfast.manual_seed``) when both are None. ``sampler`` (an iterable of indices, such
    as ``RandomSampler``) replaces the order, and excludes ``shuffle``. ``drop_last`` drops a
    last, incomplete batch. ``batch_size=None`` yields the samples one by one, uncollated
    (NumPy data converted to Tensors). ``num_workers``, ``pin_memory``,
    ``persistent_workers``, ``prefetch_factor`` and ``timeout`` are accepted for torch's
    signature; batches are always loaded in the calling process.

    Args:
        dataset (Dataset): a map-style dataset (``__getitem__`` and ``__len__``).
        batch_size (int or None, optional): samples per batch, >= 1; ``None`` for no
            batching. Default: 1.
        shuffle (bool, optional): a new random order every epoch. Default: ``False``.
        drop_last (bool, optional): drop a last, incomplete batch. Default: ``False``.
        collate_fn (callable, optional): merges a list of samples into a batch. Default:
            ``None`` (``default_collate``).
        seed (int or np.random.Generator, optional): rnnfast extra: the source of the
            shuffled order. Default: ``None``.
        sampler (iterable of ints, optional, keyword-only): the order of the indices.
        generator (int or np.random.Generator, optional, keyword-only): the same option as
            ``seed`` (torch's name); give one of the two.
        num_workers (int, optional, keyword-only): accepted (>= 0) and ignored. Default: 0.
        pin_memory (bool, optional, keyword-only): accepted and ignored. Default: ``False``.
        persistent_workers (bool, optional, keyword-only): accepted and ignored.
        prefetch_factor (optional, keyword-only): accepted and ignored.
        timeout (optional, keyword-only): accepted and ignored. Default: 0.

    Raises:
        TypeError / ValueError: a bad ``dataset``, ``batch_size``, ``collate_fn``,
        ``sampler`` (with ``shuffle``), ``num_workers`` or both ``seed`` and ``generator``.

    Example::

        >>> ds = rnnfast.data.TensorDataset(np.zeros((10, 4), np.float32), np.arange(10))
        >>> loader = rnnfast.data.DataLoader(ds, batch_size=4, shuffle=True, seed=0)
        >>> [tuple(x.shape) for x, y in loader]
        [(4, 4), (4, 4), (2, 4)]
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, collate_fn=None,
                 seed=None, *, sampler=None, generator=None, num_workers=0, pin_memory=False,
                 persistent_workers=False, prefetch_factor=None, timeout=0):
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise TypeError(f"dataset: expected a map-style dataset (with __getitem__ and "
                            f"__len__), got {type(dataset).__name__}")
        if batch_size is not None:
            if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
                raise TypeError(f"batch_size: expected an int or None, got "
                                f"{type(batch_size).__name__}")
            if batch_size < 1:
                raise ValueError(f"batch_size: expected an int >= 1, got {batch_size}")
            batch_size = int(batch_size)
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError("collate_fn: expected a callable")
        if seed is not None and generator is not None:
            raise ValueError("seed and generator: give one of them (they are the same option)")
        seed = generator if seed is None else seed
        self._generator = None if seed is None else _as_generator(seed, "seed")
        if sampler is not None:
            if shuffle:
                raise ValueError("sampler: mutually exclusive with shuffle=True")
            if not hasattr(sampler, "__iter__"):
                raise TypeError(f"sampler: expected an iterable of indices, got "
                                f"{type(sampler).__name__}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) \
                or num_workers < 0:
            raise ValueError(f"num_workers: expected an int >= 0, got {num_workers!r}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.seed = seed
        self.sampler = sampler
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory)

    @property
    def generator(self):
        return self._generator if self._generator is not None else default_generator()

    def __len__(self):
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self):
        if self.sampler is not None:
            return np.fromiter((int(i) for i in self.sampler), dtype=np.int64)
        n = len(self.dataset)
        return self.generator.permutation(n) if self.shuffle else np.arange(n)

    def __iter__(self):
        order = self._order()
        if self.batch_size is None:
            for i in order:
                yield default_convert(self.dataset[int(i)])
            return
        bs = self.batch_size
        stop = len(order) - len(order) % bs if self.drop_last else len(order)
        fast = self.collate_fn is None and type(self.dataset) is TensorDataset
        for start in range(0, stop, bs):
            idx = order[start:start + bs]
            if fast:            # same result as collating the samples, one fancy index per array
                yield tuple(_tensor(a[idx]) for a in self.dataset.arrays)
                continue
            samples = [self.dataset[int(i)] for i in idx]
            yield (self.collate_fn or default_collate)(samples)


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Keras' ``pad_sequences``: a (num_samples, maxlen, ...) array of ``dtype``.

    ``maxlen`` defaults to the longest sequence; longer sequences lose values at the start
    (``truncating='pre'``) or the end ('post'); shorter ones are filled with ``value`` before
    ('pre', the default) or after ('post'). Empty sequences become all ``value``. Sequences may
    hold scalars or arrays (of one common shape, taken from the first non-empty sequence).

    Args:
        sequences (list of sequences): the sequences to pad.
        maxlen (int, optional): the output length, >= 0. Default: ``None`` (the longest).
        dtype (str or dtype, optional): the output dtype. Default: 'int32'.
        padding (str, optional): 'pre' or 'post'. Default: 'pre'.
        truncating (str, optional): 'pre' or 'post'. Default: 'pre'.
        value (float, optional): the padding value. Default: 0.0.

    Returns:
        np.ndarray: (num_samples, maxlen, ...).

    Raises:
        ValueError: a bad ``sequences``, ``maxlen``, ``padding`` or ``truncating``.

    Example::

        >>> rnnfast.data.pad_sequences([[1, 2, 3], [4]], maxlen=2).tolist()
        [[2, 3], [0, 4]]
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError("sequences: expected a list of iterables")
    num_samples = len(sequences)
    lengths, sample_shape, found = [], (), False
    for x in sequences:
        if not hasattr(x, "__len__"):
            raise ValueError(f"sequences: expected a list of iterables, found non-iterable: "
                             f"{x!r}")
        lengths.append(len(x))
        if not found and len(x):
            sample_shape = np.asarray(x).shape[1:]
            found = True
    if maxlen is None:
        maxlen = max(lengths, default=0)
    elif isinstance(maxlen, bool) or not isinstance(maxlen, numbers.Integral) or maxlen < 0:
        raise ValueError(f"maxlen: expected a non-negative int or None, got {maxlen!r}")
    maxlen = int(maxlen)
    if padding not in ("pre", "post"):
        raise ValueError(f'Padding type "{padding}" not understood')
    if truncating not in ("pre", "post"):
        raise ValueError(f'Truncating type "{truncating}" not understood')
    is_str = np.issubdtype(np.dtype(dtype), np.str_)
    if isinstance(value, str) and np.dtype(dtype) != object and not is_str:
        raise ValueError(f"`dtype` {dtype} is not compatible with `value`'s type: "
                         f"{type(value)}\nYou should set `dtype=object` for variable length "
                         f"strings.")
    x = np.full((num_samples, maxlen) + sample_shape, value, dtype=dtype)
    if maxlen == 0:
        return x
    for idx, s in enumerate(sequences):
        if not len(s):
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        trunc = np.asarray(trunc, dtype=dtype)
        if trunc.shape[1:] != sample_shape:
            raise ValueError(f"Shape of sample {trunc.shape[1:]} of sequence at position {idx} "
                             f"is different from expected shape {sample_shape}")
        if padding == "post":
            x[idx, :len(trunc)] = trunc
        else:
            x[idx, -len(trunc):] = trunc
    return x


_WORD = re.compile(r"\w+(?:'\w+)*")


def tokenize_words(text):
    """Lower-cased words (runs of letters, digits and underscores, with inner apostrophes kept:
    "Don't stop!" -> ["don't", "stop"]); punctuation and whitespace are dropped.

    Args:
        text (str): the text to split.

    Returns:
        list of str: the words.

    Raises:
        TypeError: ``text`` is not a str.

    Example::

        >>> rnnfast.data.tokenize_words("Don't stop!")
        ["don't", 'stop']
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str, got {type(text).__name__}")
    return _WORD.findall(text.lower())


def tokenize_chars(text):
    """The characters of ``text`` as a list (a character-level tokenizer).

    Args:
        text (str): the text to split.

    Returns:
        list of str: the characters.

    Raises:
        TypeError: ``text`` is not a str.

    Example::

        >>> rnnfast.data.tokenize_chars("hi!")
        ['h', 'i', '!']
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str, got {type(text).__name__}")
    return list(text)


class Vocab:
    """A token <-> index mapping. ``itos`` is the list of tokens (index -> token); tokens not
    in the vocabulary encode to ``unk_token``'s index (KeyError if there is no such token).

    Build one with ``Vocab.build(tokens)``: specials first (``<pad>`` = 0, ``<unk>`` = 1 by
    default), then the tokens by decreasing frequency (ties in order of first appearance).

    Args:
        itos (iterable of str): the tokens, index i -> token (each once).
        unk_token (str, optional): the unknown token, if in ``itos``. Default: '<unk>'.
        pad_token (str, optional): the padding token, if in ``itos``. Default: '<pad>'.

    Raises:
        TypeError: a token that is not a str. ValueError: a token given twice.

    Example::

        >>> vocab = rnnfast.data.Vocab.build([["the", "cat"], ["the", "dog"]])
        >>> vocab.itos
        ['<pad>', '<unk>', 'the', 'cat', 'dog']
        >>> vocab.encode(["the", "bird"]).tolist()
        [2, 1]
    """

    def __init__(self, itos, unk_token="<unk>", pad_token="<pad>"):
        itos = list(itos)
        for t in itos:
            if not isinstance(t, str):
                raise TypeError(f"itos: expected str tokens, got {type(t).__name__}")
        stoi = {}
        for i, t in enumerate(itos):
            if t in stoi:
                raise ValueError(f"itos: token {t!r} appears twice")
            stoi[t] = i
        self.itos = itos
        self.stoi = stoi
        self.unk_token = unk_token if unk_token in stoi else None
        self.pad_token = pad_token if pad_token in stoi else None

    @classmethod
    def build(cls, tokens, max_size=None, min_freq=1, specials=("<pad>", "<unk>")):
        """A vocabulary of ``tokens``: an iterable of tokens, or of token sequences (list or
        tuple items are flattened one level). Word level: ``Vocab.build(map(tokenize_words,
        texts))``; char level: ``Vocab.build(text)`` (a str iterates over its characters) or
        ``Vocab.build(map(list, texts))``. Keeps tokens seen at least ``min_freq`` times and
        at most ``max_size`` entries in all, specials included. ``"<unk>"`` and ``"<pad>"``,
        when among the specials, become the unknown and padding tokens."""
        if isinstance(min_freq, bool) or not isinstance(min_freq, numbers.Integral) \
                or min_freq < 1:
            raise ValueError(f"min_freq: expected an int >= 1, got {min_freq!r}")
        specials = list(specials or ())
        if max_size is not None:
            if isinstance(max_size, bool) or not isinstance(max_size, numbers.Integral):
                raise TypeError(f"max_size: expected an int or None, got "
                                f"{type(max_size).__name__}")
            if max_size < len(specials):
                raise ValueError(f"max_size: expected at least {len(specials)} (the number of "
                                 f"specials), got {max_size}")
        counts = collections.Counter()
        for item in tokens:
            if isinstance(item, (list, tuple)):
                counts.update(item)
            else:
                counts[item] += 1
        itos = list(specials)
        seen = set(itos)
        for tok, c in counts.most_common():
            if max_size is not None and len(itos) >= max_size:
                break
            if c < min_freq:
                break
            if tok in seen:
                continue
            if not isinstance(tok, str):
                raise TypeError(f"tokens: expected str tokens, got {type(tok).__name__}")
            itos.append(tok)
            seen.add(tok)
        return cls(itos)

    def __len__(self):
        return len(self.itos)

    def __contains__(self, token):
        return token in self.stoi

    def __getitem__(self, token):
        """The index of ``token`` (the unknown index for unknown tokens)."""
        i = self.stoi.get(token)
        if i is not None:
            return i
        if self.unk_token is None:
            raise KeyError(f"token {token!r} is not in the vocabulary and it has no unknown "
                           f"token")
        return self.stoi[self.unk_token]

    @property
    def unk_index(self):
        return None if self.unk_token is None else self.stoi[self.unk_token]

    @property
    def pad_index(self):
        return None if self.pad_token is None else self.stoi[self.pad_token]

    def encode(self, tokens):
        """The indices of ``tokens`` as an int64 array (a str is encoded character by
        character; unknown tokens get the unknown index, KeyError without one)."""
        return np.array([self[t] for t in tokens], dtype=np.int64)

    def decode(self, ids, skip_specials=False):
        """The tokens of ``ids`` (a list); ``skip_specials`` drops pad and unk."""
        ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"ids: expected integers, got dtype {ids.dtype}")
        out = []
        n = len(self.itos)
        for i in ids.ravel().tolist():
            if not 0 <= i < n:
                raise IndexError(f"ids: index {i} is out of range for a vocabulary of {n}")
            tok = self.itos[i]
            if skip_specials and tok in (self.unk_token, self.pad_token):
                continue
            out.append(tok)
        return out

    def __repr__(self):
        return f"Vocab(size={len(self)}, unk={self.unk_token!r}, pad={self.pad_token!r})"
