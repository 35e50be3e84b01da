"""rnnfast.train: fit learns (a linear model, an LSTM classifier on variable-length sequences),
metrics, train/eval modes, callbacks (early stopping with restore, checkpoints, lr schedules),
output (silent, one line per epoch, tqdm bar), History.plot, evaluate and predict."""

import io
import sys

import numpy as np
import pytest

import rnnfast
from rnnfast import data, nn, optim, train
from rnnfast.train import Callback, EarlyStopping, History, LRSchedulerCallback, ModelCheckpoint

# -- toy problems -----------------------------------------------------------------------------


def _blobs(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    return X, y


class SeqClassifier(nn.Module):
    """LSTM over (B, T, 1) sequences, a linear head on each sequence's last state."""

    def __init__(self, hidden=8):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 2)

    def forward(self, x, lengths=None):
        _, (h, _) = self.lstm(x, lengths=lengths)
        return self.head(h[-1])


class SignOfSum(data.Dataset):
    """Sequences of 2..8 steps; the label says whether their sum is positive."""

    def __init__(self, n, seed):
        rng = np.random.default_rng(seed)
        self.items = []
        for _ in range(n):
            s = rng.standard_normal((int(rng.integers(2, 9)), 1)).astype(np.float32)
            self.items.append((s, int(s.sum() > 0)))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def _linear_fit(**kwargs):
    rnnfast.manual_seed(0)
    X, y = _blobs()
    model = nn.Linear(2, 2)
    opt = optim.SGD(model.parameters(), lr=0.5)
    kw = dict(epochs=5, batch_size=32, verbose=0)
    kw.update(kwargs)
    return model, opt, train.fit(model, nn.CrossEntropyLoss(), opt, (X, y), **kw)


# -- learning ---------------------------------------------------------------------------------

def test_fit_linear_on_separable_data():
    X, y = _blobs()
    model, _, hist = _linear_fit(validation_data=(X, y))
    assert isinstance(hist, History) and hist.epoch == [0, 1, 2, 3, 4]
    assert list(hist.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    loss, acc = hist.history["loss"], hist.history["accuracy"]
    assert loss[-1] < 0.5 * loss[0] and acc[-1] > acc[0] and acc[-1] > 0.95
    assert hist.history["val_accuracy"][-1] > 0.95
    assert model.training                                    # left in the mode it had


def test_fit_lstm_classifier_on_variable_length_sequences():
    rnnfast.manual_seed(0)
    model = SeqClassifier()
    train_loader = data.DataLoader(SignOfSum(256, 0), batch_size=32, shuffle=True,
                                   collate_fn=data.pad_collate)
    val_loader = data.DataLoader(SignOfSum(128, 1), batch_size=64, collate_fn=data.pad_collate)
    hist = train.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.03),
                     train_loader, epochs=12, validation_data=val_loader, verbose=0,
                     clip_grad_norm=5.0)
    loss = hist.history["loss"]
    assert loss[-1] < 0.4 * loss[0]
    assert hist.history["accuracy"][-1] > hist.history["accuracy"][0]
    assert hist.history["val_accuracy"][-1] > 0.85
    res = train.evaluate(model, nn.CrossEntropyLoss(), val_loader)
    assert res["accuracy"] == pytest.approx(hist.history["val_accuracy"][-1])
    assert res["loss"] == pytest.approx(hist.history["val_loss"][-1], rel=1e-6)


def test_fit_arrays_with_lengths_calls_model_with_lengths():
    seen = []

    class Probe(SeqClassifier):
        def forward(self, x, lengths=None):
            seen.append(None if lengths is None else lengths.clone())
            return super().forward(x, lengths)

    rnnfast.manual_seed(0)
    ds = SignOfSum(40, 0)
    X, lengths, y = data.pad_collate([ds[i] for i in range(len(ds))])
    model = Probe()
    train.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()), (X, lengths, y),
              epochs=1, batch_size=16, verbose=0)
    assert len(seen) == 3 and all(s is not None and s.dtype == np.int64 for s in seen)
    assert sorted(np.concatenate(seen)) == sorted(lengths)


def test_training_and_validation_modes():
    log = []

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def forward(self, x):
            log.append((self.training, rnnfast.is_grad_enabled()))
            return self.lin(x)

    X, y = _blobs(16)
    model = Probe().eval()
    train.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters()), (X, y), epochs=1,
              batch_size=8, validation_data=(X, y), verbose=0)
    assert log == [(True, True)] * 2 + [(False, False)] * 2
    assert not model.training


def test_custom_forward_hook_and_callable_metrics():
    X, y = _blobs(64)
    batches = [{"features": X[i:i + 16], "label": y[i:i + 16]} for i in range(0, 64, 16)]

    def fwd(model, batch):
        return model(batch["features"]), batch["label"]

    def top_class_rate(out, tgt):
        return float(np.mean(out.argmax(-1) == 1))

    rnnfast.manual_seed(0)
    model = nn.Linear(2, 2)
    hist = train.fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
                     batches, epochs=2, forward=fwd, verbose=0,
                     metrics=["accuracy", top_class_rate, ("err", lambda o, t: 1.0)])
    assert set(hist.history) == {"loss", "accuracy", "top_class_rate", "err"}
    assert hist.history["err"] == [1.0, 1.0]


