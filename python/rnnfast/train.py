"""A Keras-style training loop for rnnfast modules: ``fit`` (with validation, metrics,
callbacks and a progress bar), ``evaluate``, ``predict``, the callbacks EarlyStopping,
ModelCheckpoint and LRSchedulerCallback, and ``History`` (with ``plot``).

Data is a ``rnnfast.data.DataLoader`` (or any re-iterable of batches) or a tuple of arrays
``(X, y)`` / ``(X, lengths, y)``. A batch ``(inputs, targets)`` is run as ``model(inputs)``;
``(inputs, lengths, targets)`` (what ``pad_collate`` yields) as ``model(inputs,
lengths=lengths)``; anything else needs ``forward=lambda model, batch: (outputs, targets)``.
A model that returns a tuple (as ``nn.LSTM`` does) is scored on its first element.

Deliberately absent: multi-input/multi-output bookkeeping, mixed precision, distributed
training, gradient accumulation. The progress bar uses tqdm when it is installed
(``pip install tqdm``) and stdout is a terminal; otherwise ``verbose=1`` prints one line per
epoch.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import time
import warnings
from collections.abc import Mapping

import numpy as np

from .data import DataLoader, TensorDataset
from .nn.loss import BCELoss, BCEWithLogitsLoss
from .nn.utils import clip_grad_norm_
from .optim.lr_scheduler import ReduceLROnPlateau
from .tensor import Tensor, no_grad

__all__ = ["fit", "evaluate", "predict", "History", "Callback", "EarlyStopping",
           "ModelCheckpoint", "LRSchedulerCallback"]

# ----------------------------------------------------------------------------------------------
# Data and batches.


def _is_array(x):
    return isinstance(x, (np.ndarray, Tensor))


def _loader(data, batch_size, shuffle, name, default_batch_size=None):
    """A re-iterable of batches from a DataLoader / iterable, or from a tuple of arrays."""
    if isinstance(data, (tuple, list)) and data and all(_is_array(a) for a in data):
        if len(data) not in (1, 2, 3):
            raise ValueError(f"{name}: expected (X, y) or (X, lengths, y) arrays, got a tuple of "
                             f"{len(data)} arrays")
        if batch_size is None:
            if default_batch_size is None:
                raise ValueError(f"batch_size: required when {name} is a tuple of arrays")
            batch_size = default_batch_size
        return DataLoader(TensorDataset(*data), batch_size=batch_size, shuffle=shuffle)
    if _is_array(data):
        raise TypeError(f"{name}: expected a DataLoader or a tuple (X, y) of arrays, got a "
                        f"single array")
    if not hasattr(data, "__iter__"):
        raise TypeError(f"{name}: expected a DataLoader or a tuple (X, y) of arrays, got "
                        f"{type(data).__name__}")
    if iter(data) is data:
        raise TypeError(f"{name}: expected a re-iterable (a DataLoader or a list of batches), "
                        f"got a one-shot iterator")
    return data


def _split_batch(batch):
    """(inputs, lengths or None, targets or None) of a batch."""
    if isinstance(batch, (tuple, list)):
        if len(batch) == 1:
            return batch[0], None, None
        if len(batch) == 2:
            return batch[0], None, batch[1]
        if len(batch) == 3:
            return batch[0], batch[1], batch[2]
        raise ValueError(f"batch: expected (inputs, targets) or (inputs, lengths, targets), got "
                         f"a {type(batch).__name__} of {len(batch)} items; pass forward=... to "
                         f"handle other batches")
    if _is_array(batch):
        return batch, None, None
    raise ValueError(f"batch: expected (inputs, targets) or (inputs, lengths, targets), got "
                     f"{type(batch).__name__}; pass forward=... to handle other batches")


def default_forward(model, batch):
    """``model(inputs)`` or ``model(inputs, lengths=lengths)``; returns (outputs, targets)."""
    inputs, lengths, targets = _split_batch(batch)
    out = model(inputs) if lengths is None else model(inputs, lengths=lengths)
    return out, targets


def _outputs(out):
    if isinstance(out, tuple):
        out = out[0]
    return out


def _np(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _batch_len(targets, outputs):
    ref = targets if targets is not None else outputs
    arr = _np(ref)
    return int(arr.shape[0]) if arr.ndim else 1


# ----------------------------------------------------------------------------------------------
# Metrics: each is (name, fn(outputs_np, targets_np) -> (sum, count)).


def _accuracy_fn(loss_fn):
    """Accuracy that fits the loss: argmax over the class dim (the last one, or dim 1 of
    torch's (N, C, d1, ...) layout) against class indices, or against the argmax of one-hot
    targets; for a single output per sample (or BCE losses) a threshold of 0
    on logits with BCEWithLogitsLoss, else 0.5 on probabilities. Targets equal to the loss's
    ``ignore_index`` are not counted."""
    threshold = 0.0 if isinstance(loss_fn, BCEWithLogitsLoss) else 0.5
    binary_loss = isinstance(loss_fn, (BCELoss, BCEWithLogitsLoss))
    ignore = getattr(loss_fn, "ignore_index", None)

    def accuracy(out, tgt):
        out, tgt = np.asarray(out), np.asarray(tgt)
        single = out.ndim == 0 or out.shape[-1] == 1 or out.shape == tgt.shape and out.ndim == 1
        if binary_loss or (single and out.size == tgt.size):
            if out.size != tgt.size:
                raise ValueError(f"accuracy: outputs {out.shape} and targets {tgt.shape} differ "
                                 f"in size")
            pred = out.reshape(-1) > threshold
            truth = tgt.reshape(-1) > 0.5
            return float(np.sum(pred == truth)), pred.size
        if tgt.shape == out.shape[:-1] or (out.ndim > 2 and tgt.shape == out.shape[:1]
                                           + out.shape[2:]):
            # class indices; classes on the last dim, or on dim 1 as torch's (N, C, d1, ...)
            pred = out.argmax(axis=-1 if tgt.shape == out.shape[:-1] else 1)
            mask = np.ones(tgt.shape, bool) if ignore is None else tgt != ignore
            return float(np.sum((pred == tgt) & mask)), int(mask.sum())
        if tgt.shape == out.shape:
            pred = out.argmax(axis=-1)
            return float(np.sum(pred == tgt.argmax(axis=-1))), pred.size
        raise ValueError(f"accuracy: cannot compare outputs of shape {out.shape} with targets of "
                         f"shape {tgt.shape}")
    return accuracy


def _error_fn(kind):
    def err(out, tgt):
        out, tgt = np.asarray(out, dtype=np.float64), np.asarray(tgt, dtype=np.float64)
        if out.shape != tgt.shape:
            if out.size != tgt.size:
                raise ValueError(f"{kind}: outputs {out.shape} and targets {tgt.shape} differ in "
                                 f"size")
            out = out.reshape(tgt.shape)
        d = out - tgt
        return float(np.sum(np.abs(d) if kind == "mae" else d * d)), d.size
    err.__name__ = kind
    return err


def _user_metric(fn):
    def metric(out, tgt):
        n = int(np.shape(tgt)[0]) if np.ndim(tgt) else 1
        return float(fn(out, tgt)) * n, n
    return metric


def _metrics(metrics, loss_fn):
    if metrics is None:
        return []
    if isinstance(metrics, str) or callable(metrics):
        metrics = (metrics,)
    items = list(metrics.items()) if isinstance(metrics, Mapping) else list(metrics)
    out, names = [], set()
    for m in items:
        if isinstance(m, tuple) and len(m) == 2 and isinstance(m[0], str):
            name, fn = m
            fn = _user_metric(fn) if callable(fn) else fn
        elif isinstance(m, str):
            name = m
            if m == "accuracy":
                fn = _accuracy_fn(loss_fn)
            elif m in ("mae", "mse"):
                fn = _error_fn(m)
            else:
                raise ValueError(f"metrics: unknown metric {m!r} (expected 'accuracy', 'mae', "
                                 f"'mse' or a callable)")
        elif callable(m):
            name, fn = getattr(m, "__name__", type(m).__name__), _user_metric(m)
        else:
            raise TypeError(f"metrics: expected names or callables, got {type(m).__name__}")
        if not callable(fn):
            raise TypeError(f"metrics: {name!r} is not callable")
        if name == "loss" or name.startswith("val_") or name in names:
            raise ValueError(f"metrics: the name {name!r} is reserved or repeated")
        names.add(name)
        out.append((name, fn))
    return out


class _Meter:
    """Running, sample-weighted means of the loss and the metrics over one pass."""

    def __init__(self, metrics):
        self.metrics = metrics
        self.sums, self.counts = {}, {}

    def add(self, name, total, count):
        self.sums[name] = self.sums.get(name, 0.0) + total
        self.counts[name] = self.counts.get(name, 0) + count

    def update(self, loss, n, out, tgt):
        if loss is not None:
            self.add("loss", loss * n, n)
        if self.metrics and tgt is not None:
            out, tgt = _np(out), _np(tgt)
            for name, fn in self.metrics:
                self.add(name, *fn(out, tgt))

    def result(self, prefix=""):
        return {prefix + k: (self.sums[k] / self.counts[k] if self.counts[k] else math.nan)
                for k in self.sums}


# ----------------------------------------------------------------------------------------------
# History and callbacks.


class History:
    """What ``fit`` returns: ``history`` (dict of per-epoch lists: "loss", metrics, "val_loss",
    "val_<metric>", and anything callbacks add, such as "lr") and ``epoch`` (0-based indices)."""

    def __init__(self):
        self.history = {}
        self.epoch = []

    def _append(self, epoch, logs):
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(v)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"

    def plot(self, path, keys=None, title=None):
        """Write a PNG to ``path``: one panel per quantity (``keys``, default all of them, e.g.
        "loss" and "accuracy"), the training curve and its "val_" counterpart against the
        epoch. Needs matplotlib (``pip install matplotlib``, or ``rnnfast[plot]``); uses the Agg
        renderer directly, so it never touches pyplot's global state."""
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install matplotlib "
                              "(or rnnfast[plot])") from None
        if keys is None:
            keys = []
            for k in self.history:
                base = k[4:] if k.startswith("val_") else k
                if base not in keys:
                    keys.append(base)
        elif isinstance(keys, str):
            keys = [keys]
        keys = list(keys)
        for k in keys:
            if k not in self.history and "val_" + k not in self.history:
                raise KeyError(f"keys: {k!r} is not in the history (it has "
                               f"{sorted(self.history)})")
        if not keys:
            raise ValueError("History.plot: the history is empty")
        fig = Figure(figsize=(5.0 * len(keys), 3.8), dpi=100)
        FigureCanvasAgg(fig)
        x = [e + 1 for e in self.epoch]
        for i, k in enumerate(keys):
            ax = fig.add_subplot(1, len(keys), i + 1)
            paired = "val_" + k in self.history
            for name, label, style in ((k, "training" if paired else k, "-o"),
                                       ("val_" + k, "validation", "-s")):
                ys = self.history.get(name)
                if ys is not None:
                    ax.plot(x[-len(ys):], ys, style, markersize=3, label=label)
            ax.set_xlabel("epoch")
            ax.set_ylabel(k)
            ax.set_title(k)
            ax.grid(True, alpha=0.3)
            ax.legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(os.fspath(path), format="png")
        return path


