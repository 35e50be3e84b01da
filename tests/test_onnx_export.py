"""rnnfast.onnx.export: rnnfast.nn models written as standard ONNX operators, run by ONNX
Runtime and compared with rnnfast's own results (float32 within rtol 1e-5; float64 within
the float64 tolerance where ONNX Runtime runs the op in double).

The round trips skip when onnx or onnxruntime is absent; the argument checks, the refusals
that come before onnx is needed and the import checks run anyway.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import rnnfast
import rnnfast.onnx
from rnnfast import nn
from rnnfast.nn import functional as F

from _problems import TOL

# float32: ONNX Runtime's and rnnfast's kernels round differently (an absolute floor for
# entries near zero); float64: the float64 tolerance of the suite
ONNX_TOL = {np.dtype(np.float32): dict(rtol=1e-5, atol=1e-6),
            np.dtype(np.float64): TOL[np.float64]}


@pytest.fixture
def ort():
    pytest.importorskip("onnx")
    return pytest.importorskip("onnxruntime")


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [x for o in out for x in _flat(o)]
    return [out]


def roundtrip(ort, model, inputs, tmp_path, **kw):
    """Export ``model`` on ``inputs``, run the file in ONNX Runtime on the same inputs, compare
    every output with rnnfast's; returns the ModelProto."""
    path = os.path.join(str(tmp_path), "model.onnx")
    proto = rnnfast.onnx.export(model, tuple(inputs), path, **kw)
    assert all(n.domain in ("", "ai.onnx") for n in proto.graph.node)   # standard operators
    with rnnfast.no_grad():        # the model as exported: called with Tensors
        want = [t.numpy() for t in _flat(model(*[rnnfast.tensor(x) for x in inputs]))]
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    feeds = {}
    for info, x in zip(sess.get_inputs(), inputs, strict=True):
        arr = np.asarray(x.numpy() if isinstance(x, rnnfast.Tensor) else x)
        feeds[info.name] = arr.astype(np.int64) if arr.dtype.kind in "iu" else arr
    got = sess.run(None, feeds)
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        assert g.shape == w.shape, f"output {k}: shape {g.shape}, rnnfast's {w.shape}"
        assert g.dtype == w.dtype, f"output {k}: dtype {g.dtype}, rnnfast's {w.dtype}"
        if w.dtype.kind == "f":
            np.testing.assert_allclose(g, w, err_msg=f"output {k}", **ONNX_TOL[w.dtype])
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"output {k}")
    return proto


def op_types(proto):
    return [n.op_type for n in proto.graph.node]


class Fn(nn.Module):
    """A model whose forward is ``fn`` (no parameters of its own unless given)."""

    def __init__(self, fn, **modules):
        super().__init__()
        self.fn = fn
        for k, m in modules.items():
            setattr(self, k, m)

    def forward(self, *xs):
        return self.fn(self, *xs)


# ----------------------------------------------------------------------------------------------
# Recurrent layers: every kind and option.

MODES = ["rnn_tanh", "rnn_relu", "lstm", "gru", "gru_reset_before", "lstm_peephole"]
HAS_C = ("lstm", "lstm_peephole")
OP_TYPE = {"lstm": "LSTM", "lstm_peephole": "LSTM", "gru": "GRU", "gru_reset_before": "GRU"}
LAYER_CASES = [
    dict(),
    dict(num_layers=2),
    dict(bidirectional=True),
    dict(num_layers=2, bidirectional=True, batch_first=True),
    dict(batch_first=True, bias=False),
    dict(h0=True),
    dict(lengths=True),
    dict(num_layers=2, bidirectional=True, h0=True, lengths=True),
    dict(bias=False, bidirectional=True, lengths=True, batch_first=True, h0=True),
    dict(num_layers=3, h0=True, lengths=True, batch_first=True),
]
PROJ_CASES = [
    dict(proj_size=3),
    dict(proj_size=3, h0=True),
    dict(proj_size=3, bidirectional=True, h0=True),
    dict(proj_size=3, num_layers=2, bidirectional=True, h0=True, lengths=True),
    dict(proj_size=3, batch_first=True, bias=False, h0=True, lengths=True),
    dict(proj_size=2, bidirectional=True, lengths=True),
]
T, B, I, H = 6, 4, 5, 7  # noqa: E741  (the shape legend: steps, batch, input, hidden)
LENGTHS = np.array([6, 2, 5, 1])


