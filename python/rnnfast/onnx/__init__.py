"""rnnfast.onnx: export of rnnfast.nn models to standard ONNX operators.

``export(model, example_inputs, path)`` runs the model once on its example inputs while
rnnfast's autograd records each op by name (rnnfast.tensor.OPS), and writes the ops reachable
from the model's outputs as ONNX operators (opset 17): the inputs become the graph's inputs,
the parameters its initializers (named as in ``model.state_dict()``), each recurrent layer
one ONNX ``RNN`` / ``LSTM`` / ``GRU`` operator per layer (see _rnn.py). Any ONNX runtime then
runs the model without rnnfast. docs/ONNX.md lists what maps to what.

The graph has the example inputs' shapes (export again for other shapes). Needs the onnx
package (``pip install onnx``), imported by ``export`` only: neither ``import rnnfast`` nor
``import rnnfast.onnx`` imports it. Models using rnnfast.torch export through
``torch.onnx.export`` instead.
"""

from __future__ import annotations

import os

from . import _emit, _rnn  # noqa: F401  (_rnn registers the recurrent layers' emitters)
from ._trace import as_graph_input, trace

__all__ = ["export", "OPSET"]

OPSET = 17


def _import_onnx():
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401
    except ImportError as e:
        raise ImportError("rnnfast.onnx.export needs the onnx package: pip install onnx") \
            from e
    return onnx


def _random_modules(model):
    """(name, what) of the submodules that draw random numbers in training mode."""
    from ..nn import Dropout
    from ..nn.rnn import RNNBase
    for name, m in model.named_modules():
        if not m.training:
            continue
        if isinstance(m, Dropout) and m.p > 0:
            yield name, f"Dropout(p={m.p})"
        elif isinstance(m, RNNBase):
            drops = [(k, getattr(m, k)) for k in ("recurrent_dropout", "input_dropout",
                                                  "zoneout", "zoneout_c", "weight_dropout")
                     if getattr(m, k) > 0]
            if m.dropout > 0 and m.num_layers > 1:
                drops.insert(0, ("dropout", m.dropout))
            if drops:
                yield name, f"{type(m).__name__} with " + ", ".join(f"{k}={v}" for k, v in drops)


def _model_dtype(model):
    for p in model.parameters():
        if p.dtype.kind == "f":
            return p.dtype
    return None


def _check_names(names, n, what):
    if names is None:
        return None
    if not isinstance(names, (list, tuple)) or not all(isinstance(s, str) for s in names):
        raise TypeError(f"{what}: expected a list of str, got {type(names).__name__}")
    if len(names) != n:
        raise ValueError(f"{what}: expected {n} names, got {len(names)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{what}: names must be distinct, got {list(names)}")
    return list(names)


def export(model, example_inputs, path, *, input_names=None, output_names=None,
           opset=OPSET):
    """Trace ``model`` on ``example_inputs`` and write it to ``path`` as an ONNX model.

    Args:
        model: an ``rnnfast.nn.Module`` built from rnnfast's layers and tensor ops. Dropout
            (modules, recurrent layers' dropout options) must be off: call ``model.eval()``
            first, else ValueError.
        example_inputs: a tuple of arrays (NumPy arrays, rnnfast Tensors, nested lists), the
            model's positional arguments; each becomes a graph input, in order. Float NumPy
            data is cast to the model's float dtype, as its modules do; integers become int64.
        path: a str or os.PathLike, the file to write.
        input_names, output_names: names of the graph's inputs and outputs (default
            ``input_0``, ... and ``output_0``, ...); the outputs are the model's result
            Tensors, nested tuples flattened in order (e.g. ``y, h_n, c_n`` for an LSTM).
        opset: the ONNX opset, 17 or newer.

    Returns the ``onnx.ModelProto`` it wrote. An op without an ONNX mapping raises
    NotImplementedError naming the op.

    Example::

        model = TextClassifier().eval()
        rnnfast.onnx.export(model, (tokens,), "classifier.onnx", input_names=["tokens"])
    """
    from ..nn import Module
    if not isinstance(model, Module):
        raise TypeError(f"model: expected an rnnfast.nn.Module, got {type(model).__name__}")
    if not isinstance(example_inputs, tuple):
        raise TypeError(f"example_inputs: expected a tuple of arrays (the model's positional "
                        f"arguments), got {type(example_inputs).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < OPSET:
        raise ValueError(f"opset: expected an int >= {OPSET}, got {opset!r}")
    input_names = _check_names(input_names, len(example_inputs), "input_names")
    for name, what in _random_modules(model):
        raise ValueError(f"model: {name or 'the model'} ({what}) is in training mode, where it "
                         f"drops at random; call model.eval() before exporting")
    dtype = _model_dtype(model)
    inputs = [as_graph_input(x, k, dtype) for k, x in enumerate(example_inputs)]
    onnx = _import_onnx()

    graph = trace(model, inputs)
    output_names = _check_names(output_names, len(graph.outputs), "output_names")

    params = {}
    for name, p in model.named_parameters():
        params.setdefault(id(p), name)
        params.setdefault(id(p.data), name)
    b = _emit.Builder(onnx, graph, params, opset)
    helper = onnx.helper
    in_names = input_names or [f"input_{k}" for k in range(len(inputs))]
    out_names = output_names or [f"output_{k}" for k in range(len(graph.outputs))]
    for n in in_names + out_names:
        b.used.add(n)
    graph_inputs = []
    for k, (t, n) in enumerate(zip(inputs, in_names, strict=True)):
        b.names[("input", k)] = n
        graph_inputs.append(helper.make_tensor_value_info(n, b.tensor_type(t.data.dtype),
                                                          list(t.data.shape)))
    for node in graph.nodes:
        b.emit(node)
    graph_outputs = []
    for t, n in zip(graph.outputs, out_names, strict=True):
        b.nodes.append(helper.make_node("Identity", [b.value(t)], [n]))
        graph_outputs.append(helper.make_tensor_value_info(n, b.tensor_type(t.data.dtype),
                                                           list(t.data.shape)))
    g = helper.make_graph(b.nodes, "rnnfast", graph_inputs, graph_outputs, b.initializers)
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(g, opset_imports=opsets, producer_name="rnnfast")
    # the IR version the opset came with, not the newest: older runtimes read it too
    proto.ir_version = helper.find_min_ir_version_for(opsets)
    onnx.checker.check_model(proto)
    onnx.save(proto, os.fspath(path))
    return proto

