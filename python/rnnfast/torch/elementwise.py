"""IndRNN, MinGRU and MinLSTM as torch.nn modules running rnnfast's kernels: the layers whose
recurrence is elementwise (IndRNN's u * h_(t-1), one weight per unit; minGRU's and minLSTM's
linear scan h_t = a_t * h_(t-1) + b_t, gates from x_t only).

torch.nn has no such modules, so they subclass torch.nn.Module only, with rnnfast.nn's
constructors, parameter names, shapes and initialization (a ``state_dict`` moves between the
two, values as tensors or NumPy arrays) and rnnfast.torch.RNN's call and forward (_RNNMixin):
one ``torch.ops.rnnfast.rnn_layer`` per layer, both directions in one call, inter-layer
dropout, ``hx``, ``lengths=`` and PackedSequence inputs. torch.compile(fullgraph=True) and
torch.export keep them in the graph as that custom op; no ``allow_rnn`` is needed (Dynamo
special-cases only torch.nn.RNNBase).

Not supported, and refused with an exception saying so: tensors off the CPU, dtypes other
than float32 and float64, double backward, and ONNX export (no standard ONNX operator computes
these cells).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import nn

from rnnfast._cells import CELLS as _CELLS, GATES as _GATES
from rnnfast.nn.indrnn import _check_max_abs
from rnnfast.nn.module import _check_size
from rnnfast.nn.rnn import _check_prob

from . import _onnx
from .modules import _RNNMixin

__all__ = ["IndRNN", "MinGRU", "MinLSTM"]


def _onnx_exporting():
    """_onnx.exporting(), also under the dynamo-based ONNX exporter's strict capture, where
    Dynamo takes torch.onnx.is_in_onnx_export() for False: its flag read as a module global
    (a constant that Dynamo guards on), so that these modules refuse that capture too rather
    than leave a custom op that ONNX has no translation for."""
    if _onnx.exporting():
        return True
    try:
        from torch.onnx._internal.exporter import _flags
    except ImportError:  # another torch layout: the public check only
        return False
    return bool(_flags._is_onnx_exporting)


_FORWARD_DOC = """Run the layers over ``input``, as rnnfast.torch.RNN's forward.

        Args:
            input: (L, H_in), (L, N, H_in), or (N, L, H_in) with batch_first; or a
                torch.nn.utils.rnn.PackedSequence (sorted or not), then the output is one too.
            hx: (D*num_layers, N, H) ((D*num_layers, H) unbatched), or None for zeros.
            lengths: (N,) integers in [1, L], or None (keyword only): each sequence's own
                length, as a PackedSequence has them; outputs past a sequence's end are zero
                and h_n is the state at its last step (the reverse direction starts there).

        Returns:
            ``(output, h_n)``: output (L, N, D*H) ((N, L, D*H) with batch_first, (L, D*H)
            unbatched, or a PackedSequence), h_n (D*num_layers, N, H).

        Raises:
            ValueError naming the device for tensors off the CPU, TypeError naming the dtype
            for parameters other than float32 and float64, ValueError for a PackedSequence with
            a bad ``batch_sizes``, InputError (a ValueError and RuntimeError) for shapes that
            do not fit the module; NotImplementedError for double backward and under
            torch.onnx.export.
        """


class _ElementwiseRNN(_RNNMixin, nn.Module):
    """The shared constructor, parameters and call of the modules torch.nn lacks: IndRNN,
    MinGRU and MinLSTM, and layernorm.py's LayerNormLSTM and LayerNormGRU; _RNNMixin runs the
    layers. A subclass names its weights per layer-direction (``_names``), their kernel slots
    (``_slots``) and initializes them (``reset_parameters``); the cell's extras
    (rnnfast._cells: the layer-normalized cells' gains and shift) follow each
    layer-direction's weights, as in rnnfast.nn."""

    proj_size = 0  # _RNNMixin's H_out is hidden_size

    def __init__(self, mode, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                 bidirectional, device, dtype):
        super().__init__()
        self.mode = mode  # the kernels' cell name (rnnfast._cells)
        self.input_size = _check_size(input_size, "input_size")
        self.hidden_size = _check_size(hidden_size, "hidden_size")
        self.num_layers = _check_size(num_layers, "num_layers")
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = _check_prob("dropout", dropout, allow_one=True)
        if self.dropout > 0 and self.num_layers == 1:  # torch's warning, word for word
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          "non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=3)
        self.bidirectional = bool(bidirectional)
        factory = dict(device=device, dtype=dtype or torch.get_default_dtype())
        G, H = _GATES[mode], self.hidden_size
        D = 2 if self.bidirectional else 1
        # IndRNN's u (H,); a product cell's W_hh (G * H, H)
        hh = (H,) if _CELLS[mode].recurrence == "diagonal" else (G * H, H)
        extras = [(name, (blocks * H,)) for name, blocks in _CELLS[mode].extras]
        names, self._extra_names = [], []
        for layer in range(self.num_layers):
            in_k = self.input_size if layer == 0 else D * H
            shapes = {"weight_ih": (G * H, in_k), "weight_hh": hh, "bias_ih": (G * H,),
                      "bias_hh": (G * H,)}
            for direction in range(D):
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                # the extras are not among _flat_weights_names: _RNNMixin._weights adds them
                for name, shape in [(n, shapes[n]) for n in self._names()] + extras:
                    self.register_parameter(name + sfx,
                                            nn.Parameter(torch.empty(shape, **factory)))
                    (names if name in shapes else self._extra_names).append(name + sfx)
        self._flat_weights_names = names
        self.reset_parameters()

    def _names(self):
        """The parameters of one layer-direction, without the _l{k} suffix, in order."""
        return ("weight_ih", "bias_ih") if self.bias else ("weight_ih",)

    def _cell(self):
        return self.mode

    def _slots(self):  # w_ih, then b_ih: no w_hh, b_hh, w_hr
        return (0, 2) if self.bias else (0,)

    def reset_parameters(self):
        """rnnfast.nn's initialization: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)) (as
        torch's RNN), drawn from torch's generator; the extras' gains (gamma_*) one, their
        shifts (beta_*) zero."""
        k = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for name in self._flat_weights_names:
                self._parameters[name].uniform_(-k, k)
            for name in self._extra_names:
                self._parameters[name].fill_(1.0 if name.startswith("gamma") else 0.0)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # rnnfast.nn's state_dict holds NumPy arrays: take them as tensors (torch's
        # load_state_dict passes a copy of the caller's mapping, which this may change)
        for name in self._parameters:
            v = state_dict.get(prefix + name)
            if isinstance(v, np.ndarray):
                state_dict[prefix + name] = torch.from_numpy(v)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        for name, default in (("num_layers", 1), ("nonlinearity", "relu"), ("bias", True),
                              ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False), ("recurrent_dropout", 0.0),
                              ("recurrent_max_abs", None)):
            value = getattr(self, name, default)
            if value != default:
                s += f", {name}={value!r}"
        return s

    def forward(self, input, hx=None, *, lengths=None):
        if _onnx_exporting():  # before anything runs: nothing to trace into ONNX
            raise NotImplementedError(
                f"{type(self).__name__}: ONNX has no standard operator for this cell, so "
                "rnnfast.torch cannot export it; export the rest of the model without it, or "
                "run it with torch.export / torch.compile instead")
        return self._run(input, hx, lengths)

    forward.__doc__ = _FORWARD_DOC


