"""rnnfast.save / rnnfast.load: round trips (dtypes, key order, modules), and refusal of damaged,
foreign and pickle-bearing files with ValueError, without ever running their code."""

import io
import json
import os
import zipfile

import numpy as np
import pytest

import rnnfast
from rnnfast import nn
from rnnfast.io import META_KEY


def _state():
    rng = np.random.default_rng(0)
    return {
        "z.weight": rng.standard_normal((3, 4)).astype(np.float32),
        "a.bias": rng.standard_normal(5),                       # float64
        "m.count": np.arange(6, dtype=np.int64).reshape(2, 3),
        "m.small": np.array([1, -2], dtype=np.int8),
        "flag": np.array([True, False]),
        "scalar": np.float32(2.5),
        "empty": np.zeros((0, 3), np.float32),
    }


def test_round_trip_dtypes_shapes_and_key_order(tmp_path):
    sd = _state()
    path = tmp_path / "state.npz"
    rnnfast.save(sd, path)
    assert os.listdir(tmp_path) == ["state.npz"]            # exactly there, no temp left over
    out = rnnfast.load(path)
    assert type(out) is dict and list(out) == list(sd)
    for k, v in sd.items():
        assert out[k].dtype == np.asarray(v).dtype and out[k].shape == np.shape(v)
        np.testing.assert_array_equal(out[k], v)
    with np.load(path, allow_pickle=False) as z:            # an ordinary .npz
        np.testing.assert_array_equal(z["m.count"], sd["m.count"])


def test_path_kept_as_given_and_file_objects(tmp_path):
    path = tmp_path / "weights.bin"                          # no .npz appended
    rnnfast.save({"x": np.ones(2)}, str(path))
    assert path.exists() and rnnfast.load(str(path))["x"].tolist() == [1.0, 1.0]
    buf = io.BytesIO()
    rnnfast.save({"w": rnnfast.tensor([1.0, 2.0])}, buf)    # Tensors are saved as arrays
    buf.seek(0)
    out = rnnfast.load(buf)
    assert out["w"].dtype == np.float32


def test_metadata_entry(tmp_path):
    path = tmp_path / "m.npz"
    rnnfast.save({"b": np.ones(2), "a": np.zeros(1, np.int32)}, path)
    with zipfile.ZipFile(path) as zf:
        assert META_KEY + ".npy" in zf.namelist()
    with np.load(path) as z:
        meta = json.loads(z[META_KEY].tobytes())
    assert meta["keys"] == ["b", "a"] and meta["format_version"] == 1
    assert meta["rnnfast_version"] == rnnfast.__version__
    assert meta["dtypes"] == [np.dtype(np.float64).str, np.dtype(np.int32).str]


def test_lstm_model_save_load_predicts_identically(tmp_path):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.lstm = nn.LSTM(4, 6, num_layers=2, bidirectional=True, batch_first=True)
            self.head = nn.Linear(12, 3)

        def forward(self, x):
            out, _ = self.lstm(self.emb(x))
            return self.head(out[:, -1])

    rnnfast.manual_seed(0)
    a = Net()
    rnnfast.manual_seed(1)
    b = Net()
    x = np.random.default_rng(0).integers(0, 10, size=(5, 7))
    path = tmp_path / "net.npz"
    rnnfast.save(a, path)
    assert not np.array_equal(a(x).data, b(x).data)
    b.load_state_dict(rnnfast.load(path))
    np.testing.assert_array_equal(a(x).data, b(x).data)
    assert list(rnnfast.load(path)) == list(a.state_dict())


def test_save_rejects_what_needs_pickle_or_is_not_flat(tmp_path):
    with pytest.raises(TypeError, match="dtype object"):
        rnnfast.save({"x": np.array([{}, 1], dtype=object)}, tmp_path / "a.npz")
    with pytest.raises(TypeError, match="nested"):
        rnnfast.save({"x": {"y": np.ones(1)}}, tmp_path / "a.npz")
    with pytest.raises(TypeError, match="Module or a dict"):
        rnnfast.save([np.ones(1)], tmp_path / "a.npz")
    with pytest.raises(ValueError, match="reserved"):
        rnnfast.save({META_KEY: np.ones(1)}, tmp_path / "a.npz")
    assert os.listdir(tmp_path) == []


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        rnnfast.load(tmp_path / "nope.npz")


