"""Checks of the NumPy reference itself: finite differences, packed-sequence semantics, parity
with torch (when installed), numerical safety and argument validation.

Everything else in the test suite trusts ``rnnfast.reference``; this file is why it may.
"""

import itertools

import numpy as np
import pytest

from rnnfast import reference

from _problems import (
    CELLS,
    FD_TOL,
    GRAD_KEYS,
    grad_keys,
    make_cotangents,
    make_problem,
    reference_fd_grad,
    tol,
)

MODES = reference.MODES
# Input of forward -> name of its gradient in backward's dict.
INPUT_OF_GRAD = {"dx": "x", "dh0": "h0", "dc0": "c0", "w_ih": "w_ih", "w_hh": "w_hh",
                 "b_ih": "b_ih", "b_hh": "b_hh", "w_hr": "w_hr", "w_p": "w_p"}






def _expected_none(mode, p):
    """The gradient keys that backward must return as None for this problem."""
    none = set()
    if not CELLS[mode].has_c:
        none.add("dc0")
    if p.get("w_p") is None:
        none.add("w_p")
    if p["b_ih"] is None:
        none |= {"b_ih", "b_hh"}
    for k in ("w_hh", "b_hh"):  # weights a cell does not take (IndRNN: b_hh; min*: both)
        if p[k] is None:
            none.add(k)
    if p["w_hr"] is None:
        none.add("w_hr")
    return none


# ----------------------------------------------------------------------------- finite differences

FD_CASES = [
    (mode, proj, bias, with_h0, lengths, reverse)
    for mode, proj in [(m, 0) for m in MODES] + [("lstm", 2)]
    for bias, with_h0, lengths, reverse in itertools.product(
        (True, False), (True, False), (None, (3, 1, 2)), (False, True))
]


def _fd_id(case):
    mode, proj, bias, with_h0, lengths, reverse = case
    return "-".join([mode + (f"_proj{proj}" if proj else ""), "bias" if bias else "nobias",
                     "h0" if with_h0 else "noh0", "lengths" if lengths else "full",
                     "rev" if reverse else "fwd"])


def _check_fd(mode, T, B, I, H, proj, bias, with_h0, lengths, reverse, seed=1):
    p = make_problem(mode, T, B, I, H, proj=proj, bias=bias, seed=seed, with_h0=with_h0,
                     lengths=lengths)
    cot = make_cotangents(mode, T, B, H, proj=proj, seed=seed + 1)
    y, h_n, c_n, cache = reference.forward(mode, **p, reverse=reverse)
    grads = reference.backward(cache, *cot)
    assert set(grads) == set(grad_keys(mode))

    # Absent initial states are zeros: differentiate there, after checking that they are.
    H_out = proj or H
    if p["h0"] is None:
        p["h0"] = np.zeros((B, H_out))
        if CELLS[mode].has_c:
            p["c0"] = np.zeros((B, H))
        y0, h_n0, c_n0, _ = reference.forward(mode, **p, reverse=reverse)
        np.testing.assert_array_equal(y0, y)
        np.testing.assert_array_equal(h_n0, h_n)
        if CELLS[mode].has_c:
            np.testing.assert_array_equal(c_n0, c_n)

    none = _expected_none(mode, p)
    for key in grad_keys(mode):
        if key in none:
            assert grads[key] is None, key
            continue
        # the layer-normalized cells at h0 = 0 normalize a row of zeros, where the loss curves
        # with 1/sqrt(eps)^3: the 4-point stencil
        num = reference_fd_grad(mode, p, INPUT_OF_GRAD.get(key, key), cot, reverse,
                                points=4 if mode.startswith("layernorm") else 2)
        assert grads[key].shape == num.shape, key
        assert np.any(num != 0), f"{key}: the numerical gradient is zero; the check is vacuous"
        np.testing.assert_allclose(grads[key], num, **FD_TOL, err_msg=key)


