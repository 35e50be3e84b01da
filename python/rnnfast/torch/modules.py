"""torch.nn.RNN, LSTM, GRU and the cells RNNCell, LSTMCell, GRUCell, running rnnfast's kernels.

Each class subclasses its torch.nn counterpart: the constructor, the parameters (names,
shapes, initialization, the Parameter objects themselves), ``state_dict``, ``repr`` and the
call are torch's; only ``forward`` differs, running one ``torch.ops.rnnfast.rnn_layer`` per
layer (both directions of a bidirectional layer in one call) and torch's own ops around it
(inter-layer dropout, concatenation, packing). Extras: ``lengths=`` on the call (ragged
batches without packing), ``recurrent_dropout=`` in the constructor, and two cell variants
torch.nn lacks: ``GRU(reset_after=False)`` and ``LSTM(peephole=True)`` (the latter with the
parameters weight_p_l{k}[_reverse]).

Under torch.onnx.export the layers run _onnx.layer instead of the kernels (standard ONNX
RNN/LSTM/GRU operators), and the cells and PackedSequence inputs run torch's own forward;
the variants, which torch's forward cannot compute, refuse a PackedSequence there.

Not supported, and refused with an exception saying so: tensors on a device other than the
CPU, dtypes other than float32 and float64, double backward (see _ops.py).
"""

from __future__ import annotations

import numbers
import weakref

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnfast._cells import CELLS as _CELLS

from . import _onnx
from ._ops import (
    _HAS_C,
    MODES,
    fast_layer,
    layer as _rnn_layer,
    layer_weights,
    pairs as _pairs,
    unchanged,
)

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "InputError"]

_DTYPES = (torch.float32, torch.float64)


class InputError(ValueError, RuntimeError):
    """A module call's arguments do not fit the module (shapes, sizes): a ValueError, and a
    RuntimeError too, the class torch.nn raises for the same mistakes."""


# ---------------------------------------------------------------------------------------------
# checks

def _check_params(module, w):
    """The parameters must be what the kernels run: CPU, float32 or float64."""
    if w.is_cpu and w.dtype in _DTYPES:
        return
    name = type(module).__name__
    if w.device.type != "cpu":
        raise ValueError(
            f"{name}: rnnfast.torch runs on the CPU only, but the parameters are on {w.device}: "
            "move the model to the CPU (model.cpu()), or revert it (rnnfast.torch.revert) to run "
            "torch's own kernels on that device")
    if w.dtype not in _DTYPES:
        raise TypeError(
            f"{name}: rnnfast.torch runs float32 and float64, but the parameters are {w.dtype}: "
            "convert the model (model.float() or model.double()), or revert it "
            "(rnnfast.torch.revert) to run torch's own kernels in that dtype")


def _check_tensor(module, name, t, dtype):
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
    if not t.is_cpu:
        raise ValueError(
            f"{name}: rnnfast.torch runs on the CPU only, got a tensor on {t.device}: move it "
            "and the model to the CPU, or revert the model (rnnfast.torch.revert) to run "
            "torch's own kernels on that device")
    if t.dtype != dtype:
        if t.is_floating_point() and torch.is_autocast_enabled("cpu"):
            return t.to(dtype)  # under autocast the kernels run the parameters' dtype
        # torch's message (RNNBase.check_input)
        raise ValueError(
            f"{name}: {type(module).__name__} input dtype ({t.dtype}) does not match weight "
            f"dtype ({dtype}). Convert input: input.to({dtype}), or convert model: "
            f"model.to({t.dtype})")
    return t


def _lengths(lengths, B, batched):
    """``lengths=`` as an int64 CPU tensor (B,); its values are checked by the kernel."""
    if isinstance(lengths, Tensor):
        t = lengths
    else:
        arr = np.asarray(lengths)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"lengths: expected integers, got {arr.dtype} ({lengths!r})")
        t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.int64))
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise TypeError(f"lengths: expected integers, got {t.dtype}")
    if t.device.type != "cpu":
        raise ValueError(f"lengths: expected a CPU tensor (or a list), got one on {t.device}")
    if not batched and t.dim() == 0:
        t = t.reshape(1)
    if tuple(t.shape) != (B,):
        raise InputError(f"lengths: expected shape ({B},) (one length per sequence), got "
                         f"{tuple(t.shape)}")
    return t.to(torch.int64)


