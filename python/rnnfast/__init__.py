"""rnnfast: fused RNN, LSTM and GRU forward and backpropagation through time on the CPU.

The hot loops are C++ (rnnfast._core, private); this package is the thin Python side:
``rnnfast.functional`` (one layer, one direction, forward and BPTT through the kernels),
``rnnfast.reference`` (the plain NumPy oracle), and ``rnnfast.bench`` (``python -m rnnfast``).
"""

from . import _core
from . import functional, reference
from .tensor import (Tensor, cat, is_grad_enabled, manual_seed, no_grad, stack, tensor,
                     where)
from . import nn
from . import data, optim, train
from .io import load, save

__version__ = _core.version()

__all__ = ["functional", "reference", "set_num_threads", "get_num_threads", "__version__",
           "tensor", "Tensor", "no_grad", "is_grad_enabled", "manual_seed", "cat", "stack",
           "where", "nn", "optim", "data", "train", "save", "load"]


def set_num_threads(n):
    """Set the number of threads the kernels use (like torch.set_num_threads)."""
    if isinstance(n, bool) or not isinstance(n, (int,)) and not hasattr(n, "__index__"):
        raise TypeError(f"n: expected an int, got {type(n).__name__}")
    n = int(n)
    if n < 1:
        raise ValueError(f"n: expected a thread count >= 1, got {n}")
    _core.set_num_threads(n)


def get_num_threads():
    """The number of threads the kernels use."""
    return _core.get_num_threads()
