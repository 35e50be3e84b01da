"""torch.onnx.export of models holding rnnfast.torch modules, run by ONNX Runtime.

The oracle is rnnfast.torch's own eager output on the same inputs: ONNX Runtime, running the
exported graph without rnnfast, must agree within 1e-5 relative (plus 1e-6 absolute for the
elements near zero). Every graph is checked to hold only standard ONNX operators, with one
RNN / LSTM / GRU node per layer. ONNX Runtime runs these operators in float32 only, so the
models are float32.
"""

import contextlib
import io
import warnings

import numpy as np
import pytest

from _tools import onnx_exporters

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

import rnnfast.torch as rt  # noqa: E402

RTOL, ATOL = 1e-5, 1e-6


EXPORTERS = onnx_exporters()


def _export(model, args, names, dynamo, dynamic=None):
    """The ONNX model's bytes; dynamic: {input name: {axis: dim name}}."""
    f = io.BytesIO()
    kw = {"input_names": names}
    if dynamic:
        if dynamo:
            dims = {}
            kw["dynamic_shapes"] = {n: {a: dims.setdefault(d, torch.export.Dim(d))
                                        for a, d in dynamic.get(n, {}).items()} or None
                                    for n in names}
        else:
            kw["dynamic_axes"] = dynamic
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), args, f, dynamo=dynamo, **kw)
    return f.getvalue()


def _check_standard(blob, counts):
    """Only standard ONNX operators, and counts[op] nodes of each recurrent op."""
    graph = onnx.load_from_string(blob).graph
    ops = [n.op_type for n in graph.node]
    for n in graph.node:
        assert n.domain in ("", "ai.onnx") and onnx.defs.has(n.op_type), (n.domain, n.op_type)
    for op, k in counts.items():
        assert ops.count(op) == k, (op, ops)


def _run(blob, feeds):
    sess = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    assert set(names) == set(feeds), (names, list(feeds))
    return sess.run(None, {n: feeds[n].numpy() for n in names})


def _compare(got, want, labels):
    assert len(got) == len(want)
    for g, w, label in zip(got, want, labels):
        w = w.detach().numpy()
        assert g.shape == w.shape, (label, g.shape, w.shape)
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL, err_msg=label)


