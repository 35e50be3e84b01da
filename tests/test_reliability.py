"""Bad and extreme input through the nn layers: a clean Python exception naming the argument,
the expected and the given value, or a correct result -- never a crash or a misread.

Fills the gaps left by test_validation.py (rnnfast.functional and the binding) and
test_nn_rnn.py / test_nn_layers.py / test_losses.py (the commonest layer and loss errors):
recurrent states of the wrong rank, batch or layer count; non-numeric data; integer and
half-precision input (converted, bitwise equal to the float call); strided, Fortran-ordered,
negatively strided and read-only arrays (bitwise equal results and gradients); empty
sequences and batches; lengths of every wrong kind; extreme Embedding and loss labels;
constructor arguments; load_state_dict failures that leave the layer untouched; impossible
allocations on the NumPy side and the C++ side (MemoryError, then the process keeps working);
NaN, Inf and huge magnitudes.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import rnnfast
from rnnfast import functional as F, nn

# Under .ci/sanitize.sh the allocator of AddressSanitizer aborts on impossible sizes instead of
# failing the allocation, and with vm.overcommit_memory=1 the kernel grants any size and the
# process is killed when it touches the pages: the MemoryError tests run only without either.
SANITIZED = os.environ.get("RNNFAST_SANITIZED") == "1"


def _overcommit_always():
    try:
        with open("/proc/sys/vm/overcommit_memory") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


NO_MEMORY_ERRORS = pytest.mark.skipif(
    SANITIZED or _overcommit_always(),
    reason="impossible allocations abort (sanitizers) or succeed (vm.overcommit_memory=1)")

LAYERS = {"rnn_tanh": lambda *a, **k: nn.RNN(*a, **k),
          "rnn_relu": lambda *a, **k: nn.RNN(*a, nonlinearity="relu", **k),
          "lstm": lambda *a, **k: nn.LSTM(*a, **k),
          "gru": lambda *a, **k: nn.GRU(*a, **k)}


def _raises(exc, words, fn, *args, **kwargs):
    with pytest.raises(exc) as e:
        fn(*args, **kwargs)
    msg = str(e.value)
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"
    return msg


def _outputs(out):
    """(y, h_n[, c_n]) of a layer call as NumPy arrays."""
    y, st = out
    st = st if isinstance(st, tuple) else (st,)
    return [y.numpy()] + [s.numpy() for s in st]


def _train_step(m, x, hx=None, lengths=None):
    """Forward, a loss over every output, backward: outputs and all parameter gradients."""
    m.zero_grad()
    y, st = m(x, hx, lengths=lengths)
    st = st if isinstance(st, tuple) else (st,)
    loss = (y * y).sum()
    for s in st:
        loss = loss + s.sum()
    loss.backward()
    return ([y.numpy()] + [s.numpy() for s in st]
            + [p.grad.copy() for _, p in m.named_parameters()])


def _assert_bitwise(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


# ------------------------------------------------------------------------ recurrent states

@pytest.mark.parametrize("make, x, hx, exc, words", [
    # wrong number of layers * directions
    (lambda: nn.LSTM(3, 4, num_layers=2, bidirectional=True), (5, 2, 3),
     ((2, 2, 4), (4, 2, 4)), ValueError, ["h_0", "(4, 2, 4)", "(2, 2, 4)"]),
    (lambda: nn.GRU(3, 4, bidirectional=True), (5, 2, 3), (1, 2, 4), ValueError,
     ["hx", "(2, 2, 4)", "(1, 2, 4)"]),
    (lambda: nn.RNN(3, 4, num_layers=3), (5, 2, 3), (2, 2, 4), ValueError,
     ["hx", "(3, 2, 4)", "(2, 2, 4)"]),
    # mismatched batch
    (lambda: nn.GRU(3, 4), (5, 2, 3), (1, 3, 4), ValueError, ["hx", "(1, 2, 4)", "(1, 3, 4)"]),
    (lambda: nn.GRU(3, 4, batch_first=True), (2, 5, 3), (1, 5, 4), ValueError,
     ["hx", "(1, 2, 4)", "(1, 5, 4)"]),
    # wrong rank: batched input with an unbatched state and the other way round
    (lambda: nn.RNN(3, 4), (5, 2, 3), (1, 4), ValueError, ["hx", "(1, 2, 4)", "(1, 4)"]),
    (lambda: nn.RNN(3, 4), (5, 3), (1, 1, 4), ValueError, ["hx", "(1, 4)", "(1, 1, 4)"]),
    # wrong feature size, and the projection: h_0 has proj_size features, c_0 hidden_size
    (lambda: nn.GRU(3, 4), (5, 2, 3), (1, 2, 5), ValueError, ["hx", "(1, 2, 4)", "(1, 2, 5)"]),
    (lambda: nn.LSTM(3, 6, proj_size=2), (5, 2, 3), ((1, 2, 6), (1, 2, 6)), ValueError,
     ["h_0", "(1, 2, 2)", "(1, 2, 6)"]),
    (lambda: nn.LSTM(3, 6, proj_size=2), (5, 2, 3), ((1, 2, 2), (1, 2, 2)), ValueError,
     ["c_0", "(1, 2, 6)", "(1, 2, 2)"]),
], ids=["lstm-layers", "gru-directions", "rnn-layers", "batch", "batch_first-batch",
        "batched-x-unbatched-h", "unbatched-x-batched-h", "features", "proj-h0", "proj-c0"])
def test_state_shapes(make, x, hx, exc, words):
    m = make()
    h = (np.zeros(hx[0]), np.zeros(hx[1])) if isinstance(hx[0], tuple) else np.zeros(hx)
    _raises(exc, words, m, np.zeros(x, np.float32), h)


@pytest.mark.parametrize("hx, exc, words", [
    ((np.zeros((1, 2, 4)),), TypeError, ["hx", "tuple"]),
    ((np.zeros((1, 2, 4)),) * 3, TypeError, ["hx", "tuple"]),
    ((None, np.zeros((1, 2, 4))), TypeError, ["h_0", "numeric", "object"]),
    ((np.zeros((1, 2, 4)), "abc"), TypeError, ["c_0", "numeric", "<U3"]),
    ((np.zeros((1, 2, 4), complex), np.zeros((1, 2, 4))), TypeError, ["h_0", "numeric",
                                                                      "complex"]),
])
def test_lstm_state_types(hx, exc, words):
    _raises(exc, words, nn.LSTM(3, 4), np.zeros((5, 2, 3)), hx)


@pytest.mark.parametrize("bad, words", [
    (None, ["input", "numeric", "object"]),
    ("hello", ["input", "numeric", "<U5"]),
    ({}, ["input", "numeric", "object"]),
    (np.zeros((5, 2, 3), np.complex64), ["input", "numeric", "complex64"]),
    (np.zeros((5, 2, 3), "datetime64[s]"), ["input", "numeric", "datetime64"]),
    (np.array([[[1.0, 2.0, None]]], dtype=object), ["input", "numeric", "object"]),
])
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_non_numeric_input(kind, bad, words):
    _raises(TypeError, words, LAYERS[kind](3, 4), bad)


def test_non_numeric_state():
    _raises(TypeError, ["hx", "numeric", "object"], nn.GRU(3, 4), np.zeros((5, 2, 3)),
            np.array([[["a"] * 4] * 2], dtype=object))
    _raises(TypeError, ["hx", "numeric"], nn.GRU(3, 4), np.zeros((5, 2, 3)), "abc")


def test_ragged_input_names_the_argument():
    """A ragged nested list cannot become an array: ValueError naming `input` (NumPy's own
    message alone names nothing)."""
    _raises(ValueError, ["input"], nn.GRU(3, 4), [[[1, 2, 3]], [[1, 2]]])
    _raises(ValueError, ["input"], nn.GRUCell(3, 4), [[1, 2, 3], [1, 2]])


@pytest.mark.parametrize("call, exc, words", [
    (lambda m: m(np.zeros((0, 3))), ValueError, ["input", "batch", "0"]),
    (lambda m: m(np.zeros((2, 3)), np.zeros((3, 4))), ValueError, ["h", "(2, 4)", "(3, 4)"]),
    (lambda m: m(np.zeros(3), np.zeros((1, 4))), ValueError, ["h", "(4,)", "(1, 4)"]),
    (lambda m: m(np.zeros((1, 2, 3))), ValueError, ["input", "(1, 2, 3)"]),
    (lambda m: m(np.zeros((2, 4))), ValueError, ["input", "3 features", "got 4"]),
    (lambda m: m(np.array([[1, 2, None]], dtype=object)), TypeError, ["input", "numeric"]),
])
def test_cells(call, exc, words):
    _raises(exc, words, call, nn.GRUCell(3, 4))


def test_lstm_cell_states():
    m = nn.LSTMCell(3, 4)
    _raises(TypeError, ["hx", "tuple"], m, np.zeros((2, 3)), np.zeros((2, 4)))
    _raises(ValueError, ["c", "(2, 4)", "(2, 5)"], m, np.zeros((2, 3)),
            (np.zeros((2, 4)), np.zeros((2, 5))))


# ------------------------------------------------------------- conversions, never misreads

@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int8, np.uint8, np.bool_,
                                   np.float16, np.float64])
@pytest.mark.parametrize("kind", list(LAYERS))
def test_non_float32_input_is_converted(kind, dtype):
    """Integer, boolean and other float input is cast to the layer's dtype: results bitwise
    equal to the call on the cast array (never reinterpreted bytes)."""
    rnnfast.manual_seed(0)
    m = LAYERS[kind](3, 5)
    raw = np.random.default_rng(0).integers(0, 3, size=(4, 2, 3)).astype(dtype)
    h = np.random.default_rng(1).integers(-1, 2, size=(1, 2, 5)).astype(dtype)
    hx = (h, h) if kind == "lstm" else h
    want = _outputs(m(raw.astype(np.float32), (h.astype(np.float32),) * 2 if kind == "lstm"
                      else h.astype(np.float32)))
    _assert_bitwise(_outputs(m(raw, hx)), want)
    _assert_bitwise(_outputs(m(raw.tolist(), hx)), want)  # nested Python lists too


def test_huge_unsigned_input_is_a_large_float_not_a_wrapped_one():
    m = nn.RNN(1, 2, dtype=np.float64)
    big = np.full((3, 1, 1), 2**63, np.uint64)
    np.testing.assert_array_equal(_outputs(m(big))[0], _outputs(m(big.astype(np.float64)))[0])


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.uint8, np.uint16, np.uint64])
def test_lengths_integer_dtypes(dtype):
    rnnfast.manual_seed(0)
    m = nn.GRU(3, 4, bidirectional=True)
    x = np.random.default_rng(0).standard_normal((5, 3, 3))
    want = _outputs(m(x, lengths=np.array([5, 2, 4])))
    _assert_bitwise(_outputs(m(x, lengths=np.array([5, 2, 4], dtype))), want)
    _assert_bitwise(_outputs(m(x, lengths=rnnfast.tensor(np.array([5, 2, 4])))), want)


# ----------------------------------------------------------------------- memory layouts

def _layouts(a):
    """The same values as ``a`` in other layouts: strided, Fortran, negative strides,
    read-only."""
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    big[..., ::2] = a
    rev = np.ascontiguousarray(a[::-1])[::-1]
    ro = a.copy()
    ro.setflags(write=False)
    out = {"strided": big[..., ::2], "fortran": np.asfortranarray(a), "negative": rev,
           "readonly": ro}
    assert not out["strided"].flags.c_contiguous and out["negative"].strides[0] < 0
    return out


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_layouts_give_bitwise_equal_results_and_gradients(kind, batch_first):
    rnnfast.manual_seed(1)
    m = LAYERS[kind](3, 5, num_layers=2, bidirectional=True, batch_first=batch_first)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 5, 3) if batch_first else (5, 4, 3)).astype(np.float32)
    h = rng.standard_normal((4, 4, 5)).astype(np.float32)
    lengths = np.array([5, 1, 3, 4])
    hx = (h, h) if kind == "lstm" else h
    want = _train_step(m, x, hx, lengths)
    xs, hs, ls = _layouts(x), _layouts(h), _layouts(lengths[:, None])
    for name in xs:
        hx = (hs[name], hs[name]) if kind == "lstm" else hs[name]
        got = _train_step(m, xs[name], hx, ls[name][:, 0])
        _assert_bitwise(got, want)


def test_functional_weight_layouts():
    """Weights and states in any layout give the results of contiguous ones."""
    rng = np.random.default_rng(3)
    T, B, I, H = 4, 3, 5, 6
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    w_ih = rng.standard_normal((4 * H, I)).astype(np.float32) * 0.3
    w_hh = rng.standard_normal((4 * H, H)).astype(np.float32) * 0.3
    b = rng.standard_normal(4 * H).astype(np.float32) * 0.1
    h0 = rng.standard_normal((B, H)).astype(np.float32)
    y, h_n, c_n, res = F.forward("lstm", x, w_ih, w_hh, b, b, h0=h0, c0=h0)
    g = F.backward("lstm", res, x, w_ih, w_hh, b, b, y=y, dy=np.ones_like(y))
    for name in ("strided", "fortran", "negative", "readonly"):
        wi, wh, h = _layouts(w_ih)[name], _layouts(w_hh)[name], _layouts(h0)[name]
        bb = b[::-1].copy()[::-1] if name == "negative" else b
        y2, h2, c2, res2 = F.forward("lstm", x, wi, wh, bb, bb, h0=h, c0=h)
        g2 = F.backward("lstm", res2, x, wi, wh, bb, bb, y=_layouts(y2)[name],
                        dy=_layouts(np.ones_like(y))[name])
        _assert_bitwise([y2, h2, c2, res2], [y, h_n, c_n, res])
        _assert_bitwise([g2[k] for k in sorted(g)], [g[k] for k in sorted(g)])


# ------------------------------------------------------------------- empty, lengths

@pytest.mark.parametrize("make, shape, words", [
    (lambda: nn.LSTM(3, 4), (5, 0, 3), ["input", "B=0"]),
    (lambda: nn.GRU(3, 4, batch_first=True), (0, 5, 3), ["input", "B=0"]),
    (lambda: nn.GRU(3, 4, batch_first=True), (2, 0, 3), ["input", "T=0"]),
    (lambda: nn.RNN(3, 4), (0, 3), ["input", "T=0"]),
    (lambda: nn.RNN(3, 4, bidirectional=True), (0, 0, 3), ["input", "T=0", "B=0"]),
])
def test_empty_sequences_and_batches(make, shape, words):
    _raises(ValueError, words, make(), np.zeros(shape))


@pytest.mark.parametrize("lengths, exc, words", [
    ([[5, 5, 5]], ValueError, ["lengths", "(3,)", "(1, 3)"]),
    (5, ValueError, ["lengths", "(3,)", "()"]),
    ([5, 5, 5, 5], ValueError, ["lengths", "(3,)", "(4,)"]),
    ([True, True, True], TypeError, ["lengths", "integers", "bool"]),
    (["5", "5", "5"], TypeError, ["lengths", "integers", "<U1"]),
    ([None, 1, 2], TypeError, ["lengths", "integers", "object"]),
    (np.array([5, 2, 2**64 - 1], np.uint64), ValueError, ["lengths", "[1, 5]",
                                                           "18446744073709551615"]),
    (np.array([5, -1, 2], np.int8), ValueError, ["lengths", "[1, 5]", "-1"]),
    (np.array([5, 2, 6]), ValueError, ["lengths", "[1, 5]", "6"]),
])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_lengths(lengths, exc, words, bidirectional):
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=bidirectional)
    _raises(exc, words, m, np.zeros((5, 3, 3)), lengths=lengths)


def test_unbatched_lengths():
    m = nn.GRU(3, 4, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_array_equal(m(x, lengths=3)[0].numpy()[3:], 0)
    np.testing.assert_array_equal(m(x, lengths=[3])[0].numpy(), m(x, lengths=3)[0].numpy())
    _raises(ValueError, ["lengths", "[1, 5]", "6"], m, x, lengths=6)
    _raises(TypeError, ["lengths", "integers", "float64"], m, x, lengths=5.0)


# ------------------------------------------------------------ Embedding and loss labels

@pytest.mark.parametrize("idx, exc, words", [
    (np.array([2**64 - 1], np.uint64), IndexError, ["indices", "18446744073709551615", "0 to 4"]),
    (np.array([-1], np.int8), IndexError, ["indices", "-1", "0 to 4"]),
    (np.array([[0, 1], [2, -7]]), IndexError, ["indices", "-7"]),
    (np.array([1, None], dtype=object), TypeError, ["indices", "integer", "object"]),
    ("ab", TypeError, ["indices", "integer"]),
    (np.array([1.0, 2.0], np.float32), TypeError, ["indices", "integer", "float32"]),
])
def test_embedding_extreme_indices(idx, exc, words):
    _raises(exc, words, nn.Embedding(5, 2), idx)


@pytest.mark.parametrize("loss", [nn.CrossEntropyLoss(), nn.NLLLoss()])
@pytest.mark.parametrize("x, t, words", [
    (np.zeros((2, 3, 4)), np.array([[0, 1, 2, 3], [0, 0, 0, 0]]), ["target", "3", "3 classes"]),
    (np.zeros((2, 3)), np.array([-2, 0]), ["target", "-2", "3 classes"]),
    (np.zeros((2, 3)), np.array([2**64 - 1, 0], np.uint64), ["target", "18446744073709551615"]),
])
def test_loss_labels_out_of_range(loss, x, t, words):
    _raises(IndexError, words, loss, x, t)


# --------------------------------------------------------------------- constructors

@pytest.mark.parametrize("make, exc, words", [
    (lambda: nn.LSTM(3, 4, dropout=float("nan")), ValueError, ["dropout", "nan"]),
    (lambda: nn.GRU(3, 4, recurrent_dropout=float("inf")), ValueError,
     ["recurrent_dropout", "[0, 1)", "inf"]),
    (lambda: nn.RNN(3, 4, input_dropout=1.0), ValueError, ["input_dropout", "[0, 1)", "1.0"]),
    (lambda: nn.LSTM(3, 4, dropout="0.1"), TypeError, ["dropout", "float", "str"]),
    (lambda: nn.LSTM(3, 4, dropout=True), TypeError, ["dropout", "bool"]),
    (lambda: nn.LSTM(3, 4, num_layers=2.0), TypeError, ["num_layers", "int", "float"]),
    (lambda: nn.LSTM(True, 4), TypeError, ["input_size", "int", "bool"]),
    (lambda: nn.LSTM(3, 4, proj_size=-2), ValueError, ["proj_size", "-2"]),
    (lambda: nn.LSTM(3, 4, proj_size=9), ValueError, ["proj_size", "< hidden_size (4)", "9"]),
    (lambda: nn.GRU(3, 4, proj_size=2), TypeError, ["proj_size"]),
    (lambda: nn.RNN(3, 4, nonlinearity="TANH"), ValueError, ["nonlinearity", "'TANH'"]),
    (lambda: nn.RNNCell(3, 4, nonlinearity="gelu"), ValueError, ["nonlinearity", "'gelu'"]),
    (lambda: nn.LSTMCell(3, 0), ValueError, ["hidden_size", ">= 1", "0"]),
    (lambda: nn.GRUCell(-1, 3), ValueError, ["input_size", "-1"]),
    (lambda: nn.RNNCell(3, 4.0), TypeError, ["hidden_size", "int", "float"]),
    (lambda: nn.GRU(3, 4, dtype=np.float16), TypeError, ["dtype", "float16"]),
    (lambda: nn.Embedding(-5, 2), ValueError, ["num_embeddings", "-5"]),
])
def test_constructor_arguments(make, exc, words):
    _raises(exc, words, make)


def test_dropout_one_is_allowed_between_layers_as_in_torch():
    """dropout=1.0 zeroes the second layer's input (torch does the same), it does not divide
    by zero: the result is the second layer run on zeros."""
    rnnfast.manual_seed(0)
    m = nn.LSTM(3, 4, num_layers=2, dropout=1.0, dtype=np.float64)
    y = m(np.ones((3, 2, 3)))[0].numpy()
    assert np.isfinite(y).all()
    second = nn.LSTM(4, 4, dtype=np.float64)
    second.load_state_dict({k.replace("_l1", "_l0"): v for k, v in m.state_dict().items()
                            if k.endswith("_l1")})
    np.testing.assert_array_equal(y, second(np.zeros((3, 2, 4)))[0].numpy())


# ------------------------------------------------------------------- load_state_dict

def _snapshot(m):
    return {k: v.copy() for k, v in m.state_dict().items()}


@pytest.mark.parametrize("change, words", [
    (lambda sd: sd.pop("weight_hh_l1_reverse"), ['Missing key(s)', '"weight_hh_l1_reverse"']),
    (lambda sd: sd.update(weight_hh_l2=np.zeros((16, 4))), ['Unexpected key(s)',
                                                             '"weight_hh_l2"']),
    (lambda sd: sd.update(weight_ih_l1=np.zeros((16, 4))),
     ["size mismatch for weight_ih_l1", "(16, 4)", "(16, 8)"]),
    (lambda sd: sd.update(bias_hh_l0=np.zeros((16, 1))),
     ["size mismatch for bias_hh_l0", "(16, 1)", "(16,)"]),
])
def test_load_state_dict_failures_change_nothing(change, words):
    rnnfast.manual_seed(0)
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    before = _snapshot(m)
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    y_before = _outputs(m(x))
    rnnfast.manual_seed(1)
    sd = _snapshot(nn.LSTM(3, 4, num_layers=2, bidirectional=True))
    change(sd)
    _raises(RuntimeError, words, m.load_state_dict, sd)
    _assert_bitwise(list(_snapshot(m).values()), list(before.values()))
    _assert_bitwise(_outputs(m(x)), y_before)


def test_load_state_dict_between_layer_configurations():
    uni, bi = nn.GRU(3, 4), nn.GRU(3, 4, bidirectional=True)
    _raises(RuntimeError, ["Missing key(s)", "weight_ih_l0_reverse"], bi.load_state_dict,
            uni.state_dict())
    _raises(RuntimeError, ["Unexpected key(s)", "weight_ih_l0_reverse"], uni.load_state_dict,
            bi.state_dict())
    proj, plain = nn.LSTM(3, 6, proj_size=2), nn.LSTM(3, 6)
    _raises(RuntimeError, ["Unexpected key(s)", "weight_hr_l0", "size mismatch for weight_hh_l0"],
            plain.load_state_dict, proj.state_dict())
    missing, unexpected = uni.load_state_dict(bi.state_dict(), strict=False)
    assert missing == [] and "weight_ih_l0_reverse" in unexpected
    np.testing.assert_array_equal(uni.weight_ih_l0.numpy(), bi.weight_ih_l0.numpy())


@pytest.mark.parametrize("value, exc, words", [
    (np.array(["a"] * 16), TypeError, ["bias_ih_l0", "numeric"]),
    (np.array([None] * 16, dtype=object), TypeError, ["bias_ih_l0", "numeric"]),
    ("not an array", TypeError, ["bias_ih_l0", "numeric"]),
])
def test_load_state_dict_non_numeric(value, exc, words):
    m = nn.LSTM(3, 4)
    before = _snapshot(m)
    sd = m.state_dict()
    sd["bias_ih_l0"] = value
    _raises(exc, words, m.load_state_dict, sd)
    _assert_bitwise(list(_snapshot(m).values()), list(before.values()))


def test_load_state_dict_integer_values_are_converted():
    m = nn.GRU(2, 3)
    sd = {k: np.ones(v.shape, np.int32) for k, v in m.state_dict().items()}
    m.load_state_dict(sd)
    for v in m.state_dict().values():
        assert v.dtype == np.float32 and np.all(v == 1.0)


# ----------------------------------------------------------------- impossible allocations

def _run_python(code, timeout=240):
    """Runs ``code`` in a fresh interpreter; returns (returncode, stdout + stderr)."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@NO_MEMORY_ERRORS
