"""A small reverse-mode autograd over NumPy arrays (micrograd-style closures, named ops).

A ``Tensor`` wraps one ``np.ndarray`` (``.data``). Every differentiable op builds its result
with ``_make(data, parents, backward, op=..., attrs=...)``: ``backward`` is a closure that maps
the gradient of the result to one gradient (or None) per parent. An op with several results
builds them with ``_make_many``: one node, one gradient slot per result. ``Tensor.backward()``
runs each node once all the nodes that feed it a gradient have run, accumulates into the
leaves' ``.grad`` (NumPy arrays) and then frees the closures unless ``retain_graph=True``. A
recurrent layer or cell call is a single node (results y, h_n, c_n) whose closure calls the
C++ BPTT once (see ``rnnfast.nn``).

Each op is named: ``op`` is its entry in the registry ``OPS`` (an ``_Op``: the name a tracer
maps, such as "add" or "lstm", torch's grad_fn name, the names of its attributes and the NumPy
function that computes its result from its inputs' arrays and attributes), and the node keeps
the op, its inputs (``parents``, Tensors or None, in order) and its attribute values
(``attrs``: axes, shapes, indices, scalar operands, ...). A graph can so be walked from a
result and each node read as (op, inputs, attributes): ``rnnfast.onnx`` traces models that way.
The backward stays a closure over what the forward computed (cheaper than a context object).
Ops whose results are integers or booleans record no history; while a tracer records
(``_state.trace``), they and every other result computed from its inputs without a node are
reported to it, and in-place writes are refused.

In-place writes (``t[i] = v``, ``+=``, ``fill_``, ...) follow torch: each bumps a version
counter shared by a tensor and its views, nodes record the versions of the data their
backward reads and raise if it changed; a write that involves gradients gives the tensor new
history (a CopySlices node) while the nodes recorded before keep the parents' history as it
was (``_Node.edges``).

Deliberately left out: higher-order gradients (``create_graph``), hooks, devices other than
the CPU. Shape and dtype rules follow NumPy; the default float dtype is float32, as in
PyTorch. The method and function names are torch's (see also ``rnnfast._torch_api``).

Note: ``rnnfast.tensor`` (the package attribute) is the factory function, as in PyTorch; this
module's other names are reached with ``from rnnfast.tensor import ...``.
"""

from __future__ import annotations

import collections
import functools
import math
import threading

import numpy as np

from . import _core, _device

__all__ = [
    "Tensor", "as_tensor", "cat", "default_generator", "enable_grad", "is_grad_enabled",
    "manual_seed", "no_grad", "stack", "tensor", "unbroadcast", "where",
]

DEFAULT_FLOAT = np.dtype(np.float32)

# The legacy type names torch prints for each dtype (Tensor.type()).
_TYPE_NAMES = {np.dtype(np.float32): "Float", np.dtype(np.float64): "Double",
               np.dtype(np.float16): "Half", np.dtype(np.int64): "Long",
               np.dtype(np.int32): "Int", np.dtype(np.int16): "Short", np.dtype(np.int8): "Char",
               np.dtype(np.uint8): "Byte", np.dtype(np.bool_): "Bool"}

# ----------------------------------------------------------------------------------------------
# Grad mode (thread-local, like torch) and the global random generator.

class _GradState(threading.local):
    enabled = True              # each thread starts with grad mode on
    trace = None                # the tracer of rnnfast.onnx while it records this thread


_state = _GradState()
# How many threads a tracer records (see _begin_trace): read first by the hot paths, a module
# global being cheaper to read than the thread-local _state.trace.
_tracing = 0
_tracing_lock = threading.Lock()


def _begin_trace(tracer):
    """Make ``tracer`` this thread's tracer (rnnfast.onnx); returns the previous one."""
    global _tracing
    prev = _state.trace
    _state.trace = tracer
    with _tracing_lock:
        _tracing += 1
    return prev


def _end_trace(prev):
    global _tracing
    _state.trace = prev
    with _tracing_lock:
        _tracing -= 1


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad()`` (per thread)."""
    return _state.enabled


class _GradMode:
    _mode = True

    def __enter__(self):
        self._prev = is_grad_enabled()
        # a tracer records through no_grad blocks too: they compute the model's results
        _state.enabled = self._mode or (_tracing > 0 and _state.trace is not None)
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
    """Seed the global generator (like ``torch.manual_seed``); returns it.

    Every random draw in rnnfast (parameter initialization, dropout masks, ``rnnfast.rand``,
    shuffling) comes from this generator, so a seed reproduces a run (not torch's numbers).

    Args:
        seed (int): the seed, >= 0.

    Returns:
        np.random.Generator: the global generator.

    Raises:
        TypeError: ``seed`` not an int. ValueError: a negative seed.

    Example::

        >>> _ = rnnfast.manual_seed(0); a = rnnfast.randn(3)
        >>> _ = rnnfast.manual_seed(0); b = rnnfast.randn(3)
        >>> bool((a == b).all())
        True
    """
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


def _is_size(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _new_array(args, dtype, fn) -> np.ndarray:
    """The array of the legacy constructors ``Tensor(...)``, ``LongTensor(...)``: no argument
    (empty), sizes (uninitialised), or one piece of data (copied and cast to ``dtype``)."""
    if not args:
        return np.empty((0,), dtype)
    if all(_is_size(a) for a in args):
        size = tuple(int(a) for a in args)
        if any(a < 0 for a in size):
            raise ValueError(f"{fn}: expected non-negative sizes, got {size}")
        return np.empty(size, dtype)
    if len(args) > 1:
        raise TypeError(f"{fn}: expected sizes (ints) or one sequence of data, got "
                        f"{', '.join(type(a).__name__ for a in args)}")
    data = args[0]
    if isinstance(data, (bool, float, complex, np.bool_, np.floating)):
        raise TypeError(f"{fn}: data must be a sequence (got {type(data).__name__}); for a "
                        f"0-d tensor use rnnfast.tensor({data!r})")
    return _to_array(data, dtype, "data", copy=True)


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


class _Version:
    """The version counter of one array buffer, shared by a tensor and its views: every
    in-place write (``t[i] = v``, ``fill_``, ...) bumps it, and backward refuses a node whose
    saved input has moved on since the node was recorded (as torch does)."""

    __slots__ = ("n",)

    def __init__(self):
        self.n = 0


def _counter(t) -> _Version:
    c = t._vcount
    if c is None:
        c = t._vcount = _Version()
    return c


def _version(t) -> int:
    return 0 if t._vcount is None else t._vcount.n


class _Op:
    """A named operation of the autograd (an entry of ``OPS``).

    ``name``: what the op is called in a traced graph ("add", "getitem", "lstm", ...);
    ``grad_name``: the name of its nodes (torch's grad_fn name, e.g. "AddBackward");
    ``attrs``: the names of the attribute values each node records, in order;
    ``forward``: ``forward(*input_arrays, **attributes)`` computes the op's result (a tuple for
    an op with several) from its inputs' arrays (None for an absent input) and its attributes,
    as the op itself does; None for an op that does not name one (the losses)."""

    __slots__ = ("name", "grad_name", "attrs", "forward")

    def __init__(self, name, grad_name, attrs=(), forward=None):
        self.name = name
        self.grad_name = grad_name
        self.attrs = tuple(attrs)
        self.forward = forward

    def __repr__(self):
        return f"<op {self.name} ({self.grad_name})>"


# name -> _Op: every named op (rnnfast.nn's layers and functions register theirs too)
OPS = {}


def register_op(name, grad_name, attrs=(), forward=None) -> _Op:
    """Add a named op to ``OPS`` and return it (each name once)."""
    if name in OPS:
        raise ValueError(f"name: op {name!r} is already registered")
    op = OPS[name] = _Op(name, grad_name, attrs, forward)
    return op


class _Node:
    """History of one op's result (or results): the function computing the gradients of its
    parents, the edges to the parents that need one, and the versions of the data that function
    reads; and what the op was: ``op`` (an ``_Op``), ``inputs`` (its parents, Tensors or None,
    in order) and ``attrs`` (the attribute values named by ``op.attrs``), freed with the
    function after a backward without ``retain_graph``.

    ``edges`` holds ``(i, parent, parent's node, parent's slot)`` for each parent ``i`` that
    required grad when this node was made: backward follows the parents' nodes as recorded
    rather than their current state, so an in-place write that gives a tensor new history
    (``t[i] = v``) leaves the uses recorded before it intact. ``nout`` is 0 for an op with one
    result (its function takes one gradient) and the number of results for an op with several
    (``_make_many``): its function takes a tuple of that many gradients, None for a result that
    got none, and each result tensor holds its position in that tuple (``Tensor._slot``)."""

    __slots__ = ("fn", "op", "attrs", "inputs", "edges", "checks", "nout")

    def __init__(self, fn, op, attrs, inputs, edges, checks=(), nout=0):
        self.fn = fn
        self.op = op
        self.attrs = attrs
        self.inputs = inputs
        self.edges = edges
        self.checks = checks
        self.nout = nout

    @property
    def name(self):
        """The node's name (torch's grad_fn name, e.g. "AddBackward")."""
        return self.op.grad_name

    def attributes(self) -> dict:
        """The op's attributes by name."""
        return dict(zip(self.op.attrs, self.attrs, strict=True))

    def __repr__(self):
        return f"<{self.op.grad_name} node of {self.op.name}>"


_new_node = object.__new__


def _unnamed(name, backward):
    """The op of a node made without a registered one (``name=`` only): named, not traceable."""
    return _Op(None, name or backward.__qualname__)


def _wrap(data: np.ndarray, requires_grad=False, cls=None) -> Tensor:
    t = object.__new__(cls or Tensor)
    t.data = data
    t._grad = None
    t._requires_grad = requires_grad
    t._node = None
    return t


def _untracked(data, operands, op, attrs=()) -> Tensor:
    """A result of ``op`` that records no history (a comparison, the indices of max, ...),
    wrapped; a tracer (rnnfast.onnx) is told which op made it from which operands."""
    out = _wrap(data)
    tr = _state.trace
    if tr is not None:
        tr.untracked(out, operands, op, attrs)
    return out


def _record(parents, saves):
    """The edges and version checks of a node over ``parents`` (Tensors or None), or None when
    no parent requires grad. ``saves``: positions of the parents whose data the node's
    backward reads (None: all). Raises if a parent is a view whose base has been given new
    history by an in-place write since the view was taken."""
    edges = None
    every = saves is None
    checks = []
    i = 0
    for p in parents:
        if p is not None:
            base = p._view_base
            if base is not None and base._node is not p._view_node:
                raise RuntimeError(
                    "a view taken before its base was written in place with a value that "
                    "requires grad is being used: its gradient would miss that write. Take the "
                    "view again after the write (t[i] = v; row = t[0])")
            if p._requires_grad:
                if edges is None:
                    edges = [(i, p, p._node, p._slot)]
                else:
                    edges.append((i, p, p._node, p._slot))
            if every:
                c = p._vcount
                checks.append((p, 0 if c is None else c.n))
        i += 1
    if edges is None:
        return None
    if saves:
        for i in saves:
            p = parents[i]
            if p is not None:
                c = p._vcount
                checks.append((p, 0 if c is None else c.n))
    return edges, checks


def _make(data, parents: tuple, backward, *, op=None, attrs=(), name=None, saves=None,
          saves_out=False) -> Tensor:
    """Result of a differentiable op ``op`` (an entry of ``OPS``; its attribute values
    ``attrs``) over ``parents`` (Tensors, or None for an absent operand such as a missing
    bias). If grad mode is on and any parent requires grad, the
    result requires grad and records ``backward``, a function grad_out (np.ndarray, the result's
    shape and dtype; never modify it in place) -> tuple of np.ndarray-or-None, one per parent
    (None = no gradient for that parent). Otherwise a plain tensor without history.
    Results of non-float dtype never record history. ``name`` names a node without a
    registered ``op`` (such a node cannot be traced).

    ``saves``: the positions of the parents whose data ``backward`` reads (default: all);
    ``saves_out``: whether it reads the result's own data. An in-place write into one of
    those before backward makes backward raise."""
    if not isinstance(data, np.ndarray):
        data = np.asarray(data)
    out = object.__new__(Tensor)
    out.data = data
    out._grad = None
    out._requires_grad = False
    out._node = None
    if not _state.enabled:         # is_grad_enabled(), inlined: a hot path
        return out
    # _record, inlined: the hot path of every op
    edges = None
    every = saves is None
    checks = []
    i = 0
    for p in parents:
        if p is not None:
            base = p._view_base
            if base is not None and base._node is not p._view_node:
                _record(parents, saves)             # raises the stale-view error
            if p._requires_grad:
                if edges is None:
                    edges = [(i, p, p._node, p._slot)]
                else:
                    edges.append((i, p, p._node, p._slot))
            if every:
                c = p._vcount
                checks.append((p, 0 if c is None else c.n))
        i += 1
    if edges is None or data.dtype.kind != "f":
        if _tracing and _state.trace is not None:
            _state.trace.untracked(out, parents, op, attrs)
        return out
    if saves:
        for i in saves:
            p = parents[i]
            if p is not None:
                c = p._vcount
                checks.append((p, 0 if c is None else c.n))
    if saves_out:                   # the counter, not the tensor: no reference cycle
        c = out._vcount = _Version()
        checks.append((c, 0))
    out._requires_grad = True
    node = out._node = _new_node(_Node)         # _Node(...), inlined: a hot path
    node.fn = backward
    node.op = op or _unnamed(name, backward)
    node.attrs = attrs
    node.inputs = parents
    node.edges = edges
    node.checks = checks
    node.nout = 0
    return out


def _make_many(datas, parents: tuple, backward, *, op=None, attrs=(), name=None, saves=None,
               saves_out=()) -> tuple:
    """Results of one differentiable op with several outputs (e.g. a recurrent layer's y,
    h_n and c_n): one node owns them all, and each result has a gradient of its own.

    As ``_make``, except that ``backward`` takes a tuple with one gradient per result (None
    for a result that received none: e.g. only h_n of (y, h_n) was used) and ``saves_out``
    lists the positions of the results whose data ``backward`` reads. Returns a tuple of
    Tensors; results of non-float dtype never record history."""
    outs = tuple([_wrap(d if isinstance(d, np.ndarray) else np.asarray(d)) for d in datas])
    if not _state.enabled:
        return outs
    rec = _record(parents, saves)
    if rec is None:
        if _tracing and _state.trace is not None:
            _state.trace.untracked_many(outs, parents, op, attrs)
        return outs
    edges, checks = rec
    for k in saves_out:
        checks.append((_counter(outs[k]), 0))
    node = _Node(backward, op or _unnamed(name, backward), attrs, parents, edges, checks,
                 len(outs))
    for k, t in enumerate(outs):
        if t.data.dtype.kind == "f":
            t._requires_grad = True
            t._node = node
            t._slot = k
    return outs


def _view(out: Tensor, base: Tensor, track=True, check=False) -> Tensor:
    """Mark ``out`` as a view of ``base`` (with ``check``: only if their data overlap, for ops
    that may copy, such as reshape): they share one version counter, so an in-place write
    through either is seen by the other's saved uses. With ``track`` (every view but detach)
    the view remembers its base and the base's history at that moment, so a write through the
    view, or a use of it after the base got new history by a write, is refused instead of
    losing gradients."""
    if check and not np.may_share_memory(out.data, base.data):
        return out
    c = base._vcount
    if c is None:
        c = base._vcount = _Version()
    out._vcount = c
    if track:
        root = base if base._view_base is None else base._view_base
        out._view_base = root
        out._view_node = root._node
    return out


