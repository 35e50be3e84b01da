"""The NumPy reference's two newer cells, "gru_reset_before" and "lstm_peephole", against
oracles that share no code with it:

- ONNX Runtime's GRU (linear_before_reset=0) and LSTM (peepholes P) operators, in float32;
- a literal per-unit transcription of the cells' formulas in plain Python floats (for what ONNX
  lacks: the recurrent dropout mask h_mask and the projection W_hr);
- exact identities with the reference's older cells, where the maths makes them exact;
- float64 central finite differences for every gradient of ``backward``;

and the reference's refusals of a missing, misshapen or misplaced ``w_p``.
"""

import itertools
import math

import numpy as np
import pytest

from rnnfast import reference

from _problems import FD_TOL, reference_fd_grad, tol

NEW_MODES = ("gru_reset_before", "lstm_peephole")
GATES = {"gru_reset_before": 3, "lstm_peephole": 4}
LENGTHS = (2, 5, 3)  # unsorted, ragged, one full sequence (T = 5)
# backward's key -> forward's argument
INPUT_OF_GRAD = {"dx": "x", "dh0": "h0", "dc0": "c0", "w_ih": "w_ih", "w_hh": "w_hh",
                 "b_ih": "b_ih", "b_hh": "b_hh", "w_hr": "w_hr", "w_p": "w_p"}


def _problem(mode, T, B, I, H, proj=0, bias=True, h0=True, lengths=None, h_mask=False,
             dtype=np.float64, seed=0):
    """Random keyword arguments of ``reference.forward(mode, **p)``, and the mode's cell state
    and peephole weights where it has them. H_out = proj or H."""
    rng = np.random.default_rng(seed)
    G = GATES[mode]
    H_out = proj or H
    k = 1 / np.sqrt(H)

    def u(*shape):
        return rng.uniform(-k, k, size=shape).astype(dtype)

    lstm = mode == "lstm_peephole"
    p = {
        "x": rng.standard_normal((T, B, I)).astype(dtype),
        "w_ih": u(G * H, I),
        "w_hh": u(G * H, H_out),
        "b_ih": u(G * H) if bias else None,
        "b_hh": u(G * H) if bias else None,
        "w_hr": u(H_out, H) if proj else None,
        # peepholes larger than the other weights, so that their terms matter
        "w_p": rng.uniform(-1, 1, size=3 * H).astype(dtype) if lstm else None,
        "h0": (0.5 * rng.standard_normal((B, H_out))).astype(dtype) if h0 else None,
        "c0": (0.5 * rng.standard_normal((B, H))).astype(dtype) if h0 and lstm else None,
        "lengths": None if lengths is None else np.asarray(lengths, dtype=np.int64),
        # inverted dropout at p = 0.4: entries 0 or 1/0.6
        "h_mask": ((rng.random((B, H_out)) > 0.4) / 0.6).astype(dtype) if h_mask else None,
    }
    return p


def _cotangents(mode, T, B, H, proj=0, seed=1):
    rng = np.random.default_rng(seed)
    H_out = proj or H
    return (rng.standard_normal((T, B, H_out)), rng.standard_normal((B, H_out)),
            rng.standard_normal((B, H)) if mode == "lstm_peephole" else None)


# ----------------------------------------------------------------------------- ONNX Runtime

@pytest.fixture
def ort():
    pytest.importorskip("onnx")
    return pytest.importorskip("onnxruntime")


# rnnfast's gate blocks in ONNX's order: LSTM i, f, g, o -> i, o, f, c; GRU r, z, n -> z, r, h
ONNX_ORDER = {"lstm_peephole": (0, 3, 1, 2), "gru_reset_before": (1, 0, 2)}


def _onnx_gates(w, mode, H):
    return np.concatenate([w[g * H:(g + 1) * H] for g in ONNX_ORDER[mode]], axis=0)