@pytest.mark.parametrize("case", FD_CASES, ids=[_fd_id(c) for c in FD_CASES])
def test_gradients_match_finite_differences(case):
    mode, proj, bias, with_h0, lengths, reverse = case
    _check_fd(mode, 3, 3, 4, 3, proj, bias, with_h0, lengths, reverse)


@pytest.mark.parametrize("mode", MODES)
def test_gradients_match_finite_differences_single_step_single_row(mode):
    _check_fd(mode, 1, 1, 2, 5, 0, True, True, None, False, seed=3)


# ----------------------------------------------------------------------------- packed sequences

LENGTHS = (4, 1, 3)  # unsorted, with a length-1 sequence and a full one
SEQ_MODES = [("rnn_tanh", 0), ("rnn_relu", 0), ("lstm", 0), ("lstm", 3), ("gru", 0)]
SEQ_IDS = [m + ("_proj" if p else "") for m, p in SEQ_MODES]


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("mode,proj", SEQ_MODES, ids=SEQ_IDS)
def test_packed_outputs_and_dx_past_end_are_zero(mode, proj, reverse):
    p = make_problem(mode, 4, 3, 5, 4, proj=proj, lengths=LENGTHS)
    y, _, _, cache = reference.forward(mode, **p, reverse=reverse)
    grads = reference.backward(cache, *make_cotangents(mode, 4, 3, 4, proj=proj))
    for b, L in enumerate(LENGTHS):
        assert np.all(y[L:, b] == 0)
        assert np.all(grads["dx"][L:, b] == 0)
        # ...and not by accident: every step inside the sequence has some nonzero output and
        # input gradient (relu may zero single units).
        assert np.all(np.any(y[:L, b] != 0, axis=-1))
        assert np.all(np.any(grads["dx"][:L, b] != 0, axis=-1))


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("mode,proj", SEQ_MODES, ids=SEQ_IDS)
def test_packed_batch_equals_each_sequence_run_alone(mode, proj, reverse):
    """Each row of a packed batch behaves as its sequence truncated to its length, run alone:
    outputs, final states and every gradient (parameter gradients add up over sequences)."""
    T, B, I, H = 4, 3, 5, 4
    p = make_problem(mode, T, B, I, H, proj=proj, lengths=LENGTHS)
    dy, dh_n, dc_n = make_cotangents(mode, T, B, H, proj=proj)
    y, h_n, c_n, cache = reference.forward(mode, **p, reverse=reverse)
    grads = reference.backward(cache, dy, dh_n, dc_n)

    param_sum = {k: 0 for k in ("w_ih", "w_hh", "b_ih", "b_hh", "w_hr") if p[k] is not None}
    for b, L in enumerate(LENGTHS):
        row = slice(b, b + 1)
        q = {**p, "x": p["x"][:L, row], "h0": p["h0"][row], "lengths": None,
             "c0": p["c0"][row] if mode == "lstm" else None}
        y_b, h_b, c_b, cache_b = reference.forward(mode, **q, reverse=reverse)
        g_b = reference.backward(cache_b, dy[:L, row], dh_n[row],
                                 dc_n[row] if mode == "lstm" else None)
        np.testing.assert_allclose(y[:L, row], y_b, **tol(np.float64))
        np.testing.assert_allclose(h_n[row], h_b, **tol(np.float64))
        np.testing.assert_allclose(grads["dx"][:L, row], g_b["dx"], **tol(np.float64))
        np.testing.assert_allclose(grads["dh0"][row], g_b["dh0"], **tol(np.float64))
        if mode == "lstm":
            np.testing.assert_allclose(c_n[row], c_b, **tol(np.float64))
            np.testing.assert_allclose(grads["dc0"][row], g_b["dc0"], **tol(np.float64))
        for k in param_sum:
            param_sum[k] = param_sum[k] + g_b[k]
    for k, total in param_sum.items():
        np.testing.assert_allclose(grads[k], total, **tol(np.float64), err_msg=k)