class Zoo(torch.nn.Module):
    """Every option of RNN, LSTM and GRU, on one input (one export per exporter is most of
    this file's time): multi-layer, bidirectional, batch_first, with and without bias, initial
    states, lengths=, and LSTMs with proj_size, which torch's exporters refuse."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lstm = rt.LSTM(5, 7, num_layers=2, bidirectional=True)
        self.lstm_bf = rt.LSTM(5, 4, bias=False, batch_first=True)
        self.gru_bf = rt.GRU(5, 6, batch_first=True, bias=False, bidirectional=True)
        self.gru = rt.GRU(5, 6, num_layers=2)
        self.relu = rt.RNN(5, 6, nonlinearity="relu", num_layers=2)
        self.tanh_bf = rt.RNN(5, 3, batch_first=True, bidirectional=True)
        self.proj = rt.LSTM(5, 7, proj_size=3, num_layers=2, bidirectional=True,
                            batch_first=True)
        self.proj_plain = rt.LSTM(5, 6, proj_size=4, bias=False)

    def forward(self, x, lens, h_lstm, c_lstm, h_gru, h_proj):
        xb = x.transpose(0, 1)
        y1, (h1, c1) = self.lstm(x, (h_lstm, c_lstm), lengths=lens)
        y2, (h2, c2) = self.lstm_bf(xb)
        y3, h3 = self.gru_bf(xb, h_gru, lengths=lens)
        y4, h4 = self.gru(x, h_gru)
        y5, h5 = self.relu(x)
        y6, h6 = self.tanh_bf(xb, lengths=lens)
        y7, (h7, c7) = self.proj(xb, (h_proj, c_lstm), lengths=lens)
        y8, (h8, c8) = self.proj_plain(x)
        hx9 = (h_proj[:1, :, :2].repeat(1, 1, 2), c_lstm[:1, :, :6])
        y9, (h9, c9) = self.proj_plain(x, hx9, lengths=lens)
        return (y1, h1, c1, y2, h2, c2, y3, h3, y4, h4, y5, h5, y6, h6, y7, h7, c7, y8, h8, c8,
                y9, h9, c9)


ZOO_OUT = ["lstm y", "lstm h", "lstm c", "lstm_bf y", "lstm_bf h", "lstm_bf c", "gru_bf y",
           "gru_bf h", "gru y", "gru h", "relu y", "relu h", "tanh_bf y", "tanh_bf h",
           "proj y", "proj h", "proj c", "proj_plain y", "proj_plain h", "proj_plain c",
           "proj_plain hx lengths y", "proj_plain hx lengths h", "proj_plain hx lengths c"]


def _zoo_inputs(T, B, lens, seed):
    g = torch.Generator().manual_seed(seed)
    shapes = {"x": (T, B, 5), "h_lstm": (4, B, 7), "c_lstm": (4, B, 7), "h_gru": (2, B, 6),
              "h_proj": (4, B, 3)}
    feeds = {k: torch.randn(*v, generator=g) for k, v in shapes.items()}
    return {"x": feeds.pop("x"), "lens": torch.tensor(lens), **feeds}


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_rnn_lstm_gru_and_projection_export_to_standard_operators(dynamo):
    model = Zoo().eval()
    feeds = _zoo_inputs(6, 3, [6, 2, 4], 1)
    names = list(feeds)
    dynamic = {"x": {0: "T", 1: "B"}, "lens": {0: "B"}, "h_lstm": {1: "B"}, "c_lstm": {1: "B"},
               "h_gru": {1: "B"}, "h_proj": {1: "B"}}
    blob = _export(model, tuple(feeds.values()), names, dynamo, dynamic)
    # one operator per layer; projection adds no loop: a plain LSTM and MatMuls
    _check_standard(blob, {"LSTM": 7, "GRU": 3, "RNN": 3, "Loop": 0, "Scan": 0})
    # the export's own shapes, then other T and B (the graph is not specialized to them)
    for run_feeds in (feeds, _zoo_inputs(4, 5, [1, 4, 3, 4, 2], 2),
                      _zoo_inputs(1, 2, [1, 1], 3)):
        with torch.no_grad():
            want = model(*run_feeds.values())
        _compare(_run(blob, run_feeds), want, ZOO_OUT)


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_torch_nn_lstm_with_projection_does_not_export(dynamo):
    """What rnnfast.torch adds: torch.nn.LSTM with proj_size does not export to a working
    model (the TorchScript-based exporter refuses it; the dynamo-based one writes a graph that
    ONNX Runtime fails to run: its LSTM gets the projected size as hidden_size)."""
    model, x = torch.nn.LSTM(5, 7, proj_size=3), torch.randn(4, 2, 5)
    if not dynamo:
        with pytest.raises(torch.onnx.errors.SymbolicValueError, match="projections"):
            _export(model, (x,), ["x"], dynamo)
        return
    blob = _export(model, (x,), ["x"], dynamo)
    with pytest.raises(ort.capi.onnxruntime_pybind11_state.Fail, match="initial_c"):
        _run(blob, {"x": x})


class Packed(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(2)
        self.lstm = rt.LSTM(5, 4, num_layers=2, bidirectional=True)

    def forward(self, x, lens):
        y, (h, c) = self.lstm(pack_padded_sequence(x, lens, enforce_sorted=False))
        return pad_packed_sequence(y, total_length=x.shape[0])[0], h, c


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_packed_sequence_exports_as_torch_does(dynamo):
    """A PackedSequence takes torch.nn's own path: the TorchScript-based exporter turns the
    packing into sequence_lens; under the dynamo-based one torch.export refuses
    pack_padded_sequence itself (as for torch.nn), so lengths= is the way there."""
    model = Packed().eval()
    feeds = {"x": torch.randn(6, 3, 5), "lens": torch.tensor([6, 2, 4])}
    if dynamo:
        with pytest.raises(torch.onnx.OnnxExporterError):
            _export(model, tuple(feeds.values()), list(feeds), dynamo)
        return
    blob = _export(model, tuple(feeds.values()), list(feeds), dynamo)
    _check_standard(blob, {"LSTM": 2})
    with torch.no_grad():
        want = model(*feeds.values())
    _compare(_run(blob, feeds), want, ["y", "h", "c"])


class Cells(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.lstm = rt.LSTMCell(5, 4)
        self.gru = rt.GRUCell(5, 4, bias=False)
        self.rnn = rt.RNNCell(5, 4, nonlinearity="relu")

    def forward(self, x, h, c):
        h1, c1 = self.lstm(x, (h, c))
        return h1, c1, self.gru(x, h), self.rnn(x), self.lstm(x[0])[0]


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_cells_export_as_torch_cells(dynamo):
    """Cells export as torch.nn's cells do: standard MatMul/Gemm, Sigmoid, Tanh... ops."""
    model = Cells().eval()
    feeds = {"x": torch.randn(3, 5), "h": torch.randn(3, 4), "c": torch.randn(3, 4)}
    blob = _export(model, tuple(feeds.values()), list(feeds), dynamo)
    _check_standard(blob, {})
    with torch.no_grad():
        want = model(*feeds.values())
    _compare(_run(blob, feeds), want, ["lstm h", "lstm c", "gru", "rnn", "lstm unbatched"])


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_bare_module_exports(dynamo):
    """The module itself as the exported model: unbatched input; with the TorchScript-based
    exporter, which passes every parameter positionally, a keyword-only lengths= fails."""
    model = rt.GRU(5, 4, bidirectional=True).eval()
    x = torch.randn(6, 5)
    if not dynamo:
        with pytest.raises(TypeError, match="positional"):
            _export(model, (x,), ["x"], dynamo)
        return
    blob = _export(model, (x,), ["x"], dynamo)
    _check_standard(blob, {"GRU": 1})
    with torch.no_grad():
        want = model(x)
    _compare(_run(blob, {"x": x}), want, ["y", "h"])


def test_what_does_not_export_says_so():
    lstm = rt.LSTM(5, 4, proj_size=2)
    with pytest.raises(ValueError, match="proj_size.*lengths="):
        _export(Packed_(lstm), (torch.randn(6, 3, 5), torch.tensor([6, 2, 4])), ["x", "l"],
                False)
    gru = rt.GRU(5, 4, recurrent_dropout=0.2)
    wrapped = Packed_(gru)
    with pytest.raises(ValueError, match="recurrent_dropout.*eval"):
        torch.onnx.export(wrapped.train(), (torch.randn(6, 3, 5), torch.tensor([6, 2, 4])),
                          io.BytesIO(), dynamo=False, training=torch.onnx.TrainingMode.TRAINING)


class Packed_(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x, lens):
        return self.m(pack_padded_sequence(x, lens, enforce_sorted=False))[1]
