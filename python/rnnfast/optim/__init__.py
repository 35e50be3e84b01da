"""rnnfast.optim: optimizers and learning-rate schedulers with torch.optim's names, defaults,
update rules and state_dict layout, over NumPy arrays.

Optimizers (optimizer.py) update ``p.data`` in place, in the parameter's dtype, from ``p.grad``;
schedulers (lr_scheduler.py, also re-exported here) change ``group["lr"]`` as torch's do.
No foreach/fused/capturable/differentiable variants: there is one plain NumPy loop per rule.
"""

from . import lr_scheduler
from .lr_scheduler import CosineAnnealingLR, ExponentialLR, LRScheduler, ReduceLROnPlateau, StepLR
from .optimizer import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler",
           "LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "ReduceLROnPlateau"]