def new_layer(mode, **kw):
    """The rnnfast.nn layer of cell kind ``mode`` (random peephole weights: they start at
    zero, which would hide them)."""
    if mode.startswith("rnn_"):
        return nn.RNN(I, H, nonlinearity=mode[4:], **kw)
    if mode == "gru_reset_before":
        return nn.GRU(I, H, reset_after=False, **kw)
    if mode == "lstm_peephole":
        layer = nn.LSTM(I, H, peephole=True, **kw)
        rng = np.random.default_rng(11)
        for name, p in layer.named_parameters():
            if name.startswith("weight_p"):
                p.data[...] = rng.uniform(-0.5, 0.5, p.shape)
        return layer
    return {"lstm": nn.LSTM, "gru": nn.GRU}[mode](I, H, **kw)


def make_layer(mode, case):
    kw = {k: v for k, v in case.items() if k not in ("h0", "lengths")}
    rng = np.random.default_rng(1)
    layer = new_layer(mode, **kw)
    x = rng.standard_normal((B, T, I) if case.get("batch_first") else (T, B, I))
    inputs = [x.astype(np.float32)]
    D = 2 if case.get("bidirectional") else 1
    L = case.get("num_layers", 1)
    H_out = case.get("proj_size") or H
    if case.get("h0"):
        inputs.append(rng.standard_normal((L * D, B, H_out)).astype(np.float32))
        if mode in HAS_C:
            inputs.append(rng.standard_normal((L * D, B, H)).astype(np.float32))
    if case.get("lengths"):
        inputs.append(LENGTHS)

    def forward(self, x, *rest):
        rest = list(rest)
        lengths = rest.pop() if case.get("lengths") else None
        hx = None
        if case.get("h0"):
            hx = (rest[0], rest[1]) if mode in HAS_C else rest[0]
        return self.layer(x, hx, lengths=lengths)
    return Fn(forward, layer=layer).eval(), inputs


@pytest.mark.parametrize("case", LAYER_CASES, ids=lambda c: ",".join(c) or "plain")
@pytest.mark.parametrize("mode", MODES)
def test_recurrent_layer(ort, mode, case, tmp_path):
    model, inputs = make_layer(mode, case)
    proto = roundtrip(ort, model, inputs, tmp_path)
    want = OP_TYPE.get(mode, "RNN")
    ops = op_types(proto)
    # one operator per layer, both directions in one
    assert ops.count(want) == case.get("num_layers", 1)
    for n in proto.graph.node:  # the variants: ONNX's own attribute and input for them
        if n.op_type == "GRU":
            lbr = [a.i for a in n.attribute if a.name == "linear_before_reset"]
            assert lbr == [0 if mode == "gru_reset_before" else 1]
        if n.op_type == "LSTM":
            assert (len(n.input) > 7 and bool(n.input[7])) == (mode == "lstm_peephole")
    if case.get("lengths"):
        names = {i.name for i in proto.graph.input}
        rnn_nodes = [n for n in proto.graph.node if n.op_type == want]
        assert all(len(n.input) > 4 and n.input[4] for n in rnn_nodes)     # sequence_lens
        assert f"input_{len(inputs) - 1}" in names


@pytest.mark.parametrize("mode", HAS_C)
@pytest.mark.parametrize("case", PROJ_CASES, ids=lambda c: ",".join(f"{k}" for k in c))
def test_lstm_proj_size(ort, case, mode, tmp_path):
    model, inputs = make_layer(mode, case)
    proto = roundtrip(ort, model, inputs, tmp_path)
    assert op_types(proto).count("LSTM") == case.get("num_layers", 1)


@pytest.mark.parametrize("mode", MODES)
def test_recurrent_layer_unbatched_and_constant_lengths(ort, mode, tmp_path):
    layer = new_layer(mode)
    x = np.random.default_rng(2).standard_normal((T, I)).astype(np.float32)
    roundtrip(ort, Fn(lambda self, x: self.layer(x), layer=layer).eval(), [x], tmp_path)
    # lengths fixed inside the model: a constant sequence_lens
    layer2 = new_layer(mode, bidirectional=True)
    xb = np.random.default_rng(3).standard_normal((T, B, I)).astype(np.float32)
    model = Fn(lambda self, x: self.layer(x, lengths=LENGTHS), layer=layer2).eval()
    roundtrip(ort, model, [xb], tmp_path)