_ARGS = """
    Args:
        input_size: the number of features H_in of the input x.
        hidden_size: the number of units H.
        num_layers: the number of stacked layers; layer k > 0 reads the output of layer k-1.
            Default: 1.{nonlinearity}
        bias: if ``False``, the layers have no ``bias_ih``. Default: ``True``.
        batch_first: the input and output are (N, L, *) instead of (L, N, *); the states stay
            (D * num_layers, N, H). Default: ``False``.
        dropout: inverted dropout on the output of every layer but the last, in training
            mode; in [0, 1]. Default: 0.
        bidirectional: each layer runs forward and backward in time and concatenates the two
            outputs (D = 2). Default: ``False``.
        device, dtype: the parameters' (torch's factory arguments); the kernels run float32
            and float64 on the CPU. Default: the CPU and torch's default dtype.{extra}

    The call ``m(input, hx=None, *, lengths=None)`` is rnnfast.torch.RNN's: ``input`` (L, H_in),
    (L, N, H_in), (N, L, H_in) with batch_first, or a PackedSequence (sorted or not; the
    output is one too); ``hx`` (D * num_layers, N, H) ((D * num_layers, H) unbatched) or None
    for zeros; ``lengths`` each sequence's length in a padded batch (outputs past it are zero,
    h_n is the state at its last step, the reverse direction starts there). Returns
    ``(output, h_n)``: output (L, N, D * H) (batch_first: (N, L, D * H)), h_n
    (D * num_layers, N, H).

    Not supported: tensors off the CPU (ValueError), dtypes other than float32 and float64
    (TypeError), double backward and ONNX export (NotImplementedError).
"""


