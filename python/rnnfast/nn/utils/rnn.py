"""Packed sequences with torch.nn.utils.rnn's names and semantics: PackedSequence,
pack_padded_sequence, pad_packed_sequence, pad_sequence, pack_sequence, unpad_sequence,
unpack_sequence.

rnnfast's kernels take variable lengths directly (``layer(x, lengths=...)``, no sorting), so a
PackedSequence here keeps the padded batch, time-major, and the lengths in the batch's own
order; the recurrent layers run it through ``lengths=`` and return a PackedSequence. torch's
interleaved layout is still there for code that reads it: ``.data`` (the valid steps, step by
step, sequences in decreasing length order; differentiable), ``.batch_sizes``,
``.sorted_indices`` and ``.unsorted_indices`` are torch's. ``enforce_sorted=True`` requires
decreasing lengths as torch does (only the checks and ``sorted_indices`` depend on it).
"""

from __future__ import annotations

import numbers

import numpy as np

from ... import _device
from ...tensor import Tensor, _make, _wrap, as_tensor, cat, register_op, where

__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "pack_sequence", "unpad_sequence", "unpack_sequence"]


def _scatter_forward(data, steps, seqs, shape):
    out = np.zeros(shape, data.dtype)
    out[steps, seqs] = data
    return out


def _pad_forward(*seqs, spans, shape, padding_value):
    out = np.full(shape, padding_value, dtype=np.result_type(*seqs))
    for i, (s, span) in enumerate(zip(seqs, spans)):
        out[span, i] = s
    return out


# The named ops of this module (see rnnfast.tensor.OPS): a PackedSequence's rows scattered
# into its padded (T, B, *) tensor, and pad_sequence.
_PACKED_TO_PADDED = register_op("packed_to_padded", "PackedToPaddedBackward",
                                ("steps", "seqs", "shape"), _scatter_forward)
_PAD_SEQUENCE = register_op("pad_sequence", "PadSequenceBackward",
                            ("spans", "shape", "padding_value"), _pad_forward)


def _lengths_array(lengths, name="lengths"):
    arr = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer lengths, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence of lengths, got shape {arr.shape}")
    return arr.astype(np.int64)


def _layout(lengths, sorted_indices):
    """torch's batch_sizes and the (step, sequence) of each row of ``.data``."""
    order = np.arange(len(lengths)) if sorted_indices is None else sorted_indices
    T = int(lengths.max()) if len(lengths) else 0
    batch_sizes = np.array([(lengths > t).sum() for t in range(T)], dtype=np.int64)
    steps = np.repeat(np.arange(T), batch_sizes)
    seqs = np.concatenate([order[:n] for n in batch_sizes]) if T else np.zeros(0, np.int64)
    return batch_sizes, steps, seqs


