"""Learning-rate schedulers with torch.optim.lr_scheduler's names, arguments and semantics:
StepLR, ExponentialLR, CosineAnnealingLR (torch's recursive, "chainable" forms, so the lr
sequences equal torch's) and ReduceLROnPlateau.

Call ``scheduler.step()`` once per epoch after ``optimizer.step()`` (``step(metric)`` for
ReduceLROnPlateau); ``get_last_lr()`` is the list of the groups' current lrs. The deprecated
``step(epoch)`` form and torch's call-order warnings are deliberately left out.
"""

from __future__ import annotations

import math
import numbers

from .optimizer import Optimizer, _check_real

__all__ = ["LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "ReduceLROnPlateau"]


def _check_optimizer(optimizer):
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer: expected an rnnfast.optim.Optimizer, got "
                        f"{type(optimizer).__name__}")
    return optimizer


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return int(value)


class LRScheduler:
    """Base class. On construction it records ``initial_lr`` in every param group (when
    ``last_epoch == -1``) and takes the first step, so ``last_epoch`` starts at 0. Call
    ``step()`` once per epoch, after the optimizer's ``step()``.

    Args:
        optimizer (Optimizer): the wrapped optimizer, whose groups' ``lr`` it sets.
        last_epoch (int, optional): the index of the last epoch, -1 to start afresh (then
            ``initial_lr`` is recorded in every group); other values resume and need
            ``initial_lr`` in the groups. Default: -1.
    """

    def __init__(self, optimizer, last_epoch=-1):
        self.optimizer = _check_optimizer(optimizer)
        last_epoch = _check_int("last_epoch", last_epoch, -1)
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] "
                                   f"when resuming a scheduler with last_epoch >= 0")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self):
        """The lrs for the current ``last_epoch`` (called by ``step``)."""
        raise NotImplementedError

    def get_last_lr(self):
        """The most recent lr of each param group (a new list)."""
        return list(self._last_lr)

    def step(self):
        """Advance one epoch and set every group's lr."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _current_lrs(self):
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        """Everything but the optimizer (plain Python values)."""
        return {k: (list(v) if isinstance(v, list) else v)
                for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict):
        """Restore the scheduler from ``state_dict`` (a ``state_dict()`` result)."""
        self.__dict__.update(state_dict)


def _check_period(name, value):
    """A period in epochs: an int or a float > 0 (torch takes floats, e.g. 2.0 or 2.5, and
    divides by them), kept as given; else TypeError / ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number (an int or a float), got "
                        f"{type(value).__name__}")
    if not value > 0:                   # also refuses nan
        raise ValueError(f"{name}: expected a value > 0, got {value}")
    return value


