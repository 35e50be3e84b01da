"""rnnfast.torch: drop-in torch.nn recurrent modules running rnnfast's C++ kernels.

``RNN``, ``LSTM``, ``GRU``, ``RNNCell``, ``LSTMCell`` and ``GRUCell`` subclass their torch.nn
counterparts (``isinstance(m, torch.nn.LSTM)`` holds) with torch's constructor, parameters,
``state_dict`` and call; their forward and backward run rnnfast's kernels, registered as the
torch.library custom ops ``torch.ops.rnnfast.rnn_layer`` / ``rnn_layer_backward``, so
``torch.compile`` (with ``torch._dynamo.config.allow_rnn = True``) and ``torch.export`` keep
them in the graph. ``convert(model)`` / ``revert(model)`` swap the modules of a model in place,
keeping the very Parameter objects. rnnfast's extras: ``lengths=`` on the call,
``recurrent_dropout=`` in the constructor, and two cells torch.nn lacks, ``GRU(...,
reset_after=False)`` and ``LSTM(..., peephole=True)`` (with the parameters weight_p_l{k}).
``IndRNN``, ``MinGRU`` and ``MinLSTM`` (elementwise.py) and ``LayerNormLSTM``, ``LayerNormGRU``
(layernorm.py), which torch.nn lacks, are torch.nn.Modules with rnnfast.nn's constructors and
parameters and RNN's / LSTM's call, on the same ops.

Threads: the kernels follow ``torch.get_num_threads()`` unless ``rnnfast.set_num_threads`` was
called; under torchrun's ``OMP_NUM_THREADS=1`` default with several local ranks they use
(usable cores / local ranks) per rank and log one line saying so (``_threads.py``). Models
train under DistributedDataParallel (gloo) as torch.nn's do. Not supported yet, and refused
with an exception that says so: tensors off the CPU, float16 and bfloat16, double backward.
See docs/TORCH.md.

torch is an optional dependency (``pip install "rnnfast[torch]"``); ``import rnnfast`` never
imports it, this package does.
"""

try:
    import torch as _torch  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised only without torch
    raise ImportError("rnnfast.torch needs PyTorch: pip install \"rnnfast[torch]\" (or pip "
                      "install torch)") from e

from . import _ops  # noqa: F401  (registers torch.ops.rnnfast.*)
from .convert import convert, revert
from .elementwise import IndRNN, MinGRU, MinLSTM
from .layernorm import LayerNormGRU, LayerNormLSTM
from .modules import GRU, LSTM, RNN, GRUCell, InputError, LSTMCell, RNNCell

__all__ = ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "IndRNN", "MinGRU",
           "MinLSTM", "LayerNormLSTM", "LayerNormGRU", "convert", "revert", "InputError"]