class PackedSequence:
    """A batch of variable-length sequences, as torch.nn.utils.rnn.PackedSequence.

    Made by ``pack_padded_sequence`` / ``pack_sequence`` (or from torch's fields,
    ``PackedSequence(data, batch_sizes, sorted_indices, unsorted_indices)``), taken and
    returned by RNN, LSTM and GRU, undone by ``pad_packed_sequence``.

    Attributes:
        data: (sum(lengths), *) the valid steps in torch's order (step by step, sequences by
            decreasing length); differentiable.
        batch_sizes: int64 (T,): how many sequences are longer than each step.
        sorted_indices, unsorted_indices: int64 (B,) permutations to and from decreasing
            length order, or None when the batch was packed with ``enforce_sorted=True``.
        padded, lengths: rnnfast's own view of the batch: (T, B, *) time-major, the batch in
            its original order, and int64 (B,) lengths.
    """

    def __init__(self, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if batch_sizes is None:
            raise TypeError("PackedSequence: expected (data, batch_sizes, ...) as torch's; "
                            "use pack_padded_sequence or pack_sequence to make one")
        data = as_tensor(data, name="data")
        bs = _lengths_array(batch_sizes, "batch_sizes")
        if bs.sum() != data.shape[0] or (bs.size and (bs.min() < 1 or np.any(np.diff(bs) > 0))):
            raise ValueError(f"batch_sizes: expected non-increasing positive counts adding up "
                             f"to data's {data.shape[0]} rows, got {bs.tolist()}")
        B = int(bs[0]) if bs.size else 0
        srt = None if sorted_indices is None else _lengths_array(sorted_indices,
                                                                  "sorted_indices")
        if srt is not None and sorted(srt.tolist()) != list(range(B)):
            raise ValueError(f"sorted_indices: expected a permutation of range({B})")
        sorted_lengths = np.array([(bs > j).sum() for j in range(B)], dtype=np.int64)
        lengths = np.empty(B, np.int64)
        lengths[np.arange(B) if srt is None else srt] = sorted_lengths
        _, steps, seqs = _layout(lengths, srt)
        shape = (bs.size, B) + data.shape[1:]
        padded = np.zeros(shape, data.dtype)
        padded[steps, seqs] = data.data

        def backward(g):
            return (g[steps, seqs],)
        self._init(_make(padded, (data,), backward, op=_PACKED_TO_PADDED,
                         attrs=(steps, seqs, shape), saves=()), lengths, srt)

    def _init(self, padded, lengths, sorted_indices):
        self.padded = padded
        self.lengths = lengths
        self._sorted = sorted_indices
        self._data = None

    @classmethod
    def _from_padded(cls, padded, lengths, sorted_indices):
        obj = object.__new__(cls)
        obj._init(padded, lengths, sorted_indices)
        return obj

    def _with_padded(self, padded):
        """The same batch layout holding other values (a recurrent layer's output)."""
        return PackedSequence._from_padded(padded, self.lengths, self._sorted)

    @property
    def data(self):
        if self._data is None:
            _, steps, seqs = _layout(self.lengths, self._sorted)
            self._data = self.padded[steps, seqs]
        return self._data

    @property
    def batch_sizes(self):
        return _wrap(_layout(self.lengths, self._sorted)[0])

    @property
    def sorted_indices(self):
        return None if self._sorted is None else _wrap(self._sorted.copy())

    @property
    def unsorted_indices(self):
        return None if self._sorted is None else _wrap(np.argsort(self._sorted))

    @property
    def is_cuda(self):
        return False

    @property
    def device(self):
        return _device.CPU

    def to(self, *args, **kwargs):
        """``.to(dtype)`` / ``.to("cpu")`` as Tensor.to, applied to the data."""
        out = self.padded.to(*args, **kwargs)
        return self if out is self.padded else self._with_padded(out)

    def cpu(self):
        return self

    def __iter__(self):
        """Unpacks as torch's named tuple: data, batch_sizes, sorted_indices, unsorted_indices."""
        return iter((self.data, self.batch_sizes, self.sorted_indices, self.unsorted_indices))

    def __repr__(self):
        return (f"PackedSequence(padded shape {tuple(self.padded.shape)}, lengths "
                f"{self.lengths.tolist()}, sorted_indices "
                f"{None if self._sorted is None else self._sorted.tolist()})")


def _check_lengths(lengths, B, T):
    lengths = _lengths_array(lengths)
    if lengths.shape != (B,):
        raise ValueError(f"lengths: expected one length per sequence ({B}), got "
                         f"{lengths.shape[0]}")
    if B and lengths.min() < 1:
        raise ValueError(f"lengths: every length has to be greater than 0, got "
                         f"{int(lengths.min())}")
    if B and lengths.max() > T:
        raise ValueError(f"lengths: a length of {int(lengths.max())} exceeds the {T} steps of "
                         f"the input")
    return lengths


def _sorted_indices(lengths, enforce_sorted):
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise ValueError("lengths: `lengths` array must be sorted in decreasing order when "
                             "`enforce_sorted` is True. You can pass `enforce_sorted=False` to "
                             "pack_padded_sequence and/or pack_sequence to sidestep this "
                             "requirement.")
        return None
    return np.argsort(-lengths, kind="stable").astype(np.int64)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (T, B, *) (``batch_first``: (B, T, *)) of sequences of the given
    ``lengths`` (list, array or int64 tensor, one per sequence, each in [1, T]). With
    ``enforce_sorted`` the lengths must be in decreasing order (as torch); otherwise any order.
    Differentiable in ``input``.

    Args:
        input (Tensor): the padded batch, (T, B, *) or (B, T, *) with ``batch_first``.
        lengths (list, array or Tensor of ints): each sequence's length, in [1, T].
        batch_first (bool, optional): whether ``input`` is (B, T, *). Default: ``False``.
        enforce_sorted (bool, optional): require decreasing lengths. Default: ``True``.

    Returns:
        PackedSequence: the batch, for RNN, LSTM and GRU.

    Example::

        >>> from rnnfast.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
        >>> x = rnnfast.randn(4, 2, 3)                      # (T, B, *)
        >>> packed = pack_padded_sequence(x, [4, 2])
        >>> out, h = rnnfast.nn.GRU(3, 5)(packed)
        >>> padded, lengths = pad_packed_sequence(out)
        >>> tuple(padded.shape), lengths.tolist()
        ((4, 2, 5), [4, 2])
    """
    x = as_tensor(input, name="input")
    if x.ndim < 2:
        raise ValueError(f"input: expected at least 2 dims (T, B, *), got shape {x.shape}")
    if batch_first:
        x = x.transpose(0, 1)
    T, B = x.shape[0], x.shape[1]
    lengths = _check_lengths(lengths, B, T)
    srt = _sorted_indices(lengths, enforce_sorted)
    T_max = int(lengths.max()) if B else 0
    if T_max < T:
        x = x[:T_max]
    return PackedSequence._from_padded(x, lengths, srt)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo ``pack_padded_sequence``: ``(padded, lengths)`` with padded (T, B, *) (or
    (B, T, *) with ``batch_first``), every step past a sequence's end set to
    ``padding_value``, T = ``total_length`` or the longest length; lengths int64 (B,) in the
    batch's order.

    Args:
        sequence (PackedSequence): the batch to unpack.
        batch_first (bool, optional): return (B, T, *) instead of (T, B, *). Default: ``False``.
        padding_value (float, optional): the value of the padded steps. Default: 0.0.
        total_length (int, optional): pad to this length (>= the longest length; ValueError
            otherwise). Default: ``None`` (the longest length).

    Returns:
        (Tensor, Tensor): the padded batch and the lengths.

    Example::

        >>> from rnnfast.nn.utils.rnn import pack_sequence, pad_packed_sequence
        >>> packed = pack_sequence([rnnfast.tensor([1.0, 2.0, 3.0]), rnnfast.tensor([4.0])])
        >>> padded, lengths = pad_packed_sequence(packed, batch_first=True)
        >>> padded.tolist(), lengths.tolist()
        ([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]], [3, 1])
    """
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"sequence: expected a PackedSequence, got {type(sequence).__name__}")
    x, lengths = sequence.padded, sequence.lengths
    T = x.shape[0]
    if total_length is not None:
        if isinstance(total_length, bool) or not isinstance(total_length, numbers.Integral):
            raise TypeError(f"total_length: expected an int, got {type(total_length).__name__}")
        if total_length < T:
            raise ValueError(f"Expected total_length to be at least the length of the longest "
                             f"sequence in input, but got total_length={total_length} and max "
                             f"sequence length being {T}")
    mask = (np.arange(T)[:, None] < lengths[None, :]).reshape((T, len(lengths)) +
                                                               (1,) * (x.ndim - 2))
    pad = np.asarray(padding_value, dtype=x.dtype)
    out = where(np.broadcast_to(mask, x.shape), x, _wrap(np.broadcast_to(pad, x.shape)))
    if total_length is not None and total_length > T:
        extra = np.full((total_length - T,) + x.shape[1:], padding_value, dtype=x.dtype)
        out = cat([out, _wrap(extra)], dim=0)
    if batch_first:
        out = out.transpose(0, 1)
    return out, _wrap(lengths.copy())


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of shapes (L_i, *) into one (L_max, B, *) tensor (``batch_first``:
    (B, L_max, *)), filling with ``padding_value`` after each sequence (``padding_side=
    "left"``: before). Differentiable in every sequence.

    Args:
        sequences (list of Tensors): the sequences, each (L_i, *) with the same trailing dims.
        batch_first (bool, optional): return (B, L_max, *) instead of (L_max, B, *).
            Default: ``False``.
        padding_value (float, optional): the value of the padded steps. Default: 0.0.
        padding_side (str, optional): 'right' or 'left'. Default: 'right'.

    Returns:
        Tensor: the padded batch.

    Example::

        >>> from rnnfast.nn.utils.rnn import pad_sequence
        >>> pad_sequence([rnnfast.tensor([1, 2]), rnnfast.tensor([3])], batch_first=True).tolist()
        [[1, 2], [3, 0]]
    """
    if isinstance(sequences, Tensor) or not isinstance(sequences, (list, tuple)):
        if isinstance(sequences, Tensor):
            sequences = list(sequences)
        else:
            raise TypeError(f"sequences: expected a list of tensors, got "
                            f"{type(sequences).__name__}")
    if not sequences:
        raise ValueError("sequences: expected at least one sequence")
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side: expected 'right' or 'left', got {padding_side!r}")
    seqs = [as_tensor(s, name="sequences") for s in sequences]
    tail = seqs[0].shape[1:]
    for i, s in enumerate(seqs):
        if s.ndim == 0 or s.shape[1:] != tail:
            raise ValueError(f"sequences[{i}]: expected shape (L, *{tail}), got {s.shape}")
    dtype = np.result_type(*[s.data for s in seqs])
    L = max(s.shape[0] for s in seqs)
    out = np.full((L, len(seqs)) + tail, padding_value, dtype=dtype)
    spans = []
    for i, s in enumerate(seqs):
        n = s.shape[0]
        span = slice(0, n) if padding_side == "right" else slice(L - n, L)
        out[span, i] = s.data
        spans.append(span)

    def backward(g):
        return tuple(g[span, i] for i, span in enumerate(spans))
    res = _make(out, tuple(seqs), backward, op=_PAD_SEQUENCE,
                attrs=(tuple(spans), out.shape, padding_value), saves=())
    return res.transpose(0, 1) if batch_first else res


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of tensors (L_i, *) (decreasing lengths unless ``enforce_sorted=False``).

    Args:
        sequences (list of Tensors): the sequences, each (L_i, *), L_i >= 1.
        enforce_sorted (bool, optional): require decreasing lengths. Default: ``True``.

    Returns:
        PackedSequence: the batch.

    Example::

        >>> from rnnfast.nn.utils.rnn import pack_sequence
        >>> packed = pack_sequence([rnnfast.tensor([1, 2, 3]), rnnfast.tensor([4, 5])])
        >>> packed.data.tolist(), packed.batch_sizes.tolist()
        ([1, 4, 2, 5, 3], [2, 2, 1])
    """
    seqs = [as_tensor(s, name="sequences") for s in sequences]
    lengths = [s.shape[0] if s.ndim else 0 for s in seqs]
    return pack_padded_sequence(pad_sequence(seqs), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences (L_i, *) of a padded batch, as torch.

    Args:
        padded_sequences (Tensor): the padded batch, (T, B, *) or (B, T, *) with
            ``batch_first``.
        lengths (list, array or Tensor of ints): each sequence's length, in [1, T].
        batch_first (bool, optional): whether the batch is (B, T, *). Default: ``False``.

    Returns:
        list of Tensors: B sequences, views of the batch.

    Example::

        >>> from rnnfast.nn.utils.rnn import unpad_sequence
        >>> x = rnnfast.tensor([[1, 2, 3], [4, 0, 0]])
        >>> [s.tolist() for s in unpad_sequence(x, [3, 1], batch_first=True)]
        [[1, 2, 3], [4]]
    """
    x = as_tensor(padded_sequences, name="padded_sequences")
    if not batch_first:
        x = x.transpose(0, 1)
    lengths = _check_lengths(lengths, x.shape[0], x.shape[1])
    return [x[i, :int(n)] for i, n in enumerate(lengths)]


def unpack_sequence(packed_sequences):
    """The list of sequences (L_i, *) of a PackedSequence, in the batch's order.

    Args:
        packed_sequences (PackedSequence): the batch.

    Returns:
        list of Tensors: the B sequences.

    Raises:
        TypeError: ``packed_sequences`` is not a PackedSequence.

    Example::

        >>> from rnnfast.nn.utils.rnn import pack_sequence, unpack_sequence
        >>> seqs = [rnnfast.tensor([1, 2]), rnnfast.tensor([3, 4, 5])]
        >>> [s.tolist() for s in unpack_sequence(pack_sequence(seqs, enforce_sorted=False))]
        [[1, 2], [3, 4, 5]]
    """
    if not isinstance(packed_sequences, PackedSequence):
        raise TypeError(f"packed_sequences: expected a PackedSequence, got "
                        f"{type(packed_sequences).__name__}")
    x = packed_sequences.padded
    return [x[:int(n), i] for i, n in enumerate(packed_sequences.lengths)]