@pytest.mark.parametrize("mode,proj", SEQ_MODES, ids=SEQ_IDS)
def test_dy_past_end_is_ignored(mode, proj):
    p = make_problem(mode, 4, 3, 5, 4, proj=proj, lengths=LENGTHS)
    dy, dh_n, dc_n = make_cotangents(mode, 4, 3, 4, proj=proj)
    dy_clean = dy.copy()
    for b, L in enumerate(LENGTHS):
        dy_clean[L:, b] = 0
    for reverse in (False, True):
        _, _, _, cache = reference.forward(mode, **p, reverse=reverse)
        g = reference.backward(cache, dy, dh_n, dc_n)
        g_clean = reference.backward(cache, dy_clean, dh_n, dc_n)
        for k in GRAD_KEYS:
            if g[k] is not None:
                np.testing.assert_array_equal(g[k], g_clean[k], err_msg=k)


@pytest.mark.parametrize("mode,proj", SEQ_MODES, ids=SEQ_IDS)
def test_full_lengths_equal_no_lengths(mode, proj):
    T, B = 3, 2
    p = make_problem(mode, T, B, 3, 4, proj=proj)
    cot = make_cotangents(mode, T, B, 4, proj=proj)
    for reverse in (False, True):
        a = reference.forward(mode, **p, reverse=reverse)
        b = reference.forward(mode, **{**p, "lengths": np.full(B, T)}, reverse=reverse)
        for u, v in zip(a[:3], b[:3]):
            if u is not None:
                np.testing.assert_array_equal(u, v)
        ga, gb = reference.backward(a[3], *cot), reference.backward(b[3], *cot)
        for k in GRAD_KEYS:
            if ga[k] is not None:
                np.testing.assert_array_equal(ga[k], gb[k], err_msg=k)


@pytest.mark.parametrize("mode,proj", SEQ_MODES, ids=SEQ_IDS)
def test_reverse_is_forward_on_time_flipped_input(mode, proj):
    p = make_problem(mode, 4, 2, 3, 4, proj=proj)
    dy, dh_n, dc_n = make_cotangents(mode, 4, 2, 4, proj=proj)
    y, h_n, c_n, cache = reference.forward(mode, **p, reverse=True)
    yf, hf, cf, cache_f = reference.forward(mode, **{**p, "x": p["x"][::-1]})
    np.testing.assert_allclose(y, yf[::-1], **tol(np.float64))
    np.testing.assert_allclose(h_n, hf, **tol(np.float64))
    g = reference.backward(cache, dy, dh_n, dc_n)
    gf = reference.backward(cache_f, dy[::-1], dh_n, dc_n)
    np.testing.assert_allclose(g["dx"], gf["dx"][::-1], **tol(np.float64))
    for k in ("dh0", "w_ih", "w_hh", "b_ih", "b_hh"):
        np.testing.assert_allclose(g[k], gf[k], **tol(np.float64), err_msg=k)


# ----------------------------------------------------------------------------- torch parity

TORCH_CASES = [(m, p, bias) for m, p in SEQ_MODES for bias in (True, False)]
TORCH_IDS = [f"{m}{'_proj' if p else ''}-{'bias' if b else 'nobias'}" for m, p, b in TORCH_CASES]


def _torch_layer(torch, mode, I, H, proj, bias, bidirectional):
    nn = torch.nn
    if mode in ("rnn_tanh", "rnn_relu"):
        layer = nn.RNN(I, H, nonlinearity=mode[4:], bias=bias, bidirectional=bidirectional)
    elif mode == "lstm":
        layer = nn.LSTM(I, H, bias=bias, proj_size=proj, bidirectional=bidirectional)
    else:
        layer = nn.GRU(I, H, bias=bias, bidirectional=bidirectional)
    return layer.double()


