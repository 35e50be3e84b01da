"""rnnfast.data: datasets, the DataLoader (batching, shuffling reproducibility, drop_last),
collation (default and padded), Keras' pad_sequences on hand-worked examples, Vocab and the
tokenizers."""

import functools

import numpy as np
import pytest

import rnnfast
from rnnfast import data, nn
from rnnfast.data import (
    DataLoader,
    Dataset,
    TensorDataset,
    Vocab,
    default_collate,
    pad_collate,
    pad_sequences,
    tokenize_chars,
    tokenize_words,
)


def test_tensor_dataset():
    X = np.arange(12.0).reshape(6, 2)
    y = rnnfast.tensor(np.arange(6))
    ds = TensorDataset(X, y)
    assert len(ds) == 6
    x3, y3 = ds[3]
    np.testing.assert_array_equal(x3, [6.0, 7.0])
    assert y3 == 3 and isinstance(ds.arrays[1], np.ndarray)
    with pytest.raises(ValueError, match="size mismatch"):
        TensorDataset(X, np.arange(5))
    with pytest.raises(ValueError):
        TensorDataset()


def test_dataset_is_abstract():
    with pytest.raises(NotImplementedError):
        Dataset()[0]
    with pytest.raises(NotImplementedError):
        len(Dataset())


def test_dataloader_batches_in_order_with_last_partial_batch():
    X = np.arange(10.0).reshape(5, 2).astype(np.float32)
    y = np.arange(5)
    loader = DataLoader(TensorDataset(X, y), batch_size=2)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    xb, yb = batches[0]
    assert xb.dtype == np.float32 and xb.shape == (2, 2) and yb.dtype == y.dtype
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    assert batches[-1][0].shape == (1, 2)


def test_drop_last():
    loader = DataLoader(TensorDataset(np.arange(7)), batch_size=3, drop_last=True)
    batches = [b[0] for b in loader]
    assert len(loader) == len(batches) == 2
    assert all(len(b) == 3 for b in batches)


def test_batch_size_none_yields_samples():
    loader = DataLoader(TensorDataset(np.arange(3), np.arange(3) * 2), batch_size=None)
    assert [tuple(int(v) for v in s) for s in loader] == [(0, 0), (1, 2), (2, 4)]
    assert len(loader) == 3


def test_shuffling_is_reproducible_with_manual_seed_and_seed():
    ds = TensorDataset(np.arange(20))

    def epoch(loader):
        return np.concatenate([b[0] for b in loader])

    loader = DataLoader(ds, batch_size=4, shuffle=True)
    rnnfast.manual_seed(7)
    a1, a2 = epoch(loader), epoch(loader)
    rnnfast.manual_seed(7)
    b1, b2 = epoch(loader), epoch(loader)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2)                      # a new order every epoch
    assert sorted(a1) == list(range(20))
    c = DataLoader(ds, batch_size=4, shuffle=True, seed=3)
    d = DataLoader(ds, batch_size=4, shuffle=True, seed=3)
    rnnfast.manual_seed(1)
    c1 = epoch(c)
    rnnfast.manual_seed(2)                                 # seed= ignores the global generator
    np.testing.assert_array_equal(c1, epoch(d))


class _Pairs(Dataset):
    """Samples of mixed kinds for default_collate."""

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return (np.full((2, 3), i, np.float32), i, 0.5 * i, {"id": i, "name": f"s{i}"})


def test_default_collate_of_tuples_numbers_and_dicts():
    loader = DataLoader(_Pairs(), batch_size=3)
    x, ints, floats, d = next(iter(loader))
    assert x.shape == (3, 2, 3) and x.dtype == np.float32
    assert ints.dtype == np.int64 and floats.dtype == np.float64
    np.testing.assert_array_equal(ints, [0, 1, 2])
    np.testing.assert_array_equal(d["id"], [0, 1, 2])
    assert d["name"] == ["s0", "s1", "s2"]
    out = default_collate([(rnnfast.tensor([1.0, 2.0]), np.int64(3))] * 2)
    assert out[0].shape == (2, 2) and out[1].dtype == np.int64
    with pytest.raises(ValueError, match="pad_collate"):
        default_collate([np.zeros(2), np.zeros(3)])


def test_pad_collate_pads_and_returns_lengths():
    batch = [(np.array([1, 2, 3]), 0), (np.array([4]), 1), (np.array([5, 6]), 1)]
    padded, lengths, labels = pad_collate(batch)
    np.testing.assert_array_equal(padded, [[1, 2, 3], [4, 0, 0], [5, 6, 0]])
    assert lengths.dtype == np.int64
    np.testing.assert_array_equal(lengths, [3, 1, 2])
    np.testing.assert_array_equal(labels, [0, 1, 1])
    seqs = [np.ones((2, 4), np.float32), np.ones((3, 4), np.float32)]
    collate = functools.partial(pad_collate, padding_value=-1.0, batch_first=False)
    padded, lengths = collate(seqs)                      # bare sequences: no labels
    assert padded.shape == (3, 2, 4) and padded.dtype == np.float32
    assert (padded[2, 0] == -1).all() and (padded[:, 1] == 1).all()


