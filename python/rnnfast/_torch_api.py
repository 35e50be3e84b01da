"""torch's top-level names, so a PyTorch program ports by changing its imports
(``import rnnfast as torch``): dtypes, factories (zeros, randn, arange, ...), the functional
forms of tensor methods (torch.max, torch.softmax, ...), legacy typed constructors
(LongTensor, ...), grad-mode helpers and devices. rnnfast re-exports them all.

Semantics are torch's: the same defaults (float32 for floats, int64 for ints), the same
signatures (``dim``, ``keepdim``, sizes as ``*size`` or one tuple), the same return types
(``max(x, dim)`` is a named tuple ``(values, indices)``). Random draws come from
``rnnfast.manual_seed``'s generator (a ``generator=`` may be an ``np.random.Generator``;
torch.Generator objects do not exist here), so they are reproducible but not torch's numbers.
Deliberately absent: devices other than the CPU, complex and half-precision compute, sparse
and quantized tensors, ``out=`` arguments.
"""

from __future__ import annotations

import builtins
import numbers

import numpy as np

from . import _device
from .tensor import (
    DEFAULT_FLOAT,
    Tensor,
    _check_dtype,
    _new_array,
    _wrap,
    as_tensor as _as_tensor,
    cat as _cat,
    default_generator,
    enable_grad,
    is_grad_enabled,
    no_grad,
)

__all__ = [
    # dtypes
    "float32", "float", "float64", "double", "float16", "half", "int64", "long", "int32", "int",
    "int16", "short", "int8", "uint8", "bool", "get_default_dtype", "Size",
    # devices and grad mode
    "device", "set_grad_enabled", "inference_mode",
    # typed constructors
    "FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor", "ByteTensor",
    # creation
    "from_numpy", "as_tensor", "is_tensor", "is_floating_point", "numel", "zeros", "ones",
    "empty", "full", "arange", "linspace", "eye", "rand", "randn", "randint", "randperm",
    "zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like",
    "randint_like", "multinomial",
    # functional forms of tensor methods
    "argmax", "argmin", "max", "min", "amax", "amin", "maximum", "minimum", "sum", "mean",
    "softmax", "log_softmax", "topk", "sort", "argsort", "exp", "log", "sqrt", "abs", "tanh",
    "sigmoid", "relu", "clamp", "clip", "pow", "square", "flatten", "transpose", "reshape",
    "squeeze", "unsqueeze", "permute", "t", "matmul", "mm", "bmm", "cumsum", "index_select",
    "gather", "masked_fill", "chunk", "split", "narrow", "eq", "ne", "lt", "le", "gt", "ge",
    "all", "any", "concat", "concatenate", "round", "floor", "ceil", "sign", "var", "std",
    "norm",
]

# ----------------------------------------------------------------------------------------------
# dtypes: NumPy's, under torch's names (x.dtype == rnnfast.long works as in torch).

float32 = float = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
float16 = half = np.dtype(np.float16)
int64 = long = np.dtype(np.int64)
int32 = int = np.dtype(np.int32)
int16 = short = np.dtype(np.int16)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
bool = np.dtype(np.bool_)

device = _device.device


def get_default_dtype():
    """float32, the dtype of Python floats in new tensors (fixed in rnnfast)."""
    return DEFAULT_FLOAT


class Size(tuple):
    """A shape, as ``torch.Size``: a tuple (``x.shape == rnnfast.Size([2, 3])`` holds)."""

    def __repr__(self):
        return f"rnnfast.Size({list(self)})"

    def numel(self):
        return builtins.int(np.prod(self, dtype=np.int64))


# ----------------------------------------------------------------------------------------------
# Grad mode.


class set_grad_enabled:
    """Turn gradient recording on or off: as a function call (``set_grad_enabled(False)``)
    or as a context manager, which restores the previous mode on exit."""

    def __init__(self, mode):
        if not isinstance(mode, builtins.bool):
            raise TypeError(f"mode: expected a bool, got {type(mode).__name__}")
        self._ctx = enable_grad() if mode else no_grad()
        self._prev = is_grad_enabled()
        self._ctx.__enter__()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._ctx._prev = self._prev
        self._ctx.__exit__(*exc)
        return False


def inference_mode(mode=True):
    """``no_grad()`` (``mode=True``) or ``enable_grad()``; rnnfast has no separate
    inference-tensor mode."""
    if callable(mode) and not isinstance(mode, builtins.bool):     # used as a bare decorator
        return no_grad()(mode)
    if not isinstance(mode, builtins.bool):
        raise TypeError(f"mode: expected a bool, got {type(mode).__name__}")
    return no_grad() if mode else enable_grad()


# ----------------------------------------------------------------------------------------------
# Legacy typed constructors: LongTensor([1, 2]), FloatTensor(2, 3); isinstance(x, LongTensor).


