"""Type stub of rnnfast._core, the pybind11 module of the C++ kernels (cpp/python/module.cc,
cpp/python/ops_bind.cc). Private: users import rnnfast, not rnnfast._core.

Names and argument names are the bindings'; tests/test_stub.py checks them against the built
module. Arrays are C-contiguous NumPy arrays of one float dtype per call (float32 or float64,
the dtype of the call's first weight or input, as each docstring says); index arrays are
int64. ``cell`` is a ``Cell`` (an int is refused). Bad arguments raise
ValueError or TypeError naming the argument; an index out of range raises IndexError.
"""

from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray

_Array = NDArray[np.float32] | NDArray[np.float64]
_Index = NDArray[np.int64]
_Reduction = Literal["mean", "sum", "none"]
# The per-call arguments of forward_pair / backward_pair: dicts of forward's and backward's
# arguments after ``cell``, by name (absent optional ones take forward's defaults).
_ForwardArgs = dict[str, object]
_BackwardArgs = dict[str, object]
# forward -> (y, h_n, c_n or None, reserve or None)
_ForwardResult = tuple[_Array, _Array, _Array | None, _Array | None]
# backward -> (dx, dh0, dc0 or None, dw_ih, dw_hh or None (no w_hh given: the scan cells),
# db_ih or None, db_hh or None, dw_hr or None, the gradients of the cell's extra parameters)
_BackwardResult = tuple[_Array, _Array, _Array | None, _Array, _Array | None, _Array | None,
                        _Array | None, _Array | None, tuple[_Array, ...]]

# ---- recurrent layers (module.cc) ------------------------------------------------------------

class Cell:
    """The cell kinds (rnnfast::Cell); rnnfast._cells names them for the Python side."""
    RNN_TANH = 0
    RNN_RELU = 1
    LSTM = 2
    GRU = 3
    GRU_RESET_BEFORE = 4
    LSTM_PEEPHOLE = 5
    INDRNN_RELU = 6
    INDRNN_TANH = 7
    MINGRU = 8
    MINLSTM = 9
    LAYERNORM_LSTM = 10
    LAYERNORM_GRU = 11

def num_gates(cell: Cell) -> int: ...

def cell_name(cell: Cell) -> str: ...

def has_cell_state(cell: Cell) -> bool: ...

def extra_sizes(cell: Cell, H: int) -> list[int]:
    """The lengths of the cell's extra parameters for H units"""

def forward(cell: Cell, x: _Array, w_ih: _Array, w_hh: _Array | None, b_ih: _Array | None = None,
            b_hh: _Array | None = None, w_hr: _Array | None = None, h0: _Array | None = None,
            c0: _Array | None = None, lengths: _Index | None = None,
            h_mask: _Array | None = None, reverse: bool = False, training: bool = True,
            batch_first: bool = False,
            extras: Sequence[_Array] | None = None,
            zoneout_h: _Array | float | None = None,
            zoneout_c: _Array | float | None = None) -> _ForwardResult:
    """One layer, one direction -> (y, h_n, c_n or None, reserve or None)"""

def backward(cell: Cell, reserve: _Array, x: _Array, w_ih: _Array, w_hh: _Array | None,
             b_ih: _Array | None = None, b_hh: _Array | None = None, w_hr: _Array | None = None,
             lengths: _Index | None = None, h_mask: _Array | None = None,
             reverse: bool = False, dy: _Array | None = None, dh_n: _Array | None = None,
             dc_n: _Array | None = None, y: _Array | None = None, batch_first: bool = False,
             extras: Sequence[_Array] | None = None,
             zoneout_h: _Array | float | None = None,
             zoneout_c: _Array | float | None = None) -> _BackwardResult:
    """BPTT -> (dx, dh0, dc0 or None, dw_ih, dw_hh, db_ih, db_hh, dw_hr, dextras)"""

def forward_pair(cell: Cell, a: _ForwardArgs,
                 b: _ForwardArgs) -> tuple[_ForwardResult, _ForwardResult]:
    """Two forward calls at once, dicts of forward's arguments -> (result_a, result_b)"""

def backward_pair(cell: Cell, a: _BackwardArgs,
                  b: _BackwardArgs) -> tuple[_BackwardResult, _BackwardResult]:
    """Two backward calls at once, dicts of backward's arguments -> (result_a, result_b)"""

def matmul(a: _Array, b: _Array, out: _Array) -> None:
    """out = a @ b with rnnfast's own GEMM (float32 or float64, C-contiguous, 2-D)"""

# ---- output buffer cache, threads, instruction sets, version (module.cc) --------------------

def cached_bytes() -> int:
    """Bytes held by the cache of freed output buffers (at most 1 GiB)"""

def empty_cache() -> None:
    """Free the cached buffers of freed outputs"""

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def _reset_thread_backoff() -> None:
    """Forget the contention seen so far (the benchmark suite, after other pools went idle)"""

def has_openmp() -> bool: ...
def version() -> str: ...
def isa() -> str:
    """The instruction set of the GEMM micro-kernels in use"""

def available_isas() -> list[str]:
    """Usable instruction sets, newest first"""

