"""Saving and loading checkpoints without pickle: ``rnnfast.save`` and ``rnnfast.load``.

What can be saved: a Module (its state_dict), or any nesting of dicts, lists and tuples whose
leaves are arrays (NumPy arrays and scalars, rnnfast or torch tensors, numeric, bool or
fixed-width string dtypes), Python numbers (int, float, complex, bool), str and None; dict keys
are str, int, float, bool or None. So torch.save's usual checkpoint saves as it is:
``{"model": model.state_dict(), "optim": optimizer.state_dict(), "epoch": 3,
"history": [1.0, 2.0]}``. ``load`` returns the same structure with NumPy arrays for the array
leaves (a dict for any mapping, e.g. an OrderedDict).

A file is an ordinary NumPy .npz archive (``np.load`` reads it) with one ``<name>.npy`` member
per array plus a metadata member ``__rnnfast_meta__.npy``: a JSON document stored as a uint8
array. Format 1, written for a flat dict of arrays with str keys (a state_dict, readable by
older rnnfast): the members are named by the keys and the metadata holds the format name and
version, the rnnfast version, the keys in order, their dtypes and shapes. Format 2, for
anything else: the metadata holds ``arrays`` (each member's name, dtype and shape; a name is
the leaf's key path joined by "/", made unique) and ``tree``, the structure as JSON: null,
true/false, numbers and strings stand for themselves; objects with one tag stand for the
rest: {"array": i}, {"dict": [[key, value], ...]}, {"list": [...]}, {"tuple": [...]},
{"float": "nan" | "inf" | "-inf"}, {"complex": [re, im]} (re, im as float strings).

Loading never unpickles (``allow_pickle=False``) and checks every member against the
metadata, so a truncated, corrupted, non-npz, object-dtype or foreign file raises ValueError
naming the path. Deliberately absent: pickling arbitrary objects (whole modules, optimizers),
compression, memory-mapped loading, preserving shared references (an array saved twice is
stored twice) and tuple subclasses (a namedtuple loads as a tuple).
"""

from __future__ import annotations

import json
import math
import numbers
import os
import secrets
import struct
import zipfile
from collections.abc import Mapping

import numpy as np

from . import _device
from .tensor import Tensor

__all__ = ["save", "load", "META_KEY", "FORMAT_VERSION"]

META_KEY = "__rnnfast_meta__"
FORMAT_NAME = "rnnfast-state"
FORMAT_VERSION = 2                # the newest format this rnnfast reads and writes
_ALLOWED_KINDS = "biufcSU"        # numbers, bools and fixed-width strings: none needs pickle


def _version():
    from . import _core
    return _core.version()


def _describe(path):
    return os.fspath(path) if isinstance(path, (str, bytes, os.PathLike)) else repr(path)


def _where(path):
    return "obj" + "".join(f"[{k!r}]" for k in path)


def _as_leaf_array(value, path):
    """``value`` as the array to save if it is an array leaf (an array, a NumPy scalar, a
    tensor, an object with ``__array__``), else None."""
    if isinstance(value, Tensor):
        arr = value.data
    elif isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
    elif hasattr(value, "detach") and hasattr(value, "cpu"):     # a torch tensor
        arr = value.detach().cpu().numpy()
    elif hasattr(value, "__array__"):
        arr = np.asarray(value)
    else:
        return None
    if arr.dtype.kind not in _ALLOWED_KINDS:
        raise TypeError(f"{_where(path)}: dtype {arr.dtype} cannot be saved without pickle; "
                        f"expected numbers, bools or strings")
    return arr


def _flat_arrays(obj):
    """The (key, array) pairs of a flat dict of arrays with non-empty str keys (format 1), or
    None if ``obj`` is anything else."""
    if not isinstance(obj, Mapping):
        return None
    out = []
    for key, value in obj.items():
        if not isinstance(key, str) or not key or key == META_KEY:
            return None
        arr = _as_leaf_array(value, (key,))
        if arr is None:
            return None
        out.append((key, arr))
    return out


def _float_node(x):
    return x if math.isfinite(x) else {"float": repr(x)}