def test_packed_sequence_input(ort, tmp_path):
    """A PackedSequence made from a padded input and lengths runs as lengths= does."""
    rnnfast.manual_seed(5)
    pack = nn.utils.rnn.pack_padded_sequence

    def forward(self, x, lengths):
        out, h = self.gru(pack(x, lengths, enforce_sorted=False))
        return h
    x = np.random.default_rng(9).standard_normal((T, B, I)).astype(np.float32)
    roundtrip(ort, Fn(forward, gru=nn.GRU(I, H, bidirectional=True)).eval(), [x, LENGTHS],
              tmp_path)


@pytest.mark.parametrize("state", [False, True])
@pytest.mark.parametrize("mode", MODES[:4])
def test_cells(ort, mode, state, tmp_path):
    cls = {"lstm": nn.LSTMCell, "gru": nn.GRUCell}.get(mode)
    cell = cls(I, H) if cls else nn.RNNCell(I, H, nonlinearity=mode[4:])
    rng = np.random.default_rng(4)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    inputs = [x]
    if state:
        inputs += [rng.standard_normal((B, H)).astype(np.float32)
                   for _ in range(2 if mode == "lstm" else 1)]

    def forward(self, x, *st):          # the cell unrolled by hand over the steps
        hx = (tuple(st) if mode == "lstm" else st[0]) if st else None
        hs = []
        for t in range(x.shape[0]):
            hx = self.cell(x[t], hx)
            hs.append(hx[0] if mode == "lstm" else hx)
        return rnnfast.stack(hs, 0), hx
    proto = roundtrip(ort, Fn(forward, cell=cell).eval(), inputs, tmp_path)
    want = {"lstm": "LSTM", "gru": "GRU"}.get(mode, "RNN")
    assert op_types(proto).count(want) == T


# ----------------------------------------------------------------------------------------------
# Seed-style models.

class Classifier(nn.Module):
    """Embedding + LSTM + Linear on the last step."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 8)
        self.lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True, dropout=0.3)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(16, 3)

    def forward(self, tokens):
        y, (h, c) = self.lstm(self.emb(tokens))
        return self.fc(self.drop(y[:, -1])).log_softmax(-1)


class Encoder(nn.Module):
    """A bidirectional GRU encoder over padded batches: the last layer's two final states
    concatenated, and the per-step outputs."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(40, 6, padding_idx=0)
        self.gru = nn.GRU(6, 10, num_layers=2, bidirectional=True)
        self.proj = nn.Linear(20, 12)

    def forward(self, tokens, lengths):
        y, h = self.gru(self.emb(tokens), lengths=lengths)
        summary = self.proj(rnnfast.cat([h[-2], h[-1]], dim=1)).tanh()
        return y, summary


class NextToken(nn.Module):
    """Embedding + RNN + Linear: log-probabilities of the next token at every step."""

    def __init__(self, vocab=30):
        super().__init__()
        self.emb = nn.Embedding(vocab, 8)
        self.rnn = nn.RNN(8, 12, batch_first=True)
        self.head = nn.Linear(12, vocab)

    def forward(self, tokens, h0):
        y, h = self.rnn(self.emb(tokens), h0)
        return self.head(y).log_softmax(dim=-1), h


def test_seed_classifier(ort, tmp_path):
    rnnfast.manual_seed(0)
    tokens = np.random.default_rng(5).integers(0, 50, (4, 9))
    proto = roundtrip(ort, Classifier().eval(), [tokens], tmp_path, input_names=["tokens"],
                      output_names=["log_probs"])
    assert [i.name for i in proto.graph.input] == ["tokens"]
    assert [o.name for o in proto.graph.output] == ["log_probs"]
    init = {i.name for i in proto.graph.initializer}
    assert {"emb.weight", "fc.weight", "fc.bias"} <= init       # parameters keep their names
    assert {"Gather", "LSTM", "Gemm", "LogSoftmax"} <= set(op_types(proto))


