"""A small reverse-mode autograd over NumPy arrays (micrograd-style closures).

A ``Tensor`` wraps one ``np.ndarray`` (``.data``). Every differentiable op builds its result
with ``_make(data, parents, backward)``: ``backward`` is a closure that maps the gradient of
the result to one gradient (or None) per parent. ``Tensor.backward()`` walks the graph in
reverse topological order, accumulates into the leaves' ``.grad`` (NumPy arrays) and then frees
the closures unless ``retain_graph=True``. A recurrent layer is a single node whose closure
calls the C++ BPTT once (see ``rnnfast.nn``).

Deliberately left out: in-place ops on tensors, higher-order gradients (``create_graph``),
hooks, devices. Shape and dtype rules follow NumPy; the default float dtype is float32, as in
PyTorch.

Note: ``rnnfast.tensor`` (the package attribute) is the factory function, as in PyTorch; this
module's other names are reached with ``from rnnfast.tensor import ...``.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

__all__ = [
    "Tensor", "as_tensor", "cat", "default_generator", "enable_grad", "is_grad_enabled",
    "manual_seed", "no_grad", "stack", "tensor", "unbroadcast", "where",
]

DEFAULT_FLOAT = np.dtype(np.float32)

# ----------------------------------------------------------------------------------------------
# Grad mode (thread-local, like torch) and the global random generator.

_state = threading.local()


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad()`` (per thread)."""
    return getattr(_state, "enabled", True)


class _GradMode:
    _mode = True

    def __enter__(self):
        self._prev = is_grad_enabled()
        _state.enabled = self._mode
        return self

    def __exit__(self, *exc):
        _state.enabled = self._prev
        return False

    def __call__(self, fn):
        """Use as a decorator: ``fn`` runs in this grad mode."""
        mode_cls = type(self)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with mode_cls():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Context manager and decorator: ops inside record no history (results need no grad)."""

    _mode = False


class enable_grad(_GradMode):
    """Context manager and decorator: re-enables history recording inside ``no_grad``."""

    _mode = True


# One generator for everything random in rnnfast (parameter init, dropout). manual_seed resets
# its state in place, so holding a reference to it is safe.
_GENERATOR = np.random.Generator(np.random.PCG64())


def default_generator() -> np.random.Generator:
    """The global ``np.random.Generator`` used by parameter init and dropout."""
    return _GENERATOR


def manual_seed(seed) -> np.random.Generator:
    """Seed the global generator (like ``torch.manual_seed``); returns it."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed: expected a non-negative int, got {seed}")
    _GENERATOR.bit_generator.state = np.random.PCG64(seed).state
    return _GENERATOR


# ----------------------------------------------------------------------------------------------
# Conversion helpers.


def _check_dtype(dt: np.dtype, name: str) -> np.dtype:
    if dt.kind not in "biuf":
        what = "complex" if dt.kind == "c" else "non-numeric"
        raise TypeError(f"{name}: expected numeric data (bool, int or float), got {what} "
                        f"dtype {dt}")
    return dt


def _to_array(x, dtype=None, name="data", copy=False) -> np.ndarray:
    """NumPy array from numbers, sequences and arrays with rnnfast's dtype rules."""
    if dtype is not None:
        dtype = _check_dtype(np.dtype(dtype), "dtype")
    if isinstance(x, Tensor):
        arr = x.data
    elif isinstance(x, (np.ndarray, np.generic)):
        arr = np.asarray(x)
    else:
        if hasattr(x, "__array__") or hasattr(x, "__array_interface__"):
            arr = np.asarray(x)       # foreign arrays (e.g. torch CPU tensors): keep their dtype
        else:
            try:
                arr = np.asarray(x)
            except (ValueError, TypeError) as e:
                raise ValueError(f"{name}: cannot convert {type(x).__name__} to an array: {e}") \
                    from None
            if arr.dtype.kind == "f" and dtype is None:
                arr = arr.astype(DEFAULT_FLOAT)     # Python floats -> float32, as in torch
            elif arr.dtype.kind in "iu" and dtype is None:
                arr = arr.astype(np.int64, copy=False)
    _check_dtype(arr.dtype, name)
    if dtype is not None and arr.dtype != dtype:
        return arr.astype(dtype)
    return arr.copy() if copy else arr


