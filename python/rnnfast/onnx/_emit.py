"""ONNX operators for rnnfast's named ops: one emitter per op name (``EMITTERS``), each writing
the standard operators that compute what the op computed, through a ``Builder`` over onnx's
helper API. The recurrent layers' emitters are in _rnn.py.

An op without an emitter raises NotImplementedError naming it. Shapes are static: every
Reshape, Expand and constant takes the traced shapes.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, _Op

__all__ = ["Builder", "EMITTERS", "emits"]

EMITTERS = {}


def emits(*names):
    """Register the decorated function as the emitter of the ops ``names``."""
    def deco(fn):
        for n in names:
            EMITTERS[n] = fn
        return fn
    return deco


def op_label(node):
    op = node.op
    if isinstance(op, _Op):
        return op.name or op.grad_name
    return str(op)


def _dtype_of(obj):
    if isinstance(obj, Tensor):
        return obj.data.dtype
    if isinstance(obj, np.ndarray):
        return obj.dtype
    return None


class Builder:
    """Collects the ONNX nodes, initializers and value names of one graph.

    ``value(obj)`` names a value of the trace (a Tensor, array or number) in the ONNX graph:
    a node's result, a graph input, a parameter (an initializer named after it) or a
    constant (an initializer)."""

    def __init__(self, onnx, graph, param_names, opset):
        self.onnx = onnx
        self.helper = onnx.helper
        self.graph = graph
        self.param_names = param_names      # id(Parameter or its array) -> dotted name
        self.opset = opset
        self.nodes = []
        self.initializers = []
        self.used = set()
        self.names = {}                     # (node, slot) or ("input", k) -> ONNX name
        self.consts = {}                    # id(array) -> (name, array): parameters, constants
        self.int_consts = {}

    # -- names ---------------------------------------------------------------------------------
    def fresh(self, base):
        base = "".join(c if c.isalnum() or c in "._" else "_" for c in base) or "v"
        name, k = base, 1
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name

    # -- nodes and constants -------------------------------------------------------------------
    def op(self, op_type, inputs, n_out=1, hint=None, **attrs):
        """Add an ONNX node; ``inputs``: names or None (an absent optional input). Returns its
        output name, or the list of names when ``n_out`` > 1."""
        ins = ["" if i is None else i for i in inputs]
        while ins and ins[-1] == "":
            ins.pop()
        outs = [self.fresh(hint or op_type) for _ in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.helper.make_node(op_type, ins, outs, **attrs))
        return outs[0] if n_out == 1 else outs

    def const(self, arr, hint="const"):
        """An initializer holding ``arr`` (a copy); returns its name."""
        arr = np.asarray(arr)
        if not arr.flags.c_contiguous:          # (np.ascontiguousarray makes 0-d arrays 1-d)
            arr = arr.copy(order="C")
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def ints(self, values):
        """A 1-D int64 constant (shapes, axes, ...), shared by equal uses."""
        key = tuple(int(v) for v in values)
        if key not in self.int_consts:
            self.int_consts[key] = self.const(np.array(key, dtype=np.int64), "ints")
        return self.int_consts[key]

    def scalar(self, value, dtype, shape=()):
        return self.const(np.full(shape, value, dtype=dtype), "scalar")

    def cast(self, name, src_dtype, dtype):
        if src_dtype is None or np.dtype(src_dtype) == np.dtype(dtype):
            return name
        return self.op("Cast", [name], to=self.tensor_type(dtype))

    def tensor_type(self, dtype):
        return self.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))

    # -- values of the trace -------------------------------------------------------------------
    def value(self, obj, dtype=None):
        """The ONNX name of ``obj`` (a Tensor, array or number of the trace), cast to ``dtype``
        when given."""
        src = self.graph.source(obj)
        if src[0] == "node":
            name = self.names[(src[1], src[2])]
            return self.cast(name, self.meta(src[1], src[2])[1], dtype) if dtype else name
        if src[0] == "input":
            name = self.names[("input", src[1])]
            return self.cast(name, self.graph.inputs[src[1]].data.dtype, dtype) if dtype \
                else name
        return self.constant(src[1], dtype)

    def constant(self, obj, dtype=None):
        """A value that does not depend on the inputs: a parameter keeps its own initializer
        (named after it), anything else becomes one."""
        arr = obj.data if isinstance(obj, Tensor) else np.asarray(obj)
        if dtype is not None and arr.dtype != np.dtype(dtype):
            return self.const(arr.astype(dtype), "const")
        key = id(arr)
        if key not in self.consts:
            pname = self.param_names.get(id(obj)) or self.param_names.get(key)
            self.consts[key] = (self.const(arr, pname or "const"), arr)
        return self.consts[key][0]

    def array(self, obj):
        """The array of a value that must be a constant of the graph (a recurrent layer's
        weights); None for None. Raises when it depends on the inputs."""
        if obj is None:
            return None
        src = self.graph.source(obj)
        if src[0] != "const":
            raise NotImplementedError(
                "rnnfast.onnx.export: a recurrent layer's weights computed from the inputs "
                "have no mapping: its weights must be parameters or constants")
        return obj.data if isinstance(obj, Tensor) else np.asarray(obj)

    def dtype(self, obj):
        return _dtype_of(obj)

    def meta(self, node, slot=0):
        """(shape, dtype) of a node's result ``slot``."""
        return self.graph.meta[(node, slot)]

    def input(self, node, i, dtype=None):
        x = node.inputs[i]
        return None if x is None else self.value(x, dtype)

    def emit(self, node):
        label = op_label(node)
        fn = EMITTERS.get(label)
        if fn is None:
            raise NotImplementedError(
                f"rnnfast.onnx.export: op '{label}' ({node.name}) has no ONNX mapping")
        outs = fn(self, node)
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        for slot, name in enumerate(outs):
            self.names[(node, slot)] = name