def _run_ort(ort, mode, p, reverse):
    """One single-node ONNX graph (LSTM with P, or GRU with linear_before_reset=0) over p's
    float32 arrays, run by ONNX Runtime; returns (Y [T,B,H], Y_h [B,H], Y_c [B,H] or None)."""
    import onnx
    from onnx import TensorProto, helper

    T, B, _ = p["x"].shape
    H = p["w_ih"].shape[0] // GATES[mode]
    lstm = mode == "lstm_peephole"
    feeds = {"X": p["x"], "W": _onnx_gates(p["w_ih"], mode, H)[None],
             "R": _onnx_gates(p["w_hh"], mode, H)[None]}
    if p["b_ih"] is not None:  # B = [Wb, Rb]
        feeds["B"] = np.concatenate([_onnx_gates(p["b_ih"], mode, H),
                                     _onnx_gates(p["b_hh"], mode, H)])[None]
    if p["lengths"] is not None:
        feeds["sequence_lens"] = p["lengths"].astype(np.int32)
    if p["h0"] is not None:
        feeds["initial_h"] = p["h0"][None]
        if lstm:
            feeds["initial_c"] = p["c0"][None]
    if lstm:  # ONNX's P is [p_i, p_o, p_f]; rnnfast's w_p is (p_i, p_f, p_o)
        w_p = p["w_p"]
        feeds["P"] = np.concatenate([w_p[:H], w_p[2 * H:], w_p[H:2 * H]])[None]
    feeds = {k: np.ascontiguousarray(v) for k, v in feeds.items()}
    slots = ["X", "W", "R", "B", "sequence_lens", "initial_h"] + (
        ["initial_c", "P"] if lstm else [])
    inputs = [s if s in feeds else "" for s in slots]
    while not inputs[-1]:
        inputs.pop()
    outs = [("Y", (T, 1, B, H)), ("Y_h", (1, B, H))] + ([("Y_c", (1, B, H))] if lstm else [])
    attrs = {} if lstm else {"linear_before_reset": 0}
    node = helper.make_node("LSTM" if lstm else "GRU", inputs, [n for n, _ in outs],
                            hidden_size=H, direction="reverse" if reverse else "forward", **attrs)
    graph = helper.make_graph(
        [node], "cell",
        [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
         for k, v in feeds.items()],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outs])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    res = sess.run(None, feeds)
    return res[0][:, 0], res[1][0], (res[2][0] if lstm else None)


ORT_CASES = list(itertools.product(NEW_MODES, (True, False), (True, False), (False, True),
                                   (None, LENGTHS)))
ORT_IDS = [f"{m}-{'bias' if b else 'nobias'}-{'h0' if h else 'noh0'}-{'rev' if r else 'fwd'}-"
           f"{'packed' if L else 'full'}" for m, b, h, r, L in ORT_CASES]