def _is_float(dt) -> bool:
    return np.dtype(dt).kind == "f"


def as_tensor(x, dtype=None, *, name="data") -> Tensor:
    """A Tensor passes through unchanged (whatever ``dtype`` says); arrays, sequences and numbers
    are wrapped without history (no copy when possible) and cast to ``dtype`` if given.
    Non-numeric data raises TypeError naming ``name``."""
    if isinstance(x, Tensor):
        return x
    return _wrap(_to_array(x, dtype, name))


def unbroadcast(grad: np.ndarray, shape) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched, to get ``shape``."""
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise ValueError(f"unbroadcast: gradient of shape {grad.shape} has fewer dims than {shape}")
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, s in enumerate(shape) if s == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    if grad.shape != shape:
        raise ValueError(f"unbroadcast: gradient of shape {grad.shape} does not reduce to {shape}")
    return grad


class _Node:
    """History of one non-leaf tensor: its parents and the closure computing their grads."""

    __slots__ = ("parents", "fn", "name")

    def __init__(self, parents, fn, name):
        self.parents = parents
        self.fn = fn
        self.name = name


def _wrap(data: np.ndarray, requires_grad=False, cls=None) -> Tensor:
    t = object.__new__(cls or Tensor)
    t.data = data
    t._grad = None
    t._requires_grad = requires_grad
    t._node = None
    return t


def _make(data, parents: tuple, backward, *, name=None) -> Tensor:
    """Result of a differentiable op. If grad mode is on and any parent requires grad, the
    result requires grad and records ``backward``, a function grad_out (np.ndarray, the result's
    shape and dtype; never modify it in place) -> tuple of np.ndarray-or-None, one per parent
    (None = no gradient for that parent). Otherwise a plain tensor without history.
    Results of non-float dtype never record history."""
    if not isinstance(data, np.ndarray):
        data = np.asarray(data)
    out = _wrap(data)
    if (data.dtype.kind == "f" and is_grad_enabled()
            and any(isinstance(p, Tensor) and p._requires_grad for p in parents)):
        out._requires_grad = True
        out._node = _Node(tuple(parents), backward, name or getattr(backward, "__qualname__", ""))
    return out


def _norm_dim(dim, ndim, name="dim"):
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(dim).__name__}")
    lo = -max(ndim, 1)
    if not lo <= dim < max(ndim, 1):
        raise IndexError(f"{name}: {dim} is out of range for a tensor with {ndim} dims "
                         f"(expected [{lo}, {max(ndim, 1) - 1}])")
    return int(dim) % max(ndim, 1)


def _norm_dims(dim, ndim):
    """dim None|int|sequence -> tuple of non-negative axes, or None for all."""
    if dim is None:
        return None
    if isinstance(dim, (tuple, list)):
        axes = tuple(_norm_dim(d, ndim) for d in dim)
        if len(set(axes)) != len(axes):
            raise ValueError(f"dim: repeated dims in {tuple(dim)}")
        return axes
    return (_norm_dim(dim, ndim),)


def _expand_reduced(g, shape, axes, keepdim):
    """Broadcast the gradient of a reduction back to the input's shape."""
    if axes is None:
        axes = tuple(range(len(shape)))
    if not keepdim and axes:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


def _stable_sigmoid(x):
    e = np.exp(-np.abs(x))          # in (0, 1]: never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def _index_data(idx):
    if isinstance(idx, Tensor):
        return idx.data
    if isinstance(idx, tuple):
        return tuple(_index_data(i) for i in idx)
    if isinstance(idx, list):
        return [_index_data(i) for i in idx]
    return idx