class _Encoder:
    """The JSON tree of a nested object and the arrays it refers to (format 2)."""

    def __init__(self):
        from .nn.module import Module  # late import: nn imports tensor, not io
        self.module_type = Module
        self.arrays = []            # (member name, array)
        self.names = {META_KEY}
        self.active = set()         # ids of the containers being encoded (cycle check)

    def name(self, path):
        base = "/".join(str(k) for k in path)
        if not base or "\x00" in base:
            base = "array"
        name, n = base, 0
        while name in self.names:
            n += 1
            name = f"{base}~{n}"
        self.names.add(name)
        return name

    def key(self, k, path):
        if k is None or isinstance(k, (bool, str)):
            return k
        if isinstance(k, numbers.Integral):
            return int(k)
        if isinstance(k, numbers.Real):
            return _float_node(float(k))
        raise TypeError(f"{_where(path)}: dict keys must be str, int, float, bool or None to "
                        f"be saved without pickle, got {type(k).__name__}")

    def node(self, value, path):
        if isinstance(value, np.generic):     # before float: np.float64 subclasses it
            return self.leaf(value, path)
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return _float_node(float(value))
        if isinstance(value, complex):
            return {"complex": [repr(value.real), repr(value.imag)]}
        if isinstance(value, self.module_type):
            raise TypeError(f"{_where(path)}: a Module cannot be saved without pickle; save "
                            f"its state_dict() and load it into a new instance")
        if isinstance(value, (Mapping, list, tuple)):
            if id(value) in self.active:
                raise ValueError(f"{_where(path)}: the object contains itself (a reference "
                                 f"cycle)")
            self.active.add(id(value))
            try:
                if isinstance(value, Mapping):
                    items = []
                    for k, v in value.items():
                        items.append([self.key(k, path + (k,)), self.node(v, path + (k,))])
                    return {"dict": items}
                tag = "list" if isinstance(value, list) else "tuple"
                return {tag: [self.node(v, path + (i,)) for i, v in enumerate(value)]}
            finally:
                self.active.discard(id(value))
        return self.leaf(value, path)

    def leaf(self, value, path):
        arr = _as_leaf_array(value, path)
        if arr is None:
            raise TypeError(f"{_where(path)}: cannot save a {type(value).__name__} without "
                            f"pickle; expected tensors, arrays, numbers, str, None and dicts, "
                            f"lists or tuples of them")
        self.arrays.append((self.name(path), arr))
        return {"array": len(self.arrays) - 1}


def _plan(obj):
    """(metadata, [(member name, array)]) for ``obj``: format 1 for a flat dict of arrays,
    format 2 for anything else."""
    from .nn.module import Module  # late import: nn imports tensor, not io
    if isinstance(obj, Module):
        obj = obj.state_dict()
    flat = _flat_arrays(obj)
    if flat is not None:
        return {
            "format": FORMAT_NAME,
            "format_version": 1,
            "rnnfast_version": _version(),
            "keys": [k for k, _ in flat],
            "dtypes": [a.dtype.str for _, a in flat],
            "shapes": [list(a.shape) for _, a in flat],
        }, flat
    enc = _Encoder()
    tree = enc.node(obj, ())
    return {
        "format": FORMAT_NAME,
        "format_version": 2,
        "rnnfast_version": _version(),
        "arrays": [{"name": n, "dtype": a.dtype.str, "shape": list(a.shape)}
                   for n, a in enc.arrays],
        "tree": tree,
    }, enc.arrays


