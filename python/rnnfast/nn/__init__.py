"""rnnfast.nn: modules with torch.nn's names, parameter layouts and state_dict keys.

Module, Parameter and Sequential (module.py); ModuleList, ModuleDict (container.py); Linear,
Embedding, Dropout, activations (layers.py); EmbeddingBag (sparse.py); LayerNorm
(normalization.py); losses (loss.py); stateless versions in rnnfast.nn.functional;
initializers in rnnfast.nn.init; gradient clipping and packed sequences in
rnnfast.nn.utils(.rnn); the recurrent layers RNN, LSTM, GRU and their cells, MinGRU, MinLSTM,
LayerNormLSTM and LayerNormGRU (rnn.py) and IndRNN (indrnn.py), each one autograd node over the
C++ kernels.
"""

from . import functional, init, utils
from .container import ModuleDict, ModuleList
from .indrnn import IndRNN
from .layers import (
    Dropout,
    Embedding,
    Flatten,
    Identity,
    Linear,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module, Parameter, Sequential
from .normalization import LayerNorm
from .rnn import (
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LayerNormGRU,
    LayerNormLSTM,
    LSTMCell,
    MinGRU,
    MinLSTM,
    RNNCell,
)
from .sparse import EmbeddingBag

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "Identity", "Linear",
    "Embedding", "EmbeddingBag", "Dropout", "Tanh", "Sigmoid", "ReLU", "Softmax", "LogSoftmax",
    "Flatten", "LayerNorm", "CrossEntropyLoss", "NLLLoss", "MSELoss", "L1Loss", "BCELoss",
    "BCEWithLogitsLoss", "functional", "init", "utils",
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "IndRNN", "MinGRU", "MinLSTM",
    "LayerNormLSTM", "LayerNormGRU",
]