def _check_versions(node):
    for p, v in node.checks:
        now = p.n if isinstance(p, _Version) else _version(p)
        if now != v:
            what = (f"the output of {node.name}" if isinstance(p, _Version) else
                    f"[{p.dtype} tensor of shape {tuple(p.shape)}], needed by {node.name},")
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: {what} is at version {now}; expected version {v} instead. "
                f"Write into a copy (t = t.clone()) or before the tensor is used")


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
    """1 / (1 + exp(-x)) in x's dtype, without warnings: where exp(-x) overflows (x below
    about -88 in float32, -709 in float64; the exact value is subnormal) the result is 0, as
    the kernels' sigmoid gives; elsewhere each step is accurate to rounding."""
    if x.ndim == 0 or x.dtype.kind != "f":
        e = np.exp(-np.abs(x))          # in (0, 1]: never overflows
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)
    e = np.negative(x)
    with np.errstate(over="ignore"):
        np.exp(e, out=e)
    e += 1
    np.reciprocal(e, out=e)
    return e


def _sum_grad(g, shape, kept):
    """The gradient of a sum: ``g`` (reduced, its dims kept as ``kept`` says) repeated over the
    summed dims, as a new C-contiguous array of the input's ``shape``."""
    out = np.empty(shape, g.dtype)
    out[...] = g if kept is None else g.reshape(kept)
    return out


def _kept_shape(shape, axes, keepdim):
    """The shape a reduction's result has with its dims kept, or None if it already has it."""
    if keepdim:
        return None
    if axes is None:
        return (1,) * len(shape)
    return tuple([1 if i in axes else n for i, n in enumerate(shape)])


# 2-D products of at least this many multiply-adds (M*N*K) run on rnnfast's own GEMM
# (rnnfast._core.matmul, on the kernels' OpenMP team) instead of NumPy's BLAS. OpenBLAS runs
# products from about 1e6 on all cores, and its threads spin after each call: the next kernel
# call of the team then shares the cores with them (docs/ARCHITECTURE.md, "Ops and Python").
# From this size on rnnfast's GEMM is as fast as one BLAS thread or faster; below
# it NumPy's call is cheaper and OpenBLAS stays on one thread.
_OWN_GEMM_MIN = 1 << 18


def _mm(a, b):
    """a @ b for 2-D arrays: large float32/float64 products on rnnfast's GEMM."""
    M, K = a.shape
    N = b.shape[1]
    dt = a.dtype
    if M * N * K >= _OWN_GEMM_MIN and dt == b.dtype and (dt == np.float32 or dt == np.float64):
        out = np.empty((M, N), dt)
        _core.matmul(np.ascontiguousarray(a), np.ascontiguousarray(b), out)
        return out
    return a @ b


def _sum_array(a, b):
    """a + b as a new writable array (NumPy returns a scalar for 0-d operands)."""
    s = a + b
    return s if type(s) is np.ndarray else np.array(s)


def _identity_grad(g):
    return (g,)


def _negated_grad(g):
    return (-g,)


def _cross_saves(a, b):
    """The parents a product's backward reads: a's data for b's gradient and b's for a's."""
    return tuple(i for i, needed in ((0, b._requires_grad), (1, a._requires_grad)) if needed)


def _descending_key(x):
    """A sort key whose ascending order is ``x``'s descending one (ties keep their order)."""
    return -x.astype(np.int64) if x.dtype.kind in "biu" else -x


# The named tuples torch returns (torch.return_types.max, ...): (values, indices).
_MaxMin = {name: collections.namedtuple(name, ["values", "indices"])
           for name in ("max", "min", "topk", "sort")}


def _binary_extreme(a, b, which):
    """Elementwise maximum / minimum; where a == b the gradient is split in half (torch)."""
    fn = np.maximum if which == "max" else np.minimum
    out = fn(a.data, b.data)

    def backward(g):
        pick_a = a.data > b.data if which == "max" else a.data < b.data
        tie = a.data == b.data
        wa = np.where(tie, 0.5, pick_a.astype(g.dtype)).astype(g.dtype)
        return (unbroadcast(g * wa, a.shape) if a._requires_grad else None,
                unbroadcast(g * (1 - wa), b.shape) if b._requires_grad else None)
    return _make(out, (a, b), backward, op=_MAXIMUM if which == "max" else _MINIMUM)


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


# Scatter-adds: the backward of gathers (advanced indexing, index_select, gather, embedding
# bags). np.add.at over rows or several dims is slow; rows go to the C++ embedding scatter
# (float32 / float64), everything else to one np.bincount over flat positions. Both add each
# position's contributions in order, so results are deterministic.

_ROW_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_INT64 = np.dtype(np.int64)


def _scatter_flat(lin, src, size, dtype):
    """zeros(size) of ``dtype`` with each element of ``src`` added at its flat position in
    ``lin`` (an integer array of src's size, values in [0, size)); sums in float64."""
    out = np.bincount(np.ravel(lin), weights=np.ravel(src), minlength=size)
    return out.astype(dtype, copy=False)


def _scatter_rows(index, src, n):
    """The (n, ...) array with ``src[i]`` added to row ``index[i]``: ``index`` an integer
    array of any shape with values in [-n, n) (negatives count from the end), ``src`` of
    shape ``index.shape + row shape``; np.add.at(zeros, index, src), computed fast."""
    index = np.asarray(index)
    rest = src.shape[index.ndim:]
    flat = index.reshape(-1)                    # C-contiguous (a copy if index was not)
    if flat.dtype != _INT64:
        flat = flat.astype(_INT64)
    D = math.prod(rest)
    if src.dtype in _ROW_KERNEL_DTYPES:
        src2 = np.ascontiguousarray(src).reshape(flat.size, D)
        try:
            out = _core.embedding_backward(src2, flat, n, -1)
        except IndexError:      # negative indices, which the kernel refuses before any write
            out = _core.embedding_backward(src2, flat % n, n, -1)
    else:
        lin = ((flat % n)[:, None] * D + np.arange(D)).reshape(-1)
        out = _scatter_flat(lin, src, n * D, src.dtype)
    return out.reshape((n,) + rest)


def _row_index(idx):
    """The integer array of an advanced index that only picks rows of dim 0 (``a``, ``[..]``,
    ``(a,)``, ``(a, ...)``, ``(a, :, :)``), else None."""
    if isinstance(idx, tuple):
        if not idx or sum(r is Ellipsis for r in idx[1:]) > 1 or not all(
                r is Ellipsis or (isinstance(r, slice) and r == slice(None)) for r in idx[1:]):
            return None
        idx = idx[0]
    if isinstance(idx, (np.ndarray, list)):
        try:
            arr = np.asarray(idx)
        except ValueError:                  # a ragged list: NumPy's indexing raised already
            return None
        if arr.dtype.kind in "iu":
            return arr
    return None


def _index_backward(shape, idx, g):
    """The gradient of ``data[idx]`` (``data`` of ``shape``, ``idx`` an advanced index):
    zeros with ``g`` added wherever ``idx`` picked, repeated positions summing."""
    rows = _row_index(idx)
    if rows is not None and len(shape) >= 1:
        return _scatter_rows(rows, g, shape[0])
    size = math.prod(shape)
    # NumPy's own indexing of the flat positions maps each element of g to its source.
    lin = np.arange(size).reshape(shape)[idx]
    return _scatter_flat(lin, g, size, g.dtype).reshape(shape)


# ----------------------------------------------------------------------------------------------
# The named ops of this module (rnnfast.nn registers its layers' and functions' own). Each
# ``forward`` computes what the op computes, from its inputs' arrays and its attributes.


def _matmul_forward(a, b):
    return _mm(a, b) if a.ndim == 2 and b.ndim == 2 else a @ b


def _mean_forward(x, dim, keepdim):
    if x.dtype == np.float32 or x.dtype == np.float64:
        count = x.size if dim is None else math.prod([x.shape[a] for a in dim])
        return np.add.reduce(x, axis=dim, keepdims=keepdim) / count
    return np.mean(x, axis=dim, keepdims=keepdim)


def _extreme_forward(fn):
    def forward(x, dim, keepdim):
        return np.asarray(fn(x, axis=dim, keepdims=keepdim))
    return forward


def _cumsum_forward(x, dim):
    return np.cumsum(x, axis=dim, dtype=np.int64 if x.dtype.kind in "biu" else x.dtype)


def _sorted_forward(x, dim, descending, k=None):
    x1 = x if x.ndim else x.reshape(1)
    idx = np.argsort(_descending_key(x1) if descending else x1, axis=dim, kind="stable")
    if k is not None:
        idx = np.take(idx, np.arange(k), axis=dim)
    return np.take_along_axis(x1, idx, axis=dim).reshape(x.shape if not x.ndim else idx.shape)


def _norm_forward(x, p, dim, keepdim):
    if p == np.inf:
        return np.asarray(np.max(np.abs(x), axis=dim, keepdims=keepdim))
    out = np.sum(np.abs(x) ** p, axis=dim, keepdims=keepdim) ** (1.0 / p)
    return np.asarray(out, dtype=x.dtype)


def _softmax_forward(x, dim):
    e = np.exp(x - np.maximum.reduce(x, axis=dim, keepdims=True))
    return e / np.add.reduce(e, axis=dim, keepdims=True)


def _log_softmax_forward(x, dim):
    z = x - np.maximum.reduce(x, axis=dim, keepdims=True)
    return z - np.log(np.add.reduce(np.exp(z), axis=dim, keepdims=True))


def _gather_forward(x, dim, index):
    region = tuple(slice(0, s) if a != dim else slice(None) for a, s in enumerate(index.shape))
    return np.take_along_axis(x[region], index, axis=dim)


def _repeat_forward(x, sizes):
    return np.tile(x.reshape((1,) * (len(sizes) - x.ndim) + x.shape), sizes)


def _copy_slices_forward(old, value, index):
    out = old.copy()
    out[index] = value
    return out


def _scalar_op(fn):
    return lambda x, other: fn(x, other)


def _sorted_indices(x, dim, descending, k=None):
    x1 = x if x.ndim else x.reshape(1)
    idx = np.argsort(_descending_key(x1) if descending else x1, axis=dim, kind="stable")
    if k is not None:
        idx = np.take(idx, np.arange(k), axis=dim)
    return idx.astype(np.int64).reshape(x.shape if not x.ndim else idx.shape)


def _arg_forward(fn):
    def forward(x, dim, keepdim):
        return np.asarray(fn(x, axis=dim, keepdims=keepdim) if dim is not None else fn(x))
    return forward


def _logic_forward(fn):
    def forward(x, other):
        return np.asarray(fn(x, other))
    return forward


_CLONE = register_op("clone", "CloneBackward", (), np.copy)
_CONTIGUOUS = register_op("contiguous", "CloneBackward", (), np.ascontiguousarray)
_CAST = register_op("cast", "ToCopyBackward", ("dtype",), lambda x, dtype: x.astype(dtype))
_DETACH = register_op("detach", None, (), lambda x: x)
_ADD = register_op("add", "AddBackward", (), np.add)
_SUB = register_op("sub", "SubBackward", (), np.subtract)
_MUL = register_op("mul", "MulBackward", (), np.multiply)
_DIV = register_op("div", "DivBackward", (), np.true_divide)
_POW = register_op("pow", "PowBackward1", (), np.power)
# a Python number as the other operand (x + c, c - x, ...): the number is the attribute
_ADD_SCALAR = register_op("add_scalar", "AddBackward", ("other",), _scalar_op(np.add))
_SUB_SCALAR = register_op("sub_scalar", "SubBackward", ("other",), _scalar_op(np.subtract))
_RSUB_SCALAR = register_op("rsub_scalar", "SubBackward", ("other",),
                           lambda x, other: other - x)
_MUL_SCALAR = register_op("mul_scalar", "MulBackward", ("other",), _scalar_op(np.multiply))
_DIV_SCALAR = register_op("div_scalar", "DivBackward", ("other",), _scalar_op(np.true_divide))
_RDIV_SCALAR = register_op("rdiv_scalar", "DivBackward", ("other",),
                           lambda x, other: other / x)
_POW_SCALAR = register_op("pow_scalar", "PowBackward0", ("exponent",),
                          lambda x, exponent: x ** exponent)
_NEG = register_op("neg", "NegBackward", (), np.negative)
_MAXIMUM = register_op("maximum", "MaximumBackward", (), np.maximum)
_MINIMUM = register_op("minimum", "MinimumBackward", (), np.minimum)
_MATMUL = register_op("matmul", "MmBackward", (), _matmul_forward)
# index: an int, slice, None, Ellipsis, integer or bool array, or a tuple of those
_GETITEM = register_op("getitem", "IndexBackward", ("index",), lambda x, index: x[index])
# shape: the result's shape (-1 resolved)
_RESHAPE = register_op("reshape", "ReshapeBackward", ("shape",),
                       lambda x, shape: x.reshape(shape))
_TRANSPOSE = register_op("transpose", "TransposeBackward", ("dim0", "dim1"),
                        lambda x, dim0, dim1: np.swapaxes(x, dim0, dim1))
_PERMUTE = register_op("permute", "PermuteBackward", ("dims",),
                       lambda x, dims: np.transpose(x, dims))
_SQUEEZE = register_op("squeeze", "SqueezeBackward", ("dims",), lambda x, dims: x.squeeze(dims))
_UNSQUEEZE = register_op("unsqueeze", "UnsqueezeBackward", ("dim",),
                         lambda x, dim: np.expand_dims(x, dim))
_EXPAND = register_op("expand", "ExpandBackward", ("shape",),
                      lambda x, shape: np.broadcast_to(x, shape))
# dim: a tuple of non-negative axes, or None for all
_SUM = register_op("sum", "SumBackward", ("dim", "keepdim"),
                   lambda x, dim, keepdim: np.add.reduce(x, axis=dim, keepdims=keepdim))
_MEAN = register_op("mean", "MeanBackward", ("dim", "keepdim"), _mean_forward)
_AMAX = register_op("amax", "AmaxBackward", ("dim", "keepdim"), _extreme_forward(np.max))
_AMIN = register_op("amin", "AminBackward", ("dim", "keepdim"), _extreme_forward(np.min))
_MAX_ALL = register_op("max", "MaxBackward1", ("dim", "keepdim"), _extreme_forward(np.max))
_MIN_ALL = register_op("min", "MinBackward1", ("dim", "keepdim"), _extreme_forward(np.min))
# the values of max(dim) / min(dim) (the indices carry no history)
_MAX_DIM = register_op("max_dim", "MaxBackward0", ("dim", "keepdim"), _extreme_forward(np.max))
_MIN_DIM = register_op("min_dim", "MinBackward0", ("dim", "keepdim"), _extreme_forward(np.min))
_CUMSUM = register_op("cumsum", "CumsumBackward", ("dim",), _cumsum_forward)
_TOPK = register_op("topk", "TopkBackward", ("k", "dim", "largest"),
                    lambda x, k, dim, largest: _sorted_forward(x, dim, largest, k))
_SORT = register_op("sort", "SortBackward", ("dim", "descending"),
                    lambda x, dim, descending: _sorted_forward(x, dim, descending))