def save(obj, path):
    """Save a Module's state_dict, or a checkpoint (nested dicts, lists and tuples of arrays,
    tensors, numbers, str and None, e.g. ``{"model": model.state_dict(), "optim":
    optimizer.state_dict(), "epoch": 3}``), to ``path`` (a str / PathLike, written exactly
    there and atomically, or a binary file object) as a pickle-free .npz; ``rnnfast.load``
    reads it back. Anything else raises TypeError naming where it is in ``obj``.

    Args:
        obj: a Module (its state_dict is saved) or a checkpoint, as above.
        path (str, PathLike or binary file object): where to write.

    Raises:
        TypeError: something in ``obj`` that cannot be saved, named by its place.

    Example::

        >>> model = rnnfast.nn.GRU(3, 4)
        >>> rnnfast.save({"model": model.state_dict(), "epoch": 3}, "checkpoint.npz")
        >>> ckpt = rnnfast.load("checkpoint.npz")
        >>> model.load_state_dict(ckpt["model"])
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
        >>> ckpt["epoch"]
        3
    """
    meta, items = _plan(obj)
    meta_arr = np.frombuffer(json.dumps(meta, allow_nan=False).encode("utf-8"), dtype=np.uint8)

    def write(f):
        with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED,
                             allowZip64=True) as zf:
            for key, arr in [(META_KEY, meta_arr)] + items:
                with zf.open(key + ".npy", mode="w", force_zip64=True) as member:
                    np.lib.format.write_array(member, arr, allow_pickle=False)

    if not isinstance(path, (str, bytes, os.PathLike)):
        if not hasattr(path, "write"):
            raise TypeError(f"path: expected a str, a PathLike or a binary file object, got "
                            f"{type(path).__name__}")
        write(path)
        return
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    # A temporary file beside the target, renamed over it when complete: a crash never leaves
    # a half-written file under ``path``. os.open with 0o666 honours the umask like open().
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_member(zf, name, where):
    """One .npy member as an array; never unpickles."""
    try:
        with zf.open(name) as fp:
            return np.lib.format.read_array(fp, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e):
            raise ValueError(f"{where}: member {name!r} holds an object array (it would need "
                             f"pickle to load, which rnnfast never does)") from None
        raise ValueError(f"{where}: member {name!r} is corrupted ({e})") from None
    except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, KeyError) as e:
        raise ValueError(f"{where}: member {name!r} is corrupted or truncated ({e})") from None
    except Exception as e:              # any other decoding failure of damaged bytes
        raise ValueError(f"{where}: member {name!r} could not be read "
                         f"({type(e).__name__}: {e})") from None


def _decode_float(text):
    if text not in ("nan", "inf", "-inf"):
        raise ValueError(f"bad float {text!r}")
    return float(text)


def _decode(node, arrays):
    """The object a format-2 tree node stands for; ValueError for anything malformed."""
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, dict) and len(node) == 1:
        (tag, val), = node.items()
        if tag == "array" and isinstance(val, int) and not isinstance(val, bool) \
                and 0 <= val < len(arrays):
            return arrays[val]
        if tag in ("list", "tuple") and isinstance(val, list):
            items = [_decode(v, arrays) for v in val]
            return items if tag == "list" else tuple(items)
        if tag == "dict" and isinstance(val, list):
            out = {}
            for pair in val:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise ValueError("a dict entry is not a [key, value] pair")
                key = _decode(pair[0], arrays)
                if not (key is None or isinstance(key, (bool, int, float, str))):
                    raise ValueError(f"a dict key is a {type(key).__name__}")
                out[key] = _decode(pair[1], arrays)
            return out
        if tag == "float" and isinstance(val, str):
            return _decode_float(val)
        if tag == "complex" and isinstance(val, list) and len(val) == 2 \
                and all(isinstance(v, str) for v in val):
            return complex(float(val[0]), float(val[1]))
    raise ValueError(f"unknown node {str(node)[:80]!r}")


def _members_v1(meta):
    keys, dtypes, shapes = meta["keys"], meta["dtypes"], meta["shapes"]
    if not (isinstance(keys, list) and isinstance(dtypes, list)
            and isinstance(shapes, list) and len(keys) == len(dtypes) == len(shapes)):
        raise ValueError("keys, dtypes and shapes disagree")
    return list(zip(keys, dtypes, shapes))


def _members_v2(meta):
    arrays = meta["arrays"]
    if not isinstance(arrays, list) or "tree" not in meta:
        raise ValueError("no array list or no tree")
    out = []
    for a in arrays:
        if not (isinstance(a, dict) and isinstance(a.get("name"), str)
                and isinstance(a.get("dtype"), str) and isinstance(a.get("shape"), list)):
            raise ValueError("an array entry lacks its name, dtype or shape")
        out.append((a["name"], a["dtype"], a["shape"]))
    return out


