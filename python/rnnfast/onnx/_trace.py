"""The tracer of rnnfast.onnx: runs a model once on its example inputs and returns its graph of
named ops (no onnx here).

While it runs, rnnfast.tensor tells the tracer (``_state.trace``, see ``_begin_trace``) about
every result that records no history although it was computed from the inputs (integer and
boolean results: comparisons, index arithmetic, argmax, ...): those become nodes of the graph
as well ("side" nodes, with the same op, inputs and attributes as a recorded node). In-place writes
are refused while tracing: the graph would not be what the model computed.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, _begin_trace, _end_trace, _Op, _wrap, enable_grad

__all__ = ["Graph", "trace"]


class _Side:
    """A node for results computed from the inputs without history: the op, its inputs
    (operands: Tensors, arrays or numbers) and attribute values, as ``_Node`` has them."""

    __slots__ = ("op", "inputs", "attrs", "nout")

    def __init__(self, op, inputs, attrs, nout):
        self.op = op
        self.inputs = inputs
        self.attrs = attrs
        self.nout = nout

    @property
    def name(self):
        return (self.op.grad_name or self.op.name) if isinstance(self.op, _Op) else str(self.op)


def _arrays_in(obj):
    """The Tensors and arrays inside an attribute value (tuples and lists searched)."""
    if isinstance(obj, (Tensor, np.ndarray)):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            yield from _arrays_in(o)


class _Tracer:
    """What rnnfast.tensor reports to while a model runs (see the module's docstring)."""

    def __init__(self, inputs):
        self.inputs = inputs
        self.input_ids = {}
        for k, t in enumerate(inputs):
            self.input_ids[id(t)] = k
            self.input_ids[id(t.data)] = k
        self.side = {}          # id(Tensor or its array) -> (_Side, slot, the Tensor)

    def depends(self, obj):
        """Whether ``obj`` (a Tensor, array, number) was computed from the inputs."""
        if isinstance(obj, Tensor):
            return (obj._node is not None or id(obj) in self.input_ids or id(obj) in self.side
                    or id(obj.data) in self.side or id(obj.data) in self.input_ids)
        if isinstance(obj, np.ndarray):
            return id(obj) in self.input_ids or id(obj) in self.side
        return False

    def _record(self, outs, operands, op, attrs):
        deps = [o for o in operands if o is not None]
        deps += list(_arrays_in(attrs))
        if not any(self.depends(o) for o in deps):
            return
        node = _Side(op, tuple(operands), tuple(attrs), len(outs) if len(outs) > 1 else 0)
        for slot, t in enumerate(outs):
            entry = (node, slot, t)
            self.side[id(t)] = entry
            self.side[id(t.data)] = entry

    def untracked(self, out, operands, op, attrs=()):
        self._record((out,), operands, op, attrs)

    def untracked_many(self, outs, operands, op, attrs=()):
        self._record(outs, operands, op, attrs)

    def inplace(self, t, what):
        raise NotImplementedError(
            f"rnnfast.onnx.export: '{what}' (an in-place write) has no ONNX mapping: the graph "
            f"is traced from the ops that made each value, and an in-place write changes a "
            f"value after its uses were recorded. Compute the result out of place (cat, "
            f"stack, where, masked_fill)")

    def source(self, obj):
        """Where a value of the graph comes from: ("node", node, slot) for a result of a
        recorded or side node, ("input", k) for the k-th input, ("const", array) for a value
        that does not depend on the inputs. Raises for an array that views an input's data
        outside the recorded ops (its graph would be wrong for other inputs)."""
        if isinstance(obj, Tensor):
            if obj._node is not None:
                return ("node", obj._node, obj._slot)
            for key in (id(obj), id(obj.data)):
                if key in self.input_ids:
                    return ("input", self.input_ids[key])
                if key in self.side:
                    node, slot, _ = self.side[key]
                    return ("node", node, slot)
            arr = obj.data
        elif isinstance(obj, np.ndarray):
            if id(obj) in self.input_ids:
                return ("input", self.input_ids[id(obj)])
            if id(obj) in self.side:
                node, slot, _ = self.side[id(obj)]
                return ("node", node, slot)
            arr = obj
        else:
            return ("const", obj)
        for k, t in enumerate(self.inputs):
            if np.may_share_memory(arr, t.data):
                raise NotImplementedError(
                    f"rnnfast.onnx.export: an array of shape {arr.shape} views input {k}'s "
                    f"data but was not made by rnnfast's ops (e.g. through .data or .numpy()); "
                    f"it would become a constant of the graph. Index the input Tensor itself")
        for node, _, t in self.side.values():
            if np.may_share_memory(arr, t.data):
                raise NotImplementedError(
                    f"rnnfast.onnx.export: an array of shape {arr.shape} views the result of "
                    f"op '{node.name}' (computed from the inputs) but was not made by "
                    f"rnnfast's ops; it would become a constant of the graph")
        return ("const", obj)


class Graph:
    """A traced model: ``inputs`` (the Tensors the model ran on), ``outputs`` (its result
    Tensors, flattened), ``nodes`` (recorded and side nodes in an order where each comes after
    the nodes it reads) and ``meta`` ({(node, slot): (shape, dtype)} of the results read)."""

    def __init__(self, tracer, outputs):
        self.tracer = tracer
        self.inputs = tracer.inputs
        self.outputs = outputs
        self.meta = {}
        self.nodes = self._order(outputs)

    def source(self, obj):
        return self.tracer.source(obj)

    def _deps(self, node):
        return [o for o in node.inputs if isinstance(o, (Tensor, np.ndarray))] + \
            list(_arrays_in(node.attrs))

    def _visit(self, obj):
        """The node that made ``obj`` (None for an input or a constant); notes its meta."""
        src = self.source(obj)
        if src[0] != "node":
            return None
        node, slot = src[1], src[2]
        if getattr(node, "fn", True) is None:
            raise RuntimeError("rnnfast.onnx.export: the model's graph was freed by a backward "
                               "(a node without its inputs)")
        data = obj.data if isinstance(obj, Tensor) else obj
        self.meta.setdefault((node, slot), (data.shape, data.dtype))
        return node

    def _order(self, outputs):
        """The nodes reachable from ``outputs``, each after the nodes it reads (an iterative
        depth-first walk: graphs of unrolled loops are deep)."""
        order, done, active = [], set(), set()
        for t in outputs:
            root = self._visit(t)
            if root is None or root in done:
                continue
            stack = [(root, iter(self._deps(root)))]
            active.add(root)
            while stack:
                node, deps = stack[-1]
                for d in deps:
                    child = self._visit(d)
                    if child is not None and child not in done and child not in active:
                        active.add(child)
                        stack.append((child, iter(self._deps(child))))
                        break
                else:
                    stack.pop()
                    active.discard(node)
                    done.add(node)
                    order.append(node)
        return order


def _flatten(out, where="output"):
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        flat = []
        for i, o in enumerate(out):
            flat += _flatten(o, f"{where}[{i}]")
        return flat
    raise TypeError(f"rnnfast.onnx.export: the model's {where} is a {type(out).__name__}; "
                    f"expected Tensors (or tuples and lists of them)")


def trace(model, inputs) -> Graph:
    """Run ``model(*inputs)`` (``inputs``: Tensors) recording its graph."""
    tracer = _Tracer(inputs)
    prev = _begin_trace(tracer)
    try:
        with enable_grad():
            out = model(*inputs)
    finally:
        _end_trace(prev)
    return Graph(tracer, _flatten(out))


def as_graph_input(x, k, model_dtype):
    """Example input ``k`` as the Tensor the model runs on: float data requires grad (so each
    op on it records a node), integers become int64, NumPy float data takes the model's float
    dtype (as its modules cast arrays)."""
    if isinstance(x, Tensor):
        arr = x.data
    else:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as e:
            raise TypeError(f"example_inputs[{k}]: expected an array, got {type(x).__name__}: "
                            f"{e}") from None
        if arr.dtype.kind == "f" and model_dtype is not None:
            arr = arr.astype(model_dtype, copy=False)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"example_inputs[{k}]: expected numeric data, got dtype {arr.dtype}")
    if arr.dtype.kind in "iu":
        arr = arr.astype(np.int64, copy=False)
    return _wrap(np.ascontiguousarray(arr), requires_grad=arr.dtype.kind == "f")