def test_numpy_side_allocation_failure_is_memory_error():
    """An input whose cast or contiguous copy cannot be allocated (a zero-strided view of
    2^41 elements), and a layer whose weights cannot be: MemoryError, then business as usual."""
    m = nn.LSTM(1, 4)
    for dt in (np.float32, np.float64):
        big = np.broadcast_to(dt(0), (2**31, 2**10, 1))
        with pytest.raises(MemoryError):
            m(big)
    with pytest.raises(MemoryError):
        nn.LSTM(2**20, 2**20)
    assert np.isfinite(_outputs(m(np.ones((3, 2, 1))))[0]).all()


@NO_MEMORY_ERRORS
def test_cpp_side_allocation_failure_is_memory_error_and_the_process_survives():
    """An LSTM call whose T*B*4H work buffer (2^12 * 2^10 * 2^18 floats = 4 TiB; the input
    projection of all steps at once, forced with RNNFAST_FUSED_INPUT=0 as the per-step one
    needs no such buffer) cannot be allocated: without gradients the C++ allocation fails
    (std::bad_alloc -> MemoryError naming the sizes); with gradients the binding's reserve
    allocation fails first (MemoryError naming its shape). Each after a small
    call, so the failed allocation replaces a live work buffer, and each followed by more calls
    on the same threads, which must give the same results. Run in a child process: a crash
    must fail this test, not the whole run."""
    code = """
        import os
        os.environ["RNNFAST_FUSED_INPUT"] = "0"
        import numpy as np, rnnfast
        from rnnfast import nn
        small = nn.LSTM(1, 8)
        x = np.ones((8, 2, 1), np.float32)
        def step():
            small.zero_grad()
            y, (h, c) = small(x)
            (y.sum() + c.sum()).backward()
            return [y.numpy(), small.weight_hh_l0.grad.copy()]
        want = step()
        big = nn.LSTM(1, 2**16, proj_size=1)
        xb = np.zeros((2**12, 2**10, 1), np.float32)
        for grad in (False, True, False):
            try:
                if grad:
                    big(xb)
                else:
                    with rnnfast.no_grad():
                        big(xb)
            except MemoryError as e:
                print("MemoryError:", e)
            else:
                raise SystemExit("no MemoryError")
            got = step()
            assert all((a == b).all() for a, b in zip(got, want)), "results changed"
        print("survived")
    """
    rc, out = _run_python(code)
    assert rc == 0 and "survived" in out, f"child exited with {rc}:\n{out[-3000:]}"
    assert out.count("MemoryError:") == 3
    assert "cannot allocate the work buffers of lstm with T=4096, B=1024, I=1, H=65536" in out
    assert "cannot allocate an output array of shape (" in out  # the reserve