# ----------------------------------------------------------------------------------------------
# Emitters. Each takes (builder, node) and returns the name of each result.

def _out_dtype(b, node, slot=0):
    return b.meta(node, slot)[1]


def _out_shape(b, node, slot=0):
    return b.meta(node, slot)[0]


@emits("clone", "contiguous", "detach")
def _identity(b, node):
    return b.op("Identity", [b.input(node, 0)])


@emits("cast")
def _cast(b, node):
    return b.op("Cast", [b.input(node, 0)], to=b.tensor_type(_out_dtype(b, node)))


_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow",
           "maximum": "Max", "minimum": "Min"}


@emits(*_BINARY)
def _binary(b, node):
    dt = _out_dtype(b, node)
    return b.op(_BINARY[node.op.name], [b.input(node, 0, dt), b.input(node, 1, dt)])


@emits("matmul")
def _matmul(b, node):
    dt = _out_dtype(b, node)
    a, c = node.inputs
    an, cn = b.input(node, 0, dt), b.input(node, 1, dt)
    if a.data.ndim > 1 and c.data.ndim > 1:
        return b.op("MatMul", [an, cn])
    # A 1-D operand becomes a matrix here (a row on the left, a column on the right, as
    # NumPy's rule) and the result takes its shape back: ONNX Runtime's fusion of a Transpose
    # into a MatMul with a 1-D operand computes a wrong product (onnxruntime 1.32).
    if a.data.ndim == 1:
        an = b.op("Unsqueeze", [an, b.ints([0])])
    if c.data.ndim == 1:
        cn = b.op("Unsqueeze", [cn, b.ints([1])])
    return b.op("Reshape", [b.op("MatMul", [an, cn]), b.ints(_out_shape(b, node))])


_SCALAR = {"add_scalar": ("Add", False), "sub_scalar": ("Sub", False),
           "rsub_scalar": ("Sub", True), "mul_scalar": ("Mul", False),
           "div_scalar": ("Div", False), "rdiv_scalar": ("Div", True),
           "pow_scalar": ("Pow", False)}


