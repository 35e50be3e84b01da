"""The recurrent cell kinds, in one place on the Python side.

Each kind: its name, its id in the C++ kernels (``rnnfast::Cell`` in
cpp/include/rnnfast/rnnfast.h, which says the same in C++), its gates in the order of the
weights' row blocks (PyTorch's order) and whether it carries a cell state c. The modules,
``rnnfast.functional``, the NumPy reference, rnnfast.torch, the benchmark and the tests read
these instead of restating them; tests/test_cells.py checks them against the kernels. A new
cell kind is one more entry here and one in the C++ enum (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

__all__ = ["CellKind", "CELLS", "MODES", "GATES", "CELL_ID", "EXTRA_ARGS", "arg_name",
           "cell_kind", "check_zoneout"]


class CellKind(NamedTuple):
    name: str                # "rnn_tanh", "rnn_relu", "lstm", "gru", ... (CELLS below)
    id: int                  # rnnfast::Cell
    gates: tuple[str, ...]   # gate names, in the order of W_ih's and W_hh's row blocks
    has_c: bool              # a cell state c beside h (h_0/c_0, h_n/c_n)
    # The cell's parameters beyond w_ih, w_hh, b_ih, b_hh (and w_hr): (name, blocks), a vector
    # of blocks*H values; in rnnfast::Weights::extra in this order. An nn module's parameter
    # is f"{name}_l{k}" (e.g. weight_p_l0, gamma_x_l0); functional and the reference take the
    # name with "weight_" shortened to "w_" (w_p, gamma_x): arg_name below.
    extras: tuple[tuple[str, int], ...] = ()
    # How a step reaches h_{t-1} (CellTraits::kRecurrence in cpp/src/cells/traits.h):
    # "product", through W_hh h (w_hh (G*H, H_out), biases b_ih and b_hh); "diagonal", through
    # u * h, one weight per unit (w_hh = u of shape (H,), one bias b_ih, no b_hh); "scan", not at
    # all: the gates read x only (no w_hh, one bias b_ih, no recurrent dropout), h_t = a_t *
    # h_{t-1} + b_t.
    recurrence: str = "product"

    @property
    def num_gates(self) -> int:
        return len(self.gates)


CELLS = {k.name: k for k in (
    CellKind("rnn_tanh", 0, ("h",), False),
    CellKind("rnn_relu", 1, ("h",), False),
    CellKind("lstm", 2, ("i", "f", "g", "o"), True),
    CellKind("gru", 3, ("r", "z", "n"), False),
    # GRU with the reset gate applied before the recurrent product (Keras' reset_after=False,
    # ONNX's linear_before_reset=0): n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)
    CellKind("gru_reset_before", 4, ("r", "z", "n"), False),
    # LSTM with peepholes (ONNX's P): i, f see c_{t-1} and o sees c_t through the per-unit
    # weights weight_p = (p_i, p_f, p_o), 3*H values
    CellKind("lstm_peephole", 5, ("i", "f", "g", "o"), True, (("weight_p", 3),)),
    # IndRNN (Li et al. 2018): h_t = relu or tanh(W_ih x + b_ih + u * h_{t-1}), u = w_hh (H,)
    CellKind("indrnn_relu", 6, ("h",), False, (), "diagonal"),
    CellKind("indrnn_tanh", 7, ("h",), False, (), "diagonal"),
    # minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"), gates from x only:
    # h = (1 - z) h_prev + z h~; h = f/(f+i) h_prev + i/(f+i) h~ (h~ = W_h x + b_h, linear)
    CellKind("mingru", 8, ("z", "h"), False, recurrence="scan"),
    CellKind("minlstm", 9, ("f", "i", "h"), False, recurrence="scan"),
    # Layer-normalized LSTM (haste's LayerNormLSTM): LN(W_ih x) * gamma_x + LN(W_hh h') *
    # gamma_h + b_ih + b_hh as the gates' pre-activations (LN over the row's 4*H entries) and
    # h = o * tanh(LN(c) * gamma_c + beta_c); no projection
    CellKind("layernorm_lstm", 10, ("i", "f", "g", "o"), True,
             (("gamma_x", 4), ("gamma_h", 4), ("gamma_c", 1), ("beta_c", 1))),
    # Layer-normalized GRU (reset after): u = LN(W_ih x) * gamma_x + b_ih and
    # v = LN(W_hh h') * gamma_h + b_hh (LN over the row's 3*H entries) in place of the GRU's
    # two pre-activations: r = sigmoid(u_r + v_r), z = sigmoid(u_z + v_z),
    # n = tanh(u_n + r * v_n)
    CellKind("layernorm_gru", 11, ("r", "z", "n"), False, (("gamma_x", 3), ("gamma_h", 3))),
)}
def arg_name(name: str) -> str:
    """functional's and the reference's keyword for the extra parameter ``name``."""
    return "w_" + name[len("weight_"):] if name.startswith("weight_") else name


MODES = tuple(CELLS)                                   # the names, in id order
GATES = {k.name: k.num_gates for k in CELLS.values()}  # name -> G
CELL_ID = {k.name: k.id for k in CELLS.values()}       # name -> rnnfast::Cell
# Every cell's extra parameters' keywords, in order of first appearance (w_p, gamma_x, ...).
EXTRA_ARGS = tuple(dict.fromkeys(arg_name(n) for k in CELLS.values() for n, _ in k.extras))


def cell_kind(mode) -> CellKind:
    """The CellKind named ``mode``; ValueError naming ``mode`` for anything else."""
    try:
        return CELLS[mode]
    except (KeyError, TypeError):
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}") from None


def check_zoneout(kind: CellKind, zoneout_h, zoneout_c) -> bool:
    """Checks zoneout's arguments against the cell (functional, the reference, the modules):
    each of ``zoneout_h``, ``zoneout_c`` None, a keep probability in [0, 1) (a Python or NumPy
    real; the constant mask of inference) or an array of keep masks (its shape is the caller's
    check). Zoneout is for every cell but the scan cells (mingru, minlstm), ``zoneout_c`` for
    those with a cell state. Returns whether zoneout is on; ValueError or TypeError naming the
    argument otherwise."""
    on = False
    for name, z in (("zoneout_h", zoneout_h), ("zoneout_c", zoneout_c)):
        if z is None:
            continue
        if hasattr(z, "shape") and getattr(z, "ndim", 0) > 0:
            mine, what = True, "an array"
        else:
            if isinstance(z, bool) or not (isinstance(z, numbers.Real) or hasattr(z, "shape")):
                raise TypeError(f"{name}: expected None, a probability or an array of keep "
                                f"masks, got {type(z).__name__}")
            p = float(z)
            if not 0.0 <= p < 1.0:  # also rejects NaN
                raise ValueError(f"{name}: expected a zoneout probability in [0, 1), got {p}")
            mine, what = p != 0.0, p
        if mine and kind.recurrence == "scan":
            raise ValueError(f"{name}: expected None for mode {kind.name!r} (zoneout is for the "
                             f"cells that read h_(t-1) through a recurrent weight, not the scan "
                             f"cells), got {what}")
        if mine and name == "zoneout_c" and not kind.has_c:
            raise ValueError(f"zoneout_c: expected None for mode {kind.name!r} (it has no cell "
                             f"state), got {what}")
        on = on or mine
    return on