def _is_basic_index(idx):
    items = idx if isinstance(idx, tuple) else (idx,)
    return all(i is None or i is Ellipsis or isinstance(i, slice)
               or (isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_)))
               for i in items)


# ----------------------------------------------------------------------------------------------
# Tensor.


class Tensor:
    """An ``np.ndarray`` (``.data``) with optional gradient tracking.

    ``Tensor(data, dtype=None, requires_grad=False)`` is the same as ``rnnfast.tensor(...)``:
    it copies ``data``; Python floats become float32, NumPy arrays keep their dtype, Python
    ints become int64. Only float tensors can require grad.
    """

    __array_priority__ = 1000      # ndarray (op) Tensor defers to Tensor's reflected ops
    __hash__ = object.__hash__     # == is elementwise, hashing is by identity

    def __init__(self, data, dtype=None, requires_grad=False):
        self.data = _to_array(data, dtype, "data", copy=True)
        self._grad = None
        self._requires_grad = False
        self._node = None
        self.requires_grad = requires_grad

    # -- attributes -------------------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    def dim(self):
        return self.data.ndim

    def size(self, dim=None):
        """The shape (a tuple), or its length along ``dim``, as ``torch.Tensor.size``."""
        if dim is None:
            return self.data.shape
        return self.data.shape[_norm_dim(dim, self.ndim)]

    def numel(self):
        return int(self.data.size)

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        flag = bool(flag)
        if self._node is not None:
            if not flag:
                raise RuntimeError("requires_grad can only be changed on leaf tensors; "
                                   "use .detach() to get a tensor without history")
            return
        if flag and not _is_float(self.dtype):
            raise RuntimeError(f"only tensors of floating point dtype can require gradients, "
                               f"got dtype {self.dtype}")
        self._requires_grad = flag

    def requires_grad_(self, flag=True):
        self.requires_grad = flag
        return self

    @property
    def is_leaf(self):
        return self._node is None

    @property
    def grad_fn(self):
        """Name of the op that made this tensor (None for leaves)."""
        return None if self._node is None else self._node.name

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is None:
            self._grad = None
            return
        arr = value.data if isinstance(value, Tensor) else np.asarray(value)
        if arr.shape != self.shape:
            raise RuntimeError(f"assigned grad has shape {arr.shape}, expected {self.shape}")
        self._grad = arr if arr.dtype == self.dtype else arr.astype(self.dtype)

    def numpy(self):
        """The underlying array (shares memory, as ``torch.Tensor.numpy``)."""
        return self.data

    def __array__(self, dtype=None, copy=None):
        arr = self.data
        if dtype is not None and np.dtype(dtype) != arr.dtype:
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted to a Python "
                             f"scalar, this one has {self.data.size} elements")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        return bool(self.data)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    def __repr__(self):
        extras = []
        if self.dtype not in (DEFAULT_FLOAT, np.dtype(np.int64), np.dtype(bool)):
            extras.append(f"dtype={self.dtype}")
        if self._node is not None:
            extras.append(f"grad_fn=<{self._node.name}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        prefix = "tensor("
        body = np.array2string(self.data, separator=", ", prefix=prefix)
        return prefix + body + "".join(", " + e for e in extras) + ")"

    def detach(self):
        """Same data (shared), no history, no grad."""
        return _wrap(self.data)

    def clone(self):
        return _make(self.data.copy(), (self,), lambda g: (g,), name="CloneBackward")

    # -- dtype -------------------------------------------------------------------------------
    def to(self, dtype):
        """Differentiable cast (returns ``self`` if the dtype already matches)."""
        dtype = _check_dtype(np.dtype(dtype), "dtype")
        if dtype == self.dtype:
            return self
        src = self.dtype
        return _make(self.data.astype(dtype), (self,), lambda g: (g.astype(src),),
                     name="ToCopyBackward")

    astype = to

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def long(self):
        return self.to(np.int64)

    # -- backward ----------------------------------------------------------------------------
    def backward(self, grad=None, retain_graph=False):
        """Accumulate d(self)/d(leaf) * grad into every leaf's ``.grad``.

        ``grad`` defaults to ones for one-element outputs. The graph is freed afterwards unless
        ``retain_graph``; a second backward through a freed graph raises RuntimeError."""
        if not self._requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have "
                               "a grad_fn")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            grad = np.ones_like(self.data)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad)
            if grad.shape != self.shape:
                raise RuntimeError(f"Mismatch in shape: grad has a shape of {grad.shape} and "
                                   f"output has a shape of {self.shape}")
            grad = grad.astype(self.dtype, copy=False)

        # Reverse topological order by an iterative DFS (graphs of unrolled loops are deep).
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            t, done = stack.pop()
            if done:
                order.append(t)
                continue
            if id(t) in seen:
                continue
            seen.add(id(t))
            stack.append((t, True))
            node = t._node
            if node is None:
                continue
            if node.fn is None:
                raise RuntimeError(
                    "Trying to backward through the graph a second time (or directly access "
                    "saved tensors after they have already been freed). Saved intermediate "
                    "values of the graph are freed when you call .backward(). Specify "
                    "retain_graph=True if you need to backward through the graph a second time.")
            for p in node.parents:
                if isinstance(p, Tensor) and p._requires_grad and id(p) not in seen:
                    stack.append((p, False))

        grads = {id(self): grad}
        for t in reversed(order):
            g = grads.pop(id(t), None)
            if g is None:
                continue
            node = t._node
            if node is None:
                if t._grad is None:
                    t._grad = np.array(g, dtype=t.dtype, copy=True)
                else:
                    t._grad += g
                continue
            if not g.flags.c_contiguous:
                g = np.ascontiguousarray(g)     # hand closures plain arrays, never views
            pgrads = node.fn(g)
            if not isinstance(pgrads, (tuple, list)) or len(pgrads) != len(node.parents):
                raise RuntimeError(f"backward of {node.name} returned {type(pgrads).__name__} "
                                   f"instead of one gradient per parent ({len(node.parents)})")
            for p, pg in zip(node.parents, pgrads):
                if pg is None or not isinstance(p, Tensor) or not p._requires_grad:
                    continue
                pg = np.asarray(pg)
                if pg.shape != p.shape:
                    raise RuntimeError(f"backward of {node.name} returned a gradient of shape "
                                       f"{pg.shape} for a parent of shape {p.shape}")
                if pg.dtype != p.dtype:
                    pg = pg.astype(p.dtype)
                k = id(p)
                grads[k] = pg if k not in grads else grads[k] + pg
            if not retain_graph:
                node.fn = None
                node.parents = ()

    # -- elementwise arithmetic --------------------------------------------------------------
    def _operand(self, other):
        """Other operand as a Tensor. Python and NumPy scalars are 'weak' as in torch: they take
        this tensor's dtype, except with integer or bool tensors, where a float scalar promotes
        as in NumPy (to float64) and an int scalar with a bool tensor gives int64."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, np.generic):
            _check_dtype(other.dtype, "other")
            other = other.item()
        if isinstance(other, (bool, int, float)):
            sd = self.dtype
            if isinstance(other, bool):
                dt = sd
            elif isinstance(other, int):
                dt = np.dtype(np.int64) if sd == np.bool_ else sd
            else:
                dt = sd if _is_float(sd) else np.dtype(np.float64)
            return _wrap(np.asarray(other, dtype=dt))
        return as_tensor(other, name="other")

    def __add__(self, other):
        o = self._operand(other)
        a, b = self, o

        def backward(g):
            return (unbroadcast(g, a.shape) if a._requires_grad else None,
                    unbroadcast(g, b.shape) if b._requires_grad else None)
        return _make(a.data + b.data, (a, b), backward, name="AddBackward")

    def __radd__(self, other):
        return self._operand(other).__add__(self)

    def __sub__(self, other):
        o = self._operand(other)
        a, b = self, o

        def backward(g):
            return (unbroadcast(g, a.shape) if a._requires_grad else None,
                    unbroadcast(-g, b.shape) if b._requires_grad else None)
        return _make(a.data - b.data, (a, b), backward, name="SubBackward")

    def __rsub__(self, other):
        return self._operand(other).__sub__(self)

    def __mul__(self, other):
        o = self._operand(other)
        a, b = self, o

        def backward(g):
            return (unbroadcast(g * b.data, a.shape) if a._requires_grad else None,
                    unbroadcast(g * a.data, b.shape) if b._requires_grad else None)
        return _make(a.data * b.data, (a, b), backward, name="MulBackward")

    def __rmul__(self, other):
        return self._operand(other).__mul__(self)

    def __truediv__(self, other):
        o = self._operand(other)
        a, b = self, o

        def backward(g):
            return (unbroadcast(g / b.data, a.shape) if a._requires_grad else None,
                    unbroadcast(-g * a.data / (b.data * b.data), b.shape)
                    if b._requires_grad else None)
        return _make(a.data / b.data, (a, b), backward, name="DivBackward")

    def __rtruediv__(self, other):
        return self._operand(other).__truediv__(self)

    def __neg__(self):
        return _make(-self.data, (self,), lambda g: (-g,), name="NegBackward")

    def __pos__(self):
        return self

    def __pow__(self, other):
        a = self
        if isinstance(other, (int, float, np.integer, np.floating)) and \
                not isinstance(other, (bool, np.ndarray)):
            p = other.item() if isinstance(other, np.generic) else other
            out = a.data ** p

            def backward_scalar(g):
                return (g * p * a.data ** (p - 1) if p != 0 else np.zeros_like(g),)
            return _make(out, (a,), backward_scalar, name="PowBackward0")
        b = self._operand(other)
        out = a.data ** b.data

        def backward(g):
            ga = gb = None
            if a._requires_grad:
                ga = unbroadcast(g * b.data * a.data ** (b.data - 1), a.shape)
            if b._requires_grad:
                with np.errstate(divide="ignore", invalid="ignore"):
                    logs = np.log(a.data)
                # d(a**b)/db = a**b log a; torch defines it as 0 where a == 0 and b >= 0
                gb = np.where((a.data == 0) & (b.data >= 0), 0, g * out * logs)
                gb = unbroadcast(gb, b.shape)
            return ga, gb
        return _make(out, (a, b), backward, name="PowBackward1")

    def __rpow__(self, other):
        return self._operand(other).__pow__(self)

    def __matmul__(self, other):
        b = self._operand(other)
        a = self
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least 1 dim, got shapes {a.shape} "
                             f"and {b.shape}")
        out = a.data @ b.data

        def backward(g):
            # Promote 1-D operands to matrices (row for a, column for b) as numpy does, then
            # undo the promotion and any batch broadcasting.
            a2 = a.data if a.ndim > 1 else a.data[None, :]
            b2 = b.data if b.ndim > 1 else b.data[:, None]
            g2 = g if b.ndim > 1 else g[..., None]
            if a.ndim == 1:
                g2 = np.expand_dims(g2, -2)
            ga = gb = None
            if a._requires_grad:
                ga = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
            if b._requires_grad:
                gb = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
            return ga, gb
        return _make(out, (a, b), backward, name="MmBackward")

    def __rmatmul__(self, other):
        return self._operand(other).__matmul__(self)

    # -- comparisons and logic (no gradient) -------------------------------------------------
    def _compare(self, other, op):
        o = other.data if isinstance(other, Tensor) else other
        return _wrap(np.asarray(op(self.data, o)))

    def __lt__(self, other):
        return self._compare(other, np.less)

    def __le__(self, other):
        return self._compare(other, np.less_equal)

    def __gt__(self, other):
        return self._compare(other, np.greater)

    def __ge__(self, other):
        return self._compare(other, np.greater_equal)

    def __eq__(self, other):
        return self._compare(other, np.equal)

    def __ne__(self, other):
        return self._compare(other, np.not_equal)

    def __invert__(self):
        return _wrap(np.asarray(~self.data))

    def __and__(self, other):
        return self._compare(other, np.bitwise_and)

    def __or__(self, other):
        return self._compare(other, np.bitwise_or)

    def __xor__(self, other):
        return self._compare(other, np.bitwise_xor)

    # -- indexing and shape ------------------------------------------------------------------
    def __getitem__(self, idx):
        idx = _index_data(idx)
        shape, basic = self.shape, _is_basic_index(idx)
        out = self.data[idx]

        def backward(g):
            full = np.zeros(shape, dtype=g.dtype)
            if basic:
                full[idx] = g               # a basic index selects every element at most once
            else:
                np.add.at(full, idx, g)     # repeated integer indices accumulate
            return (full,)
        return _make(out, (self,), backward, name="IndexBackward")

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        src = self.shape
        return _make(self.data.reshape(shape), (self,), lambda g: (g.reshape(src),),
                     name="ReshapeBackward")

    view = reshape

    def transpose(self, dim0, dim1):
        d0, d1 = _norm_dim(dim0, self.ndim, "dim0"), _norm_dim(dim1, self.ndim, "dim1")
        return _make(np.swapaxes(self.data, d0, d1), (self,),
                     lambda g: (np.swapaxes(g, d0, d1),), name="TransposeBackward")

    def permute(self, *dims):
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        axes = tuple(_norm_dim(d, self.ndim, "dims") for d in dims)
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"dims: {dims} is not a permutation of the {self.ndim} dims")
        inv = tuple(np.argsort(axes))
        return _make(np.transpose(self.data, axes), (self,), lambda g: (np.transpose(g, inv),),
                     name="PermuteBackward")

    @property
    def T(self):
        """All dims reversed (NumPy's ``.T``)."""
        return self.permute(*reversed(range(self.ndim)))

    def squeeze(self, dim=None):
        if dim is None:
            axes = tuple(i for i, s in enumerate(self.shape) if s == 1)
        else:
            axes = tuple(a for a in _norm_dims(dim, self.ndim) if self.shape[a] == 1)
        src = self.shape
        return _make(np.squeeze(self.data, axes), (self,), lambda g: (g.reshape(src),),
                     name="SqueezeBackward")

    def unsqueeze(self, dim):
        d = _norm_dim(dim, self.ndim + 1)
        src = self.shape
        return _make(np.expand_dims(self.data, d), (self,), lambda g: (g.reshape(src),),
                     name="UnsqueezeBackward")

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            return self.reshape(1)
        s, e = _norm_dim(start_dim, self.ndim, "start_dim"), _norm_dim(end_dim, self.ndim,
                                                                       "end_dim")
        if s > e:
            raise ValueError(f"flatten: start_dim ({start_dim}) comes after end_dim ({end_dim})")
        shape = self.shape[:s] + (int(np.prod(self.shape[s:e + 1])),) + self.shape[e + 1:]
        return self.reshape(shape)

    def expand(self, *shape):
        """Broadcast to ``shape`` (-1 keeps a dim), a read-only view as in NumPy."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        lead = len(shape) - self.ndim
        shape = tuple(self.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
        src = self.shape
        return _make(np.broadcast_to(self.data, shape), (self,),
                     lambda g: (unbroadcast(g, src),), name="ExpandBackward")

    def chunk(self, chunks, dim=0):
        """Split into ``chunks`` pieces along ``dim`` (the last one may be smaller)."""
        d = _norm_dim(dim, self.ndim)
        if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks < 1:
            raise ValueError(f"chunks: expected an int >= 1, got {chunks!r}")
        n = self.shape[d]
        step = -(-n // chunks)
        pre = (slice(None),) * d
        return tuple(self[pre + (slice(i, i + step),)] for i in range(0, n, step))

    # -- reductions --------------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False):
        axes, shape = _norm_dims(dim, self.ndim), self.shape
        return _make(np.sum(self.data, axis=axes, keepdims=keepdim), (self,),
                     lambda g: (_expand_reduced(g, shape, axes, keepdim),), name="SumBackward")

    def mean(self, dim=None, keepdim=False):
        axes, shape = _norm_dims(dim, self.ndim), self.shape
        count = self.data.size if axes is None else int(np.prod([shape[a] for a in axes]))
        return _make(np.mean(self.data, axis=axes, keepdims=keepdim), (self,),
                     lambda g: (_expand_reduced(g / count, shape, axes, keepdim),),
                     name="MeanBackward")

    def _extreme(self, fn, dim, keepdim, name):
        axes, shape, x = _norm_dims(dim, self.ndim), self.shape, self.data
        out = fn(x, axis=axes, keepdims=True)

        def backward(g):
            # Ties share the gradient equally (torch does so for the full reduction).
            mask = (x == out)
            g = _expand_reduced(g, shape, axes, keepdim)
            return (g * mask / mask.sum(axis=axes, keepdims=True),)
        res = out if keepdim else (np.squeeze(out, axes) if axes is not None
                                   else out.reshape(()))
        return _make(res, (self,), backward, name=name)

    def max(self, dim=None, keepdim=False):
        """Maximum over ``dim`` (values only, unlike torch's (values, indices) for a dim)."""
        return self._extreme(np.max, dim, keepdim, "MaxBackward")

    def min(self, dim=None, keepdim=False):
        """Minimum over ``dim`` (values only)."""
        return self._extreme(np.min, dim, keepdim, "MinBackward")

    def argmax(self, dim=None, keepdim=False):
        if dim is None:
            return _wrap(np.asarray(np.argmax(self.data)))
        return _wrap(np.argmax(self.data, axis=_norm_dim(dim, self.ndim), keepdims=keepdim))

    def argmin(self, dim=None, keepdim=False):
        if dim is None:
            return _wrap(np.asarray(np.argmin(self.data)))
        return _wrap(np.argmin(self.data, axis=_norm_dim(dim, self.ndim), keepdims=keepdim))

    # -- elementwise functions ---------------------------------------------------------------
    def exp(self):
        out = np.exp(self.data)
        return _make(out, (self,), lambda g: (g * out,), name="ExpBackward")

    def log(self):
        x = self.data
        return _make(np.log(x), (self,), lambda g: (g / x,), name="LogBackward")

    def sqrt(self):
        out = np.sqrt(self.data)
        return _make(out, (self,), lambda g: (g / (2 * out),), name="SqrtBackward")

    def tanh(self):
        out = np.tanh(self.data)
        return _make(out, (self,), lambda g: (g * (1 - out * out),), name="TanhBackward")

    def sigmoid(self):
        out = _stable_sigmoid(self.data)
        return _make(out, (self,), lambda g: (g * out * (1 - out),), name="SigmoidBackward")

    def relu(self):
        x = self.data
        return _make(np.maximum(x, 0).astype(x.dtype, copy=False), (self,),
                     lambda g: (g * (x > 0),), name="ReluBackward")

    def abs(self):
        x = self.data
        return _make(np.abs(x), (self,), lambda g: (g * np.sign(x),), name="AbsBackward")

    __abs__ = abs

    def clamp(self, min=None, max=None):
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        x = self.data
        lo = -np.inf if min is None else (min.data if isinstance(min, Tensor) else min)
        hi = np.inf if max is None else (max.data if isinstance(max, Tensor) else max)
        out = np.clip(x, lo, hi).astype(x.dtype, copy=False)
        return _make(out, (self,), lambda g: (g * ((x >= lo) & (x <= hi)),),
                     name="ClampBackward")

    clip = clamp

    def softmax(self, dim):
        d = _norm_dim(dim, self.ndim)
        z = self.data - np.max(self.data, axis=d, keepdims=True)
        e = np.exp(z)
        out = e / e.sum(axis=d, keepdims=True)

        def backward(g):
            return (out * (g - np.sum(g * out, axis=d, keepdims=True)),)
        return _make(out, (self,), backward, name="SoftmaxBackward")

    def log_softmax(self, dim):
        d = _norm_dim(dim, self.ndim)
        z = self.data - np.max(self.data, axis=d, keepdims=True)
        out = z - np.log(np.exp(z).sum(axis=d, keepdims=True))

        def backward(g):
            return (g - np.exp(out) * np.sum(g, axis=d, keepdims=True),)
        return _make(out, (self,), backward, name="LogSoftmaxBackward")

    def masked_fill(self, mask, value):
        """Copy with ``value`` where ``mask`` (broadcast to self's shape) is True."""
        m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
        if m.dtype != np.bool_:
            raise TypeError(f"mask: expected a bool array, got dtype {m.dtype}")
        if isinstance(value, Tensor):
            value = value.item()
        out = np.where(m, np.asarray(value, dtype=self.dtype), self.data)
        if out.shape != self.shape:
            raise ValueError(f"mask: shape {m.shape} does not broadcast to {self.shape}")
        return _make(out, (self,), lambda g: (np.where(m, 0, g),), name="MaskedFillBackward")


def tensor(data, dtype=None, requires_grad=False) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (see ``Tensor`` for the dtype rules)."""
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def _as_tensor_list(tensors, fn):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{fn}: expected a list or tuple of tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{fn}: expected a non-empty list of tensors")
    return [as_tensor(t, name="tensors") for t in tensors]


def cat(tensors, dim=0) -> Tensor:
    """Concatenate along an existing ``dim``."""
    ts = _as_tensor_list(tensors, "cat")
    d = _norm_dim(dim, ts[0].ndim)
    out = np.concatenate([t.data for t in ts], axis=d)
    bounds = np.cumsum([t.shape[d] for t in ts])[:-1]

    def backward(g):
        return tuple(np.split(g, bounds, axis=d))
    return _make(out, tuple(ts), backward, name="CatBackward")


def stack(tensors, dim=0) -> Tensor:
    """Stack along a new ``dim``."""
    ts = _as_tensor_list(tensors, "stack")
    d = _norm_dim(dim, ts[0].ndim + 1)
    out = np.stack([t.data for t in ts], axis=d)

    def backward(g):
        return tuple(np.take(g, i, axis=d) for i in range(len(ts)))
    return _make(out, tuple(ts), backward, name="StackBackward")


def where(condition, input, other) -> Tensor:
    """``input`` where ``condition`` else ``other`` (all broadcast together)."""
    c = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if c.dtype != np.bool_:
        raise TypeError(f"condition: expected a bool array, got dtype {c.dtype}")
    if isinstance(input, Tensor):
        a = input
        b = a._operand(other)
    elif isinstance(other, Tensor):
        b = other
        a = b._operand(input)
    else:
        a, b = as_tensor(input, name="input"), as_tensor(other, name="other")
    out = np.where(c, a.data, b.data)

    def backward(g):
        return (unbroadcast(np.where(c, g, 0), a.shape) if a._requires_grad else None,
                unbroadcast(np.where(c, 0, g), b.shape) if b._requires_grad else None)
    return _make(out, (a, b), backward, name="WhereBackward")