@emits(*_SCALAR)
def _binary_scalar(b, node):
    dt = _out_dtype(b, node)
    op_type, reflected = _SCALAR[node.op.name]
    x, c = b.input(node, 0, dt), b.scalar(node.attrs[0], dt)
    return b.op(op_type, [c, x] if reflected else [x, c])


_UNARY = {"neg": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "tanh": "Tanh",
          "sigmoid": "Sigmoid", "relu": "Relu", "abs": "Abs", "round": "Round",
          "floor": "Floor", "ceil": "Ceil", "sign": "Sign"}


@emits(*_UNARY)
def _unary(b, node):
    dt = _out_dtype(b, node)
    return b.op(_UNARY[node.op.name], [b.input(node, 0, dt)])


@emits("clamp")
def _clamp(b, node):
    dt = _out_dtype(b, node)
    x = b.input(node, 0, dt)
    lo, hi = node.attrs
    if not isinstance(lo, (Tensor, np.ndarray)) and not isinstance(hi, (Tensor, np.ndarray)):
        return b.op("Clip", [x, b.scalar(lo, dt), b.scalar(hi, dt)])
    return b.op("Max", [b.op("Min", [x, b.value(hi, dt)]), b.value(lo, dt)])


@emits("reshape", "squeeze", "unsqueeze")
def _reshape(b, node):
    shape = _out_shape(b, node)
    return b.op("Reshape", [b.input(node, 0), b.ints(shape)],
                allowzero=1 if 0 in shape else None)


@emits("transpose")
def _transpose(b, node):
    d0, d1 = node.attrs
    perm = list(range(len(_out_shape(b, node))))
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return b.op("Transpose", [b.input(node, 0)], perm=perm)


@emits("permute")
def _permute(b, node):
    return b.op("Transpose", [b.input(node, 0)], perm=list(node.attrs[0]))


@emits("expand")
def _expand(b, node):
    return b.op("Expand", [b.input(node, 0), b.ints(_out_shape(b, node))])


def _reduce(b, op_type, x, axes, keepdim):
    """A reduction over ``axes`` (None: all), with axes as an input (ReduceSum, and every
    reduction from opset 18) or as an attribute (opset 17's others)."""
    if axes is not None and len(axes) == 0:
        return b.op("Identity", [x])
    if op_type == "ReduceSum" or b.opset >= 18:
        ins = [x] if axes is None else [x, b.ints(axes)]
        return b.op(op_type, ins, keepdims=int(bool(keepdim)))
    return b.op(op_type, [x], keepdims=int(bool(keepdim)),
                axes=None if axes is None else list(axes))


_REDUCE = {"sum": "ReduceSum", "mean": "ReduceMean", "amax": "ReduceMax", "max": "ReduceMax",
           "max_dim": "ReduceMax", "amin": "ReduceMin", "min": "ReduceMin",
           "min_dim": "ReduceMin"}


@emits(*_REDUCE)
def _reduction(b, node):
    dim, keepdim = node.attrs
    return _reduce(b, _REDUCE[node.op.name], b.input(node, 0, _out_dtype(b, node)), dim,
                   keepdim)


@emits("norm")
def _norm(b, node):
    p, dim, keepdim = node.attrs
    dt = _out_dtype(b, node)
    ax = b.op("Abs", [b.input(node, 0, dt)])
    if p == np.inf:
        return _reduce(b, "ReduceMax", ax, dim, keepdim)
    if p == 1:
        return _reduce(b, "ReduceSum", ax, dim, keepdim)
    s = _reduce(b, "ReduceSum", b.op("Pow", [ax, b.scalar(p, dt)]), dim, keepdim)
    return b.op("Pow", [s, b.scalar(1.0 / p, dt)])


@emits("softmax", "log_softmax")
def _softmax(b, node):
    op_type = "Softmax" if node.op.name == "softmax" else "LogSoftmax"
    return b.op(op_type, [b.input(node, 0)], axis=int(node.attrs[0]))


@emits("cumsum")
def _cumsum(b, node):
    dt = _out_dtype(b, node)
    axis = b.const(np.array(node.attrs[0], dtype=np.int64), "axis")
    return b.op("CumSum", [b.input(node, 0, dt), axis])