def test_metrics_by_hand():
    class Fixed(nn.Module):
        def __init__(self, out):
            super().__init__()
            self.out = out

        def forward(self, x):
            return rnnfast.tensor(self.out[np.asarray(x, dtype=np.int64).ravel()])

    idx = np.arange(4).reshape(4, 1)
    # Two classes: argmax; ignore_index targets are not counted.
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0], [0.0, 1.0]], np.float32)
    res = train.evaluate(Fixed(logits), nn.CrossEntropyLoss(ignore_index=-1),
                         (idx, np.array([0, 1, 1, -1])), batch_size=3)
    assert res["accuracy"] == pytest.approx(2 / 3)
    # Per-step classes, torch's (N, C, T) layout: argmax over dim 1.
    steps = np.array([[[2.0, 0.0, 1.0], [1.0, 1.5, 0.0]]] * 4, np.float32)     # (4, 2, 3)
    res = train.evaluate(Fixed(steps), nn.CrossEntropyLoss(),
                         (idx, np.array([[0, 1, 0]] * 3 + [[1, 1, 1]])))
    assert res["accuracy"] == pytest.approx(10 / 12)
    # One logit per sample: threshold 0 with BCEWithLogitsLoss, 0.5 with BCELoss.
    out = np.array([[-0.2], [0.3], [0.7], [0.4]], np.float32)
    tgt = np.array([[0.0], [0.0], [1.0], [1.0]], np.float32)
    res = train.evaluate(Fixed(out), nn.BCEWithLogitsLoss(), (idx, tgt),
                         metrics=["accuracy", "mae", "mse"])
    assert res["accuracy"] == pytest.approx(3 / 4)
    assert res["mae"] == pytest.approx(np.mean(np.abs(out - tgt)))
    assert res["mse"] == pytest.approx(np.mean((out - tgt) ** 2))
    probs = np.array([[0.2], [0.6], [0.7], [0.4]], np.float32)
    res = train.evaluate(Fixed(probs), nn.BCELoss(), (idx, tgt))
    assert res["accuracy"] == pytest.approx(2 / 4)


# -- callbacks --------------------------------------------------------------------------------

class _FakeVal(Callback):
    """Puts a scripted val_loss into the logs, and snapshots the weights after each epoch."""

    def __init__(self, values):
        self.values = values
        self.snapshots = []

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.values[epoch]
        self.snapshots.append(self.model.state_dict())


def test_early_stopping_stops_and_restores_best_weights():
    fake = _FakeVal([1.0, 0.5, 0.7, 0.8, 0.9, 1.0, 1.1])
    stop = EarlyStopping(patience=2, restore_best_weights=True)
    model, _, hist = _linear_fit(epochs=7, callbacks=[fake, stop])
    assert hist.epoch == [0, 1, 2, 3] and stop.stopped_epoch == 3
    assert stop.best == 0.5 and stop.best_epoch == 1
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, fake.snapshots[1][k])
    assert not np.array_equal(fake.snapshots[1]["weight"], fake.snapshots[3]["weight"])


def test_early_stopping_min_delta_mode_and_no_restore():
    fake = _FakeVal([0.5, 0.55, 0.58, 0.6, 0.61, 0.7])
    stop = EarlyStopping(monitor="val_loss", mode="max", min_delta=0.04, patience=1)
    model, _, hist = _linear_fit(epochs=6, callbacks=[fake, stop])
    # 0.55 beats 0.5 by more than 0.04; 0.58 does not beat 0.55 by 0.04: stop after epoch 2
    assert hist.epoch == [0, 1, 2] and stop.stopped_epoch == 2 and stop.best == 0.55
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, fake.snapshots[-1][k])


def test_model_checkpoint_saves_best_and_reloads_identical_predictions(tmp_path):
    rnnfast.manual_seed(0)
    model = SeqClassifier(hidden=4)
    ds = SignOfSum(64, 0)
    loader = data.DataLoader(ds, batch_size=16, collate_fn=data.pad_collate)
    fake = _FakeVal([0.9, 0.4, 0.6, 0.3, 0.5])
    path = tmp_path / "best.npz"
    ckpt = ModelCheckpoint(path)
    every = ModelCheckpoint(str(tmp_path / "ep{epoch:02d}-{loss:.2f}.npz"), save_best_only=False)
    train.fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.01), loader,
              epochs=5, callbacks=[fake, ckpt, every], verbose=0)
    assert path.exists() and ckpt.best == 0.3
    assert sorted(p.name[:4] for p in tmp_path.glob("ep*.npz")) == \
        ["ep01", "ep02", "ep03", "ep04", "ep05"]
    saved = rnnfast.load(path)
    for k, v in saved.items():
        np.testing.assert_array_equal(v, fake.snapshots[3][k])
    rnnfast.manual_seed(99)
    fresh = SeqClassifier(hidden=4)
    fresh.load_state_dict(saved)
    model.load_state_dict(fake.snapshots[3])
    np.testing.assert_array_equal(train.predict(fresh, loader), train.predict(model, loader))