def _packed_layout(data, batch_sizes, sorted_indices, unsorted_indices):
    """A PackedSequence's layout, checked: its lengths in the batch's own order and, for each
    row of ``data``, its position t * B + b in a (T, B, ..) padded batch."""
    if (not isinstance(batch_sizes, Tensor) or batch_sizes.dim() != 1
            or batch_sizes.dtype != torch.int64 or batch_sizes.device.type != "cpu"):
        got = (f"{batch_sizes.dim()}-D {batch_sizes.dtype} on {batch_sizes.device}"
               if isinstance(batch_sizes, Tensor) else type(batch_sizes).__name__)
        raise ValueError(f"batch_sizes: expected a 1-D int64 CPU tensor, got {got}")
    if data.dim() != 2:
        raise InputError(f"input: expected the data of a PackedSequence to be 2-D "
                         f"(steps, features), got {data.dim()}-D")
    bs = batch_sizes.numpy()
    T = bs.shape[0]
    if T == 0:
        raise ValueError("batch_sizes: expected at least one step, got an empty tensor")
    if bs.min() < 1 or (T > 1 and np.any(bs[1:] > bs[:-1])):
        raise ValueError(f"batch_sizes: expected positive sizes that never increase, got "
                         f"{bs.tolist()}")
    if int(bs.sum()) != data.shape[0]:
        raise ValueError(f"batch_sizes: expected sizes summing to the {data.shape[0]} rows of "
                         f"data, got {bs.tolist()} (sum {int(bs.sum())})")
    B = int(bs[0])
    if sorted_indices is None:
        if unsorted_indices is not None:
            raise ValueError("sorted_indices: expected a permutation since unsorted_indices is "
                             "given, got None")
        order = np.arange(B)
    else:
        order = _permutation("sorted_indices", sorted_indices, B)
        if unsorted_indices is not None:
            inv = _permutation("unsorted_indices", unsorted_indices, B)
            if not np.array_equal(order[inv], np.arange(B)):
                raise ValueError("unsorted_indices: expected the inverse permutation of "
                                 f"sorted_indices {order.tolist()}, got {inv.tolist()}")
    lengths = np.empty(B, np.int64)
    lengths[order] = (bs[None, :] > np.arange(B)[:, None]).sum(1)
    rows = (np.arange(T)[:, None] * B + order[None, :])[np.arange(B)[None, :] < bs[:, None]]
    return torch.from_numpy(lengths), torch.from_numpy(rows), T, B


def _permutation(name, t, B):
    if not isinstance(t, Tensor) or t.dim() != 1 or t.dtype != torch.int64:
        raise ValueError(f"{name}: expected a 1-D int64 tensor, got "
                         f"{type(t).__name__ if not isinstance(t, Tensor) else t.dtype}")
    a = t.detach().cpu().numpy()
    if a.shape[0] != B or not np.array_equal(np.sort(a), np.arange(B)):
        raise ValueError(f"{name}: expected a permutation of range({B}) (batch_sizes[0] = {B}), "
                         f"got {a.tolist()}")
    return a


def _check_prob(name, p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"{name}: expected a float, got {type(p).__name__}")
    p = float(p)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{name}: expected a probability in [0, 1), got {p}")
    return p


# ---------------------------------------------------------------------------------------------
# RNN, LSTM, GRU

# Each cell's own parameters beyond torch's (rnnfast._cells' extras), by their module names'
# prefix (weight_p): one per layer and direction.
_CELL_EXTRAS = {k.name: tuple(name for name, _ in k.extras) for k in _CELLS.values()}
# module -> its short path's plan (_RNNMixin._plan)
_PLANS = weakref.WeakKeyDictionary()