@emits("topk", "sort", "topk_indices", "sort_indices")
def _topk(b, node):
    x = node.inputs[0]
    if b.dtype(x) is None or np.ndim(x.data) == 0:
        raise NotImplementedError(f"rnnfast.onnx.export: op '{node.op.name}' of a 0-d tensor "
                                  f"has no ONNX mapping")
    if node.op.name.startswith("topk"):
        k, dim, largest = node.attrs
    else:
        dim, largest = node.attrs
        k = x.data.shape[dim]
    values, indices = b.op("TopK", [b.input(node, 0), b.ints([k])], n_out=2, axis=int(dim),
                           largest=int(bool(largest)), sorted=1)
    return indices if node.op.name.endswith("_indices") else values


@emits("masked_fill")
def _masked_fill(b, node):
    mask, value = node.attrs
    dt = _out_dtype(b, node)
    return b.op("Where", [b.value(mask, np.bool_), b.scalar(value, dt), b.input(node, 0, dt)])


@emits("where")
def _where(b, node):
    dt = _out_dtype(b, node)
    return b.op("Where", [b.value(node.attrs[0], np.bool_), b.input(node, 0, dt),
                          b.input(node, 1, dt)])


@emits("index_select")
def _index_select(b, node):
    dim, index = node.attrs
    flat = b.op("Reshape", [b.value(index), b.ints([-1])])
    return b.op("Gather", [b.input(node, 0), flat], axis=int(dim))


@emits("gather")
def _gather(b, node):
    dim, index = node.attrs
    x = node.inputs[0]
    name = b.input(node, 0)
    shape = x.data.shape
    ishape = np.shape(index.data if isinstance(index, Tensor) else index)
    if any(ishape[a] != shape[a] for a in range(len(shape)) if a != dim):
        axes = [a for a in range(len(shape)) if a != dim]
        name = b.op("Slice", [name, b.ints([0] * len(axes)), b.ints([ishape[a] for a in axes]),
                              b.ints(axes)])
    return b.op("GatherElements", [name, b.value(index, np.int64)], axis=int(dim))


@emits("repeat")
def _repeat(b, node):
    sizes = node.attrs[0]
    x = node.inputs[0]
    name = b.input(node, 0)
    if len(sizes) > x.data.ndim:
        name = b.op("Reshape", [name, b.ints((1,) * (len(sizes) - x.data.ndim) + x.data.shape)])
    return b.op("Tile", [name, b.ints(sizes)])


@emits("cat")
def _cat(b, node):
    dt = _out_dtype(b, node)
    ins = [b.input(node, i, dt) for i in range(len(node.inputs))]
    return b.op("Concat", ins, axis=int(node.attrs[0]))


@emits("stack")
def _stack(b, node):
    dt = _out_dtype(b, node)
    d = int(node.attrs[0])
    ins = [b.op("Unsqueeze", [b.input(node, i, dt), b.ints([d])])
           for i in range(len(node.inputs))]
    return b.op("Concat", ins, axis=d)


# -- indexing -----------------------------------------------------------------------------------

_INT64_MIN = np.iinfo(np.int64).min


def _is_int(i):
    return isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))


def _is_array_index(i):
    return isinstance(i, (np.ndarray, Tensor, list))


def _basic_slices(shape, items):
    """Slice's (starts, ends, axes, steps) for a basic index (ints, slices, None, one
    Ellipsis) of a tensor of ``shape``: ints select one entry (the final Reshape drops the
    dim), None adds none here (the Reshape adds it)."""
    n_real = sum(1 for i in items if i is not None and i is not Ellipsis)
    expanded = []
    for i in items:
        if i is Ellipsis:
            expanded += [slice(None)] * (len(shape) - n_real)
        else:
            expanded.append(i)
    starts, ends, axes, steps = [], [], [], []
    axis = 0
    for i in expanded:
        if i is None:
            continue
        n = shape[axis]
        if _is_int(i):
            k = int(i) % n if n else 0
            starts.append(k), ends.append(k + 1), axes.append(axis), steps.append(1)
        elif i != slice(None):
            start, stop, step = i.indices(n)
            if step < 0 and stop < 0:
                stop = _INT64_MIN           # through entry 0 (a negative end counts from n)
            starts.append(start), ends.append(stop), axes.append(axis), steps.append(step)
        axis += 1
    return starts, ends, axes, steps