def test_seed_bidirectional_encoder(ort, tmp_path):
    rnnfast.manual_seed(1)
    tokens = np.random.default_rng(6).integers(1, 40, (7, 4))
    lengths = np.array([7, 3, 5, 1])
    for b, n in enumerate(lengths):
        tokens[n:, b] = 0
    proto = roundtrip(ort, Encoder().eval(), [tokens, lengths], tmp_path)
    assert op_types(proto).count("GRU") == 2
    assert "Concat" in op_types(proto)


def test_seed_next_token(ort, tmp_path):
    rnnfast.manual_seed(2)
    rng = np.random.default_rng(7)
    tokens = rng.integers(0, 30, (3, 10))
    h0 = rng.standard_normal((1, 3, 12)).astype(np.float32)
    roundtrip(ort, NextToken().eval(), [tokens, h0], tmp_path)


def test_lengths_and_masks_computed_in_the_model(ort, tmp_path):
    """Integer and boolean values the model computes from its inputs (lengths from padding,
    the last step's index, a mask) are ops of the graph, not constants: the file gives the
    right answer for other inputs than the example's."""
    rnnfast.manual_seed(3)

    class Pooled(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 5, padding_idx=0)
            self.lstm = nn.LSTM(5, 6, batch_first=True)

        def forward(self, tokens):
            pad = tokens == 0
            lengths = (~pad).sum(1)
            y, _ = self.lstm(self.emb(tokens), lengths=lengths)
            last = y[rnnfast.arange(tokens.shape[0]), lengths - 1]
            pooled = y.masked_fill(pad.unsqueeze(-1), -1e4).amax(1)
            return last, pooled, lengths

    model = Pooled().eval()
    rng = np.random.default_rng(8)

    def batch(lens):
        t = rng.integers(1, 20, (len(lens), 6))
        for b, n in enumerate(lens):
            t[b, n:] = 0
        return t
    path = os.path.join(str(tmp_path), "model.onnx")
    rnnfast.onnx.export(model, (batch([6, 2, 4]),), path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    other = batch([3, 6, 1])                 # not the example's lengths
    got = sess.run(None, {"input_0": other})
    with rnnfast.no_grad():
        want = [t.numpy() for t in model(rnnfast.tensor(other))]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, **ONNX_TOL[np.dtype(np.float32)])


def test_one_hot_detach_copies_and_int32_lengths(ort, tmp_path):
    """one_hot of an input, detach, rnnfast.tensor(t) and an int32 cast of computed lengths
    are ops of the graph as well (checked on another input than the example)."""
    rnnfast.manual_seed(6)

    def forward(self, tokens):
        onehot = F.one_hot(tokens, 9).float()               # (B, T, 9)
        lengths = (tokens != 0).sum(1).int()                 # int32, converted by the layer
        y, h = self.gru(onehot.detach(), lengths=rnnfast.tensor(lengths))
        return h[0] * 2
    model = Fn(forward, gru=nn.GRU(9, 5, batch_first=True)).eval()

    def batch(lens):
        t = np.random.default_rng(len(lens) + lens[0]).integers(1, 9, (len(lens), 5))
        for b, n in enumerate(lens):
            t[b, n:] = 0
        return t
    roundtrip(ort, model, [batch([5, 3])], tmp_path)
    path = os.path.join(str(tmp_path), "model.onnx")
    other = batch([2, 4])
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
        None, {"input_0": other})[0]
    with rnnfast.no_grad():
        np.testing.assert_allclose(got, model(rnnfast.tensor(other)).numpy(),
                                   **ONNX_TOL[np.dtype(np.float32)])


# ----------------------------------------------------------------------------------------------
# Tensor ops, float32 and float64.

def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