class _RNNMixin:
    """forward() of RNN, LSTM and GRU over rnnfast's kernels; torch's RNNBase holds the rest.
    elementwise.py's IndRNN, MinGRU and MinLSTM run it too, on nn.Module, with their own
    ``_cell`` and ``_slots``.

    ``recurrent_dropout`` (and GRU's ``reset_after``, LSTM's ``peephole``) are class defaults
    so that a module converted in place (rnnfast.torch.convert, which swaps the class and runs
    no constructor) has them.
    """

    recurrent_dropout = 0.0
    # The kernels' cell name (rnnfast._cells) when it is not torch's mode's (MODES): the
    # variants set it.
    _variant_cell = None

    def _variant(self):
        """The constructor argument selecting a cell torch.nn lacks, as "name=value", or None
        for torch's own cell."""
        return None

    def _cell(self):
        """The kernels' cell name (rnnfast._cells) this module runs."""
        return self._variant_cell or MODES[self.mode]

    def _slots(self):
        """Where each layer-direction's parameters (in _flat_weights_names' order) go among the
        kernels' w_ih, w_hh, b_ih, b_hh, w_hr (layer_weights)."""
        return (0, 1, 2, 3)[:4 if self.bias else 2] + ((4,) if self.proj_size else ())

    def _set_recurrent_dropout(self, p):
        p = _check_prob("recurrent_dropout", p)
        if p:
            self.recurrent_dropout = p

    def extra_repr(self):
        s = super().extra_repr()
        if self.recurrent_dropout:
            s += f", recurrent_dropout={self.recurrent_dropout}"
        variant = self._variant()
        if variant:
            s += ", " + variant
        return s

    def _weights(self, views, extras=()):
        """layer_weights of this module, its weights read by name as torch's forward does
        (torch.func.functional_call swaps them). ``extras``: the names of the cell's own
        parameters (weight_p, gamma_x, ...), each layer-direction's after torch's ones."""
        params = self._parameters
        names = self._flat_weights_names
        slots = self._slots()
        if extras:
            n = len(slots)
            names = [name for k in range(0, len(names), n)
                     for name in (*names[k:k + n],
                                  *(e + names[k][len("weight_ih"):] for e in extras))]
            slots += tuple(range(5, 5 + len(extras)))
        flat = [params[name] if name in params else getattr(self, name, None) for name in names]
        _check_params(self, flat[0])
        return layer_weights(self, flat, slots, 2 if self.bidirectional else 1, views)

    def _plan(self):
        """The short path's per-layer arguments, (the parameters in registration order, their
        (data pointer, shape), [(spec, weights) per layer] for _ops.fast_layer), made from
        layer_weights and kept while the parameters are the same C-contiguous tensors over the
        same memory; None when a weight is not C-contiguous."""
        vals = tuple(self._parameters.values())
        plan = _PLANS.get(self)
        if plan is not None and unchanged(vals, plan[0], plan[1]):
            return plan
        if not all(t.is_contiguous() for t in vals):
            return None
        mode = self._cell()
        extras = _CELL_EXTRAS[mode]
        weights, views = self._weights(True, extras)
        if views[0] is None:
            return None
        D = 2 if self.bidirectional else 1
        slots = self._slots() + tuple(range(5, 5 + len(extras)))  # as _weights places them
        layers = [((mode, self.batch_first, views[k], slots),
                   [weights[k * D + d][s] for d in range(D) for s in slots])
                  for k in range(self.num_layers)]
        plan = (vals, [(t.data_ptr(), t.shape) for t in vals], layers)
        _PLANS[self] = plan
        return plan

    def _fast(self, input, hx):
        """forward's common case in fewer steps: a batched tensor of the parameters' dtype
        and the module's sizes, no lengths, no dropout in effect, nothing tracing, exporting or
        transforming. The same kernels and results
        as _run's; None where _run must take the call (which also raises every error)."""
        if (type(input) is not Tensor or input.dim() != 3 or torch.compiler.is_compiling()
                or torch._C._are_functorch_transforms_active() or _onnx.exporting()):
            return None
        L = self.num_layers
        if self.training and (self.recurrent_dropout or (self.dropout and L > 1)):
            return None
        plan = self._plan()
        if plan is None:
            return None
        vals, layers = plan[0], plan[2]
        dt = vals[0].dtype
        bf = self.batch_first
        if (input.dtype != dt or not input.is_cpu or input.shape[2] != self.input_size
                or input.shape[0] == 0 or input.shape[1] == 0):
            return None
        h0 = c0 = None
        has_c = _HAS_C[layers[0][0][0]]
        if hx is not None:
            D = 2 if self.bidirectional else 1
            B = input.shape[0] if bf else input.shape[1]
            H_out = self.proj_size or self.hidden_size
            if has_c:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    return None
                h0 = self._state("hx[0]", hx[0], (L * D, B, H_out), True, dt)
                c0 = self._state("hx[1]", hx[1], (L * D, B, self.hidden_size), True, dt)
            else:
                h0 = self._state("hx", hx, (L * D, B, H_out), True, dt)
        grad = torch.is_grad_enabled()
        hs, cs = [], []
        layer_in = input
        D = 2 if self.bidirectional else 1
        for k, (spec, ws) in enumerate(layers):
            h0_l = None if h0 is None else h0[k * D:k * D + D]
            c0_l = None if c0 is None else c0[k * D:k * D + D]
            train = grad and (layer_in.requires_grad or any(w.requires_grad for w in ws) or (
                h0_l is not None and h0_l.requires_grad) or (
                c0_l is not None and c0_l.requires_grad))
            y, y_r, h_n, c_n = fast_layer(spec, layer_in, h0_l, c0_l, ws, train)
            layer_in = y if y_r is None else torch.cat((y, y_r), 2)
            hs.append(h_n)
            cs.append(c_n)
        h_n = hs[0] if L == 1 else torch.cat(hs, 0)
        if not has_c:
            return layer_in, h_n
        return layer_in, (h_n, cs[0] if L == 1 else torch.cat(cs, 0))

    def _run(self, input, hx, lengths):
        if lengths is None:
            out = self._fast(input, hx)
            if out is not None:
                return out
        mode = self._cell()
        L, D = self.num_layers, 2 if self.bidirectional else 1
        H = self.hidden_size
        H_out = self.proj_size or H
        cls = type(self).__name__
        export = _onnx.exporting()
        extras = _CELL_EXTRAS[mode]
        weights, views = self._weights(not export, extras)
        dt = weights[0][0].dtype

        packed = isinstance(input, PackedSequence)
        if export:
            if self.training and self.recurrent_dropout > 0:
                raise ValueError(
                    f"{cls}: recurrent_dropout has no ONNX equivalent: export the model in "
                    "eval mode (model.eval()), where it does nothing")
            if packed:
                if lengths is not None:
                    raise ValueError("lengths: a PackedSequence carries its own lengths; give "
                                     "lengths= only with a padded tensor")
                if self.proj_size:
                    raise ValueError(
                        f"{cls}: an LSTM with proj_size exports with a padded tensor and "
                        "lengths=, not with a PackedSequence")
                if self._variant():
                    raise ValueError(
                        f"{cls}: a module with {self._variant()} exports with a padded tensor "
                        "and lengths=, not with a PackedSequence (torch's own forward, which "
                        "exports that, cannot run this cell)")
                # torch's own forward, which torch's exporters map to ONNX (the TorchScript
                # one turns the packing into sequence_lens)
                return super().forward(input, hx)
        if packed:
            if lengths is not None:
                raise ValueError("lengths: a PackedSequence carries its own lengths; give "
                                 "lengths= only with a padded tensor")
            data, batch_sizes, sorted_indices, unsorted_indices = input
            data = _check_tensor(self, "input", data, dt)
            lens, rows, T, B = _packed_layout(data, batch_sizes, sorted_indices,
                                              unsorted_indices)
            if data.shape[1] != self.input_size:
                raise InputError(f"input.size(-1) must be equal to input_size. Expected "
                                 f"{self.input_size}, got {data.shape[1]}")
            x = data.new_zeros(T * B, data.shape[1]).index_copy(0, rows, data)
            x = x.view(T, B, data.shape[1])
            batched, bf = True, False
        else:
            input = _check_tensor(self, "input", input, dt)
            if input.dim() not in (2, 3):
                raise ValueError(f"{cls}: Expected input to be 2D or 3D, got {input.dim()}D "
                                 "instead")
            batched, bf = input.dim() == 3, self.batch_first
            x = input if batched else input.unsqueeze(0 if bf else 1)
            if x.shape[2] != self.input_size:
                raise InputError(f"input.size(-1) must be equal to input_size. Expected "
                                 f"{self.input_size}, got {x.shape[2]}")
            T, B = (x.shape[1], x.shape[0]) if bf else (x.shape[0], x.shape[1])
            if T == 0 or B == 0:
                raise InputError(f"input: expected at least one step and one sequence, got "
                                 f"shape {tuple(input.shape)}")
            lens = None if lengths is None else _lengths(lengths, B, batched)

        h0 = c0 = None
        has_c = _HAS_C[mode]
        if hx is not None:
            if has_c:
                if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                    raise TypeError(f"hx: expected a tuple (h_0, c_0) for LSTM, got "
                                    f"{type(hx).__name__}")
                h0 = self._state("hx[0]", hx[0], (L * D, B, H_out), batched, dt)
                c0 = self._state("hx[1]", hx[1], (L * D, B, H), batched, dt)
            else:
                h0 = self._state("hx", hx, (L * D, B, H_out), batched, dt)

        grad = torch.is_grad_enabled()
        drop = self.training and self.dropout > 0
        rec = self.training and self.recurrent_dropout > 0
        hs, cs = [], []
        layer_in = x
        bf_export = export and bf
        if bf_export:  # the ONNX operators run time-major
            layer_in, bf = x.transpose(0, 1), False
        for layer in range(L):
            ws = weights[layer * D]
            ws_r = weights[layer * D + 1] if D == 2 else [None] * len(ws)
            s = slice(layer * D, layer * D + D)
            h0_l = None if h0 is None else h0[s]
            c0_l = None if c0 is None else c0[s]
            mask = None
            if rec:
                q = 1.0 - self.recurrent_dropout
                mask = torch.empty(D, B, H_out, dtype=dt).bernoulli_(q).div_(q)
            train = grad and (layer_in.requires_grad or any(
                t is not None and t.requires_grad for t in (*ws, *ws_r, h0_l, c0_l)))
            if export:
                out, h_n, c_n = _onnx.layer(mode, layer_in, ws, ws_r if D == 2 else None, h0_l,
                                            c0_l, lens)
            else:
                # the cell's extras (slots 5, ...) of each direction after the 18 arguments
                y, y_r, h_n, c_n, _, _ = _rnn_layer(
                    mode, layer_in, *ws[:5], *ws_r[:5], h0_l, c0_l, lens, mask, train, bf,
                    *_pairs(ws[5:], ws_r[5:]), views=views[layer])
                out = y if D == 1 else torch.cat((y, y_r), 2)
            hs.append(h_n)
            cs.append(c_n)
            if drop and layer < L - 1:
                out = F.dropout(out, self.dropout, True)
            layer_in = out

        out = layer_in
        if bf_export:
            out, bf = out.transpose(0, 1), True
        h_n = hs[0] if L == 1 else torch.cat(hs, 0)
        c_n = None
        if has_c:
            c_n = cs[0] if L == 1 else torch.cat(cs, 0)
        if packed:
            out = PackedSequence(out.reshape(T * B, out.shape[2]).index_select(0, rows),
                                 batch_sizes, sorted_indices, unsorted_indices)
        elif not batched:
            out = out.squeeze(0 if bf else 1)
            h_n = h_n.squeeze(1)
            c_n = None if c_n is None else c_n.squeeze(1)
        return out, (h_n if c_n is None else (h_n, c_n))

    def _state(self, name, s, shape, batched, dt):
        s = _check_tensor(self, name, s, dt)
        if batched and s.dim() != 3:
            raise InputError(f"{name}: for batched 3-D input, the hidden state should also be "
                             f"3-D, got a {s.dim()}-D tensor")
        if not batched:
            if s.dim() != 2:
                raise InputError(f"{name}: for unbatched 2-D input, the hidden state should "
                                 f"also be 2-D, got a {s.dim()}-D tensor")
            s = s.unsqueeze(1)
        if tuple(s.shape) != shape:
            want = shape if batched else (shape[0], shape[2])
            got = tuple(s.shape) if batched else (s.shape[0], s.shape[2])
            raise InputError(f"{name}: expected hidden size {want}, got {got}")
        return s


