"""The forget-gate bias initialization option (issue #21): ``forget_bias=`` on nn.LSTM (with or
without peepholes), nn.LayerNormLSTM and nn.MinLSTM's f gate.

Oracles: the default initialization from the same seed (every other value unchanged), the
gate's total bias (b_ih + b_hh, Keras' unit_forget_bias convention), the float64 reference for
the forward, and a plain module given the same biases by hand for a training step.
"""

import numpy as np
import pytest

import rnnfast
from rnnfast import nn, reference as R
from rnnfast.nn.rnn import RNNBase


def _make(cls, seed, **kw):
    rnnfast.manual_seed(seed)
    return cls(3, 5, num_layers=2, bidirectional=True, dtype=np.float64, **kw)


@pytest.mark.parametrize("cls,kw,f", [(nn.LSTM, {}, 1), (nn.LSTM, dict(peephole=True), 1),
                                      (nn.LayerNormLSTM, {}, 1), (nn.MinLSTM, {}, 0)],
                         ids=["lstm", "lstm_peephole", "layernorm_lstm", "minlstm"])
@pytest.mark.parametrize("value", [1.0, -0.5])
def test_forget_slices_and_nothing_else(cls, kw, f, value):
    H = 5
    plain = dict(_make(cls, 4, **kw).named_parameters())
    m = _make(cls, 4, forget_bias=value, **kw)
    assert m.forget_bias == value
    assert f"forget_bias={value}" in repr(m)
    got = dict(m.named_parameters())
    assert got.keys() == plain.keys()
    fs = slice(f * H, (f + 1) * H)
    n_ih = 0
    for name, prm in got.items():
        a, b = prm.data, plain[name].data
        if name.startswith("bias_ih"):
            n_ih += 1
            np.testing.assert_array_equal(a[fs], value)
            total = a[fs] + (got[name.replace("_ih", "_hh")].data[fs] if "bias_hh_l0" in got
                             else 0)
            np.testing.assert_array_equal(total, value)  # the gate's total bias
            a, b = np.delete(a, np.r_[fs]), np.delete(b, np.r_[fs])
        elif name.startswith("bias_hh"):
            np.testing.assert_array_equal(a[fs], 0.0)
            a, b = np.delete(a, np.r_[fs]), np.delete(b, np.r_[fs])
        np.testing.assert_array_equal(a, b, err_msg=name)  # the default draws otherwise
    assert n_ih == 4  # two layers, two directions


def test_forward_and_a_training_step_match():
    """The module with forget_bias=1 is the plain module with those biases: the reference's
    forward, and one SGD step bitwise the same as the hand-set plain module's."""
    m = _make(nn.LSTM, 7, forget_bias=1.0)
    hand = _make(nn.LSTM, 7)
    for name, prm in hand.named_parameters():
        if name.startswith("bias_ih"):
            prm.data[5:10] = 1.0
        elif name.startswith("bias_hh"):
            prm.data[5:10] = 0.0
    x = np.random.default_rng(1).standard_normal((4, 2, 3))
    one = nn.LSTM(3, 5, dtype=np.float64, forget_bias=1.0)
    w = {n: p.data for n, p in one.named_parameters()}
    y_r = R.forward("lstm", x, w["weight_ih_l0"], w["weight_hh_l0"], w["bias_ih_l0"],
                    w["bias_hh_l0"])[0]
    np.testing.assert_allclose(one(x)[0].numpy(), y_r, rtol=1e-10, atol=1e-10)
    for mod in (m, hand):
        opt = rnnfast.optim.SGD(mod.parameters(), lr=0.1)
        opt.zero_grad()
        (mod(x)[0] ** 2).sum().backward()
        opt.step()
    for (n, a), (_, b) in zip(m.named_parameters(), hand.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=n)


def test_bad_forget_bias():
    with pytest.raises(ValueError, match="forget_bias: expected None with bias=False"):
        nn.LSTM(3, 4, bias=False, forget_bias=1.0)
    with pytest.raises(ValueError, match="forget_bias: expected None for gru"):
        RNNBase("gru", 3, 4, forget_bias=1.0)
    with pytest.raises(TypeError, match="forget_bias: expected None or a float, got str"):
        nn.LayerNormLSTM(3, 4, forget_bias="1")
    with pytest.raises(ValueError, match="forget_bias: expected a finite float, got nan"):
        nn.MinLSTM(3, 4, forget_bias=float("nan"))
    assert nn.LSTM(3, 4).forget_bias is None