OP_CASES = [
    ("add_broadcast", lambda s, a, b: a + b, [(3, 4), (4,)]),
    ("sub_mul_div", lambda s, a, b: (a - b) * a / (b.abs() + 1), [(3, 4), (3, 4)]),
    ("scalars", lambda s, a: (2.0 - a) * 3 + a / 4 - 1 + 2 / (a.abs() + 1) + (1 + a) * 0.5,
     [(3, 4)]),
    ("pow", lambda s, a, b: (a.abs() + 0.5) ** 1.5 + (a.abs() + 1) ** b - a ** 2,
     [(3, 4), (4,)]),
    ("neg_abs_sign", lambda s, a: -a + a.abs() * a.sign(), [(5,)]),
    ("exp_log_sqrt", lambda s, a: a.exp() + (a.abs() + 1).log() + (a.abs() + 1).sqrt(),
     [(2, 3)]),
    ("activations", lambda s, a: a.tanh() + a.sigmoid() + a.relu() + F.relu(a * 2)
     + nn.Tanh()(a) + nn.Sigmoid()(a) + nn.ReLU()(a), [(3, 5)]),
    ("clamp", lambda s, a, b: a.clamp(-0.5, 0.5) + a.clamp(min=0.1) + a.clamp(max=0.2)
     + a.clamp(min=b * 0.5, max=b.abs() + 0.1), [(4, 4), (4,)]),
    ("rounding", lambda s, a: (a * 3).round() + (a * 3).floor() + (a * 3).ceil(), [(4, 4)]),
    ("maximum_minimum", lambda s, a, b: a.maximum(b) + rnnfast.minimum(a, b), [(3, 4), (4,)]),
    ("matmul_2d", lambda s, a, b: a @ b, [(3, 4), (4, 5)]),
    ("matmul_batched", lambda s, a, b: a @ b + a.matmul(b), [(2, 3, 4), (4, 5)]),
    ("matmul_1d", lambda s, a, b: (a @ b) + (b.t() @ a).sum(), [(4,), (4, 5)]),
    ("bmm", lambda s, a, b: a.bmm(b), [(2, 3, 4), (2, 4, 2)]),
    ("reshape_view", lambda s, a: a.reshape(6, 4).view(3, -1) + a.view(3, 8), [(2, 3, 4)]),
    ("permute_transpose", lambda s, a: a.permute(2, 0, 1).transpose(0, 1) + a.T.transpose(1, 2)
     .permute(1, 0, 2), [(2, 3, 4)]),
    ("flatten_squeeze", lambda s, a: a.flatten(1).unsqueeze(0).squeeze(0) + a.unsqueeze(-1)
     .squeeze().flatten(1), [(2, 1, 3)]),
    ("expand_repeat", lambda s, a: a.expand(3, 2, 4) + a.repeat(3, 1, 1), [(1, 2, 4)]),
    ("getitem_ints", lambda s, a: a[1] + a[-1] * a[0, :, 2:3] - a[1, 2][None], [(3, 4, 5)]),
    ("getitem_slices", lambda s, a: a[:, 1:3] * a[:, ::2][:, :2] + a[1:-1].sum(), [(4, 5)]),
    ("getitem_negative_step", lambda s, a: a[::-1, ::-2] + a[-2::-1, 4:0:-2].sum(), [(3, 5)]),
    ("getitem_none_ellipsis", lambda s, a: a[None, ..., 0] + a[..., None, 1, :].sum(), [(3, 4, 2)]),
    ("getitem_array", lambda s, a: a[np.array([2, 0, 2])] + a[:, np.array([1, 1, 0])].sum(),
     [(3, 3)]),
    ("narrow_split_chunk", lambda s, a: a.narrow(1, 1, 2) + a.split(2, dim=1)[1]
     + a.chunk(2, 1)[0], [(3, 4)]),
    ("index_select_gather", lambda s, a: a.index_select(1, rnnfast.tensor([3, 0]))
     + a.gather(1, rnnfast.tensor([[0, 1], [2, 2], [3, 0]])), [(3, 4)]),
    ("cat_stack", lambda s, a, b: rnnfast.cat([a, b, a], dim=1).sum(1)
     + rnnfast.stack([a[:, :2], b], dim=-1).mean(-1).sum(1), [(3, 4), (3, 2)]),
    ("stack_dims", lambda s, a, b: rnnfast.stack([a, b]) * rnnfast.stack([b, a], 1)
     .transpose(0, 1), [(3, 4), (3, 4)]),
    ("sum_mean", lambda s, a: a.sum() + a.mean(0).sum() + a.sum((0, 2), keepdim=True).mean()
     + a.mean(dim=-1, keepdim=True).sum(), [(2, 3, 4)]),
    ("max_min", lambda s, a: a.max(1).values + a.amax(0).sum() + a.min() + a.amin(dim=(0, 1))
     .sum() + a.max(dim=0, keepdim=True)[0].sum(), [(3, 4)]),
    ("softmax", lambda s, a: a.softmax(-1) + F.softmax(a, dim=0) + nn.Softmax(dim=1)(a),
     [(3, 5)]),
    ("log_softmax", lambda s, a: a.log_softmax(1) + nn.LogSoftmax(dim=0)(a), [(4, 6)]),
    ("var_std_norm", lambda s, a: a.var(1) + a.std(0).sum() + a.norm() + a.norm(1, dim=1),
     [(3, 4)]),
    ("cumsum", lambda s, a: a.cumsum(1), [(3, 4)]),
    ("where_masked_fill", lambda s, a, b: rnnfast.where(a > b, a, b * 2)
     + a.masked_fill(a < 0, 0.5), [(3, 4), (4,)]),
    ("comparisons", lambda s, a, b: (a >= b).float() + (a != b).double() + (a <= 0).float()
     + a.argmax(1, keepdim=True) + a.argmin(), [(3, 4), (3, 4)]),
    ("int_compared_with_float", lambda s, a: (((a * 3).long() >= 0.5).float()
     + ((a * 3).long() < 1.5).double()), [(3, 4)]),
    ("logic", lambda s, a, b: ((a > 0) & ~(b < 0.5) | (a < -1) ^ (b > 1)).float()
     + (a > 0).logical_not().double() + (a > 0).all(1, keepdim=True).float()
     + (a > 0).any(0).float() + (a * 3).long().float(), [(3, 4), (3, 4)]),
    ("constants", lambda s, a: a * rnnfast.tensor(np.arange(4.0)) + rnnfast.ones(3, 4),
     [(3, 4)]),
    ("casts", lambda s, a: a.double().float() + a.to(rnnfast.float64), [(2, 2)]),
    ("topk_sort", lambda s, a: a.topk(2, dim=1).values + a.sort(1, descending=True)
     .values[:, :2], [(3, 5)]),
    ("linear_layers", lambda s, a: s.l2(s.l1(a).relu()) + s.l1(a[0]).sum(), [(2, 3, 4)]),
    ("layer_norm", lambda s, a: s.ln(a) + F.layer_norm(a, (4,)), [(2, 3, 4)]),
    ("flatten_identity_module", lambda s, a: s.flat(a) + s.ident(a).reshape(2, 12), [(2, 3, 4)]),
]