class StepLR(LRScheduler):
    """Multiply every group's lr by ``gamma`` every ``step_size`` epochs: at each epoch t > 0
    with ``t % step_size == 0``, as torch (so a float such as 2.0 acts as 2, and 2.5 decays at
    epochs 5, 10, ...). A ``step_size`` <= 0 raises ValueError here; torch accepts it and
    fails at the first ``step()`` (0: ZeroDivisionError) or decays every |step_size| epochs
    (negative values).

    Args:
        optimizer (Optimizer): the wrapped optimizer, whose groups' ``lr`` it sets.
        step_size (int or float): the period of the decay in epochs, > 0.
        gamma (float, optional): the multiplicative factor, >= 0. Default: 0.1.
        last_epoch (int, optional): the index of the last epoch, -1 to start afresh (then
            ``initial_lr`` is recorded in every group); other values resume and need
            ``initial_lr`` in the groups. Default: -1.

    Example::

        >>> opt = rnnfast.optim.SGD(rnnfast.nn.Linear(2, 1).parameters(), lr=1.0)
        >>> sched = rnnfast.optim.StepLR(opt, step_size=2, gamma=0.5)
        >>> lrs = []
        >>> for epoch in range(5):
        ...     opt.step()
        ...     sched.step()
        ...     lrs.append(opt.param_groups[0]["lr"])
        >>> lrs
        [1.0, 0.5, 0.5, 0.25, 0.25]
    """

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size = _check_period("step_size", step_size)
        self.gamma = _check_real("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        # lr_t = lr_{t-1} * gamma if t is a nonzero multiple of step_size, else lr_{t-1}
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class ExponentialLR(LRScheduler):
    """Multiply every group's lr by ``gamma`` every epoch.

    Args:
        optimizer (Optimizer): the wrapped optimizer, whose groups' ``lr`` it sets.
        gamma (float): the multiplicative factor, >= 0.
        last_epoch (int, optional): the index of the last epoch, -1 to start afresh (then
            ``initial_lr`` is recorded in every group); other values resume and need
            ``initial_lr`` in the groups. Default: -1.

    Example::

        >>> opt = rnnfast.optim.SGD(rnnfast.nn.Linear(2, 1).parameters(), lr=1.0)
        >>> sched = rnnfast.optim.ExponentialLR(opt, gamma=0.5)
        >>> opt.step(); sched.step(); opt.step(); sched.step()
        >>> opt.param_groups[0]["lr"]
        0.25
    """

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = _check_real("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from the base lr to ``eta_min`` over ``T_max`` epochs (SGDR without
    restarts; past T_max the cosine continues, as in torch)::

        lr_t = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2

    Args:
        optimizer (Optimizer): the wrapped optimizer, whose groups' ``lr`` it sets.
        T_max (int or float): the number of epochs of the half period, > 0 (a float as
            torch takes it).
        eta_min (float, optional): the minimum learning rate, >= 0. Default: 0.
        last_epoch (int, optional): the index of the last epoch, -1 to start afresh (then
            ``initial_lr`` is recorded in every group); other values resume and need
            ``initial_lr`` in the groups. Default: -1.

    Example::

        >>> opt = rnnfast.optim.SGD(rnnfast.nn.Linear(2, 1).parameters(), lr=1.0)
        >>> sched = rnnfast.optim.CosineAnnealingLR(opt, T_max=2)
        >>> for epoch in range(2):
        ...     opt.step()
        ...     sched.step()
        >>> round(opt.param_groups[0]["lr"], 6)
        0.0
    """

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        if isinstance(T_max, bool) or not isinstance(T_max, numbers.Real):
            raise TypeError(f"T_max: expected a number, got {type(T_max).__name__}")
        if not T_max > 0:
            raise ValueError(f"T_max: expected a number of epochs > 0, got {T_max}")
        self.T_max = T_max
        self.eta_min = _check_real("eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        # Recursive form of eta_t = eta_min + (base - eta_min) * (1 + cos(pi t / T_max)) / 2
        # (torch's, so lrs changed by hand or by other schedulers are respected).
        t, T, lo = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if (t - 1 - T) % (2 * T) == 0:
            return [lr + (base - lo) * (1 - math.cos(math.pi / T)) / 2
                    for base, lr in zip(self.base_lrs, self._current_lrs())]
        return [(1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
                * (lr - lo) + lo for lr in self._current_lrs()]


class ReduceLROnPlateau(LRScheduler):
    """Multiply the lrs by ``factor`` when ``step(metric)`` has not improved for more than
    ``patience`` epochs (improvement: better than ``best`` by ``threshold``, relative or
    absolute); then wait ``cooldown`` epochs. Lrs never go below ``min_lr`` (a number or one
    per group), and changes smaller than ``eps`` are skipped.

    Args:
        optimizer (Optimizer): the wrapped optimizer, whose groups' ``lr`` it sets.
        mode (str, optional): 'min' (the metric should decrease) or 'max'. Default: 'min'.
        factor (float, optional): the multiplicative factor, in [0, 1). Default: 0.1.
        patience (int, optional): the number of epochs without improvement tolerated, >= 0.
            Default: 10.
        threshold (float, optional): the least improvement that counts, >= 0. Default: 1e-4.
        threshold_mode (str, optional): 'rel' (better than best * (1 -/+ threshold)) or 'abs'
            (better than best -/+ threshold). Default: 'rel'.
        cooldown (int, optional): epochs to wait after a reduction before counting again, >= 0.
            Default: 0.
        min_lr (float or list of floats, optional): the lower bound of the lr, one for all
            groups or one per group. Default: 0.
        eps (float, optional): the least change of lr applied. Default: 1e-8.

    Example::

        >>> opt = rnnfast.optim.SGD(rnnfast.nn.Linear(2, 1).parameters(), lr=1.0)
        >>> sched = rnnfast.optim.ReduceLROnPlateau(opt, patience=1, factor=0.5)
        >>> for val_loss in [1.0, 1.0, 1.0]:
        ...     sched.step(val_loss)
        >>> opt.param_groups[0]["lr"]
        0.5
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0, eps=1e-8):
        _check_real("factor", factor)
        if factor >= 1.0:
            raise ValueError(f"factor: expected a value < 1.0, got {factor}")
        self.factor = factor
        self.optimizer = _check_optimizer(optimizer)
        n = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n:
                raise ValueError(f"min_lr: expected {n} values (one per param group), got "
                                 f"{len(min_lr)}")
            self.default_min_lr = None
            self.min_lrs = [_check_real("min_lr", v) for v in min_lr]
        else:
            self.default_min_lr = _check_real("min_lr", min_lr)
            self.min_lrs = [min_lr] * n
        self.patience = _check_int("patience", patience, 0)
        self.cooldown = _check_int("cooldown", cooldown, 0)
        self.eps = _check_real("eps", eps)
        self.last_epoch = 0
        self._last_lr = self._current_lrs()
        self._init_is_better(mode, _check_real("threshold", threshold), threshold_mode)
        self._reset()

    def _init_is_better(self, mode, threshold, threshold_mode):
        if mode not in ("min", "max"):
            raise ValueError(f"mode: expected 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode: expected 'rel' or 'abs', got {threshold_mode!r}")
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode
        self.mode_worse = math.inf if mode == "min" else -math.inf

    def _reset(self):
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self):
        return self.cooldown_counter > 0

    def is_better(self, a, best):
        """Whether the metric ``a`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            return a < (best * (1.0 - self.threshold) if self.threshold_mode == "rel"
                        else best - self.threshold)
        return a > (best * (1.0 + self.threshold) if self.threshold_mode == "rel"
                    else best + self.threshold)

    def step(self, metrics):
        """Record this epoch's ``metrics`` (a number, 0-d array or one-element Tensor) and
        reduce the lrs after ``patience`` epochs without improvement."""
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0            # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self):
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(f"ReduceLROnPlateau: the optimizer has {len(groups)} param "
                                   f"groups but min_lr has {len(self.min_lrs)} values")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new

    def load_state_dict(self, state_dict):
        """Restore the scheduler from ``state_dict`` (a ``state_dict()`` result)."""
        self.__dict__.update(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)
