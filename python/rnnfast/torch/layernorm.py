"""LayerNormLSTM and LayerNormGRU as torch.nn modules running rnnfast's kernels: the
layer-normalized cells "layernorm_lstm" and "layernorm_gru" (haste's formulation), rnnfast.nn's
modules of the same names as torch twins.

torch.nn has no such modules, so they subclass torch.nn.Module only (elementwise.py's
_ElementwiseRNN: rnnfast.nn's constructor, parameter names, shapes and initialization, so a
``state_dict`` moves between the two), with rnnfast.torch.LSTM's / GRU's call and forward
(_RNNMixin): one ``torch.ops.rnnfast.rnn_layer`` per layer, both directions in one call, the
gains and shift passed as the cell's extras (e0, e0_r, ...), inter-layer dropout, recurrent
dropout, ``hx``, ``lengths=`` and PackedSequence inputs. torch.compile(fullgraph=True) and
torch.export keep them in the graph as that custom op.

Not supported, and refused with an exception saying so: tensors off the CPU, dtypes other
than float32 and float64, double backward, and ONNX export (no standard ONNX operator computes
these cells).
"""

from __future__ import annotations

from .elementwise import _ElementwiseRNN
from .modules import _FORWARD_DOC, _RNNMixin

__all__ = ["LayerNormLSTM", "LayerNormGRU"]


_ARGS = """
    where LN(v) = (v - mean(v)) / sqrt(var(v) + 1e-5) over one sequence's row ({rows}; var the
    biased variance) and ``*`` the elementwise product. Each layer's both directions are one
    kernel call, forward and backward.

    Args:
        input_size: the number of features H_in of the input x.
        hidden_size: the number of units H.
        num_layers: the number of stacked layers; layer k > 0 reads the output of layer k-1.
            Default: 1.
        bias: if ``False``, the layers have no ``bias_ih`` and ``bias_hh`` (the gains{shift}
            stay). Default: ``True``.
        batch_first: the input and output are (N, L, *) instead of (L, N, *); the states stay
            (D * num_layers, N, H). Default: ``False``.
        dropout: inverted dropout on the output of every layer but the last, in training
            mode; in [0, 1]. Default: 0.
        bidirectional: each layer runs forward and backward in time and concatenates the two
            outputs (D = 2). Default: ``False``.
        device, dtype: the parameters' (torch's factory arguments); the kernels run float32
            and float64 on the CPU. Default: the CPU and torch's default dtype.
        recurrent_dropout: the probability of dropping each unit of h_(t-1) before W_hh in
            training, one mask per sequence, layer and direction (variational dropout), as
            rnnfast.torch.{torch_name}'s; in [0, 1). Default: 0.

    Parameters per layer k (``_reverse`` for the reverse direction), rnnfast.nn.{name}'s:
    weight_ih_l{{k}} ({G}*hidden_size, input_size for k = 0, else D * hidden_size),
    weight_hh_l{{k}} ({G}*hidden_size, hidden_size), bias_ih_l{{k}}, bias_hh_l{{k}}
    ({G}*hidden_size,), all U(-1/sqrt(H), 1/sqrt(H)) as torch's {torch_name}; gamma_x_l{{k}},
    gamma_h_l{{k}} ({G}*hidden_size,), the gains of the normalized input and recurrent
    products, ones{gains}.

    The call ``m(input, hx=None, *, lengths=None)`` is rnnfast.torch.{torch_name}'s:
    ``input`` (L, H_in), (L, N, H_in), (N, L, H_in) with batch_first, or a PackedSequence
    (sorted or not; the output is one too); ``hx`` {hx} or None for zeros; ``lengths`` each
    sequence's length in a padded batch (outputs past it are zero, the final state is the one
    at its last step, the reverse direction starts there). Returns ``{ret}``: {shapes}.

    Not supported: tensors off the CPU (ValueError), dtypes other than float32 and float64
    (TypeError), double backward and ONNX export (NotImplementedError).
"""