def _op_modules(name, dtype):
    rnnfast.manual_seed(4)
    if name == "linear_layers":
        return dict(l1=nn.Linear(4, 5, dtype=dtype), l2=nn.Linear(5, 2, bias=False, dtype=dtype))
    if name == "layer_norm":
        ln = nn.LayerNorm(4, dtype=dtype)
        ln.weight.data[:] = np.arange(1.0, 5.0)
        ln.bias.data[:] = 0.25
        return dict(ln=ln)
    if name == "flatten_identity_module":
        return dict(flat=nn.Flatten(), ident=nn.Identity())
    return {}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,fn,shapes", OP_CASES, ids=[c[0] for c in OP_CASES])
def test_tensor_ops(ort, name, fn, shapes, dtype, tmp_path):
    inputs = [_x(*s, seed=k).astype(dtype) for k, s in enumerate(shapes)]
    model = Fn(fn, **_op_modules(name, dtype)).eval()
    roundtrip(ort, model, inputs, tmp_path)


def test_several_outputs_and_input_passthrough(ort, tmp_path):
    x, y = _x(2, 3).astype(np.float32), _x(3).astype(np.float32)
    model = Fn(lambda s, a, b: (a, (a + b, [b.exp()]), rnnfast.ones(2)))
    proto = roundtrip(ort, model, [x, y], tmp_path)
    assert len(proto.graph.output) == 4


# ----------------------------------------------------------------------------------------------
# What does not export, and bad arguments.

def test_op_without_mapping_names_it(ort, tmp_path):
    path = os.path.join(str(tmp_path), "m.onnx")
    target = np.array([0, 2])
    loss = Fn(lambda s, a: F.cross_entropy(a, target))
    with pytest.raises(NotImplementedError, match="cross_entropy"):
        rnnfast.onnx.export(loss, (_x(2, 3),), path)
    bag = Fn(lambda s, a: s.bag(np.array([[1, 2], [3, 4]])) * a, bag=nn.EmbeddingBag(5, 3))
    with pytest.raises(NotImplementedError, match="embedding_bag"):
        rnnfast.onnx.export(bag, (_x(2, 3),), path)
    padded = Fn(lambda s, a: nn.utils.rnn.pad_sequence([a, a[:2]]))
    with pytest.raises(NotImplementedError, match="pad_sequence"):
        rnnfast.onnx.export(padded, (_x(3, 2),), path)
    gather_mixed = Fn(lambda s, a: a[np.array([0, 1]), 1:])
    with pytest.raises(NotImplementedError, match="getitem"):
        rnnfast.onnx.export(gather_mixed, (_x(3, 4),), path)
    assert not os.path.exists(path)


