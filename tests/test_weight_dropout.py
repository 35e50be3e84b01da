"""DropConnect on the recurrent weights (issue #21): ``weight_dropout=`` on nn.RNN, LSTM, GRU,
LayerNormLSTM and LayerNormGRU, one inverted-dropout mask on W_hh per call, layer and
direction in training mode, through autograd.

Oracles: the float64 reference run with W_hh * mask (the masks the module drew, recorded as it
draws them), its gradient wrt that weight times the mask for weight_hh's; the plain module
(bitwise) in eval mode and with p = 0.
"""

import numpy as np
import pytest

import rnnfast
from rnnfast import nn, reference as R
from rnnfast._cells import CELLS
from rnnfast.nn import rnn as rnn_module
from rnnfast.nn.rnn import RNNBase

MODES = tuple(m for m, k in CELLS.items() if k.recurrence == "product")


def _module(mode, seed=3, **kw):
    rnnfast.manual_seed(seed)
    I, H = 3, 4
    if mode in ("rnn_tanh", "rnn_relu"):
        return nn.RNN(I, H, nonlinearity=mode[4:], dtype=np.float64, **kw)
    if mode in ("lstm", "lstm_peephole"):
        return nn.LSTM(I, H, peephole=mode == "lstm_peephole", dtype=np.float64, **kw)
    if mode in ("gru", "gru_reset_before"):
        return nn.GRU(I, H, reset_after=mode == "gru", dtype=np.float64, **kw)
    if mode == "layernorm_lstm":
        return nn.LayerNormLSTM(I, H, dtype=np.float64, **kw)
    return nn.LayerNormGRU(I, H, dtype=np.float64, **kw)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("mode", MODES)
def test_gradients_match_the_reference_with_the_same_masks(mode, bidirectional, monkeypatch):
    drawn = []

    def recording(shape, p, dtype):
        m = draw(shape, p, dtype)
        drawn.append(m)
        return m
    draw = rnn_module._dropout_mask
    monkeypatch.setattr(rnn_module, "_dropout_mask", recording)
    m = _module(mode, weight_dropout=0.4, bidirectional=bidirectional)
    D = 2 if bidirectional else 1
    rng = np.random.default_rng(1)
    T, B, H = 5, 3, 4
    x = rng.standard_normal((T, B, 3))
    dy = rng.standard_normal((T, B, D * H))
    lengths = [5, 2, 4]
    xt = rnnfast.tensor(x, requires_grad=True)
    out = m(xt, lengths=lengths)[0]
    (out * rnnfast.tensor(dy)).sum().backward()
    assert len(drawn) == D
    for mask in drawn:  # inverted dropout: 0 or 1/(1-p)
        assert set(np.unique(mask)) <= {0.0, np.float64(1 / 0.6)}
    w = {n: p for n, p in m.named_parameters()}
    dx = np.zeros_like(x)
    for d in range(D):
        sfx = "_l0" + ("_reverse" if d else "")
        extras = {a: w[n + sfx].data for n, _ in CELLS[mode].extras
                  for a in [n.replace("weight_", "w_")]}
        y, _, _, cache = R.forward(mode, x, w["weight_ih" + sfx].data,
                                   w["weight_hh" + sfx].data * drawn[d],
                                   w["bias_ih" + sfx].data, w["bias_hh" + sfx].data,
                                   lengths=lengths, reverse=bool(d), **extras)
        np.testing.assert_allclose(out.numpy()[:, :, d * H:(d + 1) * H], y, rtol=1e-10,
                                   atol=1e-10)
        g = R.backward(cache, dy=dy[:, :, d * H:(d + 1) * H])
        # W_hh's gradient is the masked one; the others are the reference's own
        np.testing.assert_allclose(w["weight_hh" + sfx].grad, g["w_hh"] * drawn[d],
                                   rtol=1e-10, atol=1e-10)
        for name in ("weight_ih", "bias_ih", "bias_hh"):
            key = {"weight_ih": "w_ih"}.get(name, name.replace("bias", "b"))
            np.testing.assert_allclose(w[name + sfx].grad, g[key], rtol=1e-10, atol=1e-10,
                                       err_msg=name)
        dx += g["dx"]
    np.testing.assert_allclose(xt.grad, dx, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", MODES)
def test_eval_and_zero_are_the_plain_module(mode):
    x = np.random.default_rng(2).standard_normal((6, 2, 3))
    plain = _module(mode, num_layers=2)
    dropped = _module(mode, num_layers=2, weight_dropout=0.5)
    zero = _module(mode, num_layers=2, weight_dropout=0.0)
    plain.eval()
    dropped.eval()
    np.testing.assert_array_equal(dropped(x)[0].numpy(), plain(x)[0].numpy())
    plain.train()
    np.testing.assert_array_equal(zero(x)[0].numpy(), plain(x)[0].numpy())
    dropped.train()  # training mode: a different result, a fresh mask per call
    a, b = dropped(x)[0].numpy(), dropped(x)[0].numpy()
    assert not np.array_equal(a, plain(x)[0].numpy())
    assert not np.array_equal(a, b)


def test_bad_weight_dropout():
    with pytest.raises(ValueError, match=r"weight_dropout: expected a probability in \[0, 1\)"):
        nn.GRU(3, 4, weight_dropout=1.0)
    with pytest.raises(TypeError, match="weight_dropout: expected a float"):
        nn.LSTM(3, 4, weight_dropout="0.1")
    with pytest.raises(ValueError, match="weight_dropout: expected 0 for minlstm"):
        RNNBase("minlstm", 3, 4, weight_dropout=0.1)
    assert "weight_dropout=0.25" in repr(nn.LayerNormGRU(3, 4, weight_dropout=0.25))