@emits("getitem")
def _getitem(b, node):
    index = node.attrs[0]
    x = node.inputs[0]
    shape = x.data.shape
    out_shape = _out_shape(b, node)
    items = index if isinstance(index, tuple) else (index,)
    name = b.input(node, 0)
    if all(i is None or i is Ellipsis or isinstance(i, slice) or _is_int(i) for i in items):
        starts, ends, axes, steps = _basic_slices(shape, items)
        if axes:
            name = b.op("Slice", [name, b.ints(starts), b.ints(ends), b.ints(axes),
                                  b.ints(steps)])
        return b.op("Reshape", [name, b.ints(out_shape)], allowzero=1 if 0 in out_shape else None)
    return _advanced_getitem(b, node, name, shape, items)


def _index_dtype(b, i):
    return b.dtype(i) if not isinstance(i, list) else np.asarray(i).dtype


def _advanced_getitem(b, node, name, shape, items):
    """Integer-array indices: one array among full slices (Gather on its axis), or arrays and
    ints on the leading dims followed by full slices (GatherND over their broadcast)."""
    items = list(items)
    plain = [k for k, i in enumerate(items) if not _is_array_index(i)]
    ell = [k for k in plain if items[k] is Ellipsis]
    if ell:
        n_real = sum(1 for k, i in enumerate(items) if k not in plain or
                     (items[k] is not None and items[k] is not Ellipsis))
        items[ell[0]:ell[0] + 1] = [slice(None)] * (len(shape) - n_real)
    items += [slice(None)] * (len(shape) - len(items))
    arrays = [k for k, i in enumerate(items) if _is_array_index(i)]
    for k in arrays:
        dt = _index_dtype(b, items[k])
        if dt.kind not in "iu":
            raise NotImplementedError(
                f"rnnfast.onnx.export: op 'getitem' with a {dt} array index has no ONNX "
                f"mapping (integer arrays, ints and slices only)")

    def full(k):
        i = items[k]
        return not _is_array_index(i) and isinstance(i, slice) and i == slice(None)

    if len(arrays) == 1 and all(full(k) for k in range(len(items)) if k != arrays[0]):
        return b.op("Gather", [name, b.value(items[arrays[0]], np.int64)], axis=arrays[0])
    lead = 0
    while lead < len(items) and (_is_array_index(items[lead]) or _is_int(items[lead])):
        lead += 1
    if all(full(k) for k in range(lead, len(items))):
        parts = [np.asarray(i, dtype=np.int64) if _is_int(i) else i for i in items[:lead]]
        bshape = np.broadcast_shapes(*[np.shape(p.data if isinstance(p, Tensor) else p)
                                       for p in parts])
        cols = [b.op("Unsqueeze", [b.op("Expand", [b.value(p, np.int64), b.ints(bshape)]),
                                   b.ints([len(bshape)])]) for p in parts]
        idx = b.op("Concat", cols, axis=len(bshape))
        return b.op("GatherND", [name, idx])
    raise NotImplementedError(
        "rnnfast.onnx.export: op 'getitem' with this mix of array and basic indices has no "
        "ONNX mapping (one integer array among full slices, or integer arrays and ints on the "
        "leading dims followed by full slices)")


# -- rnnfast.nn's functions ---------------------------------------------------------------------

@emits("linear")
def _linear(b, node):
    dt = _out_dtype(b, node)
    x, w, bias = node.inputs
    xn, wn = b.input(node, 0, dt), b.input(node, 1, dt)
    bn = None if bias is None else b.input(node, 2, dt)
    if x.data.ndim == 2:
        return b.op("Gemm", [xn, wn, bn], transB=1)
    y = b.op("MatMul", [xn, b.op("Transpose", [wn], perm=[1, 0])])
    return y if bn is None else b.op("Add", [y, bn])


