"""``rnnfast.cuda``: the few ``torch.cuda`` calls that device-choosing code makes, answered for
a CPU-only library. ``is_available()`` is False, so ``"cuda" if rnnfast.cuda.is_available()
else "cpu"`` picks the CPU; placing anything on a CUDA device raises ValueError.
"""

from __future__ import annotations

__all__ = ["is_available", "device_count", "manual_seed", "manual_seed_all"]


def is_available() -> bool:
    """False: rnnfast has no CUDA backend."""
    return False


def device_count() -> int:
    """0: no CUDA devices."""
    return 0


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")


def manual_seed(seed) -> None:
    """Accepted and ignored, as torch does without CUDA: no random numbers are drawn on a CUDA
    device (``rnnfast.manual_seed`` seeds every draw rnnfast makes)."""
    _check_seed(seed)


def manual_seed_all(seed) -> None:
    """As ``manual_seed``: there is no CUDA device to seed."""
    _check_seed(seed)