def test_lr_scheduler_callback_steps_each_epoch():
    rnnfast.manual_seed(0)
    X, y = _blobs(64)
    model = nn.Linear(2, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = optim.StepLR(opt, step_size=1, gamma=0.5)
    hist = train.fit(model, nn.CrossEntropyLoss(), opt, (X, y), epochs=3, batch_size=32,
                     verbose=0, callbacks=[LRSchedulerCallback(sched)])
    assert hist.history["lr"] == pytest.approx([0.1, 0.05, 0.025])
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0125)


def test_reduce_on_plateau_through_the_callback():
    fake = _FakeVal([1.0, 1.0, 1.0, 1.0])
    rnnfast.manual_seed(0)
    X, y = _blobs(32)
    model = nn.Linear(2, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)
    plateau = optim.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    hist = train.fit(model, nn.CrossEntropyLoss(), opt, (X, y), epochs=4, batch_size=32,
                     verbose=0, callbacks=[fake, LRSchedulerCallback(plateau)])
    assert hist.history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.025])


# -- output -----------------------------------------------------------------------------------

def test_verbose_0_prints_nothing(capsys):
    _linear_fit(verbose=0, epochs=2)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.parametrize("verbose", [1, 2])
def test_one_line_per_epoch_when_not_a_terminal(capsys, verbose):
    X, y = _blobs()
    _linear_fit(verbose=verbose, epochs=3, validation_data=(X, y))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[2].startswith("Epoch 3/3 - loss: ")
    assert " - accuracy: " in lines[2] and " - val_loss: " in lines[2]
    assert " - val_accuracy: " in lines[2]


def test_progress_bar_on_a_terminal(monkeypatch):
    pytest.importorskip("tqdm")

    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    monkeypatch.setattr(sys, "stdout", out)
    _linear_fit(verbose=1, epochs=2)
    monkeypatch.undo()
    text = out.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "loss=" in text
    assert "accuracy=" in text


# -- History.plot -----------------------------------------------------------------------------

def test_history_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    X, y = _blobs()
    _, _, hist = _linear_fit(epochs=3, validation_data=(X, y))
    path = tmp_path / "curves.png"
    hist.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    one = tmp_path / "loss.png"
    hist.plot(one, keys=["loss"])
    assert one.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(KeyError, match="nope"):
        hist.plot(tmp_path / "x.png", keys=["nope"])


def test_history_plot_without_matplotlib(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    hist = History()
    hist._append(0, {"loss": 1.0})
    with pytest.raises(ImportError, match=r"pip install matplotlib \(or rnnfast\[plot\]\)"):
        hist.plot(tmp_path / "x.png")


# -- evaluate / predict -----------------------------------------------------------------------

def test_evaluate_and_predict_shapes():
    model, _, _ = _linear_fit(epochs=1)
    X, y = _blobs(50)
    res = train.evaluate(model, nn.CrossEntropyLoss(), (X, y))
    assert set(res) == {"loss", "accuracy"} and 0.0 <= res["accuracy"] <= 1.0
    assert train.evaluate(model, None, (X, y)).keys() == {"accuracy"}
    pred = train.predict(model, X, batch_size=16)
    assert pred.shape == (50, 2) and pred.dtype == np.float32
    np.testing.assert_allclose(pred, model(X).data, rtol=1e-6)
    loader = data.DataLoader(data.TensorDataset(X), batch_size=7)
    np.testing.assert_allclose(train.predict(model, loader), pred, rtol=1e-6)
    rnnfast.manual_seed(0)
    seq = SeqClassifier()
    ds = SignOfSum(10, 0)
    Xs, lengths, _ = data.pad_collate([ds[i] for i in range(10)])
    p = train.predict(seq, Xs, lengths=lengths, batch_size=4)
    assert p.shape == (10, 2)
    np.testing.assert_allclose(p, seq(Xs, lengths=lengths).data, rtol=1e-5, atol=1e-6)


def test_argument_errors():
    X, y = _blobs(8)
    model = nn.Linear(2, 2)
    opt = optim.SGD(model.parameters())
    loss = nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match="batch_size"):
        train.fit(model, loss, opt, (X, y), verbose=0)
    with pytest.raises(ValueError, match="unknown metric"):
        train.fit(model, loss, opt, (X, y), batch_size=4, metrics=["f2"], verbose=0)
    with pytest.raises(ValueError, match="verbose"):
        train.fit(model, loss, opt, (X, y), batch_size=4, verbose=3)
    with pytest.raises(TypeError, match="one-shot"):
        train.fit(model, loss, opt, iter([(X, y)]), verbose=0)
    with pytest.raises(TypeError, match="Callback"):
        train.fit(model, loss, opt, (X, y), batch_size=4, callbacks=[print], verbose=0)
    with pytest.raises(ValueError, match="inputs, targets"):
        train.fit(model, loss, opt, [(X, y, y, y)], verbose=0)