@emits("embedding")
def _embedding(b, node):
    indices = node.attrs[0]
    return b.op("Gather", [b.input(node, 0), b.value(indices)], axis=0)


@emits("layer_norm")
def _layer_norm(b, node):
    normalized_shape, eps = node.attrs
    dt = _out_dtype(b, node)
    x, w, bias = node.inputs
    scale = b.input(node, 1, dt) if w is not None else b.scalar(1, dt, normalized_shape)
    return b.op("LayerNormalization",
                [b.input(node, 0, dt), scale, None if bias is None else b.input(node, 2, dt)],
                axis=-len(normalized_shape), epsilon=float(eps))


@emits("dropout")
def _dropout(b, node):
    raise NotImplementedError(
        "rnnfast.onnx.export: op 'dropout' in training mode has no ONNX mapping (it draws a "
        "new mask at each call): call model.eval() before exporting, where dropout is the "
        "identity")


# -- ops without history (integer and boolean results) ---------------------------------------

_COMPARE = {"eq": "Equal", "lt": "Less", "le": "LessOrEqual", "gt": "Greater",
            "ge": "GreaterOrEqual", "ne": "Equal"}
_LOGIC = {"bitwise_and": "And", "bitwise_or": "Or", "bitwise_xor": "Xor"}


def _common_dtype(b, node):
    """The dtype NumPy compares the two operands in (a Python number is a weak scalar)."""
    a, other = node.inputs
    if b.dtype(other) is None and not isinstance(other, (list, tuple)):
        return np.result_type(b.dtype(a), other)
    return np.result_type(b.dtype(a), b.dtype(other) if b.dtype(other) is not None
                          else np.asarray(other).dtype)


@emits(*_COMPARE)
def _compare(b, node):
    dt = _common_dtype(b, node)
    res = b.op(_COMPARE[node.op.name], [b.input(node, 0, dt), b.value(node.inputs[1], dt)])
    return b.op("Not", [res]) if node.op.name == "ne" else res


@emits(*_LOGIC)
def _logic(b, node):
    if _out_dtype(b, node) != np.bool_:
        raise NotImplementedError(f"rnnfast.onnx.export: op '{node.op.name}' of integers has "
                                  f"no ONNX mapping at opset 17 (booleans only)")
    return b.op(_LOGIC[node.op.name], [b.input(node, 0, np.bool_),
                                       b.value(node.inputs[1], np.bool_)])


@emits("invert", "logical_not")
def _not(b, node):
    if node.op.name == "invert" and b.dtype(node.inputs[0]) != np.bool_:
        raise NotImplementedError("rnnfast.onnx.export: op 'invert' of integers has no ONNX "
                                  "mapping at opset 17 (booleans only)")
    return b.op("Not", [b.input(node, 0, np.bool_)])


@emits("one_hot")
def _one_hot(b, node):
    depth = b.const(np.array(node.attrs[0], dtype=np.int64), "depth")
    values = b.const(np.array([0, 1], dtype=np.int64), "values")
    return b.op("OneHot", [b.input(node, 0), depth, values], axis=-1)


@emits("argmax", "argmin")
def _arg(b, node):
    dim, keepdim = node.attrs
    op_type = "ArgMax" if node.op.name == "argmax" else "ArgMin"
    x = b.input(node, 0)
    if dim is None:
        x, dim, keepdim = b.op("Reshape", [x, b.ints([-1])]), 0, False
    return b.op(op_type, [x], axis=int(dim), keepdims=int(bool(keepdim)))


@emits("all", "any")
def _all_any(b, node):
    dim, keepdim = node.attrs
    x = b.input(node, 0, np.bool_)
    as_int = b.op("Cast", [x], to=b.tensor_type(np.int64))
    red = _reduce(b, "ReduceMin" if node.op.name == "all" else "ReduceMax", as_int, dim, keepdim)
    return b.op("Cast", [red], to=b.tensor_type(np.bool_))
