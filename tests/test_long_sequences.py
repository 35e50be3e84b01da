"""Numerics over long sequences in float32.

- 20,000-step sequences (small H, every cell, through the nn layers) stay finite forward and
  backward, with ordinary and with large weights.
- Where torch's float32 gradients of a 5,000-step sequence are finite, ours are too: the same
  weights (torch's state_dict) and inputs, tanh RNN, LSTM and GRU with largish weights.
  (Torch comparisons skip cleanly without torch; .ci/run installs torch.)
"""

import numpy as np
import pytest

import rnnfast
from rnnfast import nn

KINDS = {"rnn_tanh": (nn.RNN, "RNN", dict(nonlinearity="tanh")),
         "rnn_relu": (nn.RNN, "RNN", dict(nonlinearity="relu")),
         "lstm": (nn.LSTM, "LSTM", {}),
         "gru": (nn.GRU, "GRU", {})}


def _finite(a):
    return bool(np.isfinite(a).all())


@pytest.mark.parametrize("kind, weight_scale", [
    ("rnn_tanh", 1.0), ("rnn_tanh", 4.0), ("lstm", 1.0), ("lstm", 4.0), ("gru", 1.0),
    ("gru", 4.0),
    ("rnn_relu", 1.0),  # relu is unbounded: large weights overflow (in torch too)
])
def test_twenty_thousand_steps_stay_finite(kind, weight_scale):
    cls, _, extra = KINDS[kind]
    rnnfast.manual_seed(0)
    m = cls(3, 8, bidirectional=True, **extra)
    for p in m.parameters():
        p.data *= weight_scale
    rng = np.random.default_rng(0)
    T = 20_000
    x = rnnfast.tensor(rng.standard_normal((T, 2, 3)).astype(np.float32), requires_grad=True)
    y, st = m(x, lengths=[T, T // 3])
    h = st[0] if kind == "lstm" else st
    loss = y.mean() + h.sum() + (st[1].sum() if kind == "lstm" else 0)
    loss.backward()
    assert _finite(y.numpy()) and _finite(h.numpy())
    assert _finite(x.grad), "input gradient not finite"
    for n, p in m.named_parameters():
        assert _finite(p.grad), n
    assert np.all(y.numpy()[T // 3:, 1] == 0)  # the short sequence's tail stays zero


def _torch_grads(torch, theirs, x, loss_weights):
    xt = torch.tensor(x, requires_grad=True)
    y, st = theirs(xt)
    h = st[0] if isinstance(st, tuple) else st
    loss = (y * torch.tensor(loss_weights)).sum() + h.sum()
    loss.backward()
    grads = {"x": xt.grad.numpy()}
    grads.update({n: p.grad.numpy() for n, p in theirs.named_parameters()})
    return grads


def _our_grads(ours, x, loss_weights):
    xo = rnnfast.tensor(x, requires_grad=True)
    y, st = ours(xo)
    h = st[0] if isinstance(st, tuple) else st
    loss = (y * loss_weights).sum() + h.sum()
    loss.backward()
    grads = {"x": xo.grad}
    grads.update({n: p.grad for n, p in ours.named_parameters()})
    return grads


@pytest.mark.parametrize("kind, scale", [
    ("rnn_tanh", 2.0), ("rnn_tanh", 4.0), ("rnn_tanh", 6.0), ("lstm", 3.0), ("lstm", 6.0),
    ("gru", 4.0), ("rnn_relu", 2.0), ("rnn_relu", 3.0),
])
def test_gradients_finite_wherever_torchs_are(kind, scale):
    """5,000 steps in float32 with weights ~ U(-scale/sqrt(H), scale/sqrt(H)): when every
    gradient torch computes is finite, every one of ours is, and of the same size (the largest
    entries within a factor 2). Where torch's overflow (tanh at 6, relu at 3: the gradient
    explodes backwards in time, chaotically, so the overflowing steps differ run to run in
    either library) the test only checks that nothing crashes."""
    torch = pytest.importorskip("torch")
    cls, torch_name, extra = KINDS[kind]
    torch.manual_seed(0)
    I, H, T, B = 4, 16, 5_000, 2
    theirs = getattr(torch.nn, torch_name)(I, H, **extra)
    with torch.no_grad():
        for p in theirs.parameters():
            p.mul_(scale)
    ours = cls(I, H, **extra)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    lw = rng.standard_normal((T, B, H)).astype(np.float32) / T
    g_t = _torch_grads(torch, theirs, x, lw)
    g_o = _our_grads(ours, x, lw)
    assert set(g_t) == set(g_o)
    for name, gt in g_t.items():
        assert g_o[name].shape == gt.shape and g_o[name].dtype == np.float32, name
    if not all(_finite(g) for g in g_t.values()):
        return
    for name, gt in g_t.items():
        go = g_o[name]
        assert _finite(go), f"{name}: {int((~np.isfinite(go)).sum())} entries non-finite"
        big_t, big_o = float(np.abs(gt).max()), float(np.abs(go).max())
        assert big_o <= 2 * big_t + 1e-6 and big_t <= 2 * big_o + 1e-6, (name, big_o, big_t)
