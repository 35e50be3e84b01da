"""Named autograd ops (rnnfast.tensor.OPS): every node of a graph points to a registered op and
records its inputs and attribute values, enough to compute its result again.

The oracle is the graph itself: for every node reached from a result, the op's NumPy
``forward`` applied to the recorded inputs' arrays and attributes must give the arrays the
node's results hold (what the op computed when it ran), for every tensor op, layer, cell and
function of rnnfast.nn. A missing or wrong attribute, or an input left out, fails here.
"""

import numpy as np
import pytest

import rnnfast
from rnnfast import nn
from rnnfast.nn import functional as F
from rnnfast.tensor import OPS, _Op, register_op

from _problems import TOL


def _walk(outputs):
    """{node: {slot: array}} over the nodes reachable from ``outputs`` (Tensors): each node's
    results as the tensors that hold them."""
    seen = {}
    stack = [t for t in outputs if t._node is not None]
    for t in stack:
        seen.setdefault(t._node, {})[t._slot] = t.data
    todo = [t._node for t in stack]
    done = set()
    while todo:
        node = todo.pop()
        if node in done:
            continue
        done.add(node)
        for p in node.inputs:
            if p is not None and p._node is not None:
                seen.setdefault(p._node, {})[p._slot] = p.data
                todo.append(p._node)
    return seen


def _array(x):
    return None if x is None else (x.data if isinstance(x, rnnfast.Tensor) else x)


def check_replay(*outputs):
    """Every node's op recomputes the node's results from its recorded inputs and attributes.
    Returns the names of the ops seen."""
    seen = _walk([t for t in outputs if isinstance(t, rnnfast.Tensor)])
    assert seen, "no node recorded"
    names = set()
    for node, results in seen.items():
        op = node.op
        assert isinstance(op, _Op) and OPS.get(op.name) is op, f"{node.name}: unregistered op"
        assert node.name == op.grad_name
        assert len(node.attrs) == len(op.attrs), f"{op.name}: attributes {node.attrs}"
        names.add(op.name)
        got = op.forward(*[_array(x) for x in node.inputs], **node.attributes())
        if node.nout:
            got = tuple(got)
        else:
            got = (got,)
        for slot, want in results.items():
            g = np.asarray(got[slot])
            assert g.shape == want.shape, f"{op.name}[{slot}]: shape {g.shape} != {want.shape}"
            tol = TOL[np.float64] if want.dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(g, want, err_msg=f"{op.name}[{slot}]", **tol)
    return names


def t(*shape, seed=0, dtype=np.float64, grad=True):
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return rnnfast.tensor(a, requires_grad=grad)


def test_tensor_ops_replay():
    a, b, c = t(3, 4), t(4, seed=1), t(3, 4, seed=2)
    x3 = t(2, 3, 4, seed=3)
    outs = [
        a + b, a - b, a * c, a / (c.abs() + 1), (a.abs() + 1) ** b, a ** 2, -a,
        1.5 + a, a + 2, a - 1, 2 - a, a * 3, 3 * a, a / 2, 2 / (a.abs() + 1),
        a.maximum(c), a.minimum(b), a @ c.t(), x3 @ c.t(), b @ c.t(), a.mm(c.t()),
        a[1], a[:, 1:3], a[::-1, ::-2], a[None, ..., 0], a[np.array([2, 0, 2])],
        a[np.array([0, 1]), np.array([3, 3])], a.reshape(2, 6), a.view(-1), x3.transpose(0, 2),
        x3.permute(1, 2, 0), x3.T, a.unsqueeze(1).squeeze(1), a[:1].squeeze(), a[:1].expand(5, 4),
        x3.flatten(), a.sum(), a.sum(1, keepdim=True), x3.sum((0, 2)), a.mean(), a.mean(0),
        a.amax(1), a.amin(), a.max(), a.min(), a.max(0).values, a.min(1, keepdim=True)[0],
        a.cumsum(1), a.topk(2).values, a.sort(0, descending=True).values, a.exp(),
        (a.abs() + 1).log(), (a.abs() + 1).sqrt(), a.tanh(), a.sigmoid(), a.relu(), a.abs(),
        a.clamp(-0.5, 0.5), a.clamp(min=0), (a * 3).round(), a.floor(), a.ceil(), a.sign(),
        a.norm(), a.norm(1, dim=1), a.norm(float("inf")), a.norm(3, dim=0, keepdim=True),
        a.softmax(1), a.log_softmax(0), a.masked_fill(a.data > 0, 0.5),
        a.index_select(1, rnnfast.tensor([3, 0, 3])), a.gather(1, rnnfast.tensor([[0], [2], [1]])),
        a.repeat(2, 1, 3), rnnfast.cat([a, c], 1), rnnfast.stack([a, c], 2),
        rnnfast.where(a.data > 0, a, c), a.clone(), a.T.contiguous(), a.float(), a.var(1),
        a.std(), a.split(2, 1)[1], a.chunk(2, 0)[1], a.narrow(1, 1, 2),
    ]
    names = check_replay(*outs)
    assert {"add", "sub", "mul", "div", "pow", "pow_scalar", "neg", "add_scalar",
            "rsub_scalar", "rdiv_scalar", "matmul", "getitem", "reshape", "transpose",
            "permute", "squeeze", "unsqueeze", "expand", "sum", "mean", "amax", "max",
            "max_dim", "min_dim", "cumsum", "topk", "sort", "norm", "softmax", "log_softmax",
            "masked_fill", "index_select", "gather", "repeat", "cat", "stack", "where",
            "clone", "contiguous", "cast", "clamp"} <= names