def _run_torch_parity(mode, proj, bias, lengths, bidirectional):
    """Compare reference (one direction) with a single-layer torch module: with bidirectional,
    the reference runs reverse=True against torch's reverse direction."""
    torch = pytest.importorskip("torch")
    T, B, I, H = 4, 3, 5, 4
    H_out = proj or H
    D = 2 if bidirectional else 1
    d = D - 1  # the torch direction under test
    sfx = "_l0_reverse" if bidirectional else "_l0"

    p = make_problem(mode, T, B, I, H, proj=proj, bias=bias, seed=7, lengths=lengths)
    dy, dh_n, dc_n = make_cotangents(mode, T, B, H, proj=proj, seed=8)
    y, h_n, c_n, cache = reference.forward(mode, **p, reverse=bidirectional)
    grads = reference.backward(cache, dy, dh_n, dc_n)

    torch.manual_seed(0)
    layer = _torch_layer(torch, mode, I, H, proj, bias, bidirectional)
    names = {"w_ih": "weight_ih", "w_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh",
             "w_hr": "weight_hr"}
    with torch.no_grad():
        for k, tname in names.items():
            if p[k] is not None:
                getattr(layer, tname + sfx).copy_(torch.from_numpy(p[k]))

    rng = np.random.default_rng(9)  # the other direction's initial state, when there is one

    def initial(a):
        full = rng.standard_normal((D,) + a.shape)
        full[d] = a
        return torch.tensor(full, requires_grad=True)

    x = torch.tensor(p["x"], requires_grad=True)
    h0 = initial(p["h0"])
    c0 = initial(p["c0"]) if mode == "lstm" else None
    inp = x
    if lengths is not None:
        inp = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths),
                                                      enforce_sorted=False)
    out, hid = layer(inp, (h0, c0) if mode == "lstm" else h0)
    if lengths is not None:
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)
    t_h_n, t_c_n = hid if mode == "lstm" else (hid, None)
    t_y = out[..., d * H_out:(d + 1) * H_out]

    loss = (t_y * torch.from_numpy(dy)).sum() + (t_h_n[d] * torch.from_numpy(dh_n)).sum()
    if mode == "lstm":
        loss = loss + (t_c_n[d] * torch.from_numpy(dc_n)).sum()
    loss.backward()

    T64 = tol(np.float64)
    np.testing.assert_allclose(y, t_y.detach().numpy(), **T64, err_msg="y")
    np.testing.assert_allclose(h_n, t_h_n[d].detach().numpy(), **T64, err_msg="h_n")
    np.testing.assert_allclose(grads["dx"], x.grad.numpy(), **T64, err_msg="dx")
    np.testing.assert_allclose(grads["dh0"], h0.grad[d].numpy(), **T64, err_msg="dh0")
    if mode == "lstm":
        np.testing.assert_allclose(c_n, t_c_n[d].detach().numpy(), **T64, err_msg="c_n")
        np.testing.assert_allclose(grads["dc0"], c0.grad[d].numpy(), **T64, err_msg="dc0")
    for k, tname in names.items():
        if p[k] is not None:
            t_grad = getattr(layer, tname + sfx).grad.numpy()
            np.testing.assert_allclose(grads[k], t_grad, **T64, err_msg=k)
        else:
            assert grads[k] is None, k


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "packed"])
@pytest.mark.parametrize("mode,proj,bias", TORCH_CASES, ids=TORCH_IDS)
def test_matches_torch(mode, proj, bias, lengths):
    _run_torch_parity(mode, proj, bias, lengths, bidirectional=False)


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "packed"])
@pytest.mark.parametrize("mode,proj,bias", TORCH_CASES, ids=TORCH_IDS)
def test_reverse_matches_torch_bidirectional_reverse_direction(mode, proj, bias, lengths):
    _run_torch_parity(mode, proj, bias, lengths, bidirectional=True)


# ----------------------------------------------------------------------------- numerical safety