class Callback:
    """Base class: override any of the hooks. During ``fit``, ``self.model``,
    ``self.optimizer`` and ``self.params`` (epochs, steps, verbose) are set; setting
    ``self.model.stop_training = True`` ends training after the current batch or epoch.
    ``logs`` is a dict: per batch {"loss", "size"}, per epoch the epoch's results, which
    callbacks may extend (History records it after every callback has run)."""

    model = None
    optimizer = None
    params = None

    def _set_context(self, model, optimizer, params):
        self.model, self.optimizer, self.params = model, optimizer, params

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


def _mode(mode, monitor):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode: expected 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    return mode


def _copy_state(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs (Keras' semantics; ``mode='auto'`` maximizes names containing "acc" and minimizes
    the rest). With ``restore_best_weights`` the model gets the weights of its best epoch back
    at the end of training. ``stopped_epoch``, ``best`` and ``best_epoch`` tell what happened."""

    def __init__(self, monitor="val_loss", patience=0, min_delta=0, mode="auto",
                 restore_best_weights=False, verbose=0):
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral) \
                or patience < 0:
            raise ValueError(f"patience: expected an int >= 0, got {patience!r}")
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = abs(float(min_delta))
        self.mode = _mode(mode, monitor)
        self.restore_best_weights = bool(restore_best_weights)
        self.verbose = verbose
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = 0
        self.best_weights = None

    def _improved(self, current):
        if self.mode == "min":
            return current + self.min_delta < self.best
        return current - self.min_delta > self.best

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None or (isinstance(current, float) and math.isnan(current)):
            warnings.warn(f"EarlyStopping: the monitored quantity {self.monitor!r} is not "
                          f"available (logs have {sorted(logs or {})})", RuntimeWarning,
                          stacklevel=2)
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = _copy_state(self.model)
        self.wait += 1
        if self._improved(current):
            self.best, self.best_epoch, self.wait = current, epoch, 0
            if self.restore_best_weights:
                self.best_weights = _copy_state(self.model)
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.load_state_dict(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model with ``rnnfast.save`` at the end of an epoch: only when ``monitor``
    improves (``save_best_only``, the default) or every epoch. ``path`` may hold
    ``str.format`` fields filled with the 1-based ``epoch`` and the epoch's logs, e.g.
    ``"ckpt-{epoch:02d}-{val_loss:.3f}.npz"``. ``last_path`` is the last file written."""

    def __init__(self, path, monitor="val_loss", save_best_only=True, mode="auto", verbose=0):
        self.path = os.fspath(path)
        self.monitor = monitor
        self.save_best_only = bool(save_best_only)
        self.mode = _mode(mode, monitor)
        self.verbose = verbose
        self.best = math.inf if self.mode == "min" else -math.inf
        self.last_path = None

    def on_train_begin(self, logs=None):
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        from .io import save
        logs = logs or {}
        path = self.path.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None or (isinstance(current, float) and math.isnan(current)):
                warnings.warn(f"ModelCheckpoint: can save best model only with {self.monitor!r} "
                              f"available (logs have {sorted(logs)}); skipping", RuntimeWarning,
                              stacklevel=2)
                return
            better = current < self.best if self.mode == "min" else current > self.best
            if not better:
                return
            if self.verbose:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to "
                      f"{current:.5f}, saving model to {path}")
            self.best = current
        elif self.verbose:
            print(f"Epoch {epoch + 1}: saving model to {path}")
        save(self.model, path)
        self.last_path = path


