"""rnnfast.torch under torch.compile(fullgraph=True) and torch.export: the recurrent layers
stay in the graph as rnnfast's custom ops (no graph break) and run rnnfast's kernels there, with
torch.nn's outputs and gradients. Few and small: compiling is slow.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import rnnfast.torch as rt  # noqa: E402
from rnnfast import _core  # noqa: E402

from _problems import tol  # noqa: E402


class Tagger(torch.nn.Module):
    """A bidirectional LSTM under a linear head, as a user would write it with torch.nn."""

    def __init__(self):
        super().__init__()
        self.rnn = torch.nn.LSTM(3, 5, batch_first=True, bidirectional=True,
                                 dtype=torch.float64)
        self.head = torch.nn.Linear(10, 2, dtype=torch.float64)

    def forward(self, x, h0, c0):
        y, (h, c) = self.rnn(x, (h0, c0))
        return self.head(y), h.sum(0) * c.sum(0)


def models():
    torch.manual_seed(0)
    theirs = Tagger()
    torch.manual_seed(0)
    ours = rt.convert(Tagger())
    assert isinstance(ours.rnn, rt.LSTM)
    return theirs, ours


def inputs(T, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=g, dtype=torch.float64).requires_grad_(True)
            for s in ((2, T, 3), (2, 2, 5), (2, 2, 5))]


def loss_and_grads(model, args):
    y, h = model(*args)
    (y.pow(2).sum() + h.sum()).backward()
    grads = [a.grad for a in args] + [p.grad for p in model.parameters()]
    return [y, h], grads


@pytest.fixture
def kernel_calls(monkeypatch):
    calls = []
    for name in ("forward", "forward_pair", "backward", "backward_pair"):
        real = getattr(_core, name)

        def wrapper(*a, _real=real, _name=name):
            calls.append(_name)
            return _real(*a)
        monkeypatch.setattr(_core, name, wrapper)
    return calls


def test_compile_fullgraph_runs_the_kernels_with_torchs_results(kernel_calls):
    # caches off: a graph from an earlier run, made with another rnnfast.torch (another schema
    # of the custom op), would test that one
    import torch._dynamo
    import torch._inductor.config
    theirs, ours = models()
    torch._dynamo.reset()
    with torch._dynamo.config.patch(allow_rnn=True), \
            torch._inductor.config.patch(force_disable_caches=True):
        compiled = torch.compile(ours, fullgraph=True, dynamic=True)
        for T in (4, 7):             # one graph with a symbolic T runs both lengths
            kernel_calls.clear()
            ours.zero_grad()
            theirs.zero_grad()
            out_o, g_o = loss_and_grads(compiled, inputs(T, seed=T))
            assert kernel_calls == ["forward_pair", "backward_pair"]
            out_t, g_t = loss_and_grads(theirs, inputs(T, seed=T))
            for a, b in zip(out_t + g_t, out_o + g_o):
                np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(),
                                           **tol(np.float64))


def test_compile_without_allow_rnn_says_what_to_set():
    import torch._dynamo
    _, ours = models()
    torch._dynamo.reset()
    with torch._dynamo.config.patch(allow_rnn=False):
        with pytest.raises(Exception, match="allow_rnn"):
            torch.compile(ours, fullgraph=True, backend="eager")(*inputs(3))


def test_export_keeps_the_kernels_in_the_graph():
    theirs, ours = models()
    args = [a.detach() for a in inputs(5)]
    ep = torch.export.export(ours, tuple(args))
    targets = {n.target for n in ep.graph.nodes if n.op == "call_function"}
    assert torch.ops.rnnfast.rnn_layer.default in targets
    for a, b in zip(theirs(*args), ep.module()(*args)):
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), **tol(np.float64))