def load(path, *, map_location=None, weights_only=True):
    """Read a file written by ``rnnfast.save``: what was saved, with NumPy arrays for its
    arrays and tensors and dicts for its mappings (a state_dict comes back as a plain dict in
    the saved order, e.g. for ``module.load_state_dict``). Never unpickles. A missing file
    raises FileNotFoundError; a truncated, corrupted, non-npz, object-dtype or non-rnnfast
    file raises ValueError naming ``path``. ``map_location`` (None or the CPU) and
    ``weights_only`` are accepted for torch.load's signature: arrays load on the CPU, and a
    file holds no code.

    Args:
        path (str, PathLike or binary file object): the file to read.
        map_location (keyword-only): ``None`` or the CPU. Default: ``None``.
        weights_only (bool, keyword-only): accepted and ignored (nothing is unpickled).
            Default: ``True``.

    Returns:
        What was saved (see above); see ``rnnfast.save`` for an example.

    Raises:
        FileNotFoundError: a missing file. ValueError: a file that is not an rnnfast one.
    """
    _device.check_device(map_location, "map_location")
    where = _describe(path)
    if isinstance(path, (str, bytes, os.PathLike)) and not os.path.exists(path):
        raise FileNotFoundError(f"{where}: no such file")
    try:
        zf = zipfile.ZipFile(path, mode="r")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, struct.error) as e:
        raise ValueError(f"{where}: not an rnnfast file (not a valid .npz archive, possibly "
                         f"truncated or corrupted: {e})") from None
    with zf:
        names = zf.namelist()
        meta_name = META_KEY + ".npy"
        if meta_name not in names:
            raise ValueError(f"{where}: not an rnnfast file (no {META_KEY!r} entry; it was not "
                             f"written by rnnfast.save)")
        meta_arr = _read_member(zf, meta_name, where)
        try:
            if meta_arr.dtype != np.uint8 or meta_arr.ndim != 1:
                raise ValueError("metadata is not a uint8 vector")
            meta = json.loads(meta_arr.tobytes().decode("utf-8"))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
                raise ValueError("unknown format name")
            version = meta.get("format_version")
            if not isinstance(version, int) or isinstance(version, bool) \
                    or version > FORMAT_VERSION or version < 1:
                members = None
            else:
                members = _members_v1(meta) if version == 1 else _members_v2(meta)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as e:
            raise ValueError(f"{where}: not an rnnfast file (unreadable metadata: {e})") from None
        if members is None:
            raise ValueError(f"{where}: format version {version!r} is not supported by this "
                             f"rnnfast (it reads versions up to {FORMAT_VERSION}); upgrade "
                             f"rnnfast")
        expected = {m[0] + ".npy" for m in members} | {meta_name}
        if set(names) != expected or len(names) != len(expected) \
                or len(members) + 1 != len(expected):
            extra = sorted(set(names) - expected)
            missing = sorted(expected - set(names))
            raise ValueError(f"{where}: corrupted rnnfast file: the archive's members do not "
                             f"match its metadata (missing {missing}, unexpected {extra})")
        arrays = []
        for key, dt, shape in members:
            arr = _read_member(zf, key + ".npy", where)
            if arr.dtype.str != dt or list(arr.shape) != list(shape):
                raise ValueError(f"{where}: corrupted rnnfast file: {key!r} has dtype "
                                 f"{arr.dtype.str} and shape {arr.shape}, the metadata says "
                                 f"{dt} and {tuple(shape)}")
            arrays.append(arr)
    if version == 1:
        return {m[0]: a for m, a in zip(members, arrays)}
    try:
        return _decode(meta["tree"], arrays)
    except (ValueError, TypeError, RecursionError) as e:
        raise ValueError(f"{where}: corrupted rnnfast file: its structure is unreadable "
                         f"({e})") from None