def test_training_mode_dropout_raises(tmp_path):
    path = os.path.join(str(tmp_path), "m.onnx")
    model = Classifier()                                  # training mode: dropout draws masks
    with pytest.raises(ValueError, match=r"drop.*model\.eval\(\)"):
        rnnfast.onnx.export(model, (np.zeros((2, 3), np.int64),), path)
    rnn = Fn(lambda s, a: s.rnn(a)[0], rnn=nn.LSTM(3, 4, recurrent_dropout=0.2))
    with pytest.raises(ValueError, match="recurrent_dropout"):
        rnnfast.onnx.export(rnn, (_x(2, 1, 3),), path)
    assert not os.path.exists(path)


def test_functional_dropout_in_training_raises(ort, tmp_path):
    model = Fn(lambda s, a: F.dropout(a, 0.5, training=True))
    with pytest.raises(NotImplementedError, match="dropout"):
        rnnfast.onnx.export(model, (_x(2, 3),), os.path.join(str(tmp_path), "m.onnx"))
    # in eval mode (training=False) it is the identity
    roundtrip(ort, Fn(lambda s, a: F.dropout(a, 0.5, training=False) * 2), [_x(2, 3)], tmp_path)


def test_inplace_write_raises(ort, tmp_path):
    def fn(s, a):
        out = rnnfast.zeros(2, 3)
        out[0] = a[1]
        return out
    with pytest.raises(NotImplementedError, match="__setitem__"):
        rnnfast.onnx.export(Fn(fn), (_x(2, 3),), os.path.join(str(tmp_path), "m.onnx"))

    def fn2(s, a):
        h = a * 2
        h += 1
        return h
    with pytest.raises(NotImplementedError, match="add_"):
        rnnfast.onnx.export(Fn(fn2), (_x(2, 3),), os.path.join(str(tmp_path), "m.onnx"))
    # the tracer is gone afterwards: in-place writes work again, no_grad records nothing
    tensor_module = sys.modules["rnnfast.tensor"]
    assert tensor_module._state.trace is None and tensor_module._tracing == 0
    t = rnnfast.zeros(2)
    t[0] = 1.0
    assert t.tolist() == [1.0, 0.0]
    with rnnfast.no_grad():
        assert not rnnfast.is_grad_enabled()
        assert (rnnfast.ones(2, requires_grad=True) * 2).grad_fn is None


def test_view_of_input_data_raises(ort, tmp_path):
    model = Fn(lambda s, a: a * rnnfast.as_tensor(a.numpy()[:1]))
    with pytest.raises(NotImplementedError, match="views input 0"):
        rnnfast.onnx.export(model, (_x(2, 3),), os.path.join(str(tmp_path), "m.onnx"))


def test_bad_arguments(tmp_path):
    model = Fn(lambda s, a: a * 2)
    path = os.path.join(str(tmp_path), "m.onnx")
    with pytest.raises(TypeError, match="path"):
        rnnfast.onnx.export(model, (_x(2),), 3)
    with pytest.raises(TypeError, match="path"):
        rnnfast.onnx.export(model, (_x(2),), None)
    with pytest.raises(TypeError, match="example_inputs"):
        rnnfast.onnx.export(model, [_x(2)], path)
    with pytest.raises(TypeError, match="example_inputs"):
        rnnfast.onnx.export(model, _x(2), path)
    with pytest.raises(TypeError, match="model"):
        rnnfast.onnx.export(lambda a: a, (_x(2),), path)
    with pytest.raises(TypeError, match=r"example_inputs\[0\]"):
        rnnfast.onnx.export(model, (np.array(["a", "b"]),), path)
    with pytest.raises(ValueError, match="opset"):
        rnnfast.onnx.export(model, (_x(2),), path, opset=13)
    with pytest.raises(ValueError, match="input_names"):
        rnnfast.onnx.export(model, (_x(2),), path, input_names=["a", "b"])
    assert not os.path.exists(path)