_EXP = register_op("exp", "ExpBackward", (), np.exp)
_LOG = register_op("log", "LogBackward", (), np.log)
_SQRT = register_op("sqrt", "SqrtBackward", (), np.sqrt)
_TANH = register_op("tanh", "TanhBackward", (), np.tanh)
_SIGMOID = register_op("sigmoid", "SigmoidBackward", (), _stable_sigmoid)
_RELU = register_op("relu", "ReluBackward", (),
                    lambda x: np.maximum(x, 0).astype(x.dtype, copy=False))
_ABS = register_op("abs", "AbsBackward", (), np.abs)
# min, max: numbers or Tensors (-inf / inf where not given)
_CLAMP = register_op("clamp", "ClampBackward", ("min", "max"),
                     lambda x, min, max: np.clip(x, np.asarray(min), np.asarray(max)).astype(
                         x.dtype, copy=False))
_ROUND = register_op("round", "RoundBackward", (), np.round)
_FLOOR = register_op("floor", "FloorBackward", (), np.floor)
_CEIL = register_op("ceil", "CeilBackward", (), np.ceil)
_SIGN = register_op("sign", "SignBackward", (), np.sign)
_NORM = register_op("norm", "NormBackward", ("p", "dim", "keepdim"), _norm_forward)
_SOFTMAX = register_op("softmax", "SoftmaxBackward", ("dim",), _softmax_forward)
_LOG_SOFTMAX = register_op("log_softmax", "LogSoftmaxBackward", ("dim",), _log_softmax_forward)
# mask: a bool array; value: a number
_MASKED_FILL = register_op("masked_fill", "MaskedFillBackward", ("mask", "value"),
                           lambda x, mask, value: np.where(mask, np.asarray(value, x.dtype), x))
# index: the integer array given (0-d or 1-d), taken as 1-d
_INDEX_SELECT = register_op("index_select", "IndexSelectBackward", ("dim", "index"),
                            lambda x, dim, index: np.take(x, np.reshape(index, -1), axis=dim))
_GATHER = register_op("gather", "GatherBackward", ("dim", "index"), _gather_forward)
_REPEAT = register_op("repeat", "RepeatBackward", ("sizes",), _repeat_forward)
_CAT = register_op("cat", "CatBackward", ("dim",),
                   lambda *xs, dim: np.concatenate(xs, axis=dim))
_STACK = register_op("stack", "StackBackward", ("dim",), lambda *xs, dim: np.stack(xs, axis=dim))
# condition: a bool array; inputs (input, other)
_WHERE = register_op("where", "WhereBackward", ("condition",),
                     lambda a, b, condition: np.where(condition, a, b))
# Ops whose results are integers or booleans and record no history (grad_name None); a
# tracer records them all the same. Inputs (input, other): other a Tensor, array or number.
_LOGIC_OPS = {fn: register_op(name, None, (), _logic_forward(fn)) for fn, name in (
    (np.equal, "eq"), (np.not_equal, "ne"), (np.less, "lt"), (np.less_equal, "le"),
    (np.greater, "gt"), (np.greater_equal, "ge"), (np.bitwise_and, "bitwise_and"),
    (np.bitwise_or, "bitwise_or"), (np.bitwise_xor, "bitwise_xor"))}
_INVERT = register_op("invert", None, (), np.invert)
_LOGICAL_NOT = register_op("logical_not", None, (), np.logical_not)
# dim: an int, or None for the flattened tensor
_ARGMAX = register_op("argmax", None, ("dim", "keepdim"), _arg_forward(np.argmax))
_ARGMIN = register_op("argmin", None, ("dim", "keepdim"), _arg_forward(np.argmin))
_ALL = register_op("all", None, ("dim", "keepdim"), _extreme_forward(np.all))
_ANY = register_op("any", None, ("dim", "keepdim"), _extreme_forward(np.any))
_TOPK_INDICES = register_op("topk_indices", None, ("k", "dim", "largest"),
                            lambda x, k, dim, largest: _sorted_indices(x, dim, largest, k))
_SORT_INDICES = register_op("sort_indices", None, ("dim", "descending"),
                            lambda x, dim, descending: _sorted_indices(x, dim, descending))
# t[index] = value on a tensor with history: inputs (old contents, value or None)
_COPY_SLICES = register_op("copy_slices", "CopySlices", ("index", "value"),
                           lambda old, value_t, index, value: _copy_slices_forward(
                               old, value if value_t is None else value_t, index))


# ----------------------------------------------------------------------------------------------
# Tensor.


