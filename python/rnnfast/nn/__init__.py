"""rnnfast.nn: modules with torch.nn's names, parameter layouts and state_dict keys.

Module, Parameter and Sequential (module.py); Linear, Embedding, Dropout, activations
(layers.py); losses (loss.py); stateless versions in rnnfast.nn.functional; the recurrent
layers RNN, LSTM, GRU and their cells (rnn.py), each one autograd node over the C++ kernels.
"""

from . import functional
from . import utils
from .layers import (Dropout, Embedding, Flatten, Identity, Linear, LogSoftmax, ReLU, Sigmoid,
                     Softmax, Tanh)
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module, Parameter, Sequential
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell

__all__ = [
    "Module", "Parameter", "Sequential", "Identity", "Linear", "Embedding", "Dropout", "Tanh",
    "Sigmoid", "ReLU", "Softmax", "LogSoftmax", "Flatten", "CrossEntropyLoss", "NLLLoss",
    "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss", "functional",
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
]