_FORWARD_DOC = """Run the layers over ``input``, as torch.nn.{name}.forward.

        Args:
            input: (L, H_in), (L, N, H_in), or (N, L, H_in) with batch_first; or a
                torch.nn.utils.rnn.PackedSequence (sorted or not), then the output is one too.
            hx: {hx}, or None for zeros.
            lengths: (N,) integers in [1, L], or None (keyword only, rnnfast's extra): each
                sequence's own length, as a PackedSequence has them; outputs past a sequence's
                end are zero and h_n is the state at its last step (the reverse direction
                starts there).

        Returns:
            ``{ret}`` exactly as torch.nn.{name}.

        Raises:
            ValueError naming the device for tensors off the CPU, TypeError naming the dtype
            for parameters other than float32 and float64, ValueError for a PackedSequence with
            a bad ``batch_sizes``, InputError (a ValueError and RuntimeError) for shapes that
            do not fit the module; NotImplementedError for double backward.
        """


class RNN(_RNNMixin, nn.RNN):
    __doc__ = ("torch.nn.RNN on rnnfast's kernels: the same constructor (plus "
               "``recurrent_dropout=``), parameters and call (plus ``lengths=``).\n\n"
               "    recurrent_dropout: probability of dropping each unit of h_{t-1} before "
               "W_hh in training, one mask per sequence, layer and direction (variational "
               "dropout); 0 by default.\n")

    def __init__(self, *args, recurrent_dropout=0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self._set_recurrent_dropout(recurrent_dropout)

    def forward(self, input, hx=None, *, lengths=None):
        return self._run(input, hx, lengths)

    forward.__doc__ = _FORWARD_DOC.format(name="RNN", hx="(D*num_layers, N, H_out)",
                                          ret="(output, h_n)")


class LSTM(_RNNMixin, nn.LSTM):
    __doc__ = (RNN.__doc__.replace("torch.nn.RNN", "torch.nn.LSTM").replace(
        "``recurrent_dropout=``)", "``recurrent_dropout=`` and ``peephole=``)") +
        "    peephole: keyword only, rnnfast's extra (ONNX's LSTM with peepholes P): the input "
        "and forget gates also see p_i * c_{t-1} and p_f * c_{t-1}, the output gate p_o * c_t, "
        "with the per-unit weights weight_p_l[k] (and weight_p_l[k]_reverse) = (p_i|p_f|p_o) "
        "of shape (3*hidden_size,), initialized to zeros (also by reset_parameters()), in the "
        "module's dtype and on its device; combines with proj_size. torch.nn.LSTM has no such "
        "cell: revert() refuses the module, and ONNX export takes it with a padded tensor (and "
        "lengths=), not a PackedSequence. False by default.\n")

    peephole = False  # a class default, as recurrent_dropout (see _RNNMixin)

    def __init__(self, *args, recurrent_dropout=0.0, peephole=False, **kwargs):
        if not isinstance(peephole, (bool, np.bool_)):
            raise TypeError(f"peephole: expected a bool, got {type(peephole).__name__}")
        super().__init__(*args, **kwargs)
        self._set_recurrent_dropout(recurrent_dropout)
        if peephole:
            self.peephole = True
            self._variant_cell = "lstm_peephole"
            w = self.weight_ih_l0
            for name in self._flat_weights_names:
                if name.startswith("weight_ih"):
                    self.register_parameter(
                        "weight_p" + name[len("weight_ih"):],
                        nn.Parameter(torch.zeros(3 * self.hidden_size, dtype=w.dtype,
                                                 device=w.device)))

    def reset_parameters(self):
        """torch's initialization (every weight ~ U(-1/sqrt(H), 1/sqrt(H))); the peephole
        weights, if any, zero."""
        super().reset_parameters()
        if self.peephole:
            with torch.no_grad():
                for name, p in self._parameters.items():
                    if name.startswith("weight_p_"):
                        p.zero_()

    def _variant(self):
        return "peephole=True" if self.peephole else None

    def forward(self, input, hx=None, *, lengths=None):
        return self._run(input, hx, lengths)

    forward.__doc__ = _FORWARD_DOC.format(name="LSTM",
                                          hx="a tuple (h_0 (D*num_layers, N, H_out), c_0 "
                                             "(D*num_layers, N, H_cell))",
                                          ret="(output, (h_n, c_n))")


class GRU(_RNNMixin, nn.GRU):
    __doc__ = (RNN.__doc__.replace("torch.nn.RNN", "torch.nn.GRU").replace(
        "``recurrent_dropout=``)", "``recurrent_dropout=`` and ``reset_after=``)") +
        "    reset_after: keyword only, rnnfast's extra. True (the default): torch's GRU, "
        "n = tanh(W_in x + b_in + r * (W_hn h + b_hn)). False: the reset gate applies before "
        "the recurrent product, n = tanh(W_in x + b_in + W_hn (r * h) + b_hn) (Keras' "
        "reset_after=False, ONNX's linear_before_reset=0), with the same parameters. "
        "torch.nn.GRU has no such cell: revert() refuses the module, and ONNX export takes it "
        "with a padded tensor (and lengths=), not a PackedSequence.\n")

    reset_after = True  # a class default, as recurrent_dropout (see _RNNMixin)

    def __init__(self, *args, recurrent_dropout=0.0, reset_after=True, **kwargs):
        if not isinstance(reset_after, (bool, np.bool_)):
            raise TypeError(f"reset_after: expected a bool, got {type(reset_after).__name__}")
        super().__init__(*args, **kwargs)
        self._set_recurrent_dropout(recurrent_dropout)
        if not reset_after:
            self.reset_after = False
            self._variant_cell = "gru_reset_before"

    def _variant(self):
        return None if self.reset_after else "reset_after=False"

    def forward(self, input, hx=None, *, lengths=None):
        return self._run(input, hx, lengths)

    forward.__doc__ = _FORWARD_DOC.format(name="GRU", hx="(D*num_layers, N, H_out)",
                                          ret="(output, h_n)")


# ---------------------------------------------------------------------------------------------
# cells

def _cell_step(cell, mode, input, h, c):
    """One step of a cell as one kernel call with T = 1: (h', c' or None)."""
    cls = type(cell).__name__
    w_ih, w_hh, b_ih, b_hh = cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh
    _check_params(cell, w_ih)
    dt = w_ih.dtype
    input = _check_tensor(cell, "input", input, dt)
    if input.dim() not in (1, 2):
        raise ValueError(f"{cls}: Expected input to be 1D or 2D, got {input.dim()}D instead")
    batched = input.dim() == 2
    x = input if batched else input.unsqueeze(0)
    if x.shape[1] != cell.input_size:
        raise InputError(f"input has inconsistent input_size: got {x.shape[1]}, expected "
                         f"{cell.input_size}")
    B, H = x.shape[0], cell.hidden_size
    if B == 0:
        raise InputError("input: expected a batch of at least one, got 0")
    states = []
    for name, s in (("hx[0]" if c is not None else "hx", h), ("hx[1]", c)):
        if s is None:
            states.append(None)
            continue
        s = _check_tensor(cell, name, s, dt)
        if s.dim() != input.dim():
            raise InputError(f"{name}: expected a {input.dim()}-D hidden state for "
                             f"{input.dim()}-D input, got {s.dim()}-D")
        s = s if batched else s.unsqueeze(0)
        if tuple(s.shape) != (B, H):
            raise InputError(f"{name}: expected hidden size {(B, H) if batched else (H,)}, "
                             f"got {tuple(s.shape) if batched else (s.shape[1],)}")
        states.append(s.unsqueeze(0))
    train = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, w_ih, w_hh, b_ih, b_hh, *states))
    views = layer_weights(cell, (w_ih, w_hh, b_ih, b_hh) if cell.bias else (w_ih, w_hh),
                          (0, 1, 2, 3) if cell.bias else (0, 1), 1)[1][0]
    _, _, h_n, c_n, _, _ = _rnn_layer(mode, x.unsqueeze(0), w_ih, w_hh, b_ih, b_hh, None, None,
                                      None, None, None, None, states[0], states[1], None, None,
                                      train, False, views=views)
    h1 = h_n[0] if batched else h_n[0, 0]
    if mode != "lstm":
        return h1, None
    return h1, (c_n[0] if batched else c_n[0, 0])