@pytest.mark.parametrize("mode,bias,h0,reverse,lengths", ORT_CASES, ids=ORT_IDS)
def test_forward_matches_onnx_runtime(ort, mode, bias, h0, reverse, lengths):
    """ONNX Runtime runs LSTM/GRU in float32 only: it gets the float32 problem, the reference
    runs the same (float32-representable) values in float64, within the float32 tolerance.

    With sequence_lens, ONNX's semantics are rnnfast's for what both define: sequence b runs
    its steps t < lengths[b] (in reverse from t = lengths[b] - 1) and Y_h / Y_c are its state
    after its own last step. What Y holds past a sequence's end is left open by the ONNX spec
    (ONNX Runtime writes zeros there), so y is compared on each sequence's valid steps only;
    the reference's zeros there are asserted against its documented semantics instead."""
    T, B, I, H = 5, 3, 4, 4
    p32 = _problem(mode, T, B, I, H, bias=bias, h0=h0, lengths=lengths, dtype=np.float32,
                   seed=11)
    p64 = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f"
               else v) for k, v in p32.items()}
    y, h_n, c_n, _ = reference.forward(mode, **p64, reverse=reverse)
    Y, Y_h, Y_c = _run_ort(ort, mode, p32, reverse)

    T32 = tol(np.float32)
    for b, L in enumerate(lengths or (T,) * B):
        np.testing.assert_allclose(y[:L, b], Y[:L, b], **T32, err_msg=f"y, sequence {b}")
        assert np.all(y[L:, b] == 0)
    np.testing.assert_allclose(h_n, Y_h, **T32, err_msg="h_n")
    if mode == "lstm_peephole":
        np.testing.assert_allclose(c_n, Y_c, **T32, err_msg="c_n")
    else:
        assert c_n is None


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_peepholes_reach_onnx_runtime(ort, reverse):
    """The check above is not blind to P or to its order: each of p_i, p_f, p_o alone changes
    the outputs, and a w_p handed to ONNX in rnnfast's order (i, f, o), not ONNX's (i, o, f),
    disagrees with the reference."""
    T, B, I, H = 4, 2, 3, 4
    p = _problem("lstm_peephole", T, B, I, H, dtype=np.float32, seed=12)
    y0, _, _, _ = reference.forward("lstm_peephole", **{**p, "w_p": np.zeros(3 * H, np.float32)})
    y, _, _, _ = reference.forward("lstm_peephole", **p)
    for g in range(3):
        only = np.zeros(3 * H, np.float32)
        only[g * H:(g + 1) * H] = p["w_p"][g * H:(g + 1) * H]
        y1, _, _, _ = reference.forward("lstm_peephole", **{**p, "w_p": only})
        assert np.max(np.abs(y1 - y0)) > 1e-3, f"peephole block {g} has no effect"
    # Swapping p_f and p_o: fed to ONNX's reordering, the result is P in rnnfast's order.
    w_p = p["w_p"]
    swapped = {**p, "w_p": np.concatenate([w_p[:H], w_p[2 * H:], w_p[H:2 * H]])}
    Y, _, _ = _run_ort(ort, "lstm_peephole", swapped, reverse)
    y, _, _, _ = reference.forward("lstm_peephole", **p, reverse=reverse)
    assert np.max(np.abs(y - Y)) > 1e-3


def test_reset_position_reaches_onnx_runtime(ort):
    """gru_reset_before is not plain gru: ONNX's linear_before_reset=1 GRU (PyTorch's, the
    reference's "gru") disagrees with it on the same weights, and agrees with "gru"."""
    T, B, I, H = 4, 2, 3, 4
    p = _problem("gru_reset_before", T, B, I, H, dtype=np.float32, seed=13)
    p64 = {k: (v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype.kind == "f"
               else v) for k, v in p.items()}
    y_before, _, _, _ = reference.forward("gru_reset_before", **p64)
    y_after, _, _, _ = reference.forward("gru", **p64)
    assert np.max(np.abs(y_before - y_after)) > 1e-3
    Y, _, _ = _run_ort(ort, "gru_reset_before", p, False)
    np.testing.assert_allclose(y_before, Y, **tol(np.float32))


# ----------------------------------------------------------------------------- unit by unit

def _sig(a):
    return 1 / (1 + math.exp(-a))