@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode,proj", SEQ_MODES, ids=SEQ_IDS)
def test_huge_inputs_saturate_without_warnings(mode, proj, dtype):
    T, B, I, H = 3, 2, 4, 5
    p = make_problem(mode, T, B, I, H, proj=proj, dtype=dtype, lengths=(3, 2))
    p["x"] = np.where(p["x"] >= 0, 1e30, -1e30).astype(dtype)
    cot = make_cotangents(mode, T, B, H, proj=proj, dtype=dtype)
    for reverse in (False, True):
        y, h_n, c_n, cache = reference.forward(mode, **p, reverse=reverse)
        grads = reference.backward(cache, *cot)
        assert y.dtype == dtype
        outs = [y, h_n, c_n] + [g for g in grads.values()]
        for a in outs:
            if a is not None:
                assert a.dtype == dtype
                assert np.all(np.isfinite(a))
        if mode in ("rnn_tanh", "gru") or (mode == "lstm" and not proj):
            assert np.all(np.abs(y) <= 1)  # bounded cells stay bounded when saturated


# ----------------------------------------------------------------------------- dtypes and API

@pytest.mark.parametrize("mode,proj", SEQ_MODES, ids=SEQ_IDS)
def test_float32_follows_w_ih_and_agrees_with_float64(mode, proj):
    T, B, I, H = 4, 3, 5, 4
    p64 = make_problem(mode, T, B, I, H, proj=proj, lengths=LENGTHS)
    p32 = {k: (v.astype(np.float32) if k in ("w_ih", "w_hh", "b_ih", "b_hh", "w_hr")
               and v is not None else v) for k, v in p64.items()}  # x, h0, c0 stay float64
    cot = make_cotangents(mode, T, B, H, proj=proj)
    for reverse in (False, True):
        r64 = reference.forward(mode, **p64, reverse=reverse)
        r32 = reference.forward(mode, **p32, reverse=reverse)
        g64 = reference.backward(r64[3], *cot)
        g32 = reference.backward(r32[3], *cot)  # float64 cotangents are cast too
        for a, b in zip(r32[:3], r64[:3]):
            if a is not None:
                assert a.dtype == np.float32
                np.testing.assert_allclose(a, b, **tol(np.float32))
        for k in GRAD_KEYS:
            if g64[k] is not None:
                assert g32[k].dtype == np.float32, k
                np.testing.assert_allclose(g32[k], g64[k], **tol(np.float32), err_msg=k)


@pytest.mark.parametrize("mode,proj", SEQ_MODES, ids=SEQ_IDS)
def test_backward_is_repeatable_and_returns_fresh_arrays(mode, proj):
    p = make_problem(mode, 3, 2, 3, 4, proj=proj)
    cot = make_cotangents(mode, 3, 2, 4, proj=proj)
    _, _, _, cache = reference.forward(mode, **p)
    p["x"][:] = 0  # the cache holds its own copies
    p["w_hh"][:] = 0
    g1 = reference.backward(cache, *cot)
    g2 = reference.backward(cache, *cot)
    for k in GRAD_KEYS:
        if g1[k] is not None:
            np.testing.assert_array_equal(g1[k], g2[k], err_msg=k)
            assert not np.shares_memory(g1[k], g2[k]), k
    ref = reference.backward(reference.forward(mode, **make_problem(mode, 3, 2, 3, 4,
                                                                    proj=proj))[3], *cot)
    for k in GRAD_KEYS:
        if g1[k] is not None:
            np.testing.assert_array_equal(g1[k], ref[k], err_msg=k)


@pytest.mark.parametrize("mode,proj", SEQ_MODES, ids=SEQ_IDS)
def test_absent_cotangents_are_zeros(mode, proj):
    T, B, H = 3, 2, 4
    H_out = proj or H
    p = make_problem(mode, T, B, 3, H, proj=proj)
    dy, dh_n, dc_n = make_cotangents(mode, T, B, H, proj=proj)
    _, _, _, cache = reference.forward(mode, **p)
    zc = np.zeros((B, H)) if mode == "lstm" else None
    pairs = [
        (reference.backward(cache, dy=dy), reference.backward(cache, dy, np.zeros((B, H_out)), zc)),
        (reference.backward(cache, dh_n=dh_n), reference.backward(cache, np.zeros((T, B, H_out)),
                                                                  dh_n, zc)),
    ]
    if mode == "lstm":
        pairs.append((reference.backward(cache, dc_n=dc_n),
                      reference.backward(cache, np.zeros((T, B, H_out)), np.zeros((B, H_out)),
                                         dc_n)))
    for a, b in pairs:
        for k in GRAD_KEYS:
            if a[k] is not None:
                np.testing.assert_array_equal(a[k], b[k], err_msg=k)
                assert np.any(a[k] != 0), k
    g = reference.backward(cache)
    for k in GRAD_KEYS:
        if g[k] is not None:
            assert np.all(g[k] == 0), k