def test_truncated_file_raises_value_error_naming_the_path(tmp_path):
    path = tmp_path / "full.npz"
    rnnfast.save(_state(), path)
    raw = path.read_bytes()
    for cut in (len(raw) // 3, len(raw) - 10, 10):
        bad = tmp_path / f"cut{cut}.npz"
        bad.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match=str(bad).replace("\\", "\\\\")):
            rnnfast.load(bad)


def test_corrupted_member_bytes_raise_value_error(tmp_path):
    path = tmp_path / "full.npz"
    rnnfast.save({"w": np.arange(1000, dtype=np.float64)}, path)
    raw = bytearray(path.read_bytes())
    i = raw.find(np.arange(1000, dtype=np.float64)[500:502].tobytes())
    raw[i:i + 8] = b"\xff" * 8                              # flip data bytes: CRC mismatch
    bad = tmp_path / "flipped.npz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="corrupted"):
        rnnfast.load(bad)


def test_random_bytes_and_text_raise_value_error(tmp_path):
    bad = tmp_path / "random.npz"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="not an rnnfast file"):
        rnnfast.load(bad)
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    with pytest.raises(ValueError, match="not an rnnfast file"):
        rnnfast.load(txt)


def test_plain_npz_without_metadata_is_not_an_rnnfast_file(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, w=np.ones(3))
    with pytest.raises(ValueError, match="not an rnnfast file"):
        rnnfast.load(path)


class _CreatesFileWhenUnpickled:
    """Unpickling this object calls open(path, 'w'): proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _meta_for(keys, dtypes, shapes):
    meta = {"format": "rnnfast-state", "format_version": 1, "rnnfast_version": "x",
            "keys": keys, "dtypes": dtypes, "shapes": shapes}
    return np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)


def test_pickled_object_array_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    evil = np.empty(1, dtype=object)
    evil[0] = _CreatesFileWhenUnpickled(str(marker))
    path = tmp_path / "evil.npz"
    # A well-formed rnnfast file whose one member is a pickled object array.
    np.savez(path, allow_pickle=True,
             **{META_KEY: _meta_for(["w"], ["|O"], [[1]]), "w": evil})
    assert not marker.exists()
    with pytest.raises(ValueError, match="object"):
        rnnfast.load(path)
    assert not marker.exists()
    # Also as the metadata member itself.
    path2 = tmp_path / "evil2.npz"
    np.savez(path2, allow_pickle=True, **{META_KEY: evil})
    with pytest.raises(ValueError, match="object"):
        rnnfast.load(path2)
    assert not marker.exists()


def test_members_must_match_metadata(tmp_path):
    path = tmp_path / "odd.npz"
    np.savez(path, **{META_KEY: _meta_for(["w"], ["<f8"], [[2]]), "w": np.ones(2),
                      "extra": np.ones(1)})
    with pytest.raises(ValueError, match="do not match"):
        rnnfast.load(path)
    path = tmp_path / "shape.npz"
    np.savez(path, **{META_KEY: _meta_for(["w"], ["<f8"], [[3]]), "w": np.ones(2)})
    with pytest.raises(ValueError, match="metadata says"):
        rnnfast.load(path)
    path = tmp_path / "future.npz"
    meta = {"format": "rnnfast-state", "format_version": 99, "keys": [], "dtypes": [],
            "shapes": []}
    np.savez(path, **{META_KEY: np.frombuffer(json.dumps(meta).encode(), np.uint8)})
    with pytest.raises(ValueError, match="version 99"):
        rnnfast.load(path)
    path = tmp_path / "garbage_meta.npz"
    np.savez(path, **{META_KEY: np.frombuffer(b"{not json", np.uint8)})
    with pytest.raises(ValueError, match="not an rnnfast file"):
        rnnfast.load(path)