# ------------------------------------------------------------------------ NaN, Inf, huge

@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_input_stays_in_its_sequence(kind, bad):
    """A NaN or Inf in one sequence's input: no crash, forward and backward; every other
    sequence's outputs and its input gradients stay finite and equal to the clean run."""
    rnnfast.manual_seed(2)
    m = LAYERS[kind](3, 5, num_layers=2, bidirectional=True, dtype=np.float64)
    x = np.random.default_rng(4).standard_normal((6, 3, 3))
    clean = rnnfast.tensor(x, requires_grad=True)
    y0 = m(clean)[0]
    y0.sum().backward()
    x[2, 1, 0] = bad
    xt = rnnfast.tensor(x, requires_grad=True)
    y = m(xt)[0]
    y.sum().backward()
    yv = y.numpy()
    for b in (0, 2):
        np.testing.assert_array_equal(yv[:, b], y0.numpy()[:, b])
        np.testing.assert_array_equal(xt.grad[:, b], clean.grad[:, b])
    if np.isnan(bad) or kind == "rnn_relu":
        assert not np.isfinite(yv[:, 1]).all()   # it did reach the sequence's outputs
    else:
        assert np.isfinite(yv).all()             # +-Inf saturates tanh and sigmoid
        assert not np.array_equal(yv[:, 1], y0.numpy()[:, 1])


