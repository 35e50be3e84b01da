"""IndRNN: the independently recurrent layer (Li et al., 2018), on the C++ kernels.

The layers share RNNBase's machinery (nn/rnn.py): stacking, both directions as one node,
dropout between layers, ``hx`` and ``lengths``; only the parameters differ. What it does not
do: a cell (one-step) module, batch normalization between layers (the paper's deep IndRNNs
add it as separate modules), residual connections.
"""

from __future__ import annotations

import numpy as np

from .. import _device
from ..tensor import default_generator
from .module import Parameter
from .rnn import RNNBase

__all__ = ["IndRNN"]


class IndRNN(RNNBase):
    """Multi-layer independently recurrent neural network (IndRNN) over an input sequence.

    For each element of the input sequence, each layer computes::

        h_t = act(W_ih x_t + b_ih + u * h_(t-1))

    where ``*`` is the elementwise product: each unit has one recurrent weight (u, the layer's
    ``weight_hh``, a vector of hidden_size values) and sees only its own previous state, so the
    units of a layer are independent of each other in time and mix only through the next
    layer. act is relu (the paper's) or tanh. Li, Li, Cook, Zhu and Gao, "Independently
    Recurrent Neural Network (IndRNN): Building A Longer and Deeper RNN", CVPR 2018.

    Each (layer, direction) is one C++ call over the whole sequence (one GEMM for the input
    projection of every step, then an elementwise time loop) and one autograd node.

    Args:
        input_size (int): the number of features H_in of the input x.
        hidden_size (int): the number of units H.
        num_layers (int, optional): the number of stacked layers. Default: 1.
        nonlinearity (str, optional): ``'relu'`` or ``'tanh'``. Default: ``'relu'``.
        bias (bool, optional): if ``False``, the layers have no ``bias_ih``. Default: ``True``.
        batch_first (bool, optional): input and output are (N, L, *) instead of (L, N, *).
            Default: ``False``.
        dropout (float, optional): inverted dropout on the output of every layer but the last,
            in training mode; in [0, 1]. Default: 0.
        bidirectional (bool, optional): each layer runs forward and backward in time and
            concatenates the two outputs (D = 2). Default: ``False``.
        dtype (optional): the parameters' dtype, float32 or float64. Default: ``np.float32``.
        device (optional): ``None`` or the CPU. Default: ``None``.
        recurrent_dropout (float, optional): variational dropout on h_(t-1) before u, one mask
            per sequence, layer and direction, constant in time, in training mode; in [0, 1).
            Default: 0.
        recurrent_max_abs (float, optional): the paper's constraint |u| <= recurrent_max_abs
            (for relu, a bound such as 2**(1/T) keeps the gradient over T steps from
            exploding): before each forward in training mode every ``weight_hh`` is clipped to
            [-recurrent_max_abs, recurrent_max_abs] in place. ``None``: no constraint.
            Default: ``None``.
        zoneout (float, optional): zoneout (Krueger et al. 2016, as :class:`RNN`'s) on h,
            inside the kernel: in training mode h_t = d_t * h_(t-1) + (1 - d_t) * h~_t, h~_t
            the new state above, with keep masks d_t ~ Bernoulli(p) per step, sequence, unit,
            layer and direction; in eval mode d_t = p (the expectation); in [0, 1).
            Default: 0.

    Inputs: input, hx=None, lengths=None
        * **input**: (L, N, H_in), (N, L, H_in) with ``batch_first=True``, (L, H_in)
          unbatched, or a PackedSequence.
        * **hx**: the initial state, (D * num_layers, N, H), or (D * num_layers, H)
          unbatched. Default: zeros.
        * **lengths**: ``None`` or N integers in [1, L], with packed-sequence semantics: the
          output past a sequence's length is zero, its final state is the one at its last
          valid step, and the reverse direction starts there.

    Outputs: output, h_n
        * **output**: (L, N, D * H) (batch_first: (N, L, D * H)): the last layer's h_t.
        * **h_n**: (D * num_layers, N, H): the final state of each layer and direction.

    Attributes:
        weight_ih_l[k]: the input weights W_ih of layer k, (hidden_size, input_size) for
            k = 0, else (hidden_size, D * hidden_size); U(-1/sqrt(H), 1/sqrt(H)), as torch's RNN.
        weight_hh_l[k]: the recurrent weights u of layer k, (hidden_size,); U(0, 1), the
            paper's initialization for relu.
        bias_ih_l[k]: the bias b_ih of layer k, (hidden_size,); U(-1/sqrt(H), 1/sqrt(H)).
        The reverse direction's parameters carry the suffix ``_reverse``. Values are drawn
        from ``rnnfast.manual_seed``'s generator.

    Example::

        >>> rnn = rnnfast.nn.IndRNN(10, 20, num_layers=2)
        >>> output, hn = rnn(rnnfast.randn(5, 3, 10))
        >>> tuple(output.shape), tuple(hn.shape)
        ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="relu", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, dtype=np.float32,
                 device=None, recurrent_dropout=0.0, recurrent_max_abs=None, zoneout=0.0):
        _device.check_device(device)
        if nonlinearity not in ("relu", "tanh"):
            raise ValueError(f"nonlinearity: expected 'relu' or 'tanh', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.recurrent_max_abs = _check_max_abs(recurrent_max_abs)
        super().__init__("indrnn_" + nonlinearity, input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, 0, recurrent_dropout, 0.0, dtype,
                         zoneout)

    def _layer_parameters(self, in_k, init, dtype):
        H = self.hidden_size
        params = [("weight_ih", init(H, in_k)),
                  ("weight_hh", Parameter(default_generator().uniform(0.0, 1.0, size=H)
                                          .astype(dtype)))]
        if self.bias:
            params.append(("bias_ih", init(H)))
        return params

    def forward(self, input, hx=None, lengths=None):
        """Run the layers over ``input``; returns ``(output, h_n)`` (see the class)."""
        if self.training and self.recurrent_max_abs is not None:
            m = self.recurrent_max_abs
            for name, p in self._parameters.items():
                if name.startswith("weight_hh"):
                    np.clip(p.data, -m, m, out=p.data)
        return super().forward(input, hx, lengths)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.nonlinearity != "relu":
            s += f", nonlinearity={self.nonlinearity!r}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.recurrent_dropout:
            s += f", recurrent_dropout={self.recurrent_dropout}"
        if self.recurrent_max_abs is not None:
            s += f", recurrent_max_abs={self.recurrent_max_abs}"
        if self.zoneout:
            s += f", zoneout={self.zoneout}"
        return s


def _check_max_abs(m):
    """recurrent_max_abs: None or a float > 0 (TypeError / ValueError naming it)."""
    if m is None:
        return None
    if isinstance(m, bool) or not isinstance(m, (int, float, np.floating, np.integer)):
        raise TypeError(f"recurrent_max_abs: expected None or a float > 0, got "
                        f"{type(m).__name__}")
    m = float(m)
    if not m > 0 or m == float("inf"):
        raise ValueError(f"recurrent_max_abs: expected None or a finite float > 0, got {m}")
    return m