class RNNCell(nn.RNNCell):
    """torch.nn.RNNCell on rnnfast's kernels (one kernel call per step)."""

    def forward(self, input, hx=None):
        if _onnx.exporting():  # torch's cell, which torch's exporters map to ONNX
            return super().forward(input, hx)
        if hx is not None and not isinstance(hx, Tensor):
            raise TypeError(f"hx: expected a tensor, got {type(hx).__name__}")
        mode = "rnn_tanh" if self.nonlinearity == "tanh" else "rnn_relu"
        return _cell_step(self, mode, input, hx, None)[0]


class LSTMCell(nn.LSTMCell):
    """torch.nn.LSTMCell on rnnfast's kernels (one kernel call per step)."""

    def forward(self, input, hx=None):
        if _onnx.exporting():  # torch's cell, which torch's exporters map to ONNX
            return super().forward(input, hx)
        if hx is None:
            h = c = None
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"hx: expected a tuple (h, c), got {type(hx).__name__}")
            h, c = hx
        return _cell_step(self, "lstm", input, h, c)


class GRUCell(nn.GRUCell):
    """torch.nn.GRUCell on rnnfast's kernels (one kernel call per step)."""

    def forward(self, input, hx=None):
        if _onnx.exporting():  # torch's cell, which torch's exporters map to ONNX
            return super().forward(input, hx)
        if hx is not None and not isinstance(hx, Tensor):
            raise TypeError(f"hx: expected a tensor, got {type(hx).__name__}")
        return _cell_step(self, "gru", input, hx, None)[0]