class IndRNN(_ElementwiseRNN):
    __doc__ = """Multi-layer independently recurrent network (IndRNN; Li, Li, Cook, Zhu and
    Gao, CVPR 2018) on rnnfast's kernels, rnnfast.nn.IndRNN's torch twin.

    Each layer computes, for each element of the input sequence::

        h_t = act(W_ih x_t + b_ih + u * h_(t-1))

    with ``*`` the elementwise product (each unit sees only its own previous state) and act
    relu or tanh.

    Parameters per layer k (``_reverse`` for the reverse direction): weight_ih_l{k}
    (hidden_size, input_size for k = 0, else D * hidden_size), U(-1/sqrt(H), 1/sqrt(H));
    weight_hh_l{k} = u (hidden_size,), U(0, 1); bias_ih_l{k} (hidden_size,),
    U(-1/sqrt(H), 1/sqrt(H)).
""" + _ARGS.format(nonlinearity="""
        nonlinearity: ``'relu'`` or ``'tanh'``. Default: ``'relu'``.""", extra="""
        recurrent_dropout: the probability of dropping each unit of h_(t-1) before u in
            training, one mask per sequence, layer and direction (variational dropout), as
            rnnfast.torch.RNN's; in [0, 1). Default: 0.
        recurrent_max_abs: the paper's constraint |u| <= recurrent_max_abs: before each
            forward in training mode every weight_hh is clipped to [-m, m] in place (under
            torch.no_grad). ``None``: no constraint. Default: ``None``.""")

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="relu", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None,
                 recurrent_dropout=0.0, recurrent_max_abs=None):
        if nonlinearity not in ("relu", "tanh"):
            raise ValueError(f"nonlinearity: expected 'relu' or 'tanh', got {nonlinearity!r}")
        max_abs = _check_max_abs(recurrent_max_abs)
        super().__init__("indrnn_" + nonlinearity, input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, device, dtype)
        self.nonlinearity = nonlinearity
        self.recurrent_max_abs = max_abs
        self._set_recurrent_dropout(recurrent_dropout)

    def _names(self):
        return ("weight_ih", "weight_hh", "bias_ih") if self.bias else ("weight_ih",
                                                                         "weight_hh")

    def _slots(self):  # w_ih, w_hh (u), then b_ih
        return (0, 1, 2) if self.bias else (0, 1)

    def reset_parameters(self):
        """rnnfast.nn.IndRNN's initialization: u ~ U(0, 1) (the paper's, for relu), the rest
        ~ U(-1/sqrt(H), 1/sqrt(H)), drawn from torch's generator."""
        super().reset_parameters()
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.startswith("weight_hh"):
                    p.uniform_(0.0, 1.0)

    def forward(self, input, hx=None, *, lengths=None):
        if self.training and self.recurrent_max_abs is not None:
            m = self.recurrent_max_abs
            with torch.no_grad():
                for name, p in self._parameters.items():
                    if name.startswith("weight_hh"):
                        p.clamp_(-m, m)
        return super().forward(input, hx, lengths=lengths)

    forward.__doc__ = _FORWARD_DOC


class MinGRU(_ElementwiseRNN):
    __doc__ = """Multi-layer minGRU (Feng, Tung, Ahmed, Bengio and Hajimirsadeghi, "Were RNNs
    All We Needed?", 2024), in its sequential mode, on rnnfast's kernels: rnnfast.nn.MinGRU's
    torch twin.

    Its gates read the input only; each layer computes, for each element of the input
    sequence, in the gate order (z, h~) along the weights' rows::

        z_t = sigmoid(W_iz x_t + b_iz)
        h~_t = W_ih~ x_t + b_ih~
        h_t = (1 - z_t) * h_(t-1) + z_t * h~_t

    There is no weight_hh and no bias_hh, hence no recurrent dropout.

    Parameters per layer k (``_reverse`` for the reverse direction): weight_ih_l{k}
    (2 * hidden_size, input_size for k = 0, else D * hidden_size) = (W_iz|W_ih~), bias_ih_l{k}
    (2 * hidden_size,) = (b_iz|b_ih~); every one ~ U(-1/sqrt(H), 1/sqrt(H)).
""" + _ARGS.format(nonlinearity="", extra="")

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__("mingru", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device, dtype)


class MinLSTM(_ElementwiseRNN):
    __doc__ = """Multi-layer minLSTM (Feng, Tung, Ahmed, Bengio and Hajimirsadeghi, "Were RNNs
    All We Needed?", 2024), in its sequential mode, on rnnfast's kernels: rnnfast.nn.MinLSTM's
    torch twin.

    Its gates read the input only and it keeps no cell state; each layer computes, for each
    element of the input sequence, in the gate order (f, i, h~) along the weights' rows::

        f_t = sigmoid(W_if x_t + b_if)
        i_t = sigmoid(W_ii x_t + b_ii)
        h~_t = W_ih~ x_t + b_ih~
        h_t = f_t / (f_t + i_t) * h_(t-1) + i_t / (f_t + i_t) * h~_t

    There is no weight_hh and no bias_hh, hence no recurrent dropout.

    Parameters per layer k (``_reverse`` for the reverse direction): weight_ih_l{k}
    (3 * hidden_size, input_size for k = 0, else D * hidden_size) = (W_if|W_ii|W_ih~),
    bias_ih_l{k} (3 * hidden_size,) = (b_if|b_ii|b_ih~); every one ~ U(-1/sqrt(H), 1/sqrt(H)).
""" + _ARGS.format(nonlinearity="", extra="")

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None):
        super().__init__("minlstm", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device, dtype)

