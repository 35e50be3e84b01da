"""convert / revert: swap the recurrent modules of a torch model between torch.nn's classes and
rnnfast.torch's, in place.

The swap changes each module's class and nothing else: the module object, its Parameter
objects (so an optimizer made before keeps working), hooks, buffers and its place in the
model all stay; nothing is copied or re-initialized. Only modules whose class is exactly one
of torch.nn.RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell are converted: a user's subclass may
override forward and is left alone.
"""

from __future__ import annotations

from torch import nn

from . import modules

__all__ = ["convert", "revert"]

_TO_RNNFAST = {nn.RNN: modules.RNN, nn.LSTM: modules.LSTM, nn.GRU: modules.GRU,
               nn.RNNCell: modules.RNNCell, nn.LSTMCell: modules.LSTMCell,
               nn.GRUCell: modules.GRUCell}
_TO_TORCH = {v: k for k, v in _TO_RNNFAST.items()}


def _check_model(model):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")


def convert(model):
    """Make every torch.nn.RNN, LSTM, GRU, RNNCell, LSTMCell and GRUCell in ``model`` (``model``
    itself included) run rnnfast's kernels, in place; returns ``model``.

    Each such module becomes an instance of the matching rnnfast.torch class: the same object
    with the same Parameter objects, so optimizers, hooks and references made before stay
    valid and nothing is copied. Outputs and gradients are torch's up to rounding.
    ``revert(model)`` undoes it.
    """
    _check_model(model)
    for m in model.modules():
        cls = _TO_RNNFAST.get(type(m))
        if cls is not None:
            m.__class__ = cls
    return model


def revert(model):
    """Undo ``convert``: every rnnfast.torch module in ``model`` (``model`` itself included)
    becomes the torch.nn module it subclasses, in place; returns ``model``.

    A module using ``recurrent_dropout`` or a cell variant (``GRU(reset_after=False)``,
    ``LSTM(peephole=True)``), which torch.nn lacks, raises ValueError, and then nothing is
    changed.
    """
    _check_model(model)
    found = [(name, m) for name, m in model.named_modules() if type(m) in _TO_TORCH]
    for name, m in found:
        where = f"model: the module {name or '(the model itself)'!r} uses"
        torch_cls = f"torch.nn.{_TO_TORCH[type(m)].__name__}"
        if getattr(m, "recurrent_dropout", 0.0):
            raise ValueError(f"{where} recurrent_dropout={m.recurrent_dropout}, which "
                             f"{torch_cls} lacks; set it to 0.0 to revert")
        variant = m._variant() if hasattr(m, "_variant") else None
        if variant:
            raise ValueError(f"{where} {variant}, a cell {torch_cls} cannot compute; it "
                             "cannot be reverted")
    for _, m in found:
        m.__class__ = _TO_TORCH[type(m)]
        m.__dict__.pop("recurrent_dropout", None)
    return model
