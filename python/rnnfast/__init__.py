"""rnnfast: fused RNN, LSTM and GRU forward and backpropagation through time on the CPU.

The hot loops are C++ (rnnfast._core, private); this package is the thin Python side:
``rnnfast.functional`` (one layer, one direction, forward and BPTT through the kernels),
``rnnfast.reference`` (the plain NumPy oracle), and ``rnnfast.bench`` (``python -m rnnfast``).
torch's top-level names (dtypes, factories, functional forms, devices; ``rnnfast._torch_api``)
are re-exported here, so ``import rnnfast as torch`` ports a program (docs/PORTING.md).
"""

import builtins as _builtins

from . import (
    _core,
    _torch_api,
    accelerator,
    backends,
    cuda,
    data,
    functional,
    nn,
    optim,
    reference,
    train,
    utils,
)
from ._torch_api import *  # noqa: F401,F403  (torch's top-level names; see _torch_api.__all__)
from .io import load, save
from .tensor import (
    Tensor,
    cat,
    enable_grad,
    is_grad_enabled,
    manual_seed,
    no_grad,
    stack,
    tensor,
    where,
)


def _dist_version():
    """The installed distribution's version (pyproject.toml's, from the package metadata).
    A source checkout that was never installed has no metadata: then the compiled module's
    version, which the build took from the same pyproject.toml."""
    from importlib import metadata
    try:
        return metadata.version("rnnfast")
    except metadata.PackageNotFoundError:
        return _core.version()


__version__ = _dist_version()

# Note: the torch names shadow builtins here (rnnfast.float, rnnfast.max, ...); code in this
# module reaches the builtins through _builtins.
__all__ = ["functional", "reference", "set_num_threads", "get_num_threads", "__version__",
           "tensor", "Tensor", "no_grad", "enable_grad", "is_grad_enabled", "manual_seed",
           "cat", "stack", "where", "nn", "optim", "data", "train", "utils", "cuda",
           "accelerator", "backends", "save", "load", "use_deterministic", "is_deterministic",
           "use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
           ] + list(_torch_api.__all__)


# Whether set_num_threads was called: until then rnnfast.torch's modules follow
# torch.get_num_threads(), so that rnnfast and torch size their thread teams alike.
_threads_explicit = False


def set_num_threads(n):
    """Set the number of threads the kernels use (like torch.set_num_threads).

    Once called, rnnfast.torch's modules use this count too instead of following
    torch.get_num_threads().

    Args:
        n (int): the thread count, >= 1.

    Raises:
        TypeError: ``n`` not an int. ValueError: ``n`` < 1.

    Example::

        >>> old = rnnfast.get_num_threads()
        >>> rnnfast.set_num_threads(1)
        >>> rnnfast.get_num_threads()
        1
        >>> rnnfast.set_num_threads(old)
    """
    global _threads_explicit
    if isinstance(n, _builtins.bool) or not isinstance(n, (_builtins.int,)) \
            and not hasattr(n, "__index__"):
        raise TypeError(f"n: expected an int, got {type(n).__name__}")
    n = _builtins.int(n)
    if n < 1:
        raise ValueError(f"n: expected a thread count >= 1, got {n}")
    _core.set_num_threads(n)
    _threads_explicit = True


def get_num_threads():
    """The number of threads the kernels use."""
    return _core.get_num_threads()


_deterministic = False


def use_deterministic(mode):
    """Ask for bitwise-reproducible results (like torch.use_deterministic_algorithms).

    This costs nothing, because rnnfast's kernels have no non-deterministic mode to switch
    off: every output element is computed by one thread with one fixed summation order, so
    results are bitwise identical whatever the thread count (``set_num_threads``) and however
    the time loop is split across threads, and nothing depends on thread timing (no atomics,
    no racing reductions). With the same ``rnnfast.manual_seed``, the same inputs and the same
    instruction set (``rnnfast._core.isa()``: AVX-512, AVX2 and portable kernels round
    differently), training runs repeat bit for bit. The flag is recorded so code written for
    torch can state its intent, and ``is_deterministic()`` reports it; it changes no kernel.
    """
    if not isinstance(mode, _builtins.bool):
        raise TypeError(f"mode: expected a bool, got {type(mode).__name__}")
    global _deterministic
    _deterministic = mode


def is_deterministic():
    """Whether ``use_deterministic(True)`` is in force (the kernels are deterministic either
    way; see ``use_deterministic``)."""
    return _deterministic


def use_deterministic_algorithms(mode, *, warn_only=False):
    """torch's name for ``use_deterministic`` (rnnfast's kernels are deterministic anyway).

    Args:
        mode (bool): whether to ask for deterministic results.
        warn_only (bool, optional, keyword-only): accepted for torch's signature and ignored.
            Default: ``False``.
    """
    use_deterministic(mode)


def are_deterministic_algorithms_enabled():
    """torch's name for ``is_deterministic``."""
    return _deterministic
