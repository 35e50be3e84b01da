"""rnnfast.save / rnnfast.load: round trips (dtypes, key order, modules), and refusal of damaged,
foreign and pickle-bearing files with ValueError, without ever running their code."""

import io
import json
import math
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


def _same(a, b):
    """Structure, container and scalar types, and array dtypes and values all equal (nan equal
    to nan)."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, dict):
        assert list(a) == list(b)
        assert [type(k) for k in a] == [type(k) for k in b]
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, (float, complex)):
        assert a == b or (a != a and b != b) or (isinstance(a, complex) and np.allclose(
            [a], [b], equal_nan=True, rtol=0, atol=0))
    else:
        assert a == b


def _checkpoint_pair(torch):
    """The same nested checkpoint for torch.save (torch tensors) and rnnfast.save (NumPy
    arrays): what a training script saves, plus every kind of leaf and key."""
    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 2)).astype(np.float32)
    steps = np.arange(4, dtype=np.int64)

    def build(arr):
        return {
            "model": {"lstm.weight_ih_l0": arr(w), "fc.bias": arr(steps)},
            "optim": {"state": {0: {"step": arr(np.array(3.0, np.float32)),
                                    "exp_avg": arr(w * 2)}},
                      "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-08,
                                        "amsgrad": False, "params": [0, 1],
                                        "param_names": ["a", "b"]}]},
            "epoch": 3, "history": [1.0, 2.0, math.nan, -math.inf, 10 ** 30],
            "flags": (True, None, "text", 2 + 0.5j), "empty": {}, "nothing": [],
            1.5: "a float key", None: 0, False: "bool key", -7: [[arr(w[0])]],
        }
    return build(torch.from_numpy), build(np.asarray)


def _np_of_torch_tree(obj, torch):
    if isinstance(obj, torch.Tensor):
        return obj.numpy()
    if isinstance(obj, dict):
        return {k: _np_of_torch_tree(v, torch) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_np_of_torch_tree(v, torch) for v in obj)
    return obj


def test_nested_checkpoint_round_trips_as_torch_save(tmp_path):
    """torch.save's usual checkpoint: what rnnfast.load returns is what torch.load returns,
    with NumPy arrays for the tensors."""
    torch = pytest.importorskip("torch")
    tobj, obj = _checkpoint_pair(torch)
    torch.save(tobj, tmp_path / "t.pt")
    theirs = _np_of_torch_tree(torch.load(tmp_path / "t.pt", weights_only=True), torch)
    rnnfast.save(obj, tmp_path / "r.pt")
    _same(rnnfast.load(tmp_path / "r.pt"), theirs)
    rnnfast.save(tobj, tmp_path / "from_torch.pt")             # torch tensors are saved too
    _same(rnnfast.load(tmp_path / "from_torch.pt"), theirs)
    with zipfile.ZipFile(tmp_path / "r.pt") as zf:              # members named by key path
        assert "model/lstm.weight_ih_l0.npy" in zf.namelist()
        assert "optim/state/0/exp_avg.npy" in zf.namelist()
    with np.load(tmp_path / "r.pt") as z:
        meta = json.loads(z[META_KEY].tobytes())
    assert meta["format_version"] == 2 and len(meta["arrays"]) == 5


def test_training_resumes_from_a_nested_checkpoint(tmp_path):
    """Model, optimizer and scheduler saved in one file continue exactly as the run that was
    not interrupted."""
    def setup():
        rnnfast.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
        opt = rnnfast.optim.Adam(model.parameters(), lr=0.01)
        sched = rnnfast.optim.lr_scheduler.StepLR(opt, step_size=2.0, gamma=0.5)
        return model, opt, sched

    x = rnnfast.tensor(np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32))

    def train(model, opt, sched, n):
        for _ in range(n):
            opt.zero_grad()
            (model(x) ** 2).mean().backward()
            opt.step()
            sched.step()

    model, opt, sched = setup()
    train(model, opt, sched, 3)
    rnnfast.save({"model": model.state_dict(), "optim": opt.state_dict(),
                  "sched": sched.state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")
    train(model, opt, sched, 3)
    model2, opt2, sched2 = setup()
    ckpt = rnnfast.load(tmp_path / "ckpt.pt")
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optim"])
    sched2.load_state_dict(ckpt["sched"])
    assert ckpt["epoch"] == 3 and sched2.last_epoch == 3
    train(model2, opt2, sched2, 3)
    for a, b in zip(model.parameters(), model2.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert sched.get_last_lr() == sched2.get_last_lr()


def test_names_that_collide_and_the_reserved_key_round_trip(tmp_path):
    obj = {"a/b": np.ones(1), "a": {"b": np.zeros(1)}, META_KEY: np.full(2, 3.0),
           "": np.arange(2), "x": np.float64(2.5), "y": np.bool_(True)}
    rnnfast.save(obj, tmp_path / "c.pt")
    out = rnnfast.load(tmp_path / "c.pt")
    _same(out, {k: (np.asarray(v) if isinstance(v, np.generic) else v)
                for k, v in obj.items()})                   # NumPy scalars load as 0-d arrays
    rnnfast.save([np.ones(2), (1, "s")], tmp_path / "top.pt")   # any structure at the top
    _same(rnnfast.load(tmp_path / "top.pt"), [np.ones(2), (1, "s")])
    rnnfast.save(rnnfast.tensor([1.0, 2.0]), tmp_path / "t.pt")
    _same(rnnfast.load(tmp_path / "t.pt"), np.array([1.0, 2.0], np.float32))


def test_save_rejects_what_needs_pickle(tmp_path):
    with pytest.raises(TypeError, match=r"obj\['x'\]: dtype object"):
        rnnfast.save({"x": np.array([{}, 1], dtype=object)}, tmp_path / "a.npz")
    with pytest.raises(TypeError, match=r"obj\['m'\]\[0\]: dtype object"):
        rnnfast.save({"m": [np.array([{}], dtype=object)]}, tmp_path / "a.npz")
    with pytest.raises(TypeError, match=r"obj\['model'\]: a Module .* state_dict\(\)"):
        rnnfast.save({"model": nn.Linear(2, 2)}, tmp_path / "a.npz")
    with pytest.raises(TypeError, match=r"obj\['s'\]: cannot save a set"):
        rnnfast.save({"s": {1, 2}}, tmp_path / "a.npz")
    with pytest.raises(TypeError, match=r"obj\['o'\]: cannot save a object"):
        rnnfast.save({"o": object()}, tmp_path / "a.npz")
    with pytest.raises(TypeError, match="dict keys must be"):
        rnnfast.save({(1, 2): np.ones(1)}, tmp_path / "a.npz")
    loop = {"a": []}
    loop["a"].append(loop)
    with pytest.raises(ValueError, match="cycle"):
        rnnfast.save(loop, tmp_path / "a.npz")
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


def _meta_v2(arrays, tree):
    meta = {"format": "rnnfast-state", "format_version": 2, "rnnfast_version": "x",
            "arrays": arrays, "tree": tree}
    return np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)


@pytest.mark.parametrize("arrays,tree,match", [
    ([], {"array": 0}, "unknown node"),                          # no such array
    ([], {"array": True}, "unknown node"),
    ([], {"call": ["os.system", "x"]}, "unknown node"),          # unknown tag
    ([], {"list": [1], "tuple": [2]}, "unknown node"),           # two tags
    ([], {"dict": [[{"list": []}, 1]]}, "dict key is a list"),   # unhashable key
    ([], {"dict": [[1]]}, "not a .key, value. pair"),
    ([], {"float": "1e5"}, "bad float"),
    ([{"name": "w"}], None, "lacks its name, dtype or shape"),
])
def test_malformed_structure_raises_value_error(tmp_path, arrays, tree, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **{META_KEY: _meta_v2(arrays, tree)})
    with pytest.raises(ValueError, match=match):
        rnnfast.load(path)


def test_deeply_nested_structure_raises_value_error(tmp_path):
    path = tmp_path / "deep.npz"
    deep = "[" * 100000 + "]" * 100000
    meta = ('{"format": "rnnfast-state", "format_version": 2, "arrays": [], "tree": '
            + deep.replace("[", '{"list": [').replace("]", "]}") + "}")
    np.savez(path, **{META_KEY: np.frombuffer(meta.encode(), np.uint8)})
    with pytest.raises(ValueError, match="not an rnnfast file|unreadable"):
        rnnfast.load(path)


def test_nested_format_never_unpickles(tmp_path):
    marker = tmp_path / "pwned"
    evil = np.empty(1, dtype=object)
    evil[0] = _CreatesFileWhenUnpickled(str(marker))
    path = tmp_path / "evil.npz"
    np.savez(path, allow_pickle=True, **{
        META_KEY: _meta_v2([{"name": "w", "dtype": "|O", "shape": [1]}],
                           {"dict": [["w", {"array": 0}]]}), "w": evil})
    with pytest.raises(ValueError, match="object"):
        rnnfast.load(path)
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