def _bad_calls():
    p = make_problem("lstm", 3, 2, 4, 5)
    q = make_problem("gru", 3, 2, 4, 5)
    lstm = ("lstm", p)
    return [
        ("mode", ("lstm_x", p), {}),
        ("x", lstm, {"x": p["x"][0]}),
        ("x", lstm, {"x": p["x"][..., :3]}),  # I disagrees with w_ih
        ("w_ih", lstm, {"w_ih": p["w_ih"][:-1]}),  # not a multiple of G
        ("w_ih", lstm, {"w_ih": p["w_ih"][None]}),
        ("w_hh", lstm, {"w_hh": p["w_hh"][:, :-1]}),
        ("w_hh", ("gru", q), {"w_hh": p["w_hh"]}),  # lstm's G*H rows in a gru
        ("b_ih", lstm, {"b_ih": None}),
        ("b_ih", lstm, {"b_hh": None}),
        ("b_ih", lstm, {"b_ih": p["b_ih"][:-1]}),
        ("b_hh", lstm, {"b_hh": p["b_hh"][None]}),
        ("h0", lstm, {"h0": p["h0"][None]}),
        ("h0", lstm, {"h0": p["h0"][:1]}),
        ("c0", lstm, {"c0": p["c0"][:, :-1]}),
        ("c0", ("gru", q), {"c0": p["c0"]}),
        ("w_hr", ("gru", q), {"w_hr": np.zeros((3, 5))}),
        ("w_hr", lstm, {"w_hr": np.zeros((5, 5)), "w_hh": np.zeros((20, 5))}),  # H_out == H
        ("w_hr", lstm, {"w_hr": np.zeros((3, 4))}),
        ("lengths", lstm, {"lengths": [3, 0]}),
        ("lengths", lstm, {"lengths": [4, 1]}),
        ("lengths", lstm, {"lengths": [3, 2, 1]}),
    ]


@pytest.mark.parametrize("arg,call,override", _bad_calls(),
                         ids=[f"{a}-{i}" for i, (a, _, _) in enumerate(_bad_calls())])
def test_forward_rejects_bad_arguments_naming_them(arg, call, override):
    mode, p = call
    with pytest.raises(ValueError, match=arg):
        reference.forward(mode, **{**p, **override})


def test_type_errors():
    p = make_problem("gru", 3, 2, 4, 5)
    with pytest.raises(TypeError, match="w_ih"):
        reference.forward("gru", **{**p, "w_ih": p["w_ih"].astype(np.int64)})
    with pytest.raises(TypeError, match="lengths"):
        reference.forward("gru", **{**p, "lengths": [3.0, 2.0]})
    with pytest.raises(TypeError, match="x"):
        reference.forward("gru", **{**p, "x": np.full((3, 2, 4), "a")})


def test_backward_rejects_bad_cotangents_naming_them():
    p = make_problem("lstm", 3, 2, 4, 5)
    _, _, _, cache = reference.forward("lstm", **p)
    with pytest.raises(ValueError, match="dy"):
        reference.backward(cache, dy=np.zeros((3, 2, 4)))
    with pytest.raises(ValueError, match="dh_n"):
        reference.backward(cache, dh_n=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="dc_n"):
        reference.backward(cache, dc_n=np.zeros((3, 5)))
    q = make_problem("rnn_tanh", 3, 2, 4, 5)
    _, _, _, cache = reference.forward("rnn_tanh", **q)
    with pytest.raises(ValueError, match="dc_n"):
        reference.backward(cache, dc_n=np.zeros((2, 5)))