class Tensor:
    """An ``np.ndarray`` (``.data``) with optional gradient tracking.

    As ``torch.Tensor``: ``Tensor(data)`` copies ``data`` into a float32 tensor whatever its
    type (lists, NumPy arrays of any numeric dtype, tensors); ``Tensor(2, 3)`` is an
    uninitialised float32 tensor of shape (2, 3) and ``Tensor()`` an empty one. ``dtype=``
    picks another dtype. ``rnnfast.tensor(data)`` infers the dtype instead (as
    ``torch.tensor``). Only float tensors can require grad.

    Args:
        *args: ``data`` (one array, sequence or tensor, copied) or the sizes of a new
            uninitialised tensor; none for an empty one.
        dtype (dtype, optional, keyword-only): the dtype. Default: float32.
        requires_grad (bool, optional, keyword-only): record operations on the tensor.
            Default: ``False``.

    Example::

        >>> rnnfast.Tensor([1, 2]).tolist(), rnnfast.Tensor(2, 3).shape
        ([1.0, 2.0], (2, 3))
    """

    __array_priority__ = 1000      # ndarray (op) Tensor defers to Tensor's reflected ops
    __hash__ = object.__hash__     # == is elementwise, hashing is by identity
    _vcount = None                 # _Version, created at the first in-place write or view
    _view_base = None              # the tensor whose data this one views (see _view)
    _view_node = None              # the base's node when this view was taken
    _slot = 0                      # which result of its node this is (see _make_many)

    def __init__(self, *args, dtype=None, requires_grad=False):
        dt = DEFAULT_FLOAT if dtype is None else _check_dtype(np.dtype(dtype), "dtype")
        self.data = _new_array(args, dt, "Tensor")
        self._grad = None
        self._requires_grad = False
        self._node = None
        self.requires_grad = requires_grad

    # -- attributes -------------------------------------------------------------------------
    @property
    def shape(self):
        """The size of each dim, a tuple of ints (torch's is a ``torch.Size``, a tuple subclass)."""
        return self.data.shape

    @property
    def dtype(self):
        """The data's NumPy dtype (``rnnfast.float32`` and rnnfast's other dtype names are
        NumPy dtypes)."""
        return self.data.dtype

    @property
    def ndim(self):
        """The number of dims, an int (as ``dim()``)."""
        return self.data.ndim

    def dim(self):
        """The number of dims.

        Returns:
            int: ``len(self.shape)`` (0 for a 0-d tensor).
        """
        return self.data.ndim

    def size(self, dim=None):
        """The shape, or the size of one dim, as ``torch.Tensor.size``.

        Args:
            dim (int, optional): a dim (negative counts from the end). Default: ``None`` (all).

        Returns:
            tuple of ints (``dim`` None) or int. A plain tuple where torch returns a ``torch.Size``.

        Raises:
            IndexError: ``dim`` out of range.
        """
        if dim is None:
            return self.data.shape
        return self.data.shape[_norm_dim(dim, self.ndim)]

    def numel(self):
        """The number of elements.

        Returns:
            int: the product of the sizes (1 for a 0-d tensor).
        """
        return int(self.data.size)

    @property
    def requires_grad(self):
        """Whether operations on this tensor are recorded for ``backward()``.

        Settable on leaves; only float tensors can require grad (RuntimeError otherwise). On a
        non-leaf (a result with history) setting it to ``False`` raises RuntimeError (use
        ``detach()``); setting it to ``True`` does nothing.
        """
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

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` in place, as ``torch.Tensor.requires_grad_``.

        Args:
            requires_grad (bool, optional): the new value. Default: ``True``.

        Returns:
            Tensor: self.

        Raises:
            RuntimeError: ``requires_grad`` True on a tensor that is not floating point, or
                False on a non-leaf.
        """
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        """Whether the tensor has no history (it was not computed by a recorded op): tensors made by
        the user, results computed without grad and ``detach()``'s results."""
        return self._node is None

    @property
    def grad_fn(self):
        """The name of the op that made this tensor (e.g. ``'MulBackward'``), ``None`` for a leaf.

        Differs from torch: a string (torch returns the node object).
        """
        return None if self._node is None else self._node.name

    @property
    def grad(self):
        """The gradient ``backward()`` accumulated into this leaf, ``None`` until then.

        Differs from torch: a NumPy array of the tensor's shape and dtype, not a Tensor. It can be
        assigned an array or Tensor of the same shape (cast to this dtype; RuntimeError on another
        shape) or ``None``.

        Example::

            >>> x = rnnfast.tensor([1.0, 2.0], requires_grad=True)
            >>> (3 * x).sum().backward()
            >>> x.grad
            array([3., 3.], dtype=float32)
        """
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
        """The underlying array ``.data`` itself (shares memory, as ``torch.Tensor.numpy``).

        Returns:
            np.ndarray: writes to it change the tensor (they are not recorded). Differs from torch:
            allowed on a tensor that requires grad too.
        """
        return self.data

    def __array__(self, dtype=None, copy=None):
        arr = self.data
        if dtype is not None and np.dtype(dtype) != arr.dtype:
            return arr.astype(dtype)
        return arr.copy() if copy else arr

    def item(self):
        """The value of a one-element tensor as a Python number.

        Returns:
            float, int or bool (from the dtype).

        Raises:
            ValueError: the tensor has more or fewer than one element (torch raises
                RuntimeError).
        """
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted to a Python "
                             f"scalar, this one has {self.data.size} elements")
        return self.data.item()

    def tolist(self):
        """The data as nested Python lists of Python numbers (a number for a 0-d tensor)."""
        return self.data.tolist()

    def __float__(self):
        return float(self.item())

    def __format__(self, spec):
        """One-element tensors format as their number (f"{loss:.3f}"), as torch's."""
        if self.data.size == 1 and spec:
            return format(self.item(), spec)
        return format(repr(self), spec) if spec else repr(self)

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
        """The same data (shared, not copied) without history, not requiring grad.

        Returns:
            Tensor: a leaf. In-place writes to it change this tensor too and are seen by the
            backward of ops that saved this tensor (it then raises), as in torch.
        """
        out = _view(_wrap(self.data), self, track=False)
        if _state.trace is not None:        # a tracer sees the value it was computed from
            _state.trace.untracked(out, (self,), _DETACH)
        return out

    def clone(self):
        """A copy of the data, differentiable (the gradient flows back unchanged).

        Returns:
            Tensor: same shape and dtype, its own memory.
        """
        return _make(self.data.copy(), (self,), _identity_grad, op=_CLONE, saves=())

    # -- dtype and device --------------------------------------------------------------------
    def _cast(self, dtype):
        """Differentiable cast (``self`` if the dtype already matches)."""
        dtype = _check_dtype(np.dtype(dtype), "dtype")
        if dtype == self.dtype:
            return self
        src = self.dtype
        return _make(self.data.astype(dtype), (self,), lambda g: (g.astype(src),), op=_CAST,
                     attrs=(dtype,), saves=())

    def to(self, *args, dtype=None, device=None, non_blocking=False, copy=False):
        """Cast and/or check the device, as ``torch.Tensor.to``: ``to(dtype)``, ``to(device)``,
        ``to(device, dtype)`` or ``to(other)`` (other's dtype).

        Args:
            *args: up to two of a dtype, a device (``"cpu"``, ``rnnfast.device``, an int) and a
                Tensor whose dtype to take.
            dtype (dtype, optional, keyword-only): the dtype. Default: ``None`` (unchanged).
            device (optional, keyword-only): must be ``None`` or the CPU. Default: ``None``.
            non_blocking (bool, optional, keyword-only): accepted for torch's code and ignored.
                Default: ``False``.
            copy (bool, optional, keyword-only): return a copy even when nothing changes.
                Default: ``False``.

        Returns:
            Tensor: ``self`` when the dtype already matches (and not ``copy``), else a
            differentiable cast.

        Raises:
            ValueError: a device other than the CPU (an int is a CUDA device, as in torch).
            TypeError: more than two positional arguments, or the dtype given twice.

        Example::

            >>> x = rnnfast.tensor([1, 2])
            >>> x.to("cpu") is x, x.to(rnnfast.float64).dtype
            (True, dtype('float64'))
        """
        if len(args) > 2:
            raise TypeError(f"to(): expected at most 2 positional arguments, got {len(args)}")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype if dtype is None else dtype
            elif _device.is_device_like(a) or (isinstance(a, int) and not isinstance(a, bool)):
                device = a
            elif dtype is None:
                dtype = a
            else:
                raise TypeError(f"to(): the dtype is given twice ({dtype!r} and {a!r})")
        _device.check_device(device)
        out = self if dtype is None else self._cast(dtype)
        return out.clone() if copy and out is self else out

    def astype(self, dtype):
        """NumPy's name for a differentiable cast (``to(dtype)``; not a torch method).

        Args:
            dtype (dtype): the target dtype.

        Returns:
            Tensor: ``self`` if the dtype already matches, else the cast.
        """
        return self._cast(dtype)

    def type(self, dtype=None):
        """Without ``dtype`` the type name, as torch's (``'rnnfast.FloatTensor'``); with ``dtype``
        the cast ``to(dtype)``.

        Args:
            dtype (dtype, optional): the dtype to cast to. Default: ``None``. Differs from torch:
                a dtype, not a type name string such as ``'torch.DoubleTensor'``.

        Returns:
            str or Tensor (``self`` if the dtype already matches).
        """
        if dtype is None:
            return "rnnfast." + _TYPE_NAMES.get(self.dtype, str(self.dtype)) + "Tensor"
        return self._cast(dtype)

    def type_as(self, other):
        """Cast to ``other``'s dtype (differentiable).

        Args:
            other (Tensor): the tensor whose dtype to take.

        Returns:
            Tensor: ``self`` if the dtypes already match, else the cast.
        """
        return self._cast(other.dtype)

    def float(self):
        """Cast to float32 (differentiable; ``self`` if already float32)."""
        return self._cast(np.float32)

    def double(self):
        """Cast to float64 (differentiable; ``self`` if already float64)."""
        return self._cast(np.float64)

    def long(self):
        """Cast to int64 (``self`` if already int64). The result records no gradient."""
        return self._cast(np.int64)

    def int(self):
        """Cast to int32 (``self`` if already int32). The result records no gradient."""
        return self._cast(np.int32)

    def bool(self):
        """Cast to bool (nonzero is True; ``self`` if already bool). The result records no
        gradient."""
        return self._cast(np.bool_)

    def is_floating_point(self):
        """Whether the dtype is a float dtype (float16, float32 or float64)."""
        return self.dtype.kind == "f"

    @property
    def device(self):
        """The tensor's device: always the CPU (``rnnfast.device("cpu")``)."""
        return _device.CPU

    is_cuda = False

    def cpu(self):
        """``self``: rnnfast tensors always live on the CPU."""
        return self

    def cuda(self, device=None, non_blocking=False):
        """Raises ValueError for a CUDA device: rnnfast runs on the CPU only (``is_cuda`` is False).

        Args:
            device (int, str or device, optional): the CUDA device torch's call would use.
                Default: ``None``.
            non_blocking (bool, optional): accepted for torch's code and ignored. Default:
                ``False``.

        Raises:
            ValueError: always, as torch on a machine without CUDA (a CPU ``device`` too: torch
                refuses it with "Invalid device, must be cuda device").
        """
        _device.refuse_cuda(device, "Tensor")

    def contiguous(self):
        """A tensor with C-contiguous data: ``self`` if it already is, else a copy (differentiable).

        Returns:
            Tensor
        """
        if self.data.flags.c_contiguous:
            return self
        return _make(np.ascontiguousarray(self.data), (self,), _identity_grad, op=_CONTIGUOUS,
                     saves=())

    def is_contiguous(self):
        """Whether the data is C-contiguous (row-major without gaps), e.g. False after ``t()``."""
        return bool(self.data.flags.c_contiguous)

    # -- backward ----------------------------------------------------------------------------
    def backward(self, grad=None, retain_graph=False):
        """Accumulate the gradient of this tensor with respect to every leaf that requires grad into
        the leaves' ``.grad``.

        Args:
            grad (Tensor or array, optional): the gradient of the final result with respect to
                this tensor, of its shape. Default: ``None``, ones (only for a one-element tensor).
            retain_graph (bool, optional): keep the graph for another backward. Default:
                ``False``: the graph is freed, and a second backward through it raises
                RuntimeError.

        Raises:
            RuntimeError: the tensor does not require grad, ``grad`` is missing for a tensor of
                more than one element or has another shape, the graph was freed, or a tensor
                that backward needs was modified in place after it was used.

        Differs from torch: no ``create_graph`` (no higher-order gradients) and no ``inputs``.

        Example::

            >>> x = rnnfast.tensor([1.0, 2.0], requires_grad=True)
            >>> y = x * x
            >>> y.backward(rnnfast.tensor([1.0, 0.5]))
            >>> x.grad.tolist()
            [2.0, 2.0]
        """
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

        if self._node is None:                  # a leaf: its own gradient
            if self._grad is None:
                self._grad = np.array(grad, dtype=self.dtype, copy=True)
            else:
                self._grad += grad
            return

        # Count the edges into every node the walk reaches (an iterative traversal: graphs of
        # unrolled loops are deep); a node runs once every node that feeds it a gradient has
        # run. Edges are the parents' nodes as recorded (node.edges).
        root = self._node
        deps = {root: 0}
        stack = [root]
        while stack:
            node = stack.pop()
            if node.fn is None:
                raise RuntimeError(
                    "Trying to backward through the graph a second time (or directly access "
                    "saved tensors after they have already been freed). Saved intermediate "
                    "values of the graph are freed when you call .backward(). Specify "
                    "retain_graph=True if you need to backward through the graph a second time.")
            for e in node.edges:
                pn = e[2]
                if pn is not None:
                    n = deps.get(pn)
                    if n is None:
                        deps[pn] = 1
                        stack.append(pn)
                    else:
                        deps[pn] = n + 1

        if root.nout:
            first = [None] * root.nout
            first[self._slot] = grad
            grads = {root: first}
        else:
            grads = {root: grad}
        # id -> [leaf tensor, summed gradient, whether the walk allocated it]: a leaf used
        # at every step of a loop (a weight) sums its gradients in place in one array
        leaves = {}
        # the gradients the walk itself allocated (sums of two or more contributions), keyed
        # by node or (node, slot): the next contributions are added in place, and only to
        # these (a closure's result may be shared, e.g. add hands g to both parents)
        owned = set()
        ready = [root]
        while ready:
            node = ready.pop()
            g = grads.pop(node, None)
            if owned:
                if node.nout:
                    for k in range(node.nout):
                        owned.discard((node, k))
                else:
                    owned.discard(node)
            if g is None:                       # no gradient reached it: only release its parents
                for e in node.edges:
                    pn = e[2]
                    if pn is not None:
                        n = deps[pn] - 1
                        deps[pn] = n
                        if not n:
                            ready.append(pn)
                continue
            if node.nout:                       # hand closures plain arrays, never views
                g = tuple([x if x is None or x.flags.c_contiguous else np.ascontiguousarray(x)
                           for x in g])
            elif not g.flags.c_contiguous:
                g = np.ascontiguousarray(g)
            if node.checks:
                _check_versions(node)
            pgrads = node.fn(g)
            if not isinstance(pgrads, (tuple, list)) or len(pgrads) != len(node.inputs):
                raise RuntimeError(f"backward of {node.name} returned {type(pgrads).__name__} "
                                   f"instead of one gradient per parent ({len(node.inputs)})")
            for i, p, pn, slot in node.edges:
                pg = pgrads[i]
                if pg is not None:
                    if type(pg) is not np.ndarray:
                        pg = np.asarray(pg)
                    pd = p.data
                    if pg.shape != pd.shape:
                        raise RuntimeError(f"backward of {node.name} returned a gradient of "
                                           f"shape {pg.shape} for a parent of shape {pd.shape}")
                    if pg.dtype != pd.dtype:
                        pg = pg.astype(pd.dtype)
                    if pn is None:
                        acc = leaves.get(id(p))
                        if acc is None:
                            leaves[id(p)] = [p, pg, False]
                        elif acc[2]:
                            acc[1] += pg
                        else:
                            acc[1] = _sum_array(acc[1], pg)
                            acc[2] = True
                    elif pn.nout:
                        slots = grads.get(pn)
                        if slots is None:
                            slots = grads[pn] = [None] * pn.nout
                        prev = slots[slot]
                        if prev is None:
                            slots[slot] = pg
                        elif (pn, slot) in owned:
                            prev += pg
                        else:
                            slots[slot] = _sum_array(prev, pg)
                            owned.add((pn, slot))
                    else:
                        prev = grads.get(pn)
                        if prev is None:
                            grads[pn] = pg
                        elif pn in owned:
                            prev += pg
                        else:
                            grads[pn] = _sum_array(prev, pg)
                            owned.add(pn)
                if pn is not None:
                    n = deps[pn] - 1
                    deps[pn] = n
                    if not n:
                        ready.append(pn)
            if not retain_graph:
                node.fn = None
                node.edges = node.checks = node.inputs = node.attrs = ()
        for t, g, owned in leaves.values():
            if t._grad is None:
                t._grad = g if owned and g.flags.c_contiguous else np.array(g, dtype=t.dtype,
                                                                              copy=True)
            else:
                t._grad += g

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

    # Binary ops: a Python int or float with a float tensor takes a fast path without a tensor
    # for the scalar (NumPy's weak scalars keep the tensor's dtype, as _operand does); and a
    # gradient of the operand's own shape skips unbroadcast.
    def __add__(self, other):
        a = self
        t = type(other)
        if (t is float or t is int) and a.data.dtype.kind == "f":
            return _make(a.data + other, (a,), _identity_grad, op=_ADD_SCALAR, attrs=(other,),
                         saves=())
        b = other if isinstance(other, Tensor) else self._operand(other)
        sa, sb = a.data.shape, b.data.shape

        def backward(g):
            return ((g if g.shape == sa else unbroadcast(g, sa)) if a._requires_grad else None,
                    (g if g.shape == sb else unbroadcast(g, sb)) if b._requires_grad else None)
        return _make(a.data + b.data, (a, b), backward, op=_ADD, saves=())

    def __radd__(self, other):
        t = type(other)
        if (t is float or t is int) and self.data.dtype.kind == "f":
            return _make(other + self.data, (self,), _identity_grad, op=_ADD_SCALAR,
                         attrs=(other,), saves=())
        return self._operand(other).__add__(self)

    def __sub__(self, other):
        a = self
        t = type(other)
        if (t is float or t is int) and a.data.dtype.kind == "f":
            return _make(a.data - other, (a,), _identity_grad, op=_SUB_SCALAR, attrs=(other,),
                         saves=())
        b = other if isinstance(other, Tensor) else self._operand(other)
        sa, sb = a.data.shape, b.data.shape

        def backward(g):
            return ((g if g.shape == sa else unbroadcast(g, sa)) if a._requires_grad else None,
                    (-g if g.shape == sb else unbroadcast(-g, sb)) if b._requires_grad
                    else None)
        return _make(a.data - b.data, (a, b), backward, op=_SUB, saves=())

    def __rsub__(self, other):
        t = type(other)
        if (t is float or t is int) and self.data.dtype.kind == "f":
            return _make(other - self.data, (self,), _negated_grad, op=_RSUB_SCALAR,
                         attrs=(other,), saves=())
        return self._operand(other).__sub__(self)

    def __mul__(self, other):
        a = self
        t = type(other)
        if (t is float or t is int) and a.data.dtype.kind == "f":
            return _make(a.data * other, (a,), lambda g: (g * other,), op=_MUL_SCALAR,
                         attrs=(other,), saves=())
        b = other if isinstance(other, Tensor) else self._operand(other)
        sa, sb = a.data.shape, b.data.shape

        def backward(g):
            ga = gb = None
            if a._requires_grad:
                ga = g * b.data
                if ga.shape != sa:
                    ga = unbroadcast(ga, sa)
            if b._requires_grad:
                gb = g * a.data
                if gb.shape != sb:
                    gb = unbroadcast(gb, sb)
            return ga, gb
        return _make(a.data * b.data, (a, b), backward, op=_MUL, saves=_cross_saves(a, b))

    def __rmul__(self, other):
        t = type(other)
        if (t is float or t is int) and self.data.dtype.kind == "f":
            return _make(other * self.data, (self,), lambda g: (g * other,), op=_MUL_SCALAR,
                         attrs=(other,), saves=())
        return self._operand(other).__mul__(self)

    def __truediv__(self, other):
        a = self
        t = type(other)
        if (t is float or t is int) and a.data.dtype.kind == "f":
            return _make(a.data / other, (a,), lambda g: (g / other,), op=_DIV_SCALAR,
                         attrs=(other,), saves=())
        b = other if isinstance(other, Tensor) else self._operand(other)
        sa, sb = a.data.shape, b.data.shape

        def backward(g):
            ga = gb = None
            if a._requires_grad:
                ga = g / b.data
                if ga.shape != sa:
                    ga = unbroadcast(ga, sa)
            if b._requires_grad:
                gb = -g * a.data / (b.data * b.data)
                if gb.shape != sb:
                    gb = unbroadcast(gb, sb)
            return ga, gb
        return _make(a.data / b.data, (a, b), backward, op=_DIV,
                     saves=(1,) if not b._requires_grad else (0, 1))

    def __rtruediv__(self, other):
        t = type(other)
        if (t is float or t is int) and self.data.dtype.kind == "f":
            x = self.data
            return _make(other / x, (self,), lambda g: (-g * other / (x * x),),
                         op=_RDIV_SCALAR, attrs=(other,))
        return self._operand(other).__truediv__(self)

    def __neg__(self):
        return _make(-self.data, (self,), _negated_grad, op=_NEG, saves=())

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
            return _make(out, (a,), backward_scalar, op=_POW_SCALAR, attrs=(p,))
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
        return _make(out, (a, b), backward, op=_POW, saves_out=True)

    def __rpow__(self, other):
        return self._operand(other).__pow__(self)

    def __matmul__(self, other):
        b = self._operand(other)
        a = self
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least 1 dim, got shapes {a.shape} "
                             f"and {b.shape}")
        if a.ndim == 2 and b.ndim == 2:
            def backward2(g):
                return (_mm(g, b.data.T) if a._requires_grad else None,
                        _mm(a.data.T, g) if b._requires_grad else None)
            return _make(_mm(a.data, b.data), (a, b), backward2, op=_MATMUL,
                         saves=_cross_saves(a, b))
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
        return _make(out, (a, b), backward, op=_MATMUL, saves=_cross_saves(a, b))

    def __rmatmul__(self, other):
        return self._operand(other).__matmul__(self)

    # -- comparisons and logic (no gradient) -------------------------------------------------
    def _compare(self, other, op):
        o = other.data if isinstance(other, Tensor) else other
        return _untracked(np.asarray(op(self.data, o)), (self, other), _LOGIC_OPS[op])

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
        return _untracked(np.asarray(~self.data), (self,), _INVERT)

    def __and__(self, other):
        return self._compare(other, np.bitwise_and)

    def __or__(self, other):
        return self._compare(other, np.bitwise_or)

    def __xor__(self, other):
        return self._compare(other, np.bitwise_xor)

    # -- indexing and shape ------------------------------------------------------------------
    def __getitem__(self, idx):
        # A trailing ... keeps a full integer index a 0-d view (NumPy would copy a scalar
        # out), so t[i].fill_(v) writes into t as in torch. Ints, slices and tuples of them
        # (and None, ...) take a fast path; everything else goes through _index_data.
        t = type(idx)
        basic = None
        if t is int or t is slice:
            basic = True
            out = self.data[idx, ...]
        elif t is tuple:
            ellipsis = False
            for i in idx:
                ti = type(i)
                if ti is int or ti is slice or i is None:
                    continue
                if i is Ellipsis:
                    ellipsis = True
                    continue
                break
            else:
                basic = True
                out = self.data[idx if ellipsis else idx + (Ellipsis,)]
        if basic is None:
            idx = _index_data(idx)
            basic = _is_basic_index(idx)
            if basic and not any(i is Ellipsis
                                 for i in (idx if isinstance(idx, tuple) else (idx,))):
                out = self.data[(idx if isinstance(idx, tuple) else (idx,)) + (Ellipsis,)]
            else:
                out = self.data[idx]
        shape = self.data.shape

        def backward(g):
            if not basic:                   # repeated integer indices accumulate
                return (_index_backward(shape, idx, g),)
            full = np.zeros(shape, dtype=g.dtype)
            full[idx] = g                   # a basic index selects every element at most once
            return (full,)
        res = _make(out, (self,), backward, op=_GETITEM, attrs=(idx,), saves=())
        return _view(res, self) if basic else res       # advanced indexing copies

    def reshape(self, *shape):
        """The same data with another shape; ``view`` is the same method.

        Args:
            *shape (ints, or one tuple or list of ints): the new shape; one size may be -1
                (inferred).

        Returns:
            Tensor: a view sharing the data when NumPy can reshape without copying, else a copy.
            Differs from torch: ``view`` copies where torch's ``view`` raises (non-contiguous
            data), so an in-place write into its result may not reach ``self``.

        Raises:
            ValueError: the sizes do not match the number of elements (NumPy's message).

        Example::

            >>> x = rnnfast.zeros(2, 3)
            >>> x.view(-1).shape, x.reshape((3, 2)).shape
            ((6,), (3, 2))
        """
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        src = self.shape
        out = self.data.reshape(shape)
        return _view(_make(out, (self,), lambda g: (g.reshape(src),), op=_RESHAPE,
                           attrs=(out.shape,), saves=()), self, check=True)

    view = reshape

    def view_as(self, other):
        """``reshape(other.shape)``; ``reshape_as`` is the same method.

        Args:
            other (Tensor): the tensor whose shape to take.

        Returns:
            Tensor: a view when possible, else a copy (see ``reshape``).
        """
        return self.reshape(other.shape)

    reshape_as = view_as

    def transpose(self, dim0, dim1):
        """Swap two dims (a view, differentiable).

        Args:
            dim0 (int): one dim.
            dim1 (int): the other.

        Returns:
            Tensor: shares the data (not contiguous in general).
        """
        d0, d1 = _norm_dim(dim0, self.ndim, "dim0"), _norm_dim(dim1, self.ndim, "dim1")
        return _view(_make(np.swapaxes(self.data, d0, d1), (self,),
                           lambda g: (np.swapaxes(g, d0, d1),), op=_TRANSPOSE,
                           attrs=(d0, d1), saves=()), self)

    def t(self):
        """The transpose of a tensor of at most 2 dims (``self`` for 0 or 1 dims), as
        ``torch.Tensor.t``; a view.

        Raises:
            ValueError: more than 2 dims (use ``transpose(dim0, dim1)``).
        """
        if self.ndim > 2:
            raise ValueError(f"t(): expected a tensor of at most 2 dims, got {self.ndim} "
                             f"(use transpose(dim0, dim1))")
        return self if self.ndim < 2 else self.transpose(0, 1)

    def permute(self, *dims):
        """Reorder the dims (a view, differentiable).

        Args:
            *dims (ints, or one tuple or list of ints): a permutation of the dims (negative
                dims count from the end): result dim i is ``self``'s dim ``dims[i]``.

        Returns:
            Tensor: shares the data.

        Raises:
            ValueError: ``dims`` is not a permutation of all the dims.

        Example::

            >>> rnnfast.zeros(2, 3, 4).permute(2, 0, 1).shape
            (4, 2, 3)
        """
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        axes = tuple(_norm_dim(d, self.ndim, "dims") for d in dims)
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"dims: {dims} is not a permutation of the {self.ndim} dims")
        inv = tuple(np.argsort(axes))
        return _view(_make(np.transpose(self.data, axes), (self,),
                           lambda g: (np.transpose(g, inv),), op=_PERMUTE, attrs=(axes,),
                           saves=()),
                     self)

    @property
    def T(self):
        """All dims reversed (``permute(n-1, ..., 0)``, a view), as NumPy's ``.T`` (torch's ``.T``
        is the same but deprecated for other than 2 dims)."""
        return self.permute(*reversed(range(self.ndim)))

    def squeeze(self, dim=None):
        """Remove dims of size 1 (a view, differentiable).

        Args:
            dim (int or tuple of ints, optional): the dims to remove if their size is 1 (others
                are kept). Default: ``None``, every dim of size 1.

        Returns:
            Tensor: shares the data.
        """
        if dim is None:
            axes = tuple(i for i, s in enumerate(self.shape) if s == 1)
        else:
            axes = tuple(a for a in _norm_dims(dim, self.ndim) if self.shape[a] == 1)
        src = self.shape
        return _view(_make(self.data.squeeze(axes), (self,), lambda g: (g.reshape(src),),
                           op=_SQUEEZE, attrs=(axes,), saves=()), self)

    def unsqueeze(self, dim):
        """Insert a dim of size 1 (a view, differentiable).

        Args:
            dim (int): its position in the result, in ``[-ndim - 1, ndim]``.

        Returns:
            Tensor: shares the data.
        """
        d = _norm_dim(dim, self.ndim + 1)
        src = self.shape
        return _view(_make(self.data[(slice(None),) * d + (None,)], (self,),
                           lambda g: (g.reshape(src),), op=_UNSQUEEZE, attrs=(d,), saves=()),
                     self)

    def flatten(self, start_dim=0, end_dim=-1):
        """Merge the dims ``start_dim`` to ``end_dim`` into one (``reshape``).

        Args:
            start_dim (int, optional): the first dim merged. Default: 0.
            end_dim (int, optional): the last dim merged. Default: -1.

        Returns:
            Tensor: a view when possible, else a copy; a 0-d tensor gives shape ``(1,)``.

        Raises:
            ValueError: ``start_dim`` comes after ``end_dim``.
        """
        if self.ndim == 0:
            return self.reshape(1)
        s, e = _norm_dim(start_dim, self.ndim, "start_dim"), _norm_dim(end_dim, self.ndim,
                                                                       "end_dim")
        if s > e:
            raise ValueError(f"flatten: start_dim ({start_dim}) comes after end_dim ({end_dim})")
        shape = self.shape[:s] + (int(np.prod(self.shape[s:e + 1])),) + self.shape[e + 1:]
        return self.reshape(shape)

    def expand(self, *shape):
        """Broadcast to a larger shape without copying (differentiable).

        Args:
            *shape (ints, or one tuple or list of ints): the new shape; -1 keeps that dim's size;
                new dims are added at the front.

        Returns:
            Tensor: a read-only view (as NumPy's ``broadcast_to``): an in-place write into it
            raises ValueError, where torch writes into the shared memory.
        """
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        lead = len(shape) - self.ndim
        shape = tuple(self.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
        src = self.shape
        return _view(_make(np.broadcast_to(self.data, shape), (self,),
                           lambda g: (unbroadcast(g, src),), op=_EXPAND, attrs=(shape,),
                           saves=()),
                     self)

    def expand_as(self, other):
        """``expand(other.shape)``.

        Args:
            other (Tensor): the tensor whose shape to take.

        Returns:
            Tensor: a read-only view.
        """
        return self.expand(other.shape)

    def chunk(self, chunks, dim=0):
        """Split into ``chunks`` pieces of equal size along ``dim`` (the last one may be
        smaller, and there may be fewer pieces, as in torch).

        Args:
            chunks (int): the number of pieces, at least 1.
            dim (int, optional): the dim to split. Default: 0.

        Returns:
            tuple of Tensors: views (each piece has size ``ceil(size / chunks)`` along ``dim``
            but the last).

        Raises:
            ValueError: ``chunks`` is not an int >= 1.
        """
        d = _norm_dim(dim, self.ndim)
        if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks < 1:
            raise ValueError(f"chunks: expected an int >= 1, got {chunks!r}")
        n = self.shape[d]
        step = -(-n // chunks)
        pre = (slice(None),) * d
        return tuple(self[pre + (slice(i, i + step),)] for i in range(0, n, step))

    # -- reductions --------------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False):
        """The sum over ``dim`` (differentiable).

        Args:
            dim (int or tuple of ints, optional): the dims to reduce. Default: ``None``, all.
            keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.

        Returns:
            Tensor: float tensors keep their dtype; bool and integer tensors sum as NumPy does
            (int64 for bool, int32 and int64).
        """
        x = self.data
        axes, shape = (None if dim is None else _norm_dims(dim, x.ndim)), x.shape
        kept = _kept_shape(shape, axes, keepdim)
        # np.add.reduce is what np.sum runs for an ndarray, without its Python wrapper
        return _make(np.add.reduce(x, axis=axes, keepdims=keepdim), (self,),
                     lambda g: (_sum_grad(g, shape, kept),), op=_SUM, attrs=(axes, keepdim),
                     saves=())

    def mean(self, dim=None, keepdim=False):
        """The mean over ``dim`` (differentiable).

        Args:
            dim (int or tuple of ints, optional): the dims to reduce. Default: ``None``, all.
            keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.

        Returns:
            Tensor: float tensors keep their dtype. Differs from torch (which raises): integer and
            bool tensors give their float64 mean, as NumPy.
        """
        x = self.data
        axes, shape = (None if dim is None else _norm_dims(dim, x.ndim)), x.shape
        count = x.size if axes is None else int(np.prod([shape[a] for a in axes]))
        kept = _kept_shape(shape, axes, keepdim)
        if x.dtype == np.float32 or x.dtype == np.float64:
            out = np.add.reduce(x, axis=axes, keepdims=keepdim) / count    # as np.mean does
        else:
            out = np.mean(x, axis=axes, keepdims=keepdim)
        return _make(out, (self,), lambda g: (_sum_grad(g / count, shape, kept),), op=_MEAN,
                     attrs=(axes, keepdim), saves=())

    def _extreme(self, fn, dim, keepdim, op):
        axes, shape, x = _norm_dims(dim, self.ndim), self.shape, self.data
        out = fn(x, axis=axes, keepdims=True)

        def backward(g):
            # Ties share the gradient equally (torch does so for the full reduction).
            mask = (x == out)
            g = _expand_reduced(g, shape, axes, keepdim)
            return (g * mask / mask.sum(axis=axes, keepdims=True),)
        res = out if keepdim else (np.squeeze(out, axes) if axes is not None
                                   else out.reshape(()))
        return _make(res, (self,), backward, op=op, attrs=(axes, keepdim))

    def amax(self, dim=None, keepdim=False):
        """The maximum over ``dim``, as ``torch.amax``; tied maxima share the gradient equally.

        Args:
            dim (int or tuple of ints, optional): the dims to reduce. Default: ``None``, all.
            keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.

        Returns:
            Tensor: the maxima (no indices; see ``max``).
        """
        return self._extreme(np.max, dim, keepdim, _AMAX)

    def amin(self, dim=None, keepdim=False):
        """The minimum over ``dim``, as ``torch.amin``; tied minima share the gradient equally.

        Args:
            dim (int or tuple of ints, optional): the dims to reduce. Default: ``None``, all.
            keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.

        Returns:
            Tensor: the minima.
        """
        return self._extreme(np.min, dim, keepdim, _AMIN)

    def _extreme_dim(self, fn, dim, keepdim, op):
        """(values, indices) along one dim, the gradient going to the chosen index."""
        d = _norm_dim(dim, self.ndim)
        x = self.data if self.ndim else self.data.reshape(1)
        which = op.name[:3]
        if x.shape[d] == 0:
            raise IndexError(f"{which}(): cannot reduce dim {dim} of size 0")
        idx = np.expand_dims(fn(x, axis=d), d)
        vals = np.take_along_axis(x, idx, axis=d)
        shape = self.shape

        def backward(g):
            full = np.zeros(x.shape, dtype=g.dtype)
            np.put_along_axis(full, idx, g if keepdim else np.expand_dims(g, d), axis=d)
            return (full.reshape(shape),)
        ind = idx
        if not keepdim or self.ndim == 0:
            vals, ind = np.squeeze(vals, d), np.squeeze(idx, d)
            if self.ndim == 0:
                vals, ind = vals.reshape(()), ind.reshape(())
        values = _make(vals, (self,), backward, op=op,
                       attrs=((d,) if self.ndim else None, keepdim), saves=())
        return _MaxMin[which](values, _untracked(
            ind.astype(np.int64), (self,), _ARGMAX if which == "max" else _ARGMIN,
            (d if self.ndim else None, keepdim)))

    def _max_min(self, dim, keepdim, which):
        if isinstance(dim, Tensor):     # max(other): the elementwise maximum
            if keepdim:
                raise TypeError(f"{which}(): keepdim goes with a dim, not another tensor")
            return _binary_extreme(self, dim, which)
        if dim is not None and not _is_size(dim):
            raise TypeError(f"dim: expected an int (or another tensor), got "
                            f"{type(dim).__name__}")
        if dim is None:
            if keepdim:
                raise TypeError(f"{which}(): keepdim needs a dim")
            if self.data.size == 0:
                raise ValueError(f"{which}(): the tensor is empty; give a dim to reduce")
            return self._extreme(np.max if which == "max" else np.min, None, False,
                                 _MAX_ALL if which == "max" else _MIN_ALL)
        return self._extreme_dim(np.argmax if which == "max" else np.argmin, dim, keepdim,
                                 _MAX_DIM if which == "max" else _MIN_DIM)

    def max(self, dim=None, keepdim=False):
        """The maximum, as ``torch.Tensor.max``: of all entries, along one dim with its index, or
        elementwise with another tensor.

        Args:
            dim (int or Tensor, optional): the dim to reduce, or a tensor to compare with
                elementwise (as ``maximum``). Default: ``None``, all entries.
            keepdim (bool, optional): keep the reduced dim with size 1 (only with an int
                ``dim``). Default: ``False``.

        Returns:
            Tensor (without ``dim``: a 0-d tensor, tied maxima sharing the gradient; with a
            tensor: the elementwise maximum) or, with an int ``dim``, a named tuple ``(values,
            indices)`` with the first maximal index (int64), the gradient going to it.

        Raises:
            ValueError: an empty tensor without ``dim``. IndexError: a ``dim`` of size 0.
            TypeError: ``keepdim`` without an int ``dim``.

        Example::

            >>> x = rnnfast.tensor([[1.0, 5.0], [3.0, 2.0]])
            >>> x.max(), x.max(dim=1).indices
            (tensor(5.), tensor([1, 0]))
        """
        return self._max_min(dim, keepdim, "max")

    def min(self, dim=None, keepdim=False):
        """The minimum, as ``torch.Tensor.min``: of all entries, along one dim with its index, or
        elementwise with another tensor (see ``max``).

        Args:
            dim (int or Tensor, optional): the dim to reduce, or a tensor to compare with
                elementwise. Default: ``None``, all entries.
            keepdim (bool, optional): keep the reduced dim with size 1 (only with an int
                ``dim``). Default: ``False``.

        Returns:
            Tensor or a named tuple ``(values, indices)`` (with an int ``dim``).
        """
        return self._max_min(dim, keepdim, "min")

    def maximum(self, other):
        """The elementwise maximum with ``other`` (broadcast); where they are equal each gets half
        the gradient, as torch.

        Args:
            other (Tensor, array or number): the other operand.

        Returns:
            Tensor
        """
        return _binary_extreme(self, self._operand(other), "max")

    def minimum(self, other):
        """The elementwise minimum with ``other`` (broadcast); where they are equal each gets half
        the gradient, as torch.

        Args:
            other (Tensor, array or number): the other operand.

        Returns:
            Tensor
        """
        return _binary_extreme(self, self._operand(other), "min")

    def argmax(self, dim=None, keepdim=False):
        """The index of the maximum (the first one where tied), without gradient.

        Args:
            dim (int, optional): the dim to reduce. Default: ``None``: the index into the
                flattened tensor.
            keepdim (bool, optional): keep the reduced dim with size 1 (with ``dim`` only).
                Default: ``False``.

        Returns:
            Tensor: int64 indices.
        """
        if dim is None:
            return _untracked(np.asarray(np.argmax(self.data)), (self,), _ARGMAX, (None, False))
        d = _norm_dim(dim, self.ndim)
        return _untracked(np.argmax(self.data, axis=d, keepdims=keepdim), (self,), _ARGMAX,
                          (d, keepdim))

    def argmin(self, dim=None, keepdim=False):
        """The index of the minimum (the first one where tied), without gradient.

        Args:
            dim (int, optional): the dim to reduce. Default: ``None``: the index into the
                flattened tensor.
            keepdim (bool, optional): keep the reduced dim with size 1 (with ``dim`` only).
                Default: ``False``.

        Returns:
            Tensor: int64 indices.
        """
        if dim is None:
            return _untracked(np.asarray(np.argmin(self.data)), (self,), _ARGMIN, (None, False))
        d = _norm_dim(dim, self.ndim)
        return _untracked(np.argmin(self.data, axis=d, keepdims=keepdim), (self,), _ARGMIN,
                          (d, keepdim))

    def all(self, dim=None, keepdim=False):
        """Whether every entry is nonzero (True) over ``dim``.

        Args:
            dim (int or tuple of ints, optional): the dims to reduce. Default: ``None``, all.
            keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.

        Returns:
            Tensor: bool, without gradient.
        """
        axes = _norm_dims(dim, self.ndim)
        return _untracked(np.asarray(np.all(self.data, axis=axes, keepdims=keepdim)), (self,),
                          _ALL, (axes, keepdim))

    def any(self, dim=None, keepdim=False):
        """Whether any entry is nonzero (True) over ``dim``.

        Args:
            dim (int or tuple of ints, optional): the dims to reduce. Default: ``None``, all.
            keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.

        Returns:
            Tensor: bool, without gradient.
        """
        axes = _norm_dims(dim, self.ndim)
        return _untracked(np.asarray(np.any(self.data, axis=axes, keepdims=keepdim)), (self,),
                          _ANY, (axes, keepdim))

    def cumsum(self, dim):
        """The cumulative sum along ``dim`` (differentiable).

        Args:
            dim (int): the dim to sum along.

        Returns:
            Tensor: same shape; bool and integer tensors give int64, as torch.
        """
        d = _norm_dim(dim, self.ndim)
        x = self.data
        out = np.cumsum(x, axis=d, dtype=np.int64 if x.dtype.kind in "biu" else x.dtype)

        def backward(g):    # d/dx_j sum_{i>=j} g_i: a reversed cumulative sum
            return (np.flip(np.cumsum(np.flip(g, d), axis=d), d),)
        return _make(out.reshape(self.shape), (self,), backward, op=_CUMSUM, attrs=(d,),
                     saves=())

    def topk(self, k, dim=-1, largest=True, sorted=True):
        """The ``k`` largest (or smallest) entries along ``dim``, as ``torch.topk``.

        Args:
            k (int): how many, ``0 <= k <=`` the size of ``dim``.
            dim (int, optional): the dim to search. Default: -1.
            largest (bool, optional): the largest (else the smallest). Default: ``True``.
            sorted (bool, optional): accepted for torch's code; the entries always come sorted
                (largest first, or smallest first), ties lower index first. Default: ``True``.

        Returns:
            named tuple ``(values, indices)``: values differentiable (the gradient goes to the
            chosen entries), indices int64.

        Raises:
            TypeError: ``k`` is not an int. IndexError: ``k`` out of range.

        Example::

            >>> rnnfast.tensor([1.0, 4.0, 2.0, 4.0]).topk(2).indices
            tensor([1, 3])
        """
        d = _norm_dim(dim, self.ndim)
        n = self.shape[d] if self.ndim else 1
        if not _is_size(k):
            raise TypeError(f"k: expected an int, got {type(k).__name__}")
        if not 0 <= k <= n:
            raise IndexError(f"k: expected 0 <= k <= {n} (the size of dim {dim}), got {k}")
        x = self.data if self.ndim else self.data.reshape(1)
        idx = np.argsort(_descending_key(x) if largest else x, axis=d, kind="stable")
        idx = np.take(idx, np.arange(k), axis=d)
        return self._gather_values(x, idx, d, "topk", (_TOPK, _TOPK_INDICES),
                                   (k, d, bool(largest)))

    def sort(self, dim=-1, descending=False, stable=False):
        """Sort along ``dim``, as ``torch.sort``.

        Args:
            dim (int, optional): the dim to sort. Default: -1.
            descending (bool, optional): largest first. Default: ``False``.
            stable (bool, optional): accepted for torch's code; the sort is always stable (equal
                entries keep their order). Default: ``False``.

        Returns:
            named tuple ``(values, indices)``: values differentiable, indices int64 (where each
            value came from).
        """
        d = _norm_dim(dim, self.ndim)
        x = self.data if self.ndim else self.data.reshape(1)
        idx = np.argsort(_descending_key(x) if descending else x, axis=d, kind="stable")
        return self._gather_values(x, idx, d, "sort", (_SORT, _SORT_INDICES),
                                   (d, bool(descending)))

    def argsort(self, dim=-1, descending=False, stable=False):
        """The indices that sort along ``dim`` (``sort(...).indices``; always a stable sort).

        Args:
            dim (int, optional): the dim to sort. Default: -1.
            descending (bool, optional): largest first. Default: ``False``.
            stable (bool, optional): accepted; the sort is stable either way. Default: ``False``.

        Returns:
            Tensor: int64 indices.
        """
        return self.sort(dim, descending, stable).indices

    def _gather_values(self, x, idx, d, kind, ops, attrs):
        shape = self.shape
        vals = np.take_along_axis(x, idx, axis=d)

        def backward(g):
            full = np.zeros(x.shape, dtype=g.dtype)
            np.put_along_axis(full, idx, g, axis=d)
            return (full.reshape(shape),)
        ind = idx.reshape(shape) if self.ndim == 0 else idx
        if self.ndim == 0:
            vals = vals.reshape(shape)
        return _MaxMin[kind](_make(vals, (self,), backward, op=ops[0], attrs=attrs, saves=()),
                             _untracked(ind.astype(np.int64), (self,), ops[1], attrs))

    # -- elementwise functions ---------------------------------------------------------------
    def exp(self):
        """``e ** x``, elementwise (differentiable).

        Returns:
            Tensor: same shape and dtype.
        """
        out = np.exp(self.data)
        return _make(out, (self,), lambda g: (g * out,), op=_EXP, saves=(),
                     saves_out=True)

    def log(self):
        """The natural logarithm, elementwise (differentiable).

        Returns:
            Tensor: same shape and dtype; ``-inf`` at 0 and ``nan`` below 0.
        """
        x = self.data
        return _make(np.log(x), (self,), lambda g: (g / x,), op=_LOG)

    def sqrt(self):
        """The square root, elementwise (differentiable).

        Returns:
            Tensor: same shape and dtype; ``nan`` below 0.
        """
        out = np.sqrt(self.data)
        return _make(out, (self,), lambda g: (g / (2 * out),), op=_SQRT, saves=(),
                     saves_out=True)

    def tanh(self):
        """The hyperbolic tangent, elementwise (differentiable).

        Returns:
            Tensor: same shape and dtype.
        """
        out = np.tanh(self.data)
        return _make(out, (self,), lambda g: (g * (1 - out * out),), op=_TANH, saves=(),
                     saves_out=True)

    def sigmoid(self):
        """The logistic sigmoid ``1 / (1 + exp(-x))``, elementwise (differentiable).

        Returns:
            Tensor: same shape and dtype; no overflow warning for large negative ``x``
            (the result is 0 there).
        """
        out = _stable_sigmoid(self.data)
        return _make(out, (self,), lambda g: (g * out * (1 - out),), op=_SIGMOID, saves=(),
                     saves_out=True)

    def relu(self):
        """``max(x, 0)``, elementwise (differentiable; the gradient at 0 is 0).

        Returns:
            Tensor: same shape and dtype.
        """
        x = self.data
        return _make(np.maximum(x, 0).astype(x.dtype, copy=False), (self,),
                     lambda g: (g * (x > 0),), op=_RELU)

    def abs(self):
        """The absolute value, elementwise (differentiable; the gradient at 0 is 0).

        Returns:
            Tensor: same shape and dtype.
        """
        x = self.data
        return _make(np.abs(x), (self,), lambda g: (g * np.sign(x),), op=_ABS)

    __abs__ = abs

    def clamp(self, min=None, max=None):
        """Limit the entries to ``[min, max]`` (differentiable: the gradient passes where the entry
        is within the bounds, bounds included); ``clip`` is the same method.

        Args:
            min (number or Tensor, optional): the lower bound. Default: ``None``, none.
            max (number or Tensor, optional): the upper bound. Default: ``None``, none.

        Returns:
            Tensor: same shape and dtype. No gradient flows to tensor bounds.

        Raises:
            ValueError: neither ``min`` nor ``max`` given.
        """
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        x = self.data
        lo = -np.inf if min is None else (min.data if isinstance(min, Tensor) else min)
        hi = np.inf if max is None else (max.data if isinstance(max, Tensor) else max)
        out = np.clip(x, lo, hi).astype(x.dtype, copy=False)
        # the bounds as given (a Tensor keeps its history for a tracer), -inf / inf if not
        return _make(out, (self,), lambda g: (g * ((x >= lo) & (x <= hi)),), op=_CLAMP,
                     attrs=(lo if min is None else min, hi if max is None else max))

    clip = clamp

    def _piecewise_constant(self, fn, op):
        """round / floor / ceil / sign: their gradient is zero (as torch defines it)."""
        return _make(fn(self.data), (self,), lambda g: (np.zeros_like(g),), op=op, saves=())

    def round(self):
        """Round half to even, as ``torch.round``, elementwise (the gradient is zero).

        Returns:
            Tensor: same shape and dtype.
        """
        return self._piecewise_constant(np.round, _ROUND)

    def floor(self):
        """Round down, elementwise (the gradient is zero).

        Returns:
            Tensor: same shape and dtype.
        """
        return self._piecewise_constant(np.floor, _FLOOR)

    def ceil(self):
        """Round up, elementwise (the gradient is zero).

        Returns:
            Tensor: same shape and dtype.
        """
        return self._piecewise_constant(np.ceil, _CEIL)

    def sign(self):
        """-1, 0 or 1 by the sign, elementwise (the gradient is zero).

        Returns:
            Tensor: same shape and dtype.
        """
        return self._piecewise_constant(np.sign, _SIGN)

    def var(self, dim=None, unbiased=True, keepdim=False, *, correction=None):
        """The variance over ``dim``, with Bessel's correction by default, as ``torch.var``
        (differentiable).

        Args:
            dim (int or tuple of ints, optional): the dims to reduce. Default: ``None``, all.
            unbiased (bool, optional): divide by ``n - 1`` (else ``n``). Default: ``True``.
            keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.
            correction (int, optional, keyword-only): divide by ``n - correction``; overrides
                ``unbiased``. Default: ``None``.

        Returns:
            Tensor: ``inf`` or ``nan`` where ``n - correction <= 0``.

        Raises:
            TypeError: a tensor that is not floating point.
        """
        if not _is_float(self.dtype):
            raise TypeError(f"var(): expected a floating point tensor, got dtype {self.dtype}")
        c = (1 if unbiased else 0) if correction is None else correction
        axes = _norm_dims(dim, self.ndim)
        n = self.data.size if axes is None else int(np.prod([self.shape[a] for a in axes]))
        centered = self - self.mean(dim, keepdim=True)
        return (centered * centered).sum(dim, keepdim) / max(n - c, 0)

    def std(self, dim=None, unbiased=True, keepdim=False, *, correction=None):
        """The standard deviation over ``dim``: ``var(...).sqrt()``, as ``torch.std``.

        Args:
            dim (int or tuple of ints, optional): the dims to reduce. Default: ``None``, all.
            unbiased (bool, optional): divide by ``n - 1`` (else ``n``). Default: ``True``.
            keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.
            correction (int, optional, keyword-only): divide by ``n - correction``; overrides
                ``unbiased``. Default: ``None``.

        Returns:
            Tensor

        Raises:
            TypeError: a tensor that is not floating point.
        """
        return self.var(dim, unbiased, keepdim, correction=correction).sqrt()

    def norm(self, p=2, dim=None, keepdim=False):
        """The ``p``-norm over ``dim`` (differentiable; the gradient at a zero vector is zero, as
        torch's).

        Args:
            p (number or ``"fro"``, optional): the order, a number >= 1 (``inf``: the largest
                absolute value) or ``"fro"`` (2). Default: 2.
            dim (int or tuple of ints, optional): the dims to reduce. Default: ``None``, all
                entries (as one vector).
            keepdim (bool, optional): keep the reduced dims with size 1. Default: ``False``.

        Returns:
            Tensor

        Raises:
            ValueError: ``p`` below 1 or not a number (the nuclear norm and p < 1 are not
                implemented).
        """
        if p == "fro":
            p = 2
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not p >= 1:
            raise ValueError(f"p: expected a number >= 1 or 'fro', got {p!r}")
        if p == np.inf:
            return self.abs().amax(dim, keepdim)
        axes, shape, x = _norm_dims(dim, self.ndim), self.shape, self.data
        out = np.sum(np.abs(x) ** p, axis=axes, keepdims=keepdim) ** (1.0 / p)
        out = np.asarray(out, dtype=x.dtype)

        def backward(g):
            # d||x||_p / dx = sign(x) |x|^(p-1) / ||x||^(p-1); zero where the norm is zero
            n = _expand_reduced(out, shape, axes, keepdim)
            gg = _expand_reduced(g, shape, axes, keepdim)
            with np.errstate(divide="ignore", invalid="ignore"):
                d = np.where(n > 0, np.sign(x) * np.abs(x) ** (p - 1) / n ** (p - 1), 0)
            return ((gg * d).astype(x.dtype, copy=False),)
        return _make(out, (self,), backward, op=_NORM, attrs=(p, axes, keepdim), saves_out=True)

    def softmax(self, dim):
        """The softmax along ``dim``: ``exp(x) / exp(x).sum(dim)``, computed without overflow
        (differentiable).

        Args:
            dim (int): the dim that sums to 1 (required, as in torch's method).

        Returns:
            Tensor: same shape and dtype.
        """
        d = _norm_dim(dim, self.ndim)
        # the ufuncs' reduce: what np.max / np.sum run for an ndarray, without their wrappers
        z = self.data - np.maximum.reduce(self.data, axis=d, keepdims=True)
        e = np.exp(z)
        out = e / np.add.reduce(e, axis=d, keepdims=True)

        def backward(g):
            return (out * (g - np.add.reduce(g * out, axis=d, keepdims=True)),)
        return _make(out, (self,), backward, op=_SOFTMAX, attrs=(d,), saves=(), saves_out=True)

    def log_softmax(self, dim):
        """``log(softmax(x))`` along ``dim``, computed stably (differentiable).

        Args:
            dim (int): the dim of the softmax.

        Returns:
            Tensor: same shape and dtype.
        """
        d = _norm_dim(dim, self.ndim)
        z = self.data - np.maximum.reduce(self.data, axis=d, keepdims=True)
        out = z - np.log(np.add.reduce(np.exp(z), axis=d, keepdims=True))

        def backward(g):
            return (g - np.exp(out) * np.add.reduce(g, axis=d, keepdims=True),)
        return _make(out, (self,), backward, op=_LOG_SOFTMAX, attrs=(d,), saves=(),
                     saves_out=True)

    def masked_fill(self, mask, value):
        """A copy with ``value`` where ``mask`` is True (differentiable: no gradient where filled).

        Args:
            mask (bool Tensor or array): where to fill; broadcasts to ``self``'s shape.
            value (number or one-element Tensor): the fill value (cast to ``self``'s dtype).

        Returns:
            Tensor

        Raises:
            TypeError: a ``mask`` that is not boolean. ValueError: a ``mask`` that does not
                broadcast to ``self``'s shape.

        Example::

            >>> x = rnnfast.tensor([1.0, -2.0, 3.0])
            >>> x.masked_fill(x < 0, 0.0)
            tensor([1., 0., 3.])
        """
        m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
        if m.dtype != np.bool_:
            raise TypeError(f"mask: expected a bool array, got dtype {m.dtype}")
        if isinstance(value, Tensor):
            value = value.item()
        out = np.where(m, np.asarray(value, dtype=self.dtype), self.data)
        if out.shape != self.shape:
            raise ValueError(f"mask: shape {m.shape} does not broadcast to {self.shape}")
        return _make(out, (self,), lambda g: (np.where(m, 0, g),), op=_MASKED_FILL,
                     attrs=(m, value))

    # -- torch's method names for ops defined above --------------------------------------------
    def add(self, other, alpha=1):
        """``self + alpha * other`` (broadcast; differentiable), as ``torch.Tensor.add``.

        Args:
            other (Tensor, array or number): the other operand.
            alpha (number, optional): the factor of ``other``. Default: 1.

        Returns:
            Tensor
        """
        return self + (other if alpha == 1 else self._operand(other) * alpha)

    def sub(self, other, alpha=1):
        """``self - alpha * other`` (broadcast; differentiable), as ``torch.Tensor.sub``.

        Args:
            other (Tensor, array or number): the other operand.
            alpha (number, optional): the factor of ``other``. Default: 1.

        Returns:
            Tensor
        """
        return self - (other if alpha == 1 else self._operand(other) * alpha)

    def mul(self, other):
        """``self * other`` (broadcast; differentiable), as the ``*`` operator.

        Args:
            other (Tensor, array or number): the other operand. Python numbers keep the
                tensor's dtype (a float with an integer tensor gives float64).

        Returns:
            Tensor
        """
        return self * other

    def div(self, other):
        """``self / other``, true division (broadcast; differentiable), as the ``/`` operator.

        Args:
            other (Tensor, array or number): the other operand. Python numbers keep the
                tensor's dtype (a float with an integer tensor gives float64).

        Returns:
            Tensor: integer tensors give float64 (NumPy's rule; torch gives float32)
        """
        return self / other

    def pow(self, exponent):
        """``self ** exponent`` (broadcast; differentiable), as the ``**`` operator.

        Args:
            exponent (Tensor, array or number): the other operand. Python numbers keep the
                tensor's dtype (a float with an integer tensor gives float64).

        Returns:
            Tensor
        """
        return self ** exponent

    def matmul(self, other):
        """The matrix product ``self @ other`` with NumPy's rules (1-D operands are vectors, leading
        dims broadcast as batches; differentiable), as ``torch.matmul``.

        Args:
            other (Tensor or array): the right operand.

        Returns:
            Tensor

        Raises:
            ValueError: a 0-d operand, or sizes that do not match (NumPy's message).
        """
        return self @ other

    def mm(self, mat2):
        """The product of two matrices (2-D only), as ``torch.mm`` (differentiable).

        Args:
            mat2 (Tensor or array): the right matrix, ``(m, p)`` for ``self`` of ``(n, m)``.

        Returns:
            Tensor: ``(n, p)``.

        Raises:
            ValueError: an operand that is not 2-D.
        """
        m2 = self._operand(mat2)
        if self.ndim != 2 or m2.ndim != 2:
            raise ValueError(f"mm: expected two 2-D tensors, got shapes {self.shape} and "
                             f"{m2.shape}")
        return self @ m2

    def bmm(self, mat2):
        """Batched matrix product ``(B, n, m) @ (B, m, p) -> (B, n, p)``, as ``torch.bmm``
        (differentiable).

        Args:
            mat2 (Tensor or array): the right matrices, ``(B, m, p)``.

        Returns:
            Tensor: ``(B, n, p)``.

        Raises:
            ValueError: shapes other than ``(B, n, m)`` and ``(B, m, p)``.
        """
        m2 = self._operand(mat2)
        if self.ndim != 3 or m2.ndim != 3 or self.shape[0] != m2.shape[0] \
                or self.shape[2] != m2.shape[1]:
            raise ValueError(f"bmm: expected shapes (B, n, m) and (B, m, p), got {self.shape} "
                             f"and {m2.shape}")
        return self @ m2

    def eq(self, other):
        """``self == other`` elementwise (broadcast), as the ``==`` operator.

        Args:
            other (Tensor, array or number): the other operand.

        Returns:
            Tensor: bool, without gradient.
        """
        return self == other

    def ne(self, other):
        """``self != other`` elementwise (broadcast), as the ``!=`` operator.

        Args:
            other (Tensor, array or number): the other operand.

        Returns:
            Tensor: bool, without gradient.
        """
        return self != other

    def lt(self, other):
        """``self < other`` elementwise (broadcast), as the ``<`` operator.

        Args:
            other (Tensor, array or number): the other operand.

        Returns:
            Tensor: bool, without gradient.
        """
        return self < other

    def le(self, other):
        """``self <= other`` elementwise (broadcast), as the ``<=`` operator.

        Args:
            other (Tensor, array or number): the other operand.

        Returns:
            Tensor: bool, without gradient.
        """
        return self <= other

    def gt(self, other):
        """``self > other`` elementwise (broadcast), as the ``>`` operator.

        Args:
            other (Tensor, array or number): the other operand.

        Returns:
            Tensor: bool, without gradient.
        """
        return self > other

    def ge(self, other):
        """``self >= other`` elementwise (broadcast), as the ``>=`` operator.

        Args:
            other (Tensor, array or number): the other operand.

        Returns:
            Tensor: bool, without gradient.
        """
        return self >= other

    def logical_not(self):
        """``True`` where an entry is zero (False), elementwise.

        Returns:
            Tensor: bool, without gradient.
        """
        return _untracked(np.logical_not(self.data), (self,), _LOGICAL_NOT)

    def nelement(self):
        """The number of elements (an alias of ``numel()``)."""
        return self.numel()

    def square(self):
        """``self * self``, elementwise (differentiable)."""
        return self * self

    # -- indexing by tensors, repetition, splitting --------------------------------------------
    def index_select(self, dim, index):
        """The entries at ``index`` along ``dim`` (a copy; differentiable: repeated indices
        accumulate their gradients).

        Args:
            dim (int): the dim to index.
            index (Tensor or array of ints): 1-D indices (negative count from the end).

        Returns:
            Tensor: ``self``'s shape with ``len(index)`` along ``dim``.

        Raises:
            TypeError: ``index`` not 1-D integers. IndexError: an index out of range.

        Example::

            >>> rnnfast.tensor([[1, 2], [3, 4]]).index_select(0, rnnfast.tensor([1, 1]))
            tensor([[3, 4],
                    [3, 4]])
        """
        d = _norm_dim(dim, self.ndim)
        idx = np.asarray(index.data if isinstance(index, Tensor) else index)
        if idx.dtype.kind not in "iu" or idx.ndim > 1:
            raise TypeError(f"index: expected a 1-D tensor of integers, got dtype {idx.dtype} "
                            f"and shape {idx.shape}")
        n = self.shape[d] if self.ndim else 1
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"index: out of range for dim {dim} of size {n}")
        index = idx
        idx = idx.reshape(-1)
        shape = self.shape

        def backward(g):
            if d == 0 and shape:
                return (_scatter_rows(idx, g, shape[0]),)
            size = math.prod(shape)
            lin = np.take(np.arange(size).reshape(shape), idx, axis=d)
            return (_scatter_flat(lin, g, size, g.dtype).reshape(shape),)
        return _make(np.take(self.data, idx, axis=d), (self,), backward, op=_INDEX_SELECT,
                     attrs=(d, index), saves=())

    def gather(self, dim, index):
        """``out[i][j] = self[i][index[i][j]]`` for ``dim`` 1 (and so on for the other dims), as
        ``torch.gather`` (differentiable: repeated indices accumulate).

        Args:
            dim (int): the dim to index along.
            index (Tensor or array of ints): the indices, with as many dims as ``self``, no larger
                than ``self`` in the other dims.

        Returns:
            Tensor: ``index``'s shape.

        Raises:
            TypeError: ``index`` not integers of ``self``'s number of dims. ValueError: ``index``
                larger than ``self`` in another dim. IndexError: an index out of range.
        """
        d = _norm_dim(dim, self.ndim)
        idx = np.asarray(index.data if isinstance(index, Tensor) else index)
        if idx.dtype.kind not in "iu" or idx.ndim != self.ndim:
            raise TypeError(f"index: expected integers with {self.ndim} dims, got dtype "
                            f"{idx.dtype} and shape {idx.shape}")
        for a in range(self.ndim):
            if a != d and idx.shape[a] > self.shape[a]:
                raise ValueError(f"index: shape {idx.shape} exceeds the input's {self.shape} "
                                 f"in dim {a}")
        n = self.shape[d]
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"index: out of range for dim {dim} of size {n}")
        region = tuple(slice(0, s) if a != d else slice(None) for a, s in enumerate(idx.shape))
        x = self.data[region]
        shape = self.shape

        def backward(g):
            size = math.prod(shape)
            lin = np.take_along_axis(np.arange(size).reshape(shape)[region], idx, axis=d)
            return (_scatter_flat(lin, g, size, g.dtype).reshape(shape),)
        return _make(np.take_along_axis(x, idx, axis=d), (self,), backward, op=_GATHER,
                     attrs=(d, idx), saves=())

    def narrow(self, dim, start, length):
        """The slice ``start:start + length`` of ``dim`` (a view).

        Args:
            dim (int): the dim to slice.
            start (int): the first index (negative counts from the end).
            length (int): the number of entries.

        Returns:
            Tensor: shares the data.

        Raises:
            TypeError: ``start`` or ``length`` is not an int.
            IndexError: the slice does not fit in ``dim``.
        """
        d = _norm_dim(dim, self.ndim)
        n = self.shape[d]
        if not (_is_size(start) and _is_size(length)):
            raise TypeError("narrow(): start and length must be ints")
        start = start + n if start < 0 else start
        if not (0 <= start <= n and 0 <= length <= n - start):
            raise IndexError(f"narrow(): start ({start}) + length ({length}) exceeds dim {dim} "
                             f"of size {n}")
        return self[(slice(None),) * d + (slice(start, start + length),)]

    def split(self, split_size, dim=0):
        """Split along ``dim`` into pieces of ``split_size`` (the last may be smaller), or of the
        given sizes.

        Args:
            split_size (int or list of ints): the size of each piece, or a list of sizes that add
                up to the size of ``dim``.
            dim (int, optional): the dim to split. Default: 0.

        Returns:
            tuple of Tensors: views.

        Raises:
            ValueError: sizes that do not add up, or a ``split_size`` that is not an int >= 1.

        Example::

            >>> [p.shape for p in rnnfast.zeros(5, 2).split([2, 3])]
            [(2, 2), (3, 2)]
        """
        d = _norm_dim(dim, self.ndim)
        n = self.shape[d]
        if isinstance(split_size, (list, tuple)):
            if sum(split_size) != n:
                raise ValueError(f"split_size: sizes {list(split_size)} do not add up to "
                                 f"{n} (dim {dim})")
            bounds = np.cumsum([0] + list(split_size))
        else:
            if not _is_size(split_size) or split_size < 1:
                raise ValueError(f"split_size: expected an int >= 1, got {split_size!r}")
            bounds = list(range(0, n, split_size)) + [n]
        pre = (slice(None),) * d
        return tuple(self[pre + (slice(int(a), int(b)),)] for a, b in zip(bounds[:-1],
                                                                         bounds[1:]))

    def repeat(self, *sizes):
        """Tile the tensor: ``sizes[i]`` copies along each dim (differentiable), as
        ``torch.Tensor.repeat`` (NumPy's ``tile``).

        Args:
            *sizes (ints, or one tuple or list of ints): the number of copies along each dim, at
                least as many as the tensor has dims (extra ones add leading dims).

        Returns:
            Tensor: a new tensor of shape ``sizes[i] * shape[i]``.

        Raises:
            ValueError: fewer sizes than dims, or a negative size.
        """
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        if len(sizes) < self.ndim or not all(_is_size(r) and r >= 0 for r in sizes):
            raise ValueError(f"repeat: expected at least {self.ndim} non-negative ints, got "
                             f"{sizes}")
        src = (1,) * (len(sizes) - self.ndim) + self.shape
        out = np.tile(self.data.reshape(src), sizes)
        shape = self.shape

        def backward(g):
            split = []
            for r, s in zip(sizes, src):
                split += [r, s]
            return (g.reshape(split).sum(axis=tuple(range(0, len(split), 2))).reshape(shape),)
        return _make(out, (self,), backward, op=_REPEAT, attrs=(tuple(sizes),), saves=())

    # -- new tensors like this one -------------------------------------------------------------
    def _like(self, size, dtype, fill):
        if len(size) == 1 and isinstance(size[0], (tuple, list)):
            size = tuple(size[0])
        dt = self.dtype if dtype is None else _check_dtype(np.dtype(dtype), "dtype")
        if fill is None:
            return _wrap(np.empty(size, dt))
        return _wrap(np.full(size, fill, dt))

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        """A new zero-filled tensor of the given size, with ``self``'s dtype unless ``dtype``
        is given (as ``torch.Tensor.new_zeros``).

        Args:
            *size (ints, or one tuple or list of ints): the shape.
            dtype (dtype, optional, keyword-only): the dtype. Default: ``None``, ``self``'s.
            device (optional, keyword-only): ``None`` or the CPU (another device raises
                ValueError). Default: ``None``.
            requires_grad (bool, optional, keyword-only): whether the new leaf requires grad
                (float dtypes only). Default: ``False``.

        Returns:
            Tensor: a leaf.

        Example::

            >>> rnnfast.tensor([1, 2]).new_zeros(2, 3)
            tensor([[0, 0, 0],
                    [0, 0, 0]])
        """
        _device.check_device(device)
        return self._like(size, dtype, 0).requires_grad_(requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        """A new one-filled tensor of the given size, with ``self``'s dtype unless ``dtype``
        is given (as ``torch.Tensor.new_ones``).

        Args:
            *size (ints, or one tuple or list of ints): the shape.
            dtype (dtype, optional, keyword-only): the dtype. Default: ``None``, ``self``'s.
            device (optional, keyword-only): ``None`` or the CPU (another device raises
                ValueError). Default: ``None``.
            requires_grad (bool, optional, keyword-only): whether the new leaf requires grad
                (float dtypes only). Default: ``False``.

        Returns:
            Tensor: a leaf.
        """
        _device.check_device(device)
        return self._like(size, dtype, 1).requires_grad_(requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        """A new tensor of shape ``size`` filled with ``fill_value``, with ``self``'s dtype unless
        ``dtype`` is given (as ``torch.Tensor.new_full``).

        Args:
            size (int, tuple or list of ints): the shape.
            fill_value (number): the value (cast to the dtype).
            dtype (dtype, optional): the dtype. Default: ``None``, ``self``'s.
            device (optional): ``None`` or the CPU (another device raises ValueError). Default:
                ``None``.
            requires_grad (bool, optional): whether the new leaf requires grad (float dtypes only).
                Default: ``False``.

        Returns:
            Tensor: a leaf.
        """
        _device.check_device(device)
        return self._like((size,), dtype, fill_value).requires_grad_(requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        """A new uninitialised tensor of the given size, with ``self``'s dtype unless ``dtype``
        is given (as ``torch.Tensor.new_empty``).

        Args:
            *size (ints, or one tuple or list of ints): the shape.
            dtype (dtype, optional, keyword-only): the dtype. Default: ``None``, ``self``'s.
            device (optional, keyword-only): ``None`` or the CPU (another device raises
                ValueError). Default: ``None``.
            requires_grad (bool, optional, keyword-only): whether the new leaf requires grad
                (float dtypes only). Default: ``False``.

        Returns:
            Tensor: a leaf (its values are arbitrary).
        """
        _device.check_device(device)
        return self._like(size, dtype, None).requires_grad_(requires_grad)

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        """A new leaf tensor holding a copy of ``data``, with ``self``'s dtype unless ``dtype`` is
        given (``rnnfast.tensor(data, ...)``), as ``torch.Tensor.new_tensor``.

        Args:
            data (array, sequence, number or Tensor): the values (copied).
            dtype (dtype, optional): the dtype. Default: ``None``, ``self``'s.
            device (optional): ``None`` or the CPU (another device raises ValueError). Default:
                ``None``.
            requires_grad (bool, optional): whether the new leaf requires grad (float dtypes only).
                Default: ``False``.

        Returns:
            Tensor: a leaf without history.
        """
        return tensor(data, dtype=self.dtype if dtype is None else dtype, device=device,
                      requires_grad=requires_grad)

    # -- in-place writes -----------------------------------------------------------------------
    def __index__(self):
        if self.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an "
                            "index")
        return int(self.data.reshape(()))

    def _check_inplace(self, op):
        if _state.trace is not None:
            _state.trace.inplace(self, op)
        if self._requires_grad and self._node is None and is_grad_enabled():
            raise RuntimeError(f"{op}: a leaf tensor that requires grad is being used in an "
                               f"in-place operation (wrap it in rnnfast.no_grad(), or write "
                               f"into p.data)")

    def __setitem__(self, idx, value):
        """``t[idx] = value`` in place, as in torch. A write of a value that requires grad (or
        into a tensor with history) is recorded: gradients flow to ``value`` for the written
        entries and to the old contents elsewhere. Any write bumps the tensor's version, so a
        backward that needs the overwritten data raises instead of using it."""
        self._check_inplace("__setitem__")
        idx = _index_data(idx)
        vt = value if isinstance(value, Tensor) else None
        v = value.data if vt is not None else value
        track = is_grad_enabled() and self.dtype.kind == "f" and (
            self._requires_grad or (vt is not None and vt._requires_grad))
        if not track:
            self.data[idx] = v
            _counter(self).n += 1
            return
        if self._view_base is not None:
            raise RuntimeError("__setitem__: writing a tensor that requires grad into a view "
                               "(such as t[i] of t) is not recorded by rnnfast; index the "
                               "tensor itself in one step: t[i, j] = value")
        # The old contents and history move to a new tensor `old`; self becomes the result of
        # the write, with parents (old, value). The data is written in place: the write's own
        # backward never reads it, and any other saved use of it sees the version bump.
        old = _wrap(self.data)
        old._node, old._requires_grad, old._slot = self._node, self._requires_grad, self._slot
        self.data[idx] = v
        _counter(self).n += 1

        def backward(g):
            g_old = g.copy()
            g_old[idx] = 0
            g_val = None
            if vt is not None and vt._requires_grad:
                sel = g[idx]        # each value entry gets the gradient of where it went
                g_val = unbroadcast(sel, vt.shape) if sel.ndim >= vt.ndim else \
                    sel.reshape(vt.shape)
            return g_old, g_val
        edges = [(i, p, p._node, p._slot) for i, p in enumerate((old, vt))
                 if p is not None and p._requires_grad]
        self._node = _Node(backward, _COPY_SLICES, (idx, None if vt is not None else v),
                           (old, vt), edges)
        self._slot = 0
        self._requires_grad = True

    def _inplace(self, other, op, ufunc, name):
        """``self op= other`` in place, as torch: the data is updated where no gradient is
        involved; otherwise the out-of-place result is written back (a recorded write), so
        ``loss += l`` and ``h *= mask`` keep their gradients."""
        self._check_inplace(name)
        track = is_grad_enabled() and self.dtype.kind == "f" and (
            self._requires_grad or (isinstance(other, Tensor) and other._requires_grad))
        if track:
            # the result is computed from a copy of the old values, which its backward may
            # need, and then written over them
            old = _wrap(self.data.copy())
            old._node, old._requires_grad, old._slot = (self._node, self._requires_grad,
                                                        self._slot)
            new = op(old, other)
            if new.shape != self.shape:
                raise RuntimeError(f"{name}: output with shape {self.shape} doesn't match the "
                                   f"broadcast shape {new.shape}")
            self[...] = new
            return self
        o = other.data if isinstance(other, Tensor) else other
        if np.broadcast_shapes(np.shape(o), self.shape) != self.shape:
            raise RuntimeError(f"{name}: output with shape {self.shape} doesn't match the "
                               f"broadcast shape {np.broadcast_shapes(np.shape(o), self.shape)}")
        try:
            ufunc(self.data, o, out=self.data, casting="same_kind")
        except TypeError as e:      # numpy's UFuncTypeError: e.g. a float into an int tensor
            raise RuntimeError(f"{name}: result type can't be cast to the desired output type "
                               f"{self.dtype} ({e})") from None
        _counter(self).n += 1
        return self

    def __iadd__(self, other):
        return self._inplace(other, Tensor.__add__, np.add, "add_")

    def __isub__(self, other):
        return self._inplace(other, Tensor.__sub__, np.subtract, "sub_")

    def __imul__(self, other):
        return self._inplace(other, Tensor.__mul__, np.multiply, "mul_")

    def __itruediv__(self, other):
        return self._inplace(other, Tensor.__truediv__, np.divide, "div_")

    def add_(self, other, alpha=1):
        """``self += alpha * other`` in place (e.g. ``p.add_(p.grad, alpha=-lr)`` under
        ``rnnfast.no_grad()``).

        Args:
            other (Tensor, array or number): broadcasts to ``self``'s shape.
            alpha (number, optional): the factor of ``other``. Default: 1.

        Returns:
            Tensor: self.

        Raises:
            RuntimeError: a leaf that requires grad written with grad mode on, a result of another
                shape than ``self``'s, or one that does not fit the dtype (a float into an integer
                tensor).

        In place, as torch: with gradients involved (``self`` or ``other`` requires grad, grad
        mode on) the write is recorded and gradients flow through it; a leaf that requires grad
        can only be written under ``rnnfast.no_grad()`` (RuntimeError otherwise).
        """
        if alpha != 1:
            other = (other if isinstance(other, Tensor) else as_tensor(other, name="other")) \
                * alpha
        return self._inplace(other, Tensor.__add__, np.add, "add_")

    def sub_(self, other, alpha=1):
        """``self -= alpha * other`` in place.

        Args:
            other (Tensor, array or number): broadcasts to ``self``'s shape.
            alpha (number, optional): the factor of ``other``. Default: 1.

        Returns:
            Tensor: self.

        Raises:
            RuntimeError: as ``add_``.

        In place, as torch: with gradients involved (``self`` or ``other`` requires grad, grad
        mode on) the write is recorded and gradients flow through it; a leaf that requires grad
        can only be written under ``rnnfast.no_grad()`` (RuntimeError otherwise).
        """
        if alpha != 1:
            other = (other if isinstance(other, Tensor) else as_tensor(other, name="other")) \
                * alpha
        return self._inplace(other, Tensor.__sub__, np.subtract, "sub_")

    def mul_(self, other):
        """``self *= other`` in place.

        Args:
            other (Tensor, array or number): broadcasts to ``self``'s shape.

        Returns:
            Tensor: self.

        Raises:
            RuntimeError: as ``add_``.

        In place, as torch: with gradients involved (``self`` or ``other`` requires grad, grad
        mode on) the write is recorded and gradients flow through it; a leaf that requires grad
        can only be written under ``rnnfast.no_grad()`` (RuntimeError otherwise).
        """
        return self._inplace(other, Tensor.__mul__, np.multiply, "mul_")

    def div_(self, other):
        """``self /= other`` in place (true division: an integer tensor raises RuntimeError, as its
        result is float).

        Args:
            other (Tensor, array or number): broadcasts to ``self``'s shape.

        Returns:
            Tensor: self.

        Raises:
            RuntimeError: as ``add_``.

        In place, as torch: with gradients involved (``self`` or ``other`` requires grad, grad
        mode on) the write is recorded and gradients flow through it; a leaf that requires grad
        can only be written under ``rnnfast.no_grad()`` (RuntimeError otherwise).
        """
        return self._inplace(other, Tensor.__truediv__, np.divide, "div_")

    def clamp_(self, min=None, max=None):
        """``clamp(min, max)`` written into ``self`` in place.

        Args:
            min (number or Tensor, optional): the lower bound. Default: ``None``, none.
            max (number or Tensor, optional): the upper bound. Default: ``None``, none.

        Returns:
            Tensor: self.

        Raises:
            ValueError: neither bound given. RuntimeError: a leaf that requires grad, with grad
                mode on.
        """
        self._check_inplace("clamp_")
        self[...] = self.clamp(min, max)
        return self

    def fill_(self, value):
        """Set every entry to ``value`` in place (``self[...] = value``).

        Args:
            value (number or Tensor): the value (cast to ``self``'s dtype); a tensor that
                requires grad receives the gradient of every entry.

        Returns:
            Tensor: self.

        Raises:
            RuntimeError: a leaf that requires grad, with grad mode on.
        """
        self[...] = value
        return self

    def zero_(self):
        """Set every entry to 0 in place (``fill_(0)``).

        Returns:
            Tensor: self.
        """
        return self.fill_(0)

    def copy_(self, src):
        """Copy ``src`` into ``self`` in place (``self[...] = src``; recorded when gradients are
        involved, as torch).

        Args:
            src (Tensor, array or number): the values; broadcasts to ``self``'s shape and is cast
                to its dtype.

        Returns:
            Tensor: self.

        Raises:
            ValueError: ``src`` does not broadcast to ``self``'s shape. RuntimeError: a leaf that
                requires grad, with grad mode on.
        """
        s = src.data if isinstance(src, Tensor) else np.asarray(src)
        if np.broadcast_shapes(s.shape, self.shape) != self.shape:
            raise ValueError(f"copy_: src of shape {s.shape} does not broadcast to "
                             f"{self.shape}")
        self[...] = src
        return self

    def uniform_(self, a=0.0, b=1.0):
        """Fill in place with draws from U(a, b), from ``rnnfast.manual_seed``'s generator.

        Args:
            a (float, optional): the lower bound. Default: 0.0.
            b (float, optional): the upper bound. Default: 1.0.

        Returns:
            Tensor: self.

        Raises:
            RuntimeError: a leaf that requires grad, with grad mode on.
        """
        self._check_inplace("uniform_")
        self[...] = _GENERATOR.uniform(a, b, self.shape).astype(self.dtype)
        return self

    def normal_(self, mean=0.0, std=1.0):
        """Fill in place with draws from N(mean, std ** 2), from ``rnnfast.manual_seed``'s
        generator.

        Args:
            mean (float, optional): the mean. Default: 0.0.
            std (float, optional): the standard deviation. Default: 1.0.

        Returns:
            Tensor: self.

        Raises:
            RuntimeError: a leaf that requires grad, with grad mode on.
        """
        self._check_inplace("normal_")
        self[...] = (mean + std * _GENERATOR.standard_normal(self.shape)).astype(self.dtype)
        return self

    def _reshape_(self, data, op):
        if _state.trace is not None:
            _state.trace.inplace(self, op)
        if self._requires_grad and is_grad_enabled():
            raise RuntimeError(f"{op}: in-place shape changes of a tensor that requires grad "
                               f"are not supported; use the out-of-place {op[:-1]}")
        self.data = data
        _counter(self).n += 1
        return self

    def unsqueeze_(self, dim):
        """Insert a dim of size 1 in place (see ``unsqueeze``).

        Args:
            dim (int): its position in the result, in ``[-ndim - 1, ndim]``.

        Returns:
            Tensor: self.

        Raises:
            RuntimeError: the tensor requires grad and grad mode is on (use ``unsqueeze``).
        """
        return self._reshape_(np.expand_dims(self.data, _norm_dim(dim, self.ndim + 1)),
                              "unsqueeze_")

    def squeeze_(self, dim=None):
        """Remove dims of size 1 in place (see ``squeeze``).

        Args:
            dim (int or tuple of ints, optional): the dims to remove if their size is 1.
                Default: ``None``, every dim of size 1.

        Returns:
            Tensor: self.

        Raises:
            RuntimeError: the tensor requires grad and grad mode is on (use ``squeeze``).
        """
        return self._reshape_(self.squeeze(dim).data, "squeeze_")

    def detach_(self):
        """Drop this tensor's history in place: it becomes a leaf that does not require grad.

        Returns:
            Tensor: self.
        """
        if _state.trace is not None:
            _state.trace.inplace(self, "detach_")
        self._node = None
        self._requires_grad = False
        return self


def tensor(data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A new leaf tensor holding a copy of ``data``, its dtype inferred as ``torch.tensor``
    does: Python floats become float32, Python ints int64, bools bool; NumPy arrays and
    tensors keep their dtype. ``dtype`` casts; ``device`` must be the CPU.

    Args:
        data (array, sequence, number or Tensor): the values (copied).
        dtype (dtype, optional): the result's dtype. Default: ``None`` (inferred).
        device (optional): ``None`` or the CPU (another device raises ValueError).
        requires_grad (bool, optional): record operations on the tensor (float dtypes only).
            Default: ``False``.

    Example::

        >>> rnnfast.tensor([1, 2]).dtype, rnnfast.tensor([1.5]).dtype
        (dtype('int64'), dtype('float32'))
        >>> x = rnnfast.tensor([2.0, 3.0], requires_grad=True)
        >>> (x * x).sum().backward()
        >>> x.grad.tolist()
        [4.0, 6.0]
    """
    _device.check_device(device)
    t = _wrap(_to_array(data, dtype, "data", copy=True))
    if _state.trace is not None and isinstance(data, Tensor):   # a copy of a traced value
        _state.trace.untracked(t, (data,), _CAST, (t.data.dtype,))
    t.requires_grad = requires_grad
    return t


def _as_tensor_list(tensors, fn):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{fn}: expected a list or tuple of tensors, got {type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"{fn}: expected a non-empty list of tensors")
    return [t if isinstance(t, Tensor) else as_tensor(t, name="tensors") for t in tensors]


def cat(tensors, dim=0) -> Tensor:
    """Concatenate along an existing ``dim`` (differentiable).

    Args:
        tensors (list or tuple of Tensors): the tensors, of equal shapes but along ``dim``.
        dim (int, optional): the dim to concatenate along. Default: 0.

    Example::

        >>> rnnfast.cat([rnnfast.zeros(2, 3), rnnfast.ones(1, 3)]).shape
        (3, 3)
    """
    ts = _as_tensor_list(tensors, "cat")
    d = _norm_dim(dim, ts[0].ndim)
    out = np.concatenate([t.data for t in ts], axis=d)
    pre = (slice(None),) * d
    pieces, end = [], 0
    for t in ts:
        start, end = end, end + t.data.shape[d]
        pieces.append(pre + (slice(start, end),))

    def backward(g):
        return tuple([g[p] for p in pieces])
    return _make(out, tuple(ts), backward, op=_CAT, attrs=(d,), saves=())


def stack(tensors, dim=0) -> Tensor:
    """Stack along a new ``dim`` (differentiable).

    Args:
        tensors (list or tuple of Tensors): the tensors, of one shape.
        dim (int, optional): the position of the new dim. Default: 0.

    Example::

        >>> rnnfast.stack([rnnfast.zeros(2, 3), rnnfast.ones(2, 3)], dim=1).shape
        (2, 2, 3)
    """
    ts = _as_tensor_list(tensors, "stack")
    d = _norm_dim(dim, ts[0].ndim + 1)
    out = np.stack([t.data for t in ts], axis=d)

    def backward(g):
        return tuple(np.take(g, i, axis=d) for i in range(len(ts)))
    return _make(out, tuple(ts), backward, op=_STACK, attrs=(d,))


def where(condition, input, other) -> Tensor:
    """``input`` where ``condition`` else ``other`` (all broadcast together; differentiable in
    ``input`` and ``other``).

    Args:
        condition (bool Tensor or array): where to take ``input``.
        input (Tensor, array or number): the values where ``condition`` holds.
        other (Tensor, array or number): the values elsewhere.

    Raises:
        TypeError: a ``condition`` that is not boolean.

    Example::

        >>> x = rnnfast.tensor([-1.0, 2.0])
        >>> rnnfast.where(x > 0, x, 0.0).tolist()
        [0.0, 2.0]
    """
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
    return _make(out, (a, b), backward, op=_WHERE, attrs=(c,))