def test_recurrent_layers_replay():
    rnnfast.manual_seed(0)
    x = t(5, 3, 4, dtype=np.float32)
    lengths = np.array([5, 2, 4])
    outs = []
    for mode in ("rnn_tanh", "rnn_relu", "lstm", "gru"):
        kw = dict(num_layers=2, bidirectional=True)
        if mode == "lstm":
            layer = nn.LSTM(4, 6, proj_size=3, **kw)
        elif mode == "gru":
            layer = nn.GRU(4, 6, batch_first=True, bias=False, **kw)
        else:
            layer = nn.RNN(4, 6, nonlinearity=mode[4:], **kw)
        xin = x.transpose(0, 1) if mode == "gru" else x
        y, h = layer(xin, lengths=lengths)
        outs += [y] + (list(h) if mode == "lstm" else [h])
        single = type(layer)(4, 6) if mode in ("lstm", "gru") else nn.RNN(4, 6,
                                                                         nonlinearity=mode[4:])
        y1, h1 = single(x, lengths=lengths)
        outs += [y1] + (list(h1) if mode == "lstm" else [h1])
    names = check_replay(*outs)
    assert {"rnn_tanh_bidirectional", "lstm_bidirectional", "gru_bidirectional", "lstm",
            "gru", "rnn_relu"} <= names


def test_cells_and_functions_replay():
    rnnfast.manual_seed(1)
    x, h = t(3, 4, dtype=np.float32), t(3, 5, seed=1, dtype=np.float32)
    lstm, gru, rnn = nn.LSTMCell(4, 5), nn.GRUCell(4, 5), nn.RNNCell(4, 5, bias=False)
    h1, c1 = lstm(x, (h, h))
    emb = nn.Embedding(10, 4)
    idx = np.array([[1, 2], [9, 0]])
    ln = nn.LayerNorm(4)
    outs = [h1, c1, gru(x, h), rnn(x), nn.Linear(4, 2)(x), emb(idx), ln(x),
            F.layer_norm(x, (4,)), F.dropout(x, 0.5, training=True),
            nn.EmbeddingBag(10, 3, mode="sum")(idx),
            nn.utils.rnn.pad_sequence([x, x[:2]]),
            nn.utils.rnn.pack_padded_sequence(t(4, 2, 3), [4, 2]).data]
    names = check_replay(*outs)
    assert {"lstm_cell", "gru_cell", "rnn_tanh_cell", "linear", "embedding", "layer_norm",
            "dropout", "embedding_bag", "pad_sequence"} <= names


def test_node_names_inputs_and_attributes():
    a, b = t(2, 3), t(3, seed=1)
    y = (a + b).sum(1)
    node = y._node
    assert y.grad_fn == "SumBackward" and node.op is OPS["sum"]
    assert node.attributes() == {"dim": (1,), "keepdim": False}
    add = node.inputs[0]._node
    assert add.op is OPS["add"] and add.inputs == (a, b)
    # constants are inputs too: a tensor that needs no gradient is recorded as well
    const = rnnfast.tensor([1.0, 2.0, 3.0])
    z = a * const
    assert z._node.inputs[1] is const and z.grad_fn == "MulBackward"
    # the scalar of x * 2 is an attribute
    w = a * 2
    assert w._node.op is OPS["mul_scalar"] and w._node.attrs == (2,)
    # a backward frees what a node holds
    y.sum().backward()
    assert node.inputs == () and node.attrs == () and add.inputs == ()
    assert repr(node) == "<SumBackward node of sum>"


def test_ops_without_history_are_named():
    for name in ("eq", "lt", "argmax", "all", "logical_not", "topk_indices"):
        assert OPS[name].grad_name is None and OPS[name].forward is not None
    x = np.array([[3.0, 1.0], [0.0, 2.0]])
    assert OPS["argmax"].forward(x, dim=1, keepdim=False).tolist() == [0, 1]
    assert OPS["topk_indices"].forward(x, k=1, dim=0, largest=True).tolist() == [[0, 1]]


def test_register_op_names_are_unique():
    assert all(k == op.name for k, op in OPS.items())
    with pytest.raises(ValueError, match="already registered"):
        register_op("add", "AddBackward")


def test_unregistered_name_still_works():
    """_make with only a name (the contract of earlier code and tests): named, untraceable."""
    from rnnfast.tensor import _make
    a = t(3)
    y = _make(a.data * 2, (a,), lambda g: (2 * g,), name="DoubleBackward")
    assert y.grad_fn == "DoubleBackward" and y._node.op.name is None
    y.sum().backward()
    np.testing.assert_array_equal(a.grad, np.full(3, 2.0))
