"""rnnfast._cells, the one Python table of the cell kinds, against the C++ kernels and the
NumPy reference: each kind's id selects that cell in rnnfast._core (its outputs are the
reference's for that name), its gate count is the row blocks the kernels accept in W_ih and
W_hh, and it carries c exactly when the kernels return one."""

import numpy as np
import pytest

import rnnfast
from rnnfast import _cells, _core, functional, reference
from rnnfast.bench import suite

from _problems import TOL


@pytest.mark.parametrize("name", list(_cells.CELLS))
def test_each_kind_is_the_kernels_cell_of_that_id(name):
    kind = _cells.CELLS[name]
    T, B, I, H = 3, 2, 4, 5
    rng = np.random.default_rng(0)
    G = kind.num_gates
    # a diagonal recurrence (IndRNN): w_hh is one weight per unit, (H,), and b_hh is absent;
    # a scan cell (minGRU, minLSTM): no recurrent weight, one bias
    diagonal = kind.recurrence == "diagonal"
    scan = kind.recurrence == "scan"

    def weights(g):
        shapes = ((g * H, I), (H,) if diagonal else (g * H, H), (g * H,), (g * H,))
        w = [0.3 * rng.standard_normal(s) for s in shapes]
        if diagonal:
            w[3] = None
        if scan:
            w[1] = w[3] = None
        return w

    w = weights(G)
    x = rng.standard_normal((T, B, I))
    # the kind's own parameters (the peepholes), by the kernels' count and sizes for H
    sizes = _core.extra_sizes(_core.Cell(kind.id), H)
    assert [n * H for _, n in kind.extras] == sizes
    extras = tuple(0.3 * rng.standard_normal(n) for n in sizes)
    y, h_n, c_n, _ = _core.forward(_core.Cell(kind.id), x, *w, None, None, None, None, None,
                                   False, False, False, extras or None)
    y_ref, h_ref, c_ref, _ = reference.forward(
        name, x, *w, **{_cells.arg_name(n): e for (n, _), e in zip(kind.extras, extras)})
    np.testing.assert_allclose(y, y_ref, **TOL[np.float64])
    np.testing.assert_allclose(h_n, h_ref, **TOL[np.float64])
    assert (c_n is not None) == kind.has_c
    if kind.has_c:
        np.testing.assert_allclose(c_n, c_ref, **TOL[np.float64])
    # one gate block more or less is refused by the kernels' own check
    for g in (G - 1, G + 1):
        if g < 1:
            continue
        bad = weights(g)
        with pytest.raises(ValueError):
            _core.forward(_core.Cell(kind.id), x, *bad, None, None, None, None, None, False,
                          False, False, extras or None)
    # the enum's names and the kernels' are the table's
    assert _core.Cell(kind.id).name.lower() == name == _core.cell_name(_core.Cell(kind.id))
    assert _core.num_gates(_core.Cell(kind.id)) == G
    assert _core.has_cell_state(_core.Cell(kind.id)) == kind.has_c


def test_the_table_is_what_the_library_names():
    assert _cells.MODES == functional.MODES == reference.MODES
    # one id each, and exactly the kernels' enum values
    assert sorted(_cells.CELL_ID.values()) == sorted(
        int(v) for v in _core.Cell.__members__.values())
    assert {k: suite.GATES[k] for k in ("lstm", "gru", "rnn_tanh")} == {
        k: _cells.GATES[k] for k in ("lstm", "gru", "rnn_tanh")}
    # the modules' weights have the table's gate blocks
    for name, cls in (("lstm", rnnfast.nn.LSTM), ("gru", rnnfast.nn.GRU),
                      ("rnn_tanh", rnnfast.nn.RNN)):
        assert cls(3, 5).weight_ih_l0.shape == (_cells.GATES[name] * 5, 3)
    with pytest.raises(ValueError, match="mode: expected one of"):
        _cells.cell_kind("lstmx")
    with pytest.raises(ValueError, match="mode: expected one of"):
        functional.forward("peephole", np.zeros((1, 1, 1)), np.zeros((4, 1)), np.zeros((4, 1)),
                           None, None)