@pytest.mark.parametrize("kind", list(LAYERS))
def test_nan_weights_and_states_propagate_without_crash(kind):
    m = LAYERS[kind](3, 4)
    x = np.ones((3, 2, 3), np.float32)
    h = np.full((1, 2, 4), np.nan, np.float32)
    y, _ = m(x, (h, h) if kind == "lstm" else h)
    assert np.isnan(y.numpy()).all()
    m.weight_hh_l0.data[:] = np.nan
    y = m(x)[0]
    y.sum().backward()
    assert np.isnan(y.numpy()[1:]).all()
    if kind != "rnn_relu":  # relu'(NaN) = 0, as in torch: its gradients stay finite
        assert np.isnan(m.weight_ih_l0.grad).all()


@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_magnitudes_give_finite_outputs_and_gradients(kind, dtype):
    """Inputs up to the dtype's largest finite value through the saturating cells: finite
    outputs within [-1, 1] (LSTM h: [-1, 1], c grows at most by 1 per step), finite gradients.
    One input feature, so W_ih x cannot overflow by summation."""
    big = np.finfo(dtype).max
    rng = np.random.default_rng(5)
    for scale in (1e30, big):
        rnnfast.manual_seed(3)
        m = LAYERS[kind](1, 6, num_layers=2, bidirectional=True, dtype=dtype)
        x = np.where(rng.standard_normal((7, 3, 1)) > 0, scale, -scale).astype(dtype)
        xt = rnnfast.tensor(x, requires_grad=True)
        y, st = m(xt)
        (y.sum() + (st[1] if kind == "lstm" else st).sum()).backward()
        assert np.isfinite(y.numpy()).all() and np.all(np.abs(y.numpy()) <= 1)
        if kind == "lstm":
            assert np.isfinite(st[1].numpy()).all() and np.all(np.abs(st[1].numpy()) <= 7)
        assert np.isfinite(xt.grad).all()
        for n, p in m.named_parameters():
            assert np.isfinite(p.grad).all(), (scale, n)


def test_functional_lengths_must_be_one_dimensional():
    """A scalar is not a lengths array: with B=1 it must not pass as [n] (NumPy's
    ascontiguousarray makes 0-d arrays 1-d), and the message gives the shape passed."""
    x = np.zeros((3, 1, 2), np.float32)
    w = np.zeros((4, 2), np.float32), np.zeros((4, 4), np.float32)
    _raises(ValueError, ["lengths", "(1,)", "()"], F.forward, "rnn_tanh", x, *w, lengths=2)
    _raises(ValueError, ["lengths", "(1,)", "()"], F.forward, "rnn_tanh", x, *w,
            lengths=np.int64(2))


def test_functional_scalar_for_a_one_element_array_is_rejected():
    """The same for every array argument: a 0-d bias for a one-unit RNN is not a (1,) bias."""
    x = np.zeros((3, 1, 2), np.float32)
    w_ih, w_hh = np.zeros((1, 2), np.float32), np.zeros((1, 1), np.float32)
    b = np.float32(0.5)
    _raises(ValueError, ["b_ih", "(1,)", "()"], F.forward, "rnn_tanh", x, w_ih, w_hh, b, b)