class _TypedTensorMeta(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype

    def __repr__(cls):
        return f"<class 'rnnfast.{cls.__name__}'>"


def _typed(name, dt):
    def __new__(cls, *args):
        return _wrap(_new_array(args, dt, name))
    doc = (f"``{name}(data)`` copies data into a {dt} tensor (casting as NumPy does); "
           f"``{name}(*sizes)`` is an uninitialised one. ``isinstance(x, {name})`` checks the "
           f"dtype.")
    return _TypedTensorMeta(name, (), {"__new__": __new__, "dtype": dt, "__doc__": doc})


FloatTensor = _typed("FloatTensor", float32)
DoubleTensor = _typed("DoubleTensor", float64)
LongTensor = _typed("LongTensor", int64)
IntTensor = _typed("IntTensor", int32)
BoolTensor = _typed("BoolTensor", bool)
ByteTensor = _typed("ByteTensor", uint8)


# ----------------------------------------------------------------------------------------------
# Creation.


def _size(size, fn):
    """``*size`` as torch takes it: ints, or one tuple / list of ints."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    out = []
    for s in size:
        if isinstance(s, Tensor):
            s = s.__index__()
        if isinstance(s, builtins.bool) or not isinstance(s, (numbers.Integral,)):
            raise TypeError(f"{fn}(): size: expected ints, got {type(s).__name__}")
        if s < 0:
            raise ValueError(f"{fn}(): size: expected non-negative sizes, got {tuple(size)}")
        out.append(builtins.int(s))
    return tuple(out)


def _dtype(dtype, default):
    return default if dtype is None else _check_dtype(np.dtype(dtype), "dtype")


def _leaf(arr, requires_grad, device):
    _device.check_device(device)
    t = _wrap(arr)
    t.requires_grad = requires_grad
    return t


def _generator(generator):
    if generator is None:
        return default_generator()
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"generator: expected None (rnnfast.manual_seed seeds every draw) or an "
                    f"np.random.Generator, got {type(generator).__name__}")


def from_numpy(ndarray) -> Tensor:
    """A tensor sharing ``ndarray``'s memory and dtype (writes show through both ways).

    Args:
        ndarray (np.ndarray): an array of a supported dtype.

    Raises:
        TypeError: ``ndarray`` is not a NumPy array, or of an unsupported dtype.

    Example::

        >>> a = np.arange(3)
        >>> t = rnnfast.from_numpy(a)
        >>> t[0] = 7
        >>> a.tolist()
        [7, 1, 2]
    """
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy(): expected np.ndarray, got {type(ndarray).__name__}")
    _check_dtype(ndarray.dtype, "ndarray")
    return _wrap(ndarray)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` as a tensor without a copy where possible: a tensor or NumPy array of the
    requested dtype is shared; other data is converted as ``rnnfast.tensor`` does.

    Args:
        data (Tensor, array, sequence or number): the values.
        dtype (dtype, optional): cast to this dtype. Default: ``None`` (keep or infer).
        device (optional): ``None`` or the CPU.

    Example::

        >>> a = np.zeros(3, np.float32)
        >>> t = rnnfast.as_tensor(a)
        >>> a[0] = 5
        >>> t[0].item()
        5.0
    """
    _device.check_device(device)
    t = _as_tensor(data, name="data")
    return t if dtype is None else t.to(dtype)


def is_tensor(obj) -> builtins.bool:
    """Whether ``obj`` is an rnnfast Tensor.

    Args:
        obj: any object.

    Example::

        >>> rnnfast.is_tensor(rnnfast.zeros(1)), rnnfast.is_tensor([0.0])
        (True, False)
    """
    return isinstance(obj, Tensor)


def is_floating_point(input) -> builtins.bool:
    """Whether ``input``'s dtype is a floating-point one.

    Args:
        input (Tensor or array): the tensor.
    """
    return _t(input).is_floating_point()


def numel(input) -> builtins.int:
    """The number of elements of ``input``.

    Args:
        input (Tensor or array): the tensor.

    Example::

        >>> rnnfast.numel(rnnfast.zeros(2, 3))
        6
    """
    return _t(input).numel()


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ``size`` filled with 0 (as ``torch.zeros``).

    Args:
        *size (ints, or one tuple / list of ints): the shape, non-negative.
        dtype (dtype, optional): the result's dtype. Default: float32.
        device (optional): ``None`` or the CPU (another device raises ValueError).
        requires_grad (bool, optional): record operations on the result (float dtypes only).
            Default: ``False``.

    Example::

        >>> tuple(rnnfast.zeros(2, 3).shape)
        (2, 3)
    """
    return _leaf(np.zeros(_size(size, "zeros"), _dtype(dtype, float32)), requires_grad, device)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ``size`` filled with 1 (as ``torch.ones``).

    Args:
        *size (ints, or one tuple / list of ints): the shape, non-negative.
        dtype (dtype, optional): the result's dtype. Default: float32.
        device (optional): ``None`` or the CPU (another device raises ValueError).
        requires_grad (bool, optional): record operations on the result (float dtypes only).
            Default: ``False``.

    Example::

        >>> rnnfast.ones(2, dtype=rnnfast.int64).tolist()
        [1, 1]
    """
    return _leaf(np.ones(_size(size, "ones"), _dtype(dtype, float32)), requires_grad, device)


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """An uninitialised tensor (its values are whatever the memory held).

    Args:
        *size (ints, or one tuple / list of ints): the shape, non-negative.
        dtype (dtype, optional): the result's dtype. Default: float32.
        device (optional): ``None`` or the CPU (another device raises ValueError).
        requires_grad (bool, optional): record operations on the result (float dtypes only).
            Default: ``False``.
    """
    return _leaf(np.empty(_size(size, "empty"), _dtype(dtype, float32)), requires_grad, device)


def _scalar_dtype(value):
    """The dtype torch gives a Python scalar: bool, int64 or float32."""
    if isinstance(value, (builtins.bool, np.bool_)):
        return bool
    if isinstance(value, numbers.Integral):
        return int64
    if isinstance(value, numbers.Real):
        return float32
    raise TypeError(f"fill_value: expected a number, got {type(value).__name__}")


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value``; its dtype follows the value (bool,
    int64 or float32) unless ``dtype`` is given.

    Args:
        size (int or tuple of ints): the shape.
        fill_value (number): the value.
        dtype (dtype, optional): the result's dtype. Default: the value's.
        device (optional): ``None`` or the CPU (another device raises ValueError).
        requires_grad (bool, optional): record operations on the result (float dtypes only).
            Default: ``False``.

    Example::

        >>> rnnfast.full((2,), 7).tolist(), rnnfast.full((2,), 7).dtype
        ([7, 7], dtype('int64'))
    """
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    dt = _dtype(dtype, _scalar_dtype(fill_value))
    size = _size(size if isinstance(size, (tuple, list)) else (size,), "full")
    return _leaf(np.full(size, fill_value, dt), requires_grad, device)


def _number(v, name):
    if isinstance(v, Tensor):
        v = v.item()
    if isinstance(v, builtins.bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name}: expected a number, got {type(v).__name__}")
    return v


def arange(start=0, end=None, step=1, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Values from ``start`` (inclusive) to ``end`` (exclusive) by ``step``; ``arange(n)``
    counts from 0. int64 when all three are ints, else float32 (torch's rule).

    Args:
        start (number, optional): the first value (the end when ``end`` is None). Default: 0.
        end (number, optional): the bound, not included.
        step (number, optional): the gap between values, non-zero. Default: 1.
        dtype (dtype, optional): the result's dtype. Default: int64 or float32 as above.
        device (optional): ``None`` or the CPU (another device raises ValueError).
        requires_grad (bool, optional): record operations on the result (float dtypes only).
            Default: ``False``.

    Raises:
        ValueError: ``step`` 0, or a bound that the step's sign cannot reach.

    Example::

        >>> rnnfast.arange(5).tolist(), rnnfast.arange(0, 1, 0.25).tolist()
        ([0, 1, 2, 3, 4], [0.0, 0.25, 0.5, 0.75])
    """
    if end is None:
        start, end = 0, start
    start, end, step = (_number(start, "start"), _number(end, "end"),
                        _number(step, "step"))
    if step == 0:
        raise ValueError("step: expected a non-zero step, got 0")
    if (end - start) * step < 0:
        raise ValueError(f"arange(): upper bound and larger bound inconsistent with step sign "
                         f"(start={start}, end={end}, step={step})")
    ints = builtins.all(isinstance(v, numbers.Integral) for v in (start, end, step))
    dt = _dtype(dtype, int64 if ints else float32)
    # the count in float64 as torch computes it, then the values start + i * step
    n = builtins.int(np.ceil((end - start) / step))
    arr = (start + np.arange(n, dtype=np.float64 if not ints else np.int64) * step).astype(dt)
    return _leaf(arr, requires_grad, device)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive (float32).

    Args:
        start (number): the first value.
        end (number): the last value.
        steps (int): the number of values, >= 0.
        dtype (dtype, optional): the result's dtype. Default: float32.
        device (optional): ``None`` or the CPU (another device raises ValueError).
        requires_grad (bool, optional): record operations on the result (float dtypes only).
            Default: ``False``.

    Example::

        >>> rnnfast.linspace(0, 1, 3).tolist()
        [0.0, 0.5, 1.0]
    """
    if isinstance(steps, builtins.bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"steps: expected a non-negative int, got {steps!r}")
    arr = np.linspace(_number(start, "start"), _number(end, "end"), builtins.int(steps))
    return _leaf(arr.astype(_dtype(dtype, float32)), requires_grad, device)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A 2-D tensor with ones on the diagonal and zeros elsewhere.

    Args:
        n (int): the number of rows.
        m (int, optional): the number of columns. Default: ``n``.
        dtype (dtype, optional): the result's dtype. Default: float32.
        device (optional): ``None`` or the CPU (another device raises ValueError).
        requires_grad (bool, optional): record operations on the result (float dtypes only).
            Default: ``False``.

    Example::

        >>> rnnfast.eye(2).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    n, = _size((n,), "eye")
    m = n if m is None else _size((m,), "eye")[0]
    return _leaf(np.eye(n, m, dtype=_dtype(dtype, float32)), requires_grad, device)


def _float_dtype(dtype, fn):
    dt = _dtype(dtype, float32)
    if dt.kind != "f":
        raise TypeError(f"{fn}(): dtype: expected a floating point dtype, got {dt}")
    return dt


def rand(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform samples from [0, 1) (float32), from ``rnnfast.manual_seed``'s generator.

    Args:
        *size (ints, or one tuple / list of ints): the shape, non-negative.
        generator (np.random.Generator, optional): draw from it instead of
            ``rnnfast.manual_seed``'s generator (torch.Generator does not exist here).
        dtype (dtype, optional): the result's dtype. Default: float32 (a float dtype).
        device (optional): ``None`` or the CPU (another device raises ValueError).
        requires_grad (bool, optional): record operations on the result (float dtypes only).
            Default: ``False``.

    Example::

        >>> x = rnnfast.rand(2, 3)
        >>> tuple(x.shape), bool(((x >= 0) & (x < 1)).all())
        ((2, 3), True)
    """
    dt = _float_dtype(dtype, "rand")
    arr = _generator(generator).random(_size(size, "rand"), dtype=np.float64).astype(dt)
    return _leaf(arr, requires_grad, device)


def randn(*size, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples (float32), from ``rnnfast.manual_seed``'s generator.

    Args:
        *size (ints, or one tuple / list of ints): the shape, non-negative.
        generator (np.random.Generator, optional): draw from it instead of
            ``rnnfast.manual_seed``'s generator (torch.Generator does not exist here).
        dtype (dtype, optional): the result's dtype. Default: float32 (a float dtype).
        device (optional): ``None`` or the CPU (another device raises ValueError).
        requires_grad (bool, optional): record operations on the result (float dtypes only).
            Default: ``False``.

    Example::

        >>> tuple(rnnfast.randn(2, 3).shape)
        (2, 3)
    """
    dt = _float_dtype(dtype, "randn")
    arr = _generator(generator).standard_normal(_size(size, "randn")).astype(dt)
    return _leaf(arr, requires_grad, device)


def randint(*args, size=None, generator=None, dtype=None, device=None,
            requires_grad=False) -> Tensor:
    """Integers uniform in [low, high): ``randint(high, size)`` or ``randint(low, high,
    size)``, size a tuple; int64 unless ``dtype``.

    Args:
        *args: ``(high, size)`` or ``(low, high, size)``; low defaults to 0, low < high.
        size (tuple of ints, optional, keyword-only): the shape, instead of the last positional.
        generator (np.random.Generator, optional): draw from it instead of
            ``rnnfast.manual_seed``'s generator (torch.Generator does not exist here).
        dtype (dtype, optional): the result's dtype. Default: int64.
        device (optional): ``None`` or the CPU (another device raises ValueError).
        requires_grad (bool, optional): record operations on the result (float dtypes only).
            Default: ``False``.

    Example::

        >>> x = rnnfast.randint(3, 10, (4,))
        >>> x.dtype, bool(((x >= 3) & (x < 10)).all())
        (dtype('int64'), True)
    """
    if size is not None:
        args = args + (size,)
    if len(args) == 2:
        low, (high, size) = 0, args
    elif len(args) == 3:
        low, high, size = args
    else:
        raise TypeError("randint(): expected (high, size) or (low, high, size)")
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"randint(): size: expected a tuple of ints, got {type(size).__name__}")
    low, high = _number(low, "low"), _number(high, "high")
    if not high > low:
        raise ValueError(f"randint(): expected low < high, got low={low}, high={high}")
    arr = _generator(generator).integers(builtins.int(low), builtins.int(high),
                                         _size(size, "randint"))
    return _leaf(arr.astype(_dtype(dtype, int64)), requires_grad, device)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A random permutation of 0 .. n-1 (int64).

    Args:
        n (int): the number of values.
        generator (np.random.Generator, optional): draw from it instead of
            ``rnnfast.manual_seed``'s generator (torch.Generator does not exist here).
        dtype (dtype, optional): the result's dtype. Default: int64.
        device (optional): ``None`` or the CPU (another device raises ValueError).
        requires_grad (bool, optional): record operations on the result (float dtypes only).
            Default: ``False``.

    Example::

        >>> sorted(rnnfast.randperm(4).tolist())
        [0, 1, 2, 3]
    """
    n, = _size((n,), "randperm")
    arr = _generator(generator).permutation(n)
    return _leaf(arr.astype(_dtype(dtype, int64)), requires_grad, device)


def _t(input, name="input") -> Tensor:
    return _as_tensor(input, name=name)


def _like_dtype(input, dtype):
    return _t(input).dtype if dtype is None else _check_dtype(np.dtype(dtype), "dtype")


def zeros_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ``input``'s shape and dtype (unless ``dtype``) filled with 0.

    Args:
        input (Tensor or array): the tensor whose shape (and, by default, dtype) is taken.
        dtype (dtype, optional): the result's dtype. Default: ``input``'s.
        device (optional): ``None`` or the CPU (another device raises ValueError).
        requires_grad (bool, optional): record operations on the result (float dtypes only).
            Default: ``False``.

    Example::

        >>> rnnfast.zeros_like(rnnfast.ones(2, dtype=rnnfast.int64)).tolist()
        [0, 0]
    """
    return _leaf(np.zeros(_t(input).shape, _like_dtype(input, dtype)), requires_grad, device)


def ones_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ``input``'s shape and dtype (unless ``dtype``) filled with 1.

    Args:
        input (Tensor or array): the tensor whose shape (and, by default, dtype) is taken.
        dtype (dtype, optional): the result's dtype. Default: ``input``'s.
        device (optional): ``None`` or the CPU (another device raises ValueError).
        requires_grad (bool, optional): record operations on the result (float dtypes only).
            Default: ``False``.
    """
    return _leaf(np.ones(_t(input).shape, _like_dtype(input, dtype)), requires_grad, device)


def empty_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ``input``'s shape and dtype (unless ``dtype``) uninitialised.

    Args:
        input (Tensor or array): the tensor whose shape (and, by default, dtype) is taken.
        dtype (dtype, optional): the result's dtype. Default: ``input``'s.
        device (optional): ``None`` or the CPU (another device raises ValueError).
        requires_grad (bool, optional): record operations on the result (float dtypes only).
            Default: ``False``.
    """
    return _leaf(np.empty(_t(input).shape, _like_dtype(input, dtype)), requires_grad, device)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ``input``'s shape and dtype (unless ``dtype``) filled with ``fill_value``.

    Args:
        input (Tensor or array): the tensor whose shape (and, by default, dtype) is taken.
        fill_value (number): the value.
        dtype (dtype, optional): the result's dtype. Default: ``input``'s.
        device (optional): ``None`` or the CPU (another device raises ValueError).
        requires_grad (bool, optional): record operations on the result (float dtypes only).
            Default: ``False``.

    Example::

        >>> rnnfast.full_like(rnnfast.zeros(2), 0.5).tolist()
        [0.5, 0.5]
    """
    return _leaf(np.full(_t(input).shape, fill_value, _like_dtype(input, dtype)), requires_grad,
                 device)


def rand_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ``input``'s shape and dtype (unless ``dtype``) of uniform samples from [0, 1).

    Args:
        input (Tensor or array): the tensor whose shape (and, by default, dtype) is taken.
        dtype (dtype, optional): the result's dtype. Default: ``input``'s.
        device (optional): ``None`` or the CPU (another device raises ValueError).
        requires_grad (bool, optional): record operations on the result (float dtypes only).
            Default: ``False``.
    """
    return rand(_t(input).shape, dtype=_like_dtype(input, dtype), device=device,
                requires_grad=requires_grad)


def randn_like(input, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ``input``'s shape and dtype (unless ``dtype``) of standard normal samples.

    Args:
        input (Tensor or array): the tensor whose shape (and, by default, dtype) is taken.
        dtype (dtype, optional): the result's dtype. Default: ``input``'s.
        device (optional): ``None`` or the CPU (another device raises ValueError).
        requires_grad (bool, optional): record operations on the result (float dtypes only).
            Default: ``False``.
    """
    return randn(_t(input).shape, dtype=_like_dtype(input, dtype), device=device,
                 requires_grad=requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, device=None,
                 requires_grad=False) -> Tensor:
    """A tensor of ``input``'s shape of integers uniform in [low, high) (``randint_like(input,
    high)`` counts from 0).

    Args:
        input (Tensor or array): the tensor whose shape (and, by default, dtype) is taken.
        low (int, optional): the lowest value (the bound when ``high`` is None). Default: 0.
        high (int, optional): the bound, not included.
        dtype (dtype, optional): the result's dtype. Default: ``input``'s.
        device (optional): ``None`` or the CPU (another device raises ValueError).
        requires_grad (bool, optional): record operations on the result (float dtypes only).
            Default: ``False``.
    """
    if high is None:
        low, high = 0, low
    return randint(low, high, _t(input).shape, dtype=_like_dtype(input, dtype), device=device,
                   requires_grad=requires_grad)


def multinomial(input, num_samples, replacement=False, *, generator=None) -> Tensor:
    """Indices drawn from the categorical distributions whose (unnormalised, non-negative)
    weights are the rows of ``input`` (1-D or 2-D, float): ``num_samples`` per row, without
    replacement unless ``replacement``. int64, of shape (num_samples,) or (rows,
    num_samples).

    Args:
        input (Tensor): the weights, (categories,) or (rows, categories), float.
        num_samples (int): the number of draws per row.
        replacement (bool, optional): draw with replacement. Default: ``False``.
        generator (np.random.Generator, optional, keyword-only): draw from it instead of
            ``rnnfast.manual_seed``'s generator.

    Example::

        >>> rnnfast.multinomial(rnnfast.tensor([0.0, 1.0, 0.0]), 2, replacement=True).tolist()
        [1, 1]
    """
    w = _t(input).data
    if w.dtype.kind != "f":
        raise TypeError(f"input: multinomial needs floating point weights, got dtype {w.dtype}")
    if w.ndim not in (1, 2):
        raise ValueError(f"input: expected 1 or 2 dims (categories, or rows of categories), got "
                         f"shape {w.shape}")
    if isinstance(num_samples, builtins.bool) or not isinstance(num_samples, numbers.Integral) \
            or num_samples < 1:
        raise ValueError(f"num_samples: expected an int >= 1, got {num_samples!r}")
    rows = w.reshape(-1, w.shape[-1]).astype(np.float64)
    n = rows.shape[1]
    if n == 0:
        raise ValueError("input: expected at least one category")
    if not np.isfinite(rows).all() or (rows < 0).any():
        raise ValueError("input: weights must be finite and non-negative")
    totals = rows.sum(axis=1)
    if (totals <= 0).any():
        raise ValueError("input: every row of weights needs a positive sum")
    if not replacement:
        if num_samples > n:
            raise ValueError(f"num_samples: cannot draw {num_samples} samples without "
                             f"replacement from {n} categories")
        if ((rows > 0).sum(axis=1) < num_samples).any():
            raise ValueError(f"num_samples: a row has fewer than {num_samples} categories of "
                             f"non-zero weight to draw without replacement")
    rng = _generator(generator)
    out = np.stack([rng.choice(n, size=num_samples, replace=builtins.bool(replacement),
                               p=r / r.sum()) for r in rows])
    out = out.astype(np.int64)
    return _wrap(out.reshape(num_samples) if w.ndim == 1 else out)


# ----------------------------------------------------------------------------------------------
# Functional forms of tensor methods (torch.max(x, 1), torch.softmax(x, dim=1), ...).


def argmax(input, dim=None, keepdim=False) -> Tensor:
    """The index of the largest value of ``input`` (flattened when ``dim`` is None), as
    torch.argmax; int64.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int, optional): the dim to reduce; ``None`` reduces all dims. Default: ``None``.
        keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.

    Example::

        >>> rnnfast.argmax(rnnfast.tensor([[1, 5], [7, 2]]), dim=1).tolist()
        [1, 0]
    """
    return _t(input).argmax(dim, keepdim)


def argmin(input, dim=None, keepdim=False) -> Tensor:
    """The index of the smallest value of ``input`` (flattened when ``dim`` is None), as
    torch.argmin; int64.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int, optional): the dim to reduce; ``None`` reduces all dims. Default: ``None``.
        keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.
    """
    return _t(input).argmin(dim, keepdim)


def max(input, dim=None, keepdim=False):
    """``max(x)`` (0-d), ``max(x, dim, keepdim=False)`` -> ``(values, indices)``, or
    ``max(x, other)`` (elementwise), as torch.max.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int or Tensor, optional): the dim to reduce (values and indices), or a tensor
            ``other`` for the elementwise maximum. Default: ``None``.
        keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.

    Example::

        >>> values, indices = rnnfast.max(rnnfast.tensor([[1, 5], [7, 2]]), dim=1)
        >>> values.tolist(), indices.tolist()
        ([5, 7], [1, 0])
    """
    return _t(input).max(dim, keepdim)


def min(input, dim=None, keepdim=False):
    """As ``max``, for the minimum.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int or Tensor, optional): the dim to reduce, or ``other`` (elementwise). Default:
            ``None``.
        keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.
    """
    return _t(input).min(dim, keepdim)


def amax(input, dim=None, keepdim=False) -> Tensor:
    """The largest values over ``dim`` (without indices), as torch.amax.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int or tuple of ints, optional): the dims to reduce; ``None`` for all.
        keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.
    """
    return _t(input).amax(dim, keepdim)


def amin(input, dim=None, keepdim=False) -> Tensor:
    """The smallest values over ``dim`` (without indices), as torch.amin.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int or tuple of ints, optional): the dims to reduce; ``None`` for all.
        keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.
    """
    return _t(input).amin(dim, keepdim)


def maximum(input, other) -> Tensor:
    """The elementwise maximum of ``input`` and ``other`` (broadcast).

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        other (Tensor, array or number): the second operand, broadcast with ``input``.
    """
    return _t(input).maximum(other)


def minimum(input, other) -> Tensor:
    """The elementwise minimum of ``input`` and ``other`` (broadcast).

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        other (Tensor, array or number): the second operand, broadcast with ``input``.
    """
    return _t(input).minimum(other)


def sum(input, dim=None, keepdim=False, *, dtype=None) -> Tensor:
    """The sum over ``dim`` (all elements when None), as torch.sum.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int or tuple of ints, optional): the dims to reduce. Default: ``None``.
        keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.
        dtype (dtype, optional, keyword-only): cast ``input`` to it first. Default: ``None``.

    Example::

        >>> rnnfast.sum(rnnfast.tensor([[1, 2], [3, 4]]), dim=0).tolist()
        [4, 6]
    """
    x = _t(input)
    return (x if dtype is None else x.to(dtype)).sum(dim, keepdim)


def mean(input, dim=None, keepdim=False, *, dtype=None) -> Tensor:
    """The mean over ``dim`` (all elements when None), as torch.mean.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int or tuple of ints, optional): the dims to reduce. Default: ``None``.
        keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.
        dtype (dtype, optional, keyword-only): cast ``input`` to it first. Default: ``None``.
    """
    x = _t(input)
    return (x if dtype is None else x.to(dtype)).mean(dim, keepdim)


def softmax(input, dim, dtype=None) -> Tensor:
    """Softmax along ``dim`` (differentiable), as torch.softmax.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int): the dim along which the results sum to 1.
        dtype (dtype, optional): cast ``input`` to it first. Default: ``None``.
    """
    x = _t(input)
    return (x if dtype is None else x.to(dtype)).softmax(dim)


def log_softmax(input, dim, dtype=None) -> Tensor:
    """log(softmax) along ``dim``, computed stably, as torch.log_softmax.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int): the dim of the softmax.
        dtype (dtype, optional): cast ``input`` to it first. Default: ``None``.
    """
    x = _t(input)
    return (x if dtype is None else x.to(dtype)).log_softmax(dim)


def topk(input, k, dim=-1, largest=True, sorted=True):
    """The ``k`` largest (``largest=False``: smallest) entries along ``dim`` as a named
    tuple ``(values, indices)``, as torch.topk.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        k (int): how many, in [0, size of ``dim``].
        dim (int, optional): the dim. Default: -1.
        largest (bool, optional): the largest (else the smallest). Default: ``True``.
        sorted (bool, optional): in order. Default: ``True``.

    Example::

        >>> rnnfast.topk(rnnfast.tensor([3, 1, 4, 1, 5]), 2).indices.tolist()
        [4, 2]
    """
    return _t(input).topk(k, dim, largest, sorted)


def sort(input, dim=-1, descending=False, stable=False):
    """Sorted values and the indices they came from, ``(values, indices)``, as torch.sort
    (stable order).

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int, optional): the dim to sort. Default: -1.
        descending (bool, optional): largest first. Default: ``False``.
        stable (bool, optional): accepted; the sort is always stable. Default: ``False``.
    """
    return _t(input).sort(dim, descending, stable)


def argsort(input, dim=-1, descending=False, stable=False) -> Tensor:
    """The indices that sort ``input`` along ``dim``, as torch.argsort (stable).

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int, optional): the dim to sort. Default: -1.
        descending (bool, optional): largest first. Default: ``False``.
        stable (bool, optional): accepted; the sort is always stable. Default: ``False``.
    """
    return _t(input).argsort(dim, descending, stable)


def exp(input) -> Tensor:
    """Elementwise e^x, as torch.exp.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).

    Example::

        >>> rnnfast.exp(rnnfast.tensor([0.0])).tolist()
        [1.0]
    """
    return _t(input).exp()


def log(input) -> Tensor:
    """Elementwise the natural logarithm, as torch.log.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
    """
    return _t(input).log()


def sqrt(input) -> Tensor:
    """Elementwise the square root, as torch.sqrt.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
    """
    return _t(input).sqrt()


def abs(input) -> Tensor:
    """Elementwise the absolute value, as torch.abs.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
    """
    return _t(input).abs()


def tanh(input) -> Tensor:
    """Elementwise the hyperbolic tangent, as torch.tanh.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
    """
    return _t(input).tanh()


def sigmoid(input) -> Tensor:
    """Elementwise the logistic sigmoid 1 / (1 + e^-x), as torch.sigmoid.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
    """
    return _t(input).sigmoid()


def relu(input) -> Tensor:
    """Elementwise max(0, x), as torch.relu.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
    """
    return _t(input).relu()


def clamp(input, min=None, max=None) -> Tensor:
    """Each element clamped to [min, max] (``clip`` is an alias), as torch.clamp.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        min (number or Tensor, optional): the lower bound. Default: ``None``.
        max (number or Tensor, optional): the upper bound. Default: ``None``.

    Example::

        >>> rnnfast.clamp(rnnfast.tensor([-2.0, 0.5, 3.0]), -1, 1).tolist()
        [-1.0, 0.5, 1.0]
    """
    return _t(input).clamp(min, max)


clip = clamp


def pow(input, exponent) -> Tensor:
    """``input ** exponent`` elementwise (broadcast), as torch.pow.

    Args:
        input (Tensor or number): the base.
        exponent (Tensor or number): the exponent.
    """
    if isinstance(input, Tensor):
        return input ** exponent
    return _t(exponent, "exponent").__rpow__(input)


def square(input) -> Tensor:
    """Elementwise x * x, as torch.square.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
    """
    return _t(input).square()


def round(input) -> Tensor:
    """Elementwise rounding half to even, as torch.round.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
    """
    return _t(input).round()


def floor(input) -> Tensor:
    """Elementwise the largest integer <= x, as torch.floor.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
    """
    return _t(input).floor()


def ceil(input) -> Tensor:
    """Elementwise the smallest integer >= x, as torch.ceil.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
    """
    return _t(input).ceil()


def sign(input) -> Tensor:
    """Elementwise -1, 0 or 1, as torch.sign.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
    """
    return _t(input).sign()


def var(input, dim=None, unbiased=True, keepdim=False, *, correction=None) -> Tensor:
    """The variance over ``dim`` (all dims when None) with Bessel's correction by default,
    as torch.var; float inputs only.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int or tuple of ints, optional): the dims to reduce. Default: ``None``.
        unbiased (bool, optional): divide by N - 1 (else N). Default: ``True``.
        keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.
        correction (int, optional, keyword-only): divide by N - correction; overrides
            ``unbiased`` when given. Default: ``None``.
    """
    return _t(input).var(dim, unbiased, keepdim, correction=correction)


def std(input, dim=None, unbiased=True, keepdim=False, *, correction=None) -> Tensor:
    """The standard deviation, the square root of ``var`` with the same arguments.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int or tuple of ints, optional): the dims to reduce. Default: ``None``.
        unbiased (bool, optional): divide by N - 1 (else N). Default: ``True``.
        keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.
        correction (int, optional, keyword-only): divide by N - correction; overrides
            ``unbiased`` when given. Default: ``None``.
    """
    return _t(input).std(dim, unbiased, keepdim, correction=correction)


def norm(input, p="fro", dim=None, keepdim=False) -> Tensor:
    """The ``p``-norm over ``dim`` (all entries when None), as torch.norm.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        p (number >= 1 or 'fro', optional): the order; 'fro' is 2. Default: 'fro'.
        dim (int or tuple of ints, optional): the dims to reduce. Default: ``None``.
        keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.

    Example::

        >>> rnnfast.norm(rnnfast.tensor([3.0, 4.0])).item()
        5.0
    """
    return _t(input).norm(p, dim, keepdim)


def flatten(input, start_dim=0, end_dim=-1) -> Tensor:
    """Dims ``start_dim`` .. ``end_dim`` flattened into one, as torch.flatten.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        start_dim (int, optional): the first dim to flatten. Default: 0.
        end_dim (int, optional): the last dim to flatten. Default: -1.
    """
    return _t(input).flatten(start_dim, end_dim)


def transpose(input, dim0, dim1) -> Tensor:
    """``input`` with dims ``dim0`` and ``dim1`` swapped (a view), as torch.transpose.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim0 (int): the first dim.
        dim1 (int): the second dim.
    """
    return _t(input).transpose(dim0, dim1)


def reshape(input, shape) -> Tensor:
    """``input`` with a new ``shape`` of as many elements, as torch.reshape.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        shape (tuple of ints): the new shape; one entry may be -1 (inferred).
    """
    return _t(input).reshape(shape)


def squeeze(input, dim=None) -> Tensor:
    """``input`` without its dims of size 1 (only ``dim``'s if given), as torch.squeeze.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int or tuple of ints, optional): the dims to remove if of size 1. Default:
            ``None`` (all).
    """
    return _t(input).squeeze(dim)


def unsqueeze(input, dim) -> Tensor:
    """``input`` with a new dim of size 1 at ``dim``, as torch.unsqueeze.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int): the position of the new dim.
    """
    return _t(input).unsqueeze(dim)


def permute(input, dims) -> Tensor:
    """``input`` with its dims reordered to ``dims``, as torch.permute.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dims (tuple of ints): a permutation of the dims.
    """
    return _t(input).permute(dims)


def t(input) -> Tensor:
    """The transpose of a matrix (0-D and 1-D inputs unchanged), as torch.t.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
    """
    return _t(input).t()


def matmul(input, other) -> Tensor:
    """The matrix product ``input @ other`` with NumPy's / torch's broadcasting rules.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        other (Tensor, array or number): the second operand, broadcast with ``input``.

    Example::

        >>> rnnfast.matmul(rnnfast.ones(2, 3), rnnfast.ones(3, 4)).shape
        (2, 4)
    """
    return _t(input) @ other


def mm(input, mat2) -> Tensor:
    """The product of two matrices, (n, m) @ (m, p), as torch.mm.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        mat2 (Tensor): the second matrix.
    """
    return _t(input).mm(mat2)


def bmm(input, mat2) -> Tensor:
    """Batched matrix products, (b, n, m) @ (b, m, p), as torch.bmm.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        mat2 (Tensor): the second batch of matrices.
    """
    return _t(input).bmm(mat2)


def cumsum(input, dim) -> Tensor:
    """The cumulative sum along ``dim``, as torch.cumsum.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int): the dim to sum along.
    """
    return _t(input).cumsum(dim)


def index_select(input, dim, index) -> Tensor:
    """The entries of ``input`` at ``index`` along ``dim``, as torch.index_select.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int): the dim to index.
        index (1-D integer Tensor or array): the indices.
    """
    return _t(input).index_select(dim, index)


def gather(input, dim, index) -> Tensor:
    """Values of ``input`` along ``dim`` at ``index`` (out[i][j] = input[index[i][j]][j] for
    dim 0), as torch.gather.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int): the dim to index.
        index (integer Tensor or array): the indices, with ``input``'s number of dims.
    """
    return _t(input).gather(dim, index)


def masked_fill(input, mask, value) -> Tensor:
    """``input`` with ``value`` where ``mask`` is True (broadcast), as torch.masked_fill.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        mask (bool Tensor or array): where to fill.
        value (number): the fill value.
    """
    return _t(input).masked_fill(mask, value)


def chunk(input, chunks, dim=0):
    """``input`` split into ``chunks`` pieces along ``dim`` (the last may be smaller), as
    torch.chunk.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        chunks (int): the number of pieces, >= 1.
        dim (int, optional): the dim to split. Default: 0.
    """
    return _t(input).chunk(chunks, dim)


def split(tensor, split_size_or_sections, dim=0):
    """``tensor`` split into pieces of ``split_size_or_sections`` along ``dim`` (the last may be
    smaller), or of the given sizes for a list, as torch.split.

    Args:
        tensor (Tensor or array): the input.
        split_size_or_sections (int or list of ints): the piece size, or the sizes (adding up
            to the size of ``dim``).
        dim (int, optional): the dim to split. Default: 0.

    Example::

        >>> [p.tolist() for p in rnnfast.split(rnnfast.arange(5), 2)]
        [[0, 1], [2, 3], [4]]
    """
    return _t(tensor, "tensor").split(split_size_or_sections, dim)


def narrow(input, dim, start, length) -> Tensor:
    """``length`` entries of ``input`` from ``start`` along ``dim`` (a view), as torch.narrow.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int): the dim.
        start (int): the first index.
        length (int): how many.
    """
    return _t(input).narrow(dim, start, length)


def eq(input, other) -> Tensor:
    """``input == other`` elementwise (broadcast), a bool tensor, as torch.eq.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        other (Tensor, array or number): the second operand, broadcast with ``input``.
    """
    return _t(input) == other


def ne(input, other) -> Tensor:
    """``input != other`` elementwise (broadcast), a bool tensor, as torch.ne.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        other (Tensor, array or number): the second operand, broadcast with ``input``.
    """
    return _t(input) != other


def lt(input, other) -> Tensor:
    """``input < other`` elementwise (broadcast), a bool tensor, as torch.lt.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        other (Tensor, array or number): the second operand, broadcast with ``input``.
    """
    return _t(input) < other


def le(input, other) -> Tensor:
    """``input <= other`` elementwise (broadcast), a bool tensor, as torch.le.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        other (Tensor, array or number): the second operand, broadcast with ``input``.
    """
    return _t(input) <= other


def gt(input, other) -> Tensor:
    """``input > other`` elementwise (broadcast), a bool tensor, as torch.gt.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        other (Tensor, array or number): the second operand, broadcast with ``input``.
    """
    return _t(input) > other


def ge(input, other) -> Tensor:
    """``input >= other`` elementwise (broadcast), a bool tensor, as torch.ge.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        other (Tensor, array or number): the second operand, broadcast with ``input``.
    """
    return _t(input) >= other


def all(input, dim=None, keepdim=False) -> Tensor:
    """Whether all elements are true (over ``dim`` if given), as torch.all.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int, optional): the dim to reduce; ``None`` reduces all dims. Default: ``None``.
        keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.
    """
    return _t(input).all(dim, keepdim)


def any(input, dim=None, keepdim=False) -> Tensor:
    """Whether any element is true (over ``dim`` if given), as torch.any.

    Args:
        input (Tensor, array or number): the input (converted as ``rnnfast.as_tensor``).
        dim (int, optional): the dim to reduce; ``None`` reduces all dims. Default: ``None``.
        keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.
    """
    return _t(input).any(dim, keepdim)


def concat(tensors, dim=0) -> Tensor:
    """Alias of ``rnnfast.cat`` (also ``concatenate``).

    Args:
        tensors (list or tuple of Tensors): the tensors.
        dim (int, optional): the dim to concatenate along. Default: 0.
    """
    return _cat(tensors, dim)


concatenate = concat