def _scalar_forward(mode, x, w_ih, w_hh, b_ih=None, b_hh=None, *, w_hr=None, w_p=None,
                    h0=None, c0=None, lengths=None, h_mask=None, reverse=False):
    """The cells' formulas as written in the issue, one unit at a time in Python floats: each
    sequence b alone over its own steps; returns (y, h_n, c_n) as float64 arrays."""
    T, B, I = x.shape
    G = GATES[mode]
    H = w_ih.shape[0] // G
    H_out = H if w_hr is None else w_hr.shape[0]
    b_ih = np.zeros(G * H) if b_ih is None else b_ih
    b_hh = np.zeros(G * H) if b_hh is None else b_hh
    y = np.zeros((T, B, H_out))
    h_n = np.zeros((B, H_out))
    c_n = np.zeros((B, H))
    for b in range(B):
        h = [0.0] * H_out if h0 is None else [float(v) for v in h0[b]]
        c = [0.0] * H if c0 is None else [float(v) for v in c0[b]]
        L = T if lengths is None else int(lengths[b])
        for t in (reversed(range(L)) if reverse else range(L)):
            hm = [h[k] * (1.0 if h_mask is None else float(h_mask[b, k])) for k in range(H_out)]

            def wx(row, xt=x[t, b]):
                return sum(float(w_ih[row, j]) * float(xt[j]) for j in range(I)) + b_ih[row]

            def wh(row, v):
                return sum(float(w_hh[row, k]) * v[k] for k in range(H_out)) + b_hh[row]

            if mode == "lstm_peephole":
                c_new, m = [0.0] * H, [0.0] * H
                for u in range(H):
                    i = _sig(wx(u) + wh(u, hm) + w_p[u] * c[u])
                    f = _sig(wx(H + u) + wh(H + u, hm) + w_p[H + u] * c[u])
                    g = math.tanh(wx(2 * H + u) + wh(2 * H + u, hm))
                    c_new[u] = f * c[u] + i * g
                    o = _sig(wx(3 * H + u) + wh(3 * H + u, hm) + w_p[2 * H + u] * c_new[u])
                    m[u] = o * math.tanh(c_new[u])
                c = c_new
                h = m if w_hr is None else [sum(float(w_hr[q, u]) * m[u] for u in range(H))
                                            for q in range(H_out)]
            else:
                r = [_sig(wx(u) + wh(u, hm)) for u in range(H)]
                z = [_sig(wx(H + u) + wh(H + u, hm)) for u in range(H)]
                rh = [r[k] * hm[k] for k in range(H)]
                n = [math.tanh(wx(2 * H + u) + wh(2 * H + u, rh)) for u in range(H)]
                h = [(1 - z[u]) * n[u] + z[u] * h[u] for u in range(H)]  # unmasked h_{t-1}
            y[t, b] = h
        h_n[b] = h
        c_n[b] = c
    return y, h_n, c_n


SCALAR_CASES = [(m, proj, mask, lengths, reverse)
                for m, proj in [("gru_reset_before", 0), ("lstm_peephole", 0), ("lstm_peephole", 2)]
                for mask, lengths, reverse in itertools.product(
                    (False, True), (None, LENGTHS), (False, True))]
SCALAR_IDS = [f"{m}{'_proj' if p else ''}-{'hmask' if k else 'nomask'}-"
              f"{'packed' if L else 'full'}-{'rev' if r else 'fwd'}"
              for m, p, k, L, r in SCALAR_CASES]


@pytest.mark.parametrize("mode,proj,mask,lengths,reverse", SCALAR_CASES, ids=SCALAR_IDS)
def test_forward_matches_unit_by_unit_formulas(mode, proj, mask, lengths, reverse):
    """Covers what ONNX cannot: the recurrent dropout mask (W_hh, and for gru_reset_before
    W_hn through r * h', see the masked state; z * h_{t-1} takes the unmasked one) and the
    projection of lstm_peephole (c stays H wide, h is H_out wide)."""
    T, B, I, H = 5, 3, 3, 4
    p = _problem(mode, T, B, I, H, proj=proj, lengths=lengths, h_mask=mask, seed=21)
    y, h_n, c_n, _ = reference.forward(mode, **p, reverse=reverse)
    ys, h_s, c_s = _scalar_forward(mode, **p, reverse=reverse)
    T64 = tol(np.float64)
    np.testing.assert_allclose(y, ys, **T64, err_msg="y")
    np.testing.assert_allclose(h_n, h_s, **T64, err_msg="h_n")
    if mode == "lstm_peephole":
        assert c_n.shape == (B, H)
        np.testing.assert_allclose(c_n, c_s, **T64, err_msg="c_n")
    if mask:  # the mask is not a no-op here
        y_plain, _, _, _ = reference.forward(mode, **{**p, "h_mask": None}, reverse=reverse)
        assert np.max(np.abs(y - y_plain)) > 1e-3