class LRSchedulerCallback(Callback):
    """Step an lr scheduler at the end of every epoch: ``scheduler.step()``, or
    ``scheduler.step(logs[monitor])`` for ReduceLROnPlateau. Adds "lr" (the first group's lr
    used during the epoch) to the epoch's logs, hence to the History."""

    def __init__(self, scheduler, monitor="val_loss"):
        if not hasattr(scheduler, "step") or not hasattr(scheduler, "optimizer"):
            raise TypeError(f"scheduler: expected an rnnfast.optim lr scheduler, got "
                            f"{type(scheduler).__name__}")
        self.scheduler = scheduler
        self.monitor = monitor

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = float(self.scheduler.optimizer.param_groups[0]["lr"])
        if isinstance(self.scheduler, ReduceLROnPlateau):
            current = (logs or {}).get(self.monitor)
            if current is None:
                warnings.warn(f"LRSchedulerCallback: ReduceLROnPlateau monitors "
                              f"{self.monitor!r}, which is not in the logs "
                              f"({sorted(logs or {})}); not stepping", RuntimeWarning,
                              stacklevel=2)
                return
            self.scheduler.step(current)
        else:
            self.scheduler.step()


# ----------------------------------------------------------------------------------------------
# Progress display.


def _progress_mode(verbose):
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(f"verbose: expected 0, 1 or 2, got {verbose!r}")
    if verbose == 0:
        return None
    if verbose == 1:
        try:
            isatty = sys.stdout.isatty()
        except (AttributeError, ValueError):
            isatty = False
        if isatty:
            try:
                import tqdm  # noqa: F401
                return "bar"
            except ImportError:
                pass
    return "line"