def test_pathlike_and_return_value(ort, tmp_path):
    import pathlib
    path = pathlib.Path(tmp_path) / "m.onnx"
    proto = rnnfast.onnx.export(Fn(lambda s, a: a.tanh()), (_x(2),), path)
    assert path.exists()
    import onnx
    assert onnx.load(str(path)).graph.node[0].op_type == proto.graph.node[0].op_type == "Tanh"


def test_missing_onnx_raises_import_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)          # import onnx raises ImportError
    with pytest.raises(ImportError, match="pip install onnx"):
        rnnfast.onnx.export(Fn(lambda s, a: a * 2), (_x(2),),
                            os.path.join(str(tmp_path), "m.onnx"))


def test_import_rnnfast_does_not_import_onnx():
    code = ("import sys, rnnfast, rnnfast.onnx, rnnfast.nn; "
            "assert 'onnx' not in sys.modules and 'onnxruntime' not in sys.modules, "
            "sorted(m for m in sys.modules if 'onnx' in m and not m.startswith('rnnfast'))")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("opset", [18, 21])
def test_newer_opset(ort, opset, tmp_path):
    """From opset 18 on every reduction takes its axes as an input."""
    fn = dict(OP_CASES_BY_NAME)
    for name in ("sum_mean", "max_min", "var_std_norm", "logic"):
        inputs = [_x(3, 4, seed=k).astype(np.float32) for k in range(2 if name == "logic" else 1)]
        if name == "sum_mean":
            inputs = [_x(2, 3, 4).astype(np.float32)]
        proto = roundtrip(ort, Fn(fn[name]), inputs, tmp_path, opset=opset)
        assert proto.opset_import[0].version == opset
    model, inputs = make_layer("lstm", dict(bidirectional=True, lengths=True, h0=True))
    roundtrip(ort, model, inputs, tmp_path, opset=opset)


OP_CASES_BY_NAME = [(c[0], c[1]) for c in OP_CASES]


def test_ir_version_and_float64_recurrent_layers(ort, tmp_path):
    """The file's IR version is its opset's; a float64 recurrent layer exports to a valid
    file of double operators (which ONNX Runtime's CPU kernels do not run)."""
    import onnx
    path = os.path.join(str(tmp_path), "m.onnx")
    proto = rnnfast.onnx.export(Fn(lambda s, a: a + 1), (_x(2),), path)
    assert proto.ir_version == 8 and proto.opset_import[0].version == 17
    model = Fn(lambda s, x: s.lstm(x)[0], lstm=nn.LSTM(3, 4, dtype=np.float64)).eval()
    proto = rnnfast.onnx.export(model, (_x(5, 2, 3),), path)
    onnx.checker.check_model(proto)
    assert proto.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = _x(5, 2, 3)
    try:
        got = sess.run(None, {"input_0": x})[0]
    except Exception as e:                  # onnxruntime 1.32: "does not support double yet"
        assert "double" in str(e)
    else:                                   # a runtime that has it agrees with rnnfast
        with rnnfast.no_grad():
            np.testing.assert_allclose(got, model(rnnfast.tensor(x)).numpy(), **TOL[np.float64])


def _python_blocks(path, after=None):
    import re
    text = open(path, encoding="utf-8").read()
    if after is not None:
        text = text[text.index(after):]
    return re.findall(r"```python\n(.*?)```", text, re.S)


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_examples_readme_onnx_block_runs(ort, tmp_path, monkeypatch):
    blocks = _python_blocks(os.path.join(REPO, "examples", "README.md"),
                            after="## Exporting a model to ONNX")
    assert blocks and "rnnfast.onnx.export" in blocks[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(blocks[0], "examples/README.md (ONNX)", "exec"), {})
    assert os.path.exists(os.path.join(str(tmp_path), "classifier.onnx"))


def test_docs_onnx_block_runs(ort, tmp_path, monkeypatch):
    blocks = _python_blocks(os.path.join(REPO, "docs", "ONNX.md"))
    assert blocks
    monkeypatch.chdir(tmp_path)
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/ONNX.md[{i}]", "exec"), {})
    assert os.path.exists(os.path.join(str(tmp_path), "tagger.onnx"))