# ----------------------------------------------------------------------------- exact identities

@pytest.mark.parametrize("proj", [0, 2], ids=["noproj", "proj"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_lstm_peephole_with_zero_peepholes_is_lstm(proj, reverse):
    """With w_p = 0 every peephole term is an exact +-0 added to a pre-activation or to a
    gradient, so lstm_peephole's outputs and gradients equal lstm's bitwise; its w_p gradient is
    still the real one (c_{t-1} and c_t times the gate gradients, not zero)."""
    T, B, I, H = 4, 3, 3, 4
    p = _problem("lstm_peephole", T, B, I, H, proj=proj, lengths=(2, 4, 3), h_mask=True,
                 seed=31)
    cot = _cotangents("lstm_peephole", T, B, H, proj=proj, seed=32)
    lstm_args = {k: v for k, v in p.items() if k != "w_p"}
    a = reference.forward("lstm_peephole", **{**p, "w_p": np.zeros(3 * H)}, reverse=reverse)
    b = reference.forward("lstm", **lstm_args, reverse=reverse)
    for u, v, name in zip(a[:3], b[:3], ("y", "h_n", "c_n")):
        np.testing.assert_array_equal(u, v, err_msg=name)
    ga, gb = reference.backward(a[3], *cot), reference.backward(b[3], *cot)
    for k in INPUT_OF_GRAD:
        if k == "w_p":
            assert gb[k] is None
            assert ga[k].shape == (3 * H,) and np.any(ga[k] != 0)
        elif gb[k] is None:
            assert ga[k] is None, k
        else:
            np.testing.assert_array_equal(ga[k], gb[k], err_msg=k)


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_gru_reset_before_is_gru_when_w_hh_sees_zeros_and_b_hn_is_zero(reverse):
    """With h_mask = 0 the recurrent products see h' = 0, and with b_hn = 0 both GRUs' n is
    tanh(W_in x + b_in) exactly (gru: r * (W_hn 0 + 0); gru_reset_before: W_hn (r * 0) + 0),
    while r, z and the unmasked z * h_{t-1} are the same computation: the outputs are equal
    bitwise, and so are the gradients that do not involve b_hn's or W_hn's position."""
    T, B, I, H = 4, 3, 3, 4
    p = _problem("gru_reset_before", T, B, I, H, lengths=(2, 4, 3), seed=41)
    p["b_hh"][2 * H:] = 0
    p["h_mask"] = np.zeros((B, H))
    cot = _cotangents("gru_reset_before", T, B, H, seed=42)
    a = reference.forward("gru_reset_before", **p, reverse=reverse)
    b = reference.forward("gru", **p, reverse=reverse)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert np.any(a[1] != 0)
    ga, gb = reference.backward(a[3], *cot), reference.backward(b[3], *cot)
    for k in ("dx", "dh0", "w_ih", "b_ih", "w_hh"):
        np.testing.assert_array_equal(ga[k], gb[k], err_msg=k)
    # b_hn's gradient differs by design: dL/da_n (gru_reset_before) vs r * dL/da_n (gru)
    assert np.max(np.abs(ga["b_hh"][2 * H:] - gb["b_hh"][2 * H:])) > 1e-6
    np.testing.assert_array_equal(ga["b_hh"][:2 * H], gb["b_hh"][:2 * H])


# ----------------------------------------------------------------------------- finite differences





FD_CASES = [(m, proj, bias, lengths, reverse, mask)
            for m, proj in [("gru_reset_before", 0), ("lstm_peephole", 0), ("lstm_peephole", 2)]
            for bias, lengths, reverse, mask in itertools.product(
                (True, False), (None, LENGTHS), (False, True), (False, True))]
FD_IDS = [f"{m}{'_proj' if p else ''}-{'bias' if b else 'nobias'}-{'packed' if L else 'full'}-"
          f"{'rev' if r else 'fwd'}-{'hmask' if k else 'nomask'}"
          for m, p, b, L, r, k in FD_CASES]


@pytest.mark.parametrize("mode,proj,bias,lengths,reverse,mask", FD_CASES, ids=FD_IDS)
def test_gradients_match_finite_differences(mode, proj, bias, lengths, reverse, mask):
    T, B, I, H = 5, 3, 3, 4
    p = _problem(mode, T, B, I, H, proj=proj, bias=bias, lengths=lengths, h_mask=mask, seed=51)
    cot = _cotangents(mode, T, B, H, proj=proj, seed=52)
    _, _, _, cache = reference.forward(mode, **p, reverse=reverse)
    grads = reference.backward(cache, *cot)
    assert set(grads) == set(INPUT_OF_GRAD)
    lstm = mode == "lstm_peephole"
    none = ({"b_ih", "b_hh"} if not bias else set()) | ({"w_hr"} if not proj else set()) | (
        set() if lstm else {"dc0", "w_p"})
    for key, arg in INPUT_OF_GRAD.items():
        if key in none:
            assert grads[key] is None, key
            continue
        num = reference_fd_grad(mode, p, arg, cot, reverse)
        assert grads[key].shape == num.shape, key
        assert np.any(num != 0), f"{key}: the numerical gradient is zero; the check is vacuous"
        np.testing.assert_allclose(grads[key], num, **FD_TOL, err_msg=key)


# ----------------------------------------------------------------------------- dtypes, saturation

@pytest.mark.parametrize("mode,proj", [("gru_reset_before", 0), ("lstm_peephole", 0),
                                       ("lstm_peephole", 2)], ids=["gru_rb", "peep", "peep_proj"])
def test_float32_follows_w_ih_and_agrees_with_float64(mode, proj):
    """w_p and every other float input follow w_ih's dtype; the float32 run agrees with the
    float64 one (held to the oracles above) within the float32 tolerance."""
    T, B, I, H = 4, 3, 3, 4
    p64 = _problem(mode, T, B, I, H, proj=proj, lengths=(2, 4, 3), h_mask=True, seed=81)
    p32 = {k: (v.astype(np.float32) if k in ("w_ih", "w_hh", "b_ih", "b_hh", "w_hr", "w_p")
               and v is not None else v) for k, v in p64.items()}  # the rest stays float64
    cot = _cotangents(mode, T, B, H, proj=proj, seed=82)
    for reverse in (False, True):
        r64 = reference.forward(mode, **p64, reverse=reverse)
        r32 = reference.forward(mode, **p32, reverse=reverse)
        g64, g32 = reference.backward(r64[3], *cot), reference.backward(r32[3], *cot)
        for a, b in zip(r32[:3], r64[:3]):
            if b is not None:
                assert a.dtype == np.float32
                np.testing.assert_allclose(a, b, **tol(np.float32))
        for k in INPUT_OF_GRAD:
            if g64[k] is not None:
                assert g32[k].dtype == np.float32, k
                np.testing.assert_allclose(g32[k], g64[k], **tol(np.float32), err_msg=k)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", NEW_MODES)
def test_huge_inputs_saturate_without_warnings(mode, dtype):
    T, B, I, H = 3, 2, 3, 4
    p = _problem(mode, T, B, I, H, lengths=(3, 2), dtype=dtype, seed=91)
    p["x"] = np.where(p["x"] >= 0, 1e30, -1e30).astype(dtype)
    cot = _cotangents(mode, T, B, H, seed=92)
    for reverse in (False, True):
        y, h_n, c_n, cache = reference.forward(mode, **p, reverse=reverse)
        grads = reference.backward(cache, *cot)
        for a in [y, h_n, c_n, *grads.values()]:
            if a is not None:
                assert a.dtype == dtype and np.all(np.isfinite(a))
        # Bounded cells stay bounded when saturated: lstm_peephole's h = o tanh(c) by 1, the
        # GRU's h, a convex combination of tanh values and h_{t-1}, by max(1, |h0|).
        bound = 1 if mode == "lstm_peephole" else max(1, np.max(np.abs(p["h0"])))
        assert np.all(np.abs(y) <= bound)


# ----------------------------------------------------------------------------- validation

def _w_p_calls():
    H = 4
    peep = _problem("lstm_peephole", 3, 2, 3, H, seed=61)
    proj = _problem("lstm_peephole", 3, 2, 3, H, proj=2, seed=62)
    calls = [
        ("lstm_peephole", {**peep, "w_p": None}, r"w_p.*\(12,\).*None"),
        ("lstm_peephole", {**peep, "w_p": peep["w_p"][:-1]}, r"w_p.*\(12,\).*\(11,\)"),
        ("lstm_peephole", {**peep, "w_p": peep["w_p"][None]}, r"w_p.*\(1, 12\)"),
        ("lstm_peephole", {**peep, "w_p": np.zeros(4 * H)}, r"w_p.*\(16,\)"),
        # with a projection the peepholes are still c's width H, not H_out
        ("lstm_peephole", {**proj, "w_p": np.zeros(3 * 2)}, r"w_p.*\(12,\).*\(6,\)"),
    ]
    q = _problem("gru_reset_before", 3, 2, 3, H, seed=63)
    for mode, G in (("lstm", 4), ("gru", 3), ("gru_reset_before", 3), ("rnn_tanh", 1),
                    ("rnn_relu", 1)):
        calls.append((mode, {**q, "w_ih": np.zeros((G * H, 3)), "w_hh": np.zeros((G * H, H)),
                             "b_ih": np.zeros(G * H), "b_hh": np.zeros(G * H),
                             "w_p": np.zeros(3 * H)}, r"w_p.*None"))
    return calls


@pytest.mark.parametrize("mode,args,match", _w_p_calls(),
                         ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(_w_p_calls())])
def test_w_p_missing_misshapen_or_misplaced_is_refused(mode, args, match):
    with pytest.raises(ValueError, match=match):
        reference.forward(mode, **args)


def test_state_and_projection_arguments_follow_the_cell_state():
    """c0, dc_n and w_hr belong to the cells with a cell state: accepted for lstm_peephole,
    refused (naming them) for gru_reset_before; backward's w_p is None for the other modes."""
    H = 4
    q = _problem("gru_reset_before", 3, 2, 3, H, seed=71)
    with pytest.raises(ValueError, match="c0"):
        reference.forward("gru_reset_before", **{**q, "c0": np.zeros((2, H))})
    with pytest.raises(ValueError, match="w_hr"):
        reference.forward("gru_reset_before", **{**q, "w_hr": np.zeros((2, H))})
    _, _, c_n, cache = reference.forward("gru_reset_before", **q)
    assert c_n is None
    with pytest.raises(ValueError, match="dc_n"):
        reference.backward(cache, dc_n=np.zeros((2, H)))
    g = reference.backward(cache, dh_n=np.ones((2, H)))
    assert g["dc0"] is None and g["w_p"] is None and g["w_hr"] is None

    p = _problem("lstm_peephole", 3, 2, 3, H, proj=2, seed=72)
    y, h_n, c_n, cache = reference.forward("lstm_peephole", **p)
    assert y.shape == (3, 2, 2) and h_n.shape == (2, 2) and c_n.shape == (2, H)
    with pytest.raises(ValueError, match="dc_n"):
        reference.backward(cache, dc_n=np.zeros((2, 2)))
    g = reference.backward(cache, dc_n=np.ones((2, H)))
    assert g["w_p"].shape == (3 * H,) and g["dc0"].shape == (2, H)

    for mode in ("rnn_tanh", "lstm", "gru"):
        G = {"rnn_tanh": 1, "lstm": 4, "gru": 3}[mode]
        _, _, _, cache = reference.forward(mode, np.ones((2, 1, 3)), np.full((G * H, 3), 0.1),
                                           np.full((G * H, H), 0.1))
        assert reference.backward(cache, dh_n=np.ones((1, H)))["w_p"] is None, mode