def _fmt(logs):
    return " - ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}"
                      for k, v in logs.items())


def _set_mode(model, training):
    fn = getattr(model, "train", None)
    if callable(fn):
        fn(training)


# ----------------------------------------------------------------------------------------------
# fit / evaluate / predict.


def fit(model, loss_fn, optimizer, train_data, epochs=1, validation_data=None,
        metrics=("accuracy",), callbacks=(), verbose=1, batch_size=None, forward=None,
        clip_grad_norm=None):
    """Train ``model`` for ``epochs`` passes over ``train_data``; returns a History.

    ``train_data`` / ``validation_data``: a DataLoader (or re-iterable of batches), or a tuple
    ``(X, y)`` / ``(X, lengths, y)`` of arrays, batched by ``batch_size`` (required then; the
    training arrays are reshuffled every epoch from ``rnnfast.manual_seed``'s generator).
    ``metrics``: names ("accuracy", "mae", "mse"), callables ``f(outputs, targets) -> float``
    on NumPy arrays (named by ``__name__``), ``(name, f)`` pairs or a dict. "accuracy" is the
    argmax over the last dim for several outputs; for one output per sample it thresholds
    logits at 0 when ``loss_fn`` is BCEWithLogitsLoss and probabilities at 0.5 otherwise.
    ``forward(model, batch) -> (outputs, targets)`` replaces the default call;
    ``clip_grad_norm`` (a float) clips the joint gradient norm before every step.
    ``verbose``: 0 silent, 1 progress bar (tqdm, on a terminal) or one line per epoch, 2 one
    line per epoch. The model is in training mode while training and in eval mode under
    ``no_grad`` for validation; it is left in the mode it had before.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 0:
        raise ValueError(f"epochs: expected an int >= 0, got {epochs!r}")
    if forward is not None and not callable(forward):
        raise TypeError("forward: expected a callable forward(model, batch) -> (outputs, "
                        "targets)")
    forward = forward or default_forward
    progress = _progress_mode(verbose)
    train_loader = _loader(train_data, batch_size, True, "train_data")
    val_loader = None if validation_data is None else \
        _loader(validation_data, batch_size, False, "validation_data")
    metric_fns = _metrics(metrics, loss_fn)
    callbacks = list(callbacks or ())
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks: expected rnnfast.train.Callback instances, got "
                            f"{type(cb).__name__}")
    params = [p for g in optimizer.param_groups for p in g["params"]]
    steps = len(train_loader) if hasattr(train_loader, "__len__") else None
    for cb in callbacks:
        cb._set_context(model, optimizer, {"epochs": epochs, "steps": steps,
                                           "verbose": verbose})
    was_training = getattr(model, "training", True)
    history = History()
    model.stop_training = False
    try:
        for cb in callbacks:
            cb.on_train_begin({})
        for epoch in range(epochs):
            t0 = time.perf_counter()
            for cb in callbacks:
                cb.on_epoch_begin(epoch, {})
            _set_mode(model, True)
            meter = _Meter(metric_fns)
            bar = None
            if progress == "bar":
                from tqdm import tqdm
                bar = tqdm(total=steps, desc=f"Epoch {epoch + 1}/{epochs}", file=sys.stdout,
                           unit="batch", leave=True)
            try:
                for i, batch in enumerate(train_loader):
                    for cb in callbacks:
                        cb.on_batch_begin(i, {})
                    optimizer.zero_grad()
                    out, targets = forward(model, batch)
                    out = _outputs(out)
                    loss = loss_fn(out, targets)
                    loss.backward()
                    if clip_grad_norm is not None:
                        clip_grad_norm_(params, clip_grad_norm)
                    optimizer.step()
                    n = _batch_len(targets, out)
                    value = float(loss.item())
                    meter.update(value, n, out, targets)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(meter.result(), refresh=False)
                    for cb in callbacks:
                        cb.on_batch_end(i, {"loss": value, "size": n})
                    if model.stop_training:
                        break
                logs = meter.result()
                if val_loader is not None:
                    logs.update(_evaluate(model, loss_fn, val_loader, metric_fns, forward,
                                          prefix="val_"))
                if bar is not None:
                    bar.set_postfix(logs, refresh=True)
            finally:
                if bar is not None:
                    bar.close()
            if progress == "line":
                print(f"Epoch {epoch + 1}/{epochs} - {_fmt(logs)} - "
                      f"{time.perf_counter() - t0:.2f}s", flush=True)
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            history._append(epoch, logs)
            if model.stop_training:
                break
        for cb in callbacks:
            cb.on_train_end({})
    finally:
        _set_mode(model, bool(was_training))
    return history


def _evaluate(model, loss_fn, loader, metric_fns, forward, prefix=""):
    was_training = getattr(model, "training", False)
    _set_mode(model, False)
    meter = _Meter(metric_fns)
    try:
        with no_grad():
            for batch in loader:
                out, targets = forward(model, batch)
                out = _outputs(out)
                loss = None
                if loss_fn is not None:
                    loss = float(loss_fn(out, targets).item())
                meter.update(loss, _batch_len(targets, out), out, targets)
    finally:
        _set_mode(model, bool(was_training))
    return meter.result(prefix)


def evaluate(model, loss_fn, data, metrics=("accuracy",), batch_size=None, forward=None):
    """Loss (when ``loss_fn`` is given) and metrics of ``model`` over ``data`` (a DataLoader or
    a tuple of arrays, batched by ``batch_size``, default 32), in eval mode under ``no_grad``:
    a dict such as {"loss": 0.31, "accuracy": 0.9}, sample-weighted means over the batches."""
    loader = _loader(data, batch_size, False, "data", default_batch_size=32)
    return _evaluate(model, loss_fn, loader, _metrics(metrics, loss_fn),
                     forward or default_forward)


def predict(model, data, batch_size=None, lengths=None, forward=None):
    """The model's outputs over ``data``, concatenated along the first dim into one NumPy
    array, in eval mode under ``no_grad``. ``data`` is an array ``X`` (with optional per-sample
    ``lengths``), a tuple of arrays as for ``fit`` (targets are ignored), or a DataLoader;
    ``batch_size`` defaults to 32."""
    if _is_array(data):
        if lengths is not None:
            lengths = np.asarray(lengths)
        data = (data,) if lengths is None else (data, lengths, np.zeros(len(lengths)))
    elif lengths is not None:
        raise ValueError("lengths: only allowed when data is a single array")
    loader = _loader(data, batch_size, False, "data", default_batch_size=32)
    forward = forward or default_forward
    was_training = getattr(model, "training", False)
    _set_mode(model, False)
    chunks = []
    try:
        with no_grad():
            for batch in loader:
                out, _ = forward(model, batch)
                chunks.append(np.array(_np(_outputs(out))))
    finally:
        _set_mode(model, bool(was_training))
    if not chunks:
        return np.empty((0,))
    try:
        return np.concatenate(chunks, axis=0)
    except ValueError as e:
        raise ValueError(f"predict: the batches' outputs have different shapes "
                         f"({sorted({c.shape[1:] for c in chunks})}) and cannot be "
                         f"concatenated ({e}); use batch_size=len(data) or a forward hook that "
                         f"pads them") from None