def test_pad_collate_feeds_an_lstm_with_lengths():
    class Seqs(Dataset):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.items = [(rng.standard_normal((n, 3)), n % 2) for n in (4, 2, 5, 1, 3)]

        def __len__(self):
            return len(self.items)

        def __getitem__(self, i):
            return self.items[i]

    rnnfast.manual_seed(0)
    lstm = nn.LSTM(3, 4, batch_first=True)
    loader = DataLoader(Seqs(), batch_size=5, collate_fn=pad_collate)
    x, lengths, y = next(iter(loader))
    out, (h, _) = lstm(x, lengths=lengths)
    assert out.shape == (5, 5, 4) and h.shape == (1, 5, 4)
    assert (out.data[1, 2:] == 0).all()                  # past the end of a length-2 sequence


# -- pad_sequences: Keras' semantics, examples worked by hand ---------------------------------

SEQS = [[1, 2, 3], [4, 5], [6]]


@pytest.mark.parametrize("kwargs,want", [
    (dict(), [[1, 2, 3], [0, 4, 5], [0, 0, 6]]),
    (dict(padding="post"), [[1, 2, 3], [4, 5, 0], [6, 0, 0]]),
    (dict(maxlen=2), [[2, 3], [4, 5], [0, 6]]),
    (dict(maxlen=2, truncating="post"), [[1, 2], [4, 5], [0, 6]]),
    (dict(maxlen=2, truncating="post", padding="post"), [[1, 2], [4, 5], [6, 0]]),
    (dict(maxlen=4, value=-1), [[-1, 1, 2, 3], [-1, -1, 4, 5], [-1, -1, -1, 6]]),
])
def test_pad_sequences_like_keras(kwargs, want):
    out = pad_sequences(SEQS, **kwargs)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, want)


def test_pad_sequences_dtype_value_empty_and_features():
    out = pad_sequences([[0.25, 0.5], []], dtype="float32", value=0.5, padding="post")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0.25, 0.5], [0.5, 0.5]])
    # int32 truncates floats, as Keras' np.asarray(trunc, dtype) does
    np.testing.assert_array_equal(pad_sequences([[1.7, 2.2]]), [[1, 2]])
    feats = pad_sequences([[[1, 2], [3, 4]], [[5, 6]]])
    assert feats.shape == (2, 2, 2)
    np.testing.assert_array_equal(feats[1], [[0, 0], [5, 6]])
    assert pad_sequences([[1, 2]], maxlen=0).shape == (1, 0)
    words = pad_sequences([["a", "b"], ["c"]], dtype=object, value="<pad>")
    assert words.tolist() == [["a", "b"], ["<pad>", "c"]]


def test_pad_sequences_errors():
    with pytest.raises(ValueError, match="Padding type"):
        pad_sequences(SEQS, padding="middle")
    with pytest.raises(ValueError, match="Truncating type"):
        pad_sequences(SEQS, truncating="middle")
    with pytest.raises(ValueError, match="dtype"):
        pad_sequences(SEQS, value="x")
    with pytest.raises(ValueError, match="non-iterable"):
        pad_sequences([[1], 2])
    with pytest.raises(ValueError, match="Shape of sample"):
        pad_sequences([[[1, 2]], [[1, 2, 3]]])


# -- Vocab and tokenizers ---------------------------------------------------------------------

def test_tokenizers():
    assert tokenize_words("Don't STOP, the 2 cats!\nOK") == ["don't", "stop", "the", "2", "cats",
                                                              "ok"]
    assert tokenize_chars("ab c") == ["a", "b", " ", "c"]
    with pytest.raises(TypeError):
        tokenize_words(3)


def test_word_vocab():
    texts = ["the cat sat", "the dog sat", "The end"]
    vocab = Vocab.build(map(tokenize_words, texts))
    assert vocab.itos == ["<pad>", "<unk>", "the", "sat", "cat", "dog", "end"]
    assert len(vocab) == 7 and vocab.pad_index == 0 and vocab.unk_index == 1
    ids = vocab.encode(tokenize_words("the bird sat"))
    assert ids.dtype == np.int64 and ids.tolist() == [2, 1, 3]
    assert vocab.decode(ids) == ["the", "<unk>", "sat"]
    assert vocab.decode(np.array([0, 2, 1]), skip_specials=True) == ["the"]
    assert "cat" in vocab and "bird" not in vocab
    small = Vocab.build(map(tokenize_words, texts), min_freq=2)
    assert small.itos == ["<pad>", "<unk>", "the", "sat"]
    capped = Vocab.build(map(tokenize_words, texts), max_size=4)
    assert capped.itos == ["<pad>", "<unk>", "the", "sat"]
    with pytest.raises(IndexError):
        vocab.decode([7])


def test_char_vocab_and_no_unk():
    vocab = Vocab.build("hello world", specials=())
    assert vocab.itos[:3] == ["l", "o", "h"]
    assert vocab.decode(vocab.encode("hold")) == list("hold")
    with pytest.raises(KeyError, match="unknown"):
        vocab.encode("z")
    chars = Vocab.build(map(list, ["ab", "bc"]))
    assert chars.itos == ["<pad>", "<unk>", "b", "a", "c"]


def test_module_exports():
    for name in data.__all__:
        assert hasattr(data, name)