class LayerNormLSTM(_ElementwiseRNN):
    __doc__ = """Multi-layer layer-normalized LSTM (haste's LayerNormLSTM) on rnnfast's
    kernels, rnnfast.nn.LayerNormLSTM's torch twin.

    Each layer computes, for each element of the input sequence, in torch's gate order
    (i, f, g, o) along the rows of the weights::

        a_t = LN(W_ih x_t) * gamma_x + LN(W_hh h_(t-1)) * gamma_h + b_ih + b_hh
        i_t, f_t, o_t = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g_t = tanh(a_g)
        c_t = f_t * c_(t-1) + i_t * g_t
        h_t = o_t * tanh(LN(c_t) * gamma_c + beta_c)
""" + _ARGS.format(
        rows="the 4 * hidden_size entries of each product, the hidden_size entries of c_t",
        shift=" and shift", torch_name="LSTM", name="LayerNormLSTM", G=4,
        gains="; gamma_c_l{k}, beta_c_l{k} (hidden_size,), the gain and shift of the "
              "normalized cell state, ones and zeros",
        hx="a tuple (h_0, c_0), each (D * num_layers, N, H) ((D * num_layers, H) unbatched),",
        ret="(output, (h_n, c_n))",
        shapes="output (L, N, D * H) (batch_first: (N, L, D * H)), h_n and c_n "
               "(D * num_layers, N, H)")

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None,
                 recurrent_dropout=0.0):
        super().__init__("layernorm_lstm", input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, device, dtype)
        self._set_recurrent_dropout(recurrent_dropout)

    def _names(self):
        w = ("weight_ih", "weight_hh")
        return w + ("bias_ih", "bias_hh") if self.bias else w

    _slots = _RNNMixin._slots  # w_ih, w_hh, b_ih, b_hh as torch's (proj_size is 0)

    def forward(self, input, hx=None, *, lengths=None):
        return super().forward(input, hx, lengths=lengths)

    forward.__doc__ = _FORWARD_DOC.format(
        name="LSTM", hx="a tuple (h_0 (D*num_layers, N, H), c_0 (D*num_layers, N, H))",
        ret="(output, (h_n, c_n))").replace("torch.nn.LSTM", "rnnfast.torch.LSTM").replace(
        "double backward.", "double backward and\n            under torch.onnx.export.")


class LayerNormGRU(_ElementwiseRNN):
    __doc__ = """Multi-layer layer-normalized GRU on rnnfast's kernels, rnnfast.nn.LayerNormGRU's
    torch twin: torch's GRU (reset gate after the recurrent product) with its two
    pre-activations normalized as haste's LayerNormGRU does.

    Each layer computes, for each element of the input sequence, in torch's gate order
    (r, z, n) along the rows of the weights::

        u_t = LN(W_ih x_t) * gamma_x + b_ih
        v_t = LN(W_hh h_(t-1)) * gamma_h + b_hh
        r_t = sigmoid(u_r + v_r);  z_t = sigmoid(u_z + v_z)
        n_t = tanh(u_n + r_t * v_n)
        h_t = (1 - z_t) * n_t + z_t * h_(t-1)
""" + _ARGS.format(
        rows="the 3 * hidden_size entries of each product", shift="", torch_name="GRU",
        name="LayerNormGRU", G=3, gains="",
        hx="(D * num_layers, N, H) ((D * num_layers, H) unbatched)",
        ret="(output, h_n)",
        shapes="output (L, N, D * H) (batch_first: (N, L, D * H)), h_n (D * num_layers, N, H)")

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None,
                 recurrent_dropout=0.0):
        super().__init__("layernorm_gru", input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, device, dtype)
        self._set_recurrent_dropout(recurrent_dropout)

    _names = LayerNormLSTM._names
    _slots = _RNNMixin._slots

    def forward(self, input, hx=None, *, lengths=None):
        return super().forward(input, hx, lengths=lengths)

    forward.__doc__ = _FORWARD_DOC.format(
        name="GRU", hx="(D*num_layers, N, H)", ret="(output, h_n)").replace(
        "torch.nn.GRU", "rnnfast.torch.GRU").replace(
        "double backward.", "double backward and\n            under torch.onnx.export.")
