"""Saving and loading state_dicts as .npz files without pickle: ``rnnfast.save`` and
``rnnfast.load``.

A file is an ordinary NumPy .npz archive (``np.load`` reads it) with one ``<key>.npy`` member per
array plus a metadata member ``__rnnfast_meta__.npy``: a JSON document stored as a uint8 array
(format name and version, rnnfast version, key order, dtypes and shapes). Loading never
unpickles (``allow_pickle=False``) and checks every member against the metadata, so a truncated,
corrupted, non-npz, object-dtype or foreign file raises ValueError naming the path.

Deliberately absent: pickling arbitrary objects (whole modules, optimizers), compression,
memory-mapped loading.
"""

from __future__ import annotations

import json
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
FORMAT_VERSION = 1
_ALLOWED_KINDS = "biufcSU"        # numbers, bools and fixed-width strings: none needs pickle


def _version():
    from . import _core
    return _core.version()


def _describe(path):
    return os.fspath(path) if isinstance(path, (str, bytes, os.PathLike)) else repr(path)


def _arrays(obj):
    """The (key, array) pairs to save, in order."""
    from .nn.module import Module         # late import: nn imports tensor, not io
    if isinstance(obj, Module):
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        raise TypeError(f"obj: expected an rnnfast.nn.Module or a dict of arrays, got "
                        f"{type(obj).__name__}")
    out = []
    for key, value in obj.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"obj: keys must be non-empty str, got {key!r}")
        if key == META_KEY:
            raise ValueError(f"obj: the key {META_KEY!r} is reserved for rnnfast's metadata")
        if isinstance(value, Tensor):
            arr = value.data
        elif hasattr(value, "detach") and hasattr(value, "cpu"):     # a torch tensor
            arr = value.detach().cpu().numpy()
        elif isinstance(value, Mapping):
            raise TypeError(f"obj[{key!r}]: nested dicts are not supported; save a flat dict "
                            f"of arrays")
        else:
            try:
                arr = np.asarray(value)
            except (TypeError, ValueError) as e:
                raise TypeError(f"obj[{key!r}]: cannot convert {type(value).__name__} to an "
                                f"array: {e}") from None
        if arr.dtype.kind not in _ALLOWED_KINDS:
            raise TypeError(f"obj[{key!r}]: dtype {arr.dtype} cannot be saved without pickle; "
                            f"expected numbers, bools or strings")
        out.append((key, arr))
    return out


def save(obj, path):
    """Save a Module's state_dict, or a dict of arrays (NumPy arrays, Tensors, numbers), to
    ``path`` (a str / PathLike, written exactly there and atomically, or a binary file
    object) as a pickle-free .npz; ``rnnfast.load`` reads it back."""
    items = _arrays(obj)
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "rnnfast_version": _version(),
        "keys": [k for k, _ in items],
        "dtypes": [a.dtype.str for _, a in items],
        "shapes": [list(a.shape) for _, a in items],
    }
    meta_arr = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)

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


def load(path, *, map_location=None, weights_only=True):
    """Read a file written by ``rnnfast.save``: a plain dict (in the saved order) of NumPy
    arrays, e.g. for ``module.load_state_dict``. Never unpickles. A missing file raises
    FileNotFoundError; a truncated, corrupted, non-npz, object-dtype or non-rnnfast file
    raises ValueError naming ``path``. ``map_location`` (None or the CPU) and
    ``weights_only`` are accepted for torch.load's signature: arrays load on the CPU, and
    weights are all a file holds."""
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
            keys, dtypes, shapes = meta["keys"], meta["dtypes"], meta["shapes"]
            if not (isinstance(keys, list) and isinstance(dtypes, list)
                    and isinstance(shapes, list) and len(keys) == len(dtypes) == len(shapes)):
                raise ValueError("keys, dtypes and shapes disagree")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
            raise ValueError(f"{where}: not an rnnfast file (unreadable metadata: {e})") from None
        if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
            raise ValueError(f"{where}: format version {version!r} is not supported by this "
                             f"rnnfast (it reads versions up to {FORMAT_VERSION}); upgrade "
                             f"rnnfast")
        expected = {k + ".npy" for k in keys} | {meta_name}
        if set(names) != expected or len(names) != len(expected):
            extra = sorted(set(names) - expected)
            missing = sorted(expected - set(names))
            raise ValueError(f"{where}: corrupted rnnfast file: the archive's members do not "
                             f"match its metadata (missing {missing}, unexpected {extra})")
        out = {}
        for key, dt, shape in zip(keys, dtypes, shapes):
            arr = _read_member(zf, key + ".npy", where)
            if arr.dtype.str != dt or list(arr.shape) != list(shape):
                raise ValueError(f"{where}: corrupted rnnfast file: {key!r} has dtype "
                                 f"{arr.dtype.str} and shape {arr.shape}, the metadata says "
                                 f"{dt} and {tuple(shape)}")
            out[key] = arr
    return out