def set_isa(name: str) -> None:
    """Switch the GEMM micro-kernels (ValueError if the CPU lacks that instruction set)"""

# ---- Linear, Embedding (ops_bind.cc) ---------------------------------------------------------

def linear_forward(input: _Array, weight: _Array, bias: _Array | None) -> _Array:
    """input [M,K] @ weight[N,K]^T + bias[N] -> [M,N]"""

def linear_backward(dy: _Array, input: _Array, weight: _Array, need_dx: bool, need_dw: bool,
                    need_db: bool) -> tuple[_Array | None, _Array | None, _Array | None]:
    """-> (dx [M,K] or None, dw [N,K] or None, db [N] or None)"""

def embedding_forward(indices: _Index, weight: _Array) -> _Array:
    """weight[indices] -> [n, D] (indices: int64 [n])"""

def embedding_backward(dy: _Array, indices: _Index, num_embeddings: int,
                       padding_idx: int) -> _Array:
    """The weight's gradient [V, D]: dy's rows added at their indices (padding_idx -1: none)"""

# ---- losses (ops_bind.cc) --------------------------------------------------------------------

def cross_entropy_forward(input: _Array, target: _Index, weight: _Array | None,
                          ignore_index: int, label_smoothing: float,
                          reduction: _Reduction) -> tuple[_Array, _Array]:
    """Class-index cross entropy of logits [R,C,S], targets int64 [R,S] -> (loss, lse [R*S])"""

def cross_entropy_backward(dloss: _Array, lse: _Array, input: _Array, target: _Index,
                           weight: _Array | None, ignore_index: int, label_smoothing: float,
                           reduction: _Reduction) -> _Array:
    """-> dlogits [R,C,S]"""

def cross_entropy_prob_forward(input: _Array, target: _Array, weight: _Array | None,
                               label_smoothing: float,
                               reduction: _Reduction) -> tuple[_Array, _Array]:
    """Cross entropy with probability targets [R,C,S] -> (loss, lse [R*S])"""

def cross_entropy_prob_backward(dloss: _Array, lse: _Array, input: _Array, target: _Array,
                                weight: _Array | None, label_smoothing: float,
                                reduction: _Reduction, need_dinput: bool,
                                need_dtarget: bool) -> tuple[_Array | None, _Array | None]:
    """-> (dinput or None, dtarget or None)"""

def bce_with_logits_forward(input: _Array, target: _Array, weight: _Array | None,
                            pos_weight: _Array | None, reduction: _Reduction) -> _Array:
    """BCE of sigmoid(input) [n]; weight / pos_weight [p], p dividing n, element i using i % p"""

def bce_with_logits_backward(dloss: _Array, input: _Array, target: _Array,
                             weight: _Array | None, pos_weight: _Array | None,
                             reduction: _Reduction, need_dinput: bool,
                             need_dtarget: bool) -> tuple[_Array | None, _Array | None]:
    """-> (dinput or None, dtarget or None)"""

def mse_forward(input: _Array, target: _Array, reduction: _Reduction) -> _Array:
    """Squared error of [n] arrays"""

def mse_backward(dloss: _Array, input: _Array, target: _Array, reduction: _Reduction,
                 need_dinput: bool, need_dtarget: bool) -> tuple[_Array | None, _Array | None]:
    """-> (dinput or None, dtarget or None)"""

# ---- optimizer steps over a parameter group, in place (ops_bind.cc) --------------------------
# Lists (or tuples) hold one array per parameter, each the size of params[i]; an optional list
# may be None or hold None entries. ``first`` and ``steps`` hold one int per parameter.

def sgd_step(params: Sequence[_Array], grads: Sequence[_Array],
             momentum_buffers: Sequence[_Array | None] | None, first: Sequence[int], lr: float,
             momentum: float, dampening: float, weight_decay: float, nesterov: bool,
             maximize: bool) -> None:
    """One torch.optim.SGD step over a group, in place"""

def adam_step(params: Sequence[_Array], grads: Sequence[_Array], exp_avgs: Sequence[_Array],
              exp_avg_sqs: Sequence[_Array],
              max_exp_avg_sqs: Sequence[_Array | None] | None, steps: Sequence[int],
              lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
              amsgrad: bool, maximize: bool, decoupled_weight_decay: bool) -> None:
    """One torch.optim.Adam / AdamW step over a group, in place"""

def rmsprop_step(params: Sequence[_Array], grads: Sequence[_Array],
                 square_avgs: Sequence[_Array],
                 momentum_buffers: Sequence[_Array | None] | None,
                 grad_avgs: Sequence[_Array | None] | None, lr: float, alpha: float,
                 eps: float, weight_decay: float, momentum: float, centered: bool,
                 maximize: bool) -> None:
    """One torch.optim.RMSprop step over a group, in place"""

def adagrad_step(params: Sequence[_Array], grads: Sequence[_Array], sums: Sequence[_Array],
                 steps: Sequence[int], lr: float, lr_decay: float, weight_decay: float,
                 eps: float, maximize: bool) -> None:
    """One torch.optim.Adagrad step over a group, in place"""
