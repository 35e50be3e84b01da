"""Devices as torch names them, for code ported from torch: ``rnnfast.device("cpu")`` and the
``device=`` arguments of factories and ``.to()``.

rnnfast computes on the CPU only. A device object of any type torch knows can be made (so
``device = torch.device("cuda" if torch.cuda.is_available() else "cpu")`` runs), but placing a
tensor or module anywhere but the CPU raises ValueError, never a silent fallback.
"""

from __future__ import annotations

__all__ = ["device", "check_device", "is_device_like", "refuse_cuda"]

# torch's device types (the prefix of a device string); only "cpu" is usable here.
_TYPES = ("cpu", "cuda", "mps", "xpu", "xla", "meta", "hip", "ipu", "mtia", "hpu", "lazy",
          "vulkan", "ve", "fpga", "maia", "opengl", "opencl", "ideep", "mkldnn", "privateuseone")


class device:
    """A device: ``device("cpu")``, ``device("cuda:0")``, ``device("cuda", 0)``. Only
    ``type == "cpu"`` can hold rnnfast tensors and modules.

    Args:
        type (str or device): the device type with an optional ``":index"``, or a device.
        index (int, optional): the device index. Default: ``None``.

    Example::

        >>> d = rnnfast.device("cuda", 0)
        >>> d.type, d.index, rnnfast.device("cpu").type
        ('cuda', 0, 'cpu')
    """

    __slots__ = ("_type", "_index")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            if index is not None:
                raise TypeError("device: an index cannot be given with a device object")
            self._type, self._index = type.type, type.index
            return
        if not isinstance(type, str):
            raise TypeError(f"device: expected a str such as 'cpu', got {type.__class__.__name__}")
        kind, sep, idx = type.partition(":")
        if kind not in _TYPES:
            raise ValueError(f"device: expected one of {', '.join(_TYPES)} at the start of the "
                             f"device string, got {type!r}")
        if sep:
            if index is not None:
                raise ValueError(f"device: the index is given twice ({type!r} and {index!r})")
            if not idx.isdigit():
                raise ValueError(f"device: invalid device string {type!r}")
            index = int(idx)
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                raise ValueError(f"device: expected a non-negative int index, got {index!r}")
        self._type, self._index = kind, index

    @property
    def type(self):
        return self._type

    @property
    def index(self):
        return self._index

    def __eq__(self, other):
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self):
        if self.index is None:
            return f"device(type={self.type!r})"
        return f"device(type={self.type!r}, index={self.index})"


CPU = device("cpu")


def is_device_like(value) -> bool:
    """True for a device object or a str that names one ("cpu", "cuda:1")."""
    if isinstance(value, device):
        return True
    return isinstance(value, str) and value.partition(":")[0] in _TYPES


def check_device(value, name="device"):
    """None or a CPU device (object or str) pass; another device raises ValueError naming
    ``name``; anything else TypeError."""
    if value is None:
        return CPU
    if isinstance(value, int) and not isinstance(value, bool):
        value = device("cuda", value)     # torch reads a bare int as a CUDA ordinal
    if not isinstance(value, (str, device)):
        raise TypeError(f"{name}: expected a device or a str such as 'cpu', got "
                        f"{type(value).__name__}")
    d = device(value)
    if d.type != "cpu":
        raise ValueError(f"{name}: rnnfast runs on the CPU only (rnnfast.cuda.is_available() "
                         f"is False), got {str(d)!r}; use 'cpu'")
    return d



def refuse_cuda(value, what):
    """``what.cuda(value)``: always an error, as on a machine without CUDA. A CPU device is
    torch's "Invalid device, must be cuda device" (ValueError naming ``device``); anything else
    gets check_device's error."""
    if value is not None and is_device_like(value) and device(value).type == "cpu":
        raise ValueError(f"device: {what}.cuda() expects a CUDA device, got {str(value)!r}; "
                         f"rnnfast runs on the CPU only")
    check_device("cuda" if value is None else value)
    raise AssertionError("unreachable: check_device accepts only the CPU")
