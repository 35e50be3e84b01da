"""``rnnfast.accelerator``: the device-agnostic ``torch.accelerator`` calls of recent PyTorch
tutorials (``torch.accelerator.current_accelerator().type if torch.accelerator.is_available()
else "cpu"``), answered for a CPU-only library: no accelerator.
"""

from __future__ import annotations

__all__ = ["is_available", "current_accelerator", "device_count"]


def is_available() -> bool:
    """False: rnnfast computes on the CPU only."""
    return False


def current_accelerator(check_available=False):
    """None: there is no accelerator."""
    return None


def device_count() -> int:
    return 0
