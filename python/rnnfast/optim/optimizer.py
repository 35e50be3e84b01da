"""Optimizers with torch.optim's names, defaults, update rules and state_dict layout: SGD, Adam,
AdamW, RMSprop, Adagrad, and their base class Optimizer.

Every update is done in place on ``p.data`` in the parameter's dtype (scalars stay Python
floats, so float32 parameters are updated in float32 as in torch) and bumps the parameter's
version, so a backward through a graph recorded before the step raises, as in torch;
parameters whose ``.grad`` is None are skipped (and keep their version). For float32 and
float64 parameters one C++ call updates a whole group (rnnfast/ops.h: torch's single-tensor
formulas, the group's elements split over the threads); other dtypes take the NumPy update
beside it (``_update``). ``state_dict()`` mirrors torch's: ``{"state": {index: {name: array}},
"param_groups": [{option: value, ..., "params": [index, ...]}]}`` with NumPy arrays (copies) in
place of tensors, so a torch optimizer state_dict converted to NumPy loads unchanged.
Deliberately absent: foreach/fused/capturable/differentiable flavours, sparse gradients,
hooks, and tensor-valued learning rates.
"""

from __future__ import annotations

import copy
import math
import numbers

import numpy as np

from .. import _core
from ..tensor import Tensor, _Version, enable_grad

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]


class _RequiredParameter:
    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()


def _check_real(name, value, low=0.0, high=None, high_open=False):
    """A real number in [low, high] (or [low, high)), else TypeError / ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    v = float(value)
    if math.isnan(v) or v < low or (high is not None and (v >= high if high_open else v > high)):
        if high is None:
            want = f">= {low:g}"
        else:
            want = f"in [{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name}: expected a value {want}, got {value}")
    return value


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__}")
    return bool(value)


_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _kernel_ready(dtype, *arrays):
    """True if every array (None entries skipped) is a C-contiguous, writeable array of
    ``dtype``, as the C++ steps update them in place."""
    for a in arrays:
        if a is None:
            continue
        if not isinstance(a, np.ndarray) or a.dtype != dtype or not a.flags.c_contiguous \
                or not a.flags.writeable:
            return False
    return True


def _as_array(value, dtype):
    """A state value (NumPy array, rnnfast Tensor, torch tensor, number) as a fresh array."""
    if isinstance(value, Tensor):
        value = value.data
    elif hasattr(value, "detach") and hasattr(value, "cpu"):       # a torch tensor
        value = value.detach().cpu().numpy()
    arr = np.array(value, copy=True)
    if dtype is not None and arr.dtype.kind == "f" and arr.dtype != dtype:
        arr = arr.astype(dtype)
    return arr


class Optimizer:
    """Base class: holds ``param_groups`` (list of dicts, each with ``"params"`` and the
    options) and ``state`` (dict: parameter -> dict of per-parameter state).

    ``params`` is an iterable of Parameters, of ``(name, Parameter)`` pairs (as from
    ``model.named_parameters()``), or of dicts ``{"params": ..., option: value}`` whose options
    override ``defaults`` for that group. Subclasses define ``_check_group(group)`` (argument
    checks, run for every group) and ``_update(p, grad, group, state)``.

    Args:
        params (iterable): the parameters to optimize, as above.
        defaults (dict): the default options of every param group.
    """

    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        if isinstance(params, (Tensor, dict)) or not hasattr(params, "__iter__"):
            raise TypeError(f"params: expected an iterable of Parameters or of dicts, got "
                            f"{type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError("params: the optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add ``param_group`` (a dict with ``"params"`` and options); missing options come
        from ``defaults``. A parameter already in another group raises ValueError."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group: expected a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        params = group.get("params")
        if params is None:
            raise ValueError("param_group: missing the 'params' entry")
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("params: expected an ordered collection (a list), got a set; the "
                            "order must be the same from run to run")
        else:
            params = list(params)
        names = None
        if params and all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)
                          for p in params):
            names = [n for n, _ in params]
            params = [p for _, p in params]
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"params: expected rnnfast Parameters (Tensors), got "
                                f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("params: can't optimize a non-leaf Tensor")
            if p.dtype.kind != "f":
                raise TypeError(f"params: expected floating-point parameters, got dtype "
                                f"{p.dtype}")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("params: a parameter group contains the same parameter twice")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("params: some parameters appear in more than one parameter group")
        for key, default in self.defaults.items():
            if default is required and key not in group:
                raise ValueError(f"param_group: the option {key!r} is required and has no "
                                 f"default")
            group.setdefault(key, default)
        group["params"] = params
        if names is not None:
            group["param_names"] = names
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group):
        pass

    # -- the step ----------------------------------------------------------------------------
    def zero_grad(self, set_to_none=True):
        """Reset every parameter's gradient: to None (``set_to_none=True``, the default, as
        torch), or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.fill(0)

    def step(self, closure=None):
        """One update of every parameter that has a gradient. ``closure`` (optional) re-runs
        the forward and backward pass and returns the loss, which ``step`` returns."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            by_dtype = {}
            for p in group["params"]:
                if p.grad is None:
                    continue
                # The step writes p in place: bump its version (shared with its views), so a
                # graph recorded before the step that saved p refuses to backward, as torch's.
                c = p._vcount
                if c is None:
                    c = p._vcount = _Version()
                c.n += 1
                grad = np.asarray(p.grad)
                if grad.dtype != p.dtype:
                    grad = grad.astype(p.dtype)
                by_dtype.setdefault(p.dtype, ([], []))
                by_dtype[p.dtype][0].append(p)
                by_dtype[p.dtype][1].append(grad)
            for dt, (params, grads) in by_dtype.items():
                if not (dt in _KERNEL_DTYPES and self._kernel_step(group, params, grads)):
                    for p, grad in zip(params, grads):
                        self._update(p, grad, group, self.state.setdefault(p, {}))
        return loss

    def _kernel_step(self, group, params, grads):
        """Update ``params`` (of one float32 or float64 dtype, each with its gradient in
        ``grads``) with one C++ call; return False, changing nothing, where the kernel does not
        apply (then ``_update`` runs per parameter)."""
        return False

    def _update(self, p, grad, group, state):
        raise NotImplementedError

    @staticmethod
    def _kernel_arrays(params, grads):
        """The parameters' data and their gradients as the kernels take them, or None."""
        datas = [p.data for p in params]
        grads = [np.ascontiguousarray(g) for g in grads]
        if not _kernel_ready(params[0].dtype, *datas):
            return None
        return datas, grads

    @staticmethod
    def _effective_grad(p, grad, group, decoupled=False):
        """The gradient with ``maximize`` and ``weight_decay`` applied (``grad`` itself when
        neither applies, else a new array). The decay is L2 (g + wd*p), or with ``decoupled``
        (AdamW) applied to the weights themselves, in place: p *= 1 - lr*wd."""
        g = -grad if group["maximize"] else grad
        wd = group["weight_decay"]
        if wd != 0:
            if decoupled:
                p.data *= 1 - group["lr"] * wd
            else:
                g = g + wd * p.data
        return g

    # -- state -------------------------------------------------------------------------------
    def state_dict(self):
        """``{"state": {index: {...}}, "param_groups": [...]}`` with NumPy array copies; params
        are numbered in group order, as in torch."""
        index, groups = {}, []
        for group in self.param_groups:
            start = len(index)
            for i, p in enumerate(group["params"]):
                index.setdefault(id(p), start + i)
            g = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            g["params"] = [index[id(p)] for p in group["params"]]
            groups.append(g)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                st = self.state.get(p)
                if st:
                    state[index[id(p)]] = {k: self._export(k, v) for k, v in st.items()}
        return {"state": state, "param_groups": groups}

    @staticmethod
    def _export(key, value):
        if key == "step":
            return np.array(value, dtype=np.float32)   # torch keeps step as a float32 scalar
        if isinstance(value, np.ndarray):
            return value.copy()
        return copy.deepcopy(value)

    def load_state_dict(self, state_dict):
        """Restore options and state from ``state_dict()`` output (or a torch optimizer's
        state_dict converted to NumPy). Floating state is cast to each parameter's dtype."""
        if not isinstance(state_dict, dict) or "state" not in state_dict \
                or "param_groups" not in state_dict:
            raise ValueError("state_dict: expected a dict with 'state' and 'param_groups'")
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError(f"state_dict: loaded state dict has {len(saved)} parameter groups, "
                             f"the optimizer has {len(self.param_groups)}")
        params_by_index = {}
        for g, sg in zip(self.param_groups, saved):
            if len(sg["params"]) != len(g["params"]):
                raise ValueError("state_dict: loaded state dict contains a parameter group that "
                                 "doesn't match the size of optimizer's group")
            for i, p in zip(sg["params"], g["params"]):
                params_by_index[int(i)] = p
        new_state = {}
        for k, st in state_dict["state"].items():
            p = params_by_index.get(int(k))
            if p is None:
                continue
            entry = {}
            for name, value in st.items():
                if name == "step":
                    entry[name] = int(np.asarray(_as_array(value, None)).item())
                    continue
                arr = _as_array(value, p.dtype)
                if arr.ndim and arr.shape != p.shape:
                    raise ValueError(f"state_dict: state {name!r} of parameter {k} has shape "
                                     f"{arr.shape}, the parameter has shape {p.shape}")
                entry[name] = arr
            new_state[p] = entry
        new_groups = []
        for g, sg in zip(self.param_groups, saved):
            ng = {key: copy.deepcopy(v) for key, v in sg.items() if key != "params"}
            ng["params"] = g["params"]
            new_groups.append(ng)
        self.param_groups = new_groups
        self.state = new_state

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key not in ("params", "param_names"):
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (heavy ball or Nesterov), dampening,
    L2 weight decay and maximize, as torch.optim.SGD::

        g = grad + weight_decay * p                 (-grad with maximize)
        b = g at the first step, else momentum * b + (1 - dampening) * g
        g = g + momentum * b if nesterov else b     (when momentum != 0)
        p = p - lr * g

    Args:
        params (iterable): Parameters, ``(name, Parameter)`` pairs (``named_parameters()``),
            or dicts ``{"params": ..., option: value}`` defining param groups whose options
            override the defaults below.
        lr (float, optional): the learning rate, >= 0. Default: 1e-3.
        momentum (float, optional): the momentum factor, >= 0. Default: 0.
        dampening (float, optional): the dampening of the momentum, >= 0. Default: 0.
        weight_decay (float, optional): the L2 penalty, >= 0. Default: 0.
        nesterov (bool, optional): Nesterov momentum (needs momentum > 0 and dampening 0).
            Default: ``False``.
        maximize (bool, optional, keyword-only): maximize the objective (step along +grad).
            Default: ``False``.

    Raises:
        TypeError / ValueError: an option of the wrong type or out of range, naming it.

    Example::

        >>> model = rnnfast.nn.Linear(4, 1)
        >>> opt = rnnfast.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> loss = model(rnnfast.randn(8, 4)).pow(2).mean()
        >>> opt.zero_grad()
        >>> loss.backward()
        >>> w = model.weight.detach().clone()
        >>> opt.step()
        >>> bool((model.weight != w).any())
        True
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _check_group(self, g):
        _check_real("lr", g["lr"])
        _check_real("momentum", g["momentum"])
        _check_real("dampening", g["dampening"])
        _check_real("weight_decay", g["weight_decay"])
        _check_bool("nesterov", g["nesterov"])
        _check_bool("maximize", g["maximize"])
        if g["nesterov"] and (g["momentum"] <= 0 or g["dampening"] != 0):
            raise ValueError("nesterov: Nesterov momentum requires momentum > 0 and "
                             "dampening = 0")

    def _kernel_step(self, group, params, grads):
        arrays = self._kernel_arrays(params, grads)
        if arrays is None:
            return False
        mu = group["momentum"]
        bufs = first = None
        if mu != 0:
            states = [self.state.setdefault(p, {}) for p in params]
            if not _kernel_ready(params[0].dtype, *(st.get("momentum_buffer") for st in states)):
                return False
            first = [st.get("momentum_buffer") is None for st in states]
            for st, p, new in zip(states, params, first):
                if new:     # the first step sets it to the gradient
                    st["momentum_buffer"] = np.empty_like(p.data)
            bufs = [st["momentum_buffer"] for st in states]
        else:
            for p in params:
                self.state.setdefault(p, {})
            first = [False] * len(params)
        _core.sgd_step(*arrays, bufs, first, float(group["lr"]), float(mu),
                       float(group["dampening"]), float(group["weight_decay"]),
                       bool(group["nesterov"]), bool(group["maximize"]))
        return True

    def _update(self, p, grad, group, state):
        # torch.optim.SGD: g = ±grad + wd*p; b = mu*b + (1-dampening)*g (b_1 = g);
        # g = g + mu*b if nesterov else b; p -= lr*g
        g = self._effective_grad(p, grad, group)
        mu = group["momentum"]
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, dtype=p.dtype, copy=True)
            else:
                buf *= mu
                buf += (1 - group["dampening"]) * g
            g = g + mu * buf if group["nesterov"] else buf
        p.data -= group["lr"] * g


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2014) with optional AMSGrad, L2 ``weight_decay`` (or decoupled, as
    AdamW, with ``decoupled_weight_decay=True``) and maximize, as torch.optim.Adam::

        g = grad + weight_decay * p                  (decoupled: p = p * (1 - lr * wd))
        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g^2
        p = p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

    with AMSGrad using the running maximum of v.

    Args:
        params (iterable): Parameters, ``(name, Parameter)`` pairs (``named_parameters()``),
            or dicts ``{"params": ..., option: value}`` defining param groups whose options
            override the defaults below.
        lr (float, optional): the learning rate, >= 0. Default: 1e-3.
        betas (tuple of 2 floats, optional): the decay rates (beta1, beta2) of the running
            averages of the gradient and its square, each in [0, 1). Default: (0.9, 0.999).
        eps (float, optional): added to the denominator, >= 0. Default: 1e-8.
        weight_decay (float, optional): the L2 penalty, >= 0. Default: 0.
        amsgrad (bool, optional): the AMSGrad variant. Default: ``False``.
        maximize (bool, optional, keyword-only): maximize the objective (step along +grad).
            Default: ``False``.
        decoupled_weight_decay (bool, optional, keyword-only): AdamW's decoupled weight decay.
            Default: ``False``.

    Raises:
        TypeError / ValueError: an option of the wrong type or out of range, naming it.

    Example::

        >>> model = rnnfast.nn.Linear(4, 1)
        >>> opt = rnnfast.optim.Adam(model.parameters(), lr=0.01)
        >>> loss = model(rnnfast.randn(8, 4)).pow(2).mean()
        >>> opt.zero_grad()
        >>> loss.backward()
        >>> w = model.weight.detach().clone()
        >>> opt.step()
        >>> bool((model.weight != w).any())
        True
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _check_group(self, g):
        _check_real("lr", g["lr"])
        _check_real("eps", g["eps"])
        betas = g["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas: expected a pair (beta1, beta2), got {betas!r}")
        _check_real("betas[0]", betas[0], 0.0, 1.0, high_open=True)
        _check_real("betas[1]", betas[1], 0.0, 1.0, high_open=True)
        g["betas"] = tuple(betas)
        _check_real("weight_decay", g["weight_decay"])
        for key in ("amsgrad", "maximize", "decoupled_weight_decay"):
            _check_bool(key, g[key])

    @staticmethod
    def _init_state(p, group, state):
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)

    def _kernel_step(self, group, params, grads):
        arrays = self._kernel_arrays(params, grads)
        if arrays is None:
            return False
        states = [self.state.setdefault(p, {}) for p in params]
        for p, st in zip(params, states):
            self._init_state(p, group, st)
        ams = group["amsgrad"]
        names = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if ams else ())
        if not all(name in st and _kernel_ready(params[0].dtype, st[name])
                   for st in states for name in names):
            return False
        for st in states:
            st["step"] += 1
        b1, b2 = group["betas"]
        _core.adam_step(*arrays, [st["exp_avg"] for st in states],
                        [st["exp_avg_sq"] for st in states],
                        [st["max_exp_avg_sq"] for st in states] if ams else None,
                        [int(st["step"]) for st in states], float(group["lr"]), float(b1),
                        float(b2), float(group["eps"]), float(group["weight_decay"]), bool(ams),
                        bool(group["maximize"]), bool(group["decoupled_weight_decay"]))
        return True

    def _update(self, p, grad, group, state):
        # torch.optim.Adam: m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2; (AMSGrad: v_max =
        # max(v_max, v)); p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
        self._init_state(p, group, state)
        lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
        state["step"] += 1
        t = state["step"]
        g = self._effective_grad(p, grad, group, decoupled=group["decoupled_weight_decay"])
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1 - b1) * (g - m)
        v *= b2
        v += (1 - b2) * g * g
        step_size = lr / (1 - b1 ** t)
        bc2_sqrt = math.sqrt(1 - b2 ** t)
        if group["amsgrad"]:
            vmax = state["max_exp_avg_sq"]
            np.maximum(vmax, v, out=vmax)
            denom = np.sqrt(vmax) / bc2_sqrt + eps
        else:
            denom = np.sqrt(v) / bc2_sqrt + eps
        p.data -= step_size * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as torch.optim.AdamW:
    ``p *= 1 - lr*weight_decay`` before the Adam step; default ``weight_decay=1e-2``.

    Args:
        params (iterable): Parameters, ``(name, Parameter)`` pairs (``named_parameters()``),
            or dicts ``{"params": ..., option: value}`` defining param groups whose options
            override the defaults below.
        lr (float, optional): the learning rate, >= 0. Default: 1e-3.
        betas (tuple of 2 floats, optional): the decay rates (beta1, beta2), each in [0, 1).
            Default: (0.9, 0.999).
        eps (float, optional): added to the denominator, >= 0. Default: 1e-8.
        weight_decay (float, optional): the decoupled weight decay, >= 0. Default: 1e-2.
        amsgrad (bool, optional): the AMSGrad variant. Default: ``False``.
        maximize (bool, optional, keyword-only): maximize the objective (step along +grad).
            Default: ``False``.

    Raises:
        TypeError / ValueError: an option of the wrong type or out of range, naming it.

    Example::

        >>> model = rnnfast.nn.Linear(4, 1)
        >>> opt = rnnfast.optim.AdamW(model.parameters(), lr=0.01)
        >>> loss = model(rnnfast.randn(8, 4)).pow(2).mean()
        >>> opt.zero_grad()
        >>> loss.backward()
        >>> w = model.weight.detach().clone()
        >>> opt.step()
        >>> bool((model.weight != w).any())
        True
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True)


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e; centered variant of Graves, 2013) with optional momentum,
    L2 weight decay and maximize, as torch.optim.RMSprop::

        g = grad + weight_decay * p
        v = alpha * v + (1 - alpha) * g^2            (centered: minus the squared mean of g)
        p = p - lr * g / (sqrt(v) + eps)             (through a momentum buffer if momentum > 0)

    Args:
        params (iterable): Parameters, ``(name, Parameter)`` pairs (``named_parameters()``),
            or dicts ``{"params": ..., option: value}`` defining param groups whose options
            override the defaults below.
        lr (float, optional): the learning rate, >= 0. Default: 1e-2.
        alpha (float, optional): the smoothing constant of the squared-gradient average, >= 0.
            Default: 0.99.
        eps (float, optional): added to the denominator, >= 0. Default: 1e-8.
        weight_decay (float, optional): the L2 penalty, >= 0. Default: 0.
        momentum (float, optional): the momentum factor, >= 0. Default: 0.
        centered (bool, optional): normalize by an estimate of the gradient's variance.
            Default: ``False``.
        maximize (bool, optional, keyword-only): maximize the objective (step along +grad).
            Default: ``False``.

    Raises:
        TypeError / ValueError: an option of the wrong type or out of range, naming it.

    Example::

        >>> model = rnnfast.nn.Linear(4, 1)
        >>> opt = rnnfast.optim.RMSprop(model.parameters(), lr=0.01)
        >>> loss = model(rnnfast.randn(8, 4)).pow(2).mean()
        >>> opt.zero_grad()
        >>> loss.backward()
        >>> w = model.weight.detach().clone()
        >>> opt.step()
        >>> bool((model.weight != w).any())
        True
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, *, maximize=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps,
                                      centered=centered, weight_decay=weight_decay,
                                      maximize=maximize))

    def _check_group(self, g):
        _check_real("lr", g["lr"])
        _check_real("eps", g["eps"])
        _check_real("momentum", g["momentum"])
        _check_real("weight_decay", g["weight_decay"])
        _check_real("alpha", g["alpha"])
        _check_bool("centered", g["centered"])
        _check_bool("maximize", g["maximize"])

    @staticmethod
    def _init_state(p, group, state):
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(p.data)
            if group["momentum"] > 0:
                state["momentum_buffer"] = np.zeros_like(p.data)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p.data)

    def _kernel_step(self, group, params, grads):
        arrays = self._kernel_arrays(params, grads)
        if arrays is None:
            return False
        states = [self.state.setdefault(p, {}) for p in params]
        for p, st in zip(params, states):
            self._init_state(p, group, st)
        mom, centered = group["momentum"] > 0, group["centered"]
        names = ("square_avg",) + (("momentum_buffer",) if mom else ()) + \
            (("grad_avg",) if centered else ())
        if not all(name in st and _kernel_ready(params[0].dtype, st[name])
                   for st in states for name in names):
            return False
        for st in states:
            st["step"] += 1
        _core.rmsprop_step(*arrays, [st["square_avg"] for st in states],
                           [st["momentum_buffer"] for st in states] if mom else None,
                           [st["grad_avg"] for st in states] if centered else None,
                           float(group["lr"]), float(group["alpha"]), float(group["eps"]),
                           float(group["weight_decay"]), float(group["momentum"]),
                           bool(centered), bool(group["maximize"]))
        return True

    def _update(self, p, grad, group, state):
        # torch.optim.RMSprop: s = a*s + (1-a)*g^2; (centered: gbar = a*gbar + (1-a)*g,
        # s~ = s - gbar^2); d = sqrt(s~) + eps; b = mu*b + g/d, p -= lr*b (mu = 0: p -= lr*g/d)
        self._init_state(p, group, state)
        state["step"] += 1
        alpha, mu = group["alpha"], group["momentum"]
        g = self._effective_grad(p, grad, group)
        sq = state["square_avg"]
        sq *= alpha
        sq += (1 - alpha) * g * g
        if group["centered"]:
            ga = state["grad_avg"]
            ga += (1 - alpha) * (g - ga)
            avg = np.sqrt(sq - ga * ga)
        else:
            avg = np.sqrt(sq)
        avg += group["eps"]
        if mu > 0:
            buf = state["momentum_buffer"]
            buf *= mu
            buf += g / avg
            p.data -= group["lr"] * buf
        else:
            p.data -= group["lr"] * g / avg


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011) with learning-rate decay, L2 weight decay and maximize, as
    torch.optim.Adagrad (state is created for every parameter at construction, as in torch)::

        clr = lr / (1 + (t - 1) * lr_decay);  g = grad + weight_decay * p
        sum = sum + g^2;  p = p - clr * g / (sqrt(sum) + eps)

    Args:
        params (iterable): Parameters, ``(name, Parameter)`` pairs (``named_parameters()``),
            or dicts ``{"params": ..., option: value}`` defining param groups whose options
            override the defaults below.
        lr (float, optional): the learning rate, >= 0. Default: 1e-2.
        lr_decay (float, optional): the learning-rate decay, >= 0. Default: 0.
        weight_decay (float, optional): the L2 penalty, >= 0. Default: 0.
        initial_accumulator_value (float, optional): the initial value of the sum of squared
            gradients, >= 0. Default: 0.
        eps (float, optional): added to the denominator, >= 0. Default: 1e-10.
        maximize (bool, optional, keyword-only): maximize the objective (step along +grad).
            Default: ``False``.

    Raises:
        TypeError / ValueError: an option of the wrong type or out of range, naming it.

    Example::

        >>> model = rnnfast.nn.Linear(4, 1)
        >>> opt = rnnfast.optim.Adagrad(model.parameters(), lr=0.1)
        >>> loss = model(rnnfast.randn(8, 4)).pow(2).mean()
        >>> opt.zero_grad()
        >>> loss.backward()
        >>> w = model.weight.detach().clone()
        >>> opt.step()
        >>> bool((model.weight != w).any())
        True
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, *, maximize=False):
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps,
                                      weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      maximize=maximize))
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group, self.state.setdefault(p, {}))

    @staticmethod
    def _init_state(p, group, state):
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(p.data, group["initial_accumulator_value"])

    def _check_group(self, g):
        _check_real("lr", g["lr"])
        _check_real("lr_decay", g["lr_decay"])
        _check_real("weight_decay", g["weight_decay"])
        _check_real("initial_accumulator_value", g["initial_accumulator_value"])
        _check_real("eps", g["eps"])
        _check_bool("maximize", g["maximize"])

    def _kernel_step(self, group, params, grads):
        arrays = self._kernel_arrays(params, grads)
        if arrays is None:
            return False
        states = [self.state.setdefault(p, {}) for p in params]
        for p, st in zip(params, states):
            self._init_state(p, group, st)
        if not all(_kernel_ready(params[0].dtype, st["sum"]) for st in states):
            return False
        for st in states:
            st["step"] += 1
        _core.adagrad_step(*arrays, [st["sum"] for st in states],
                           [int(st["step"]) for st in states], float(group["lr"]),
                           float(group["lr_decay"]), float(group["weight_decay"]),
                           float(group["eps"]), bool(group["maximize"]))
        return True

    def _update(self, p, grad, group, state):
        # torch.optim.Adagrad: clr = lr / (1 + (t-1)*lr_decay); s += g^2;
        # p -= clr * g / (sqrt(s) + eps)
        self._init_state(p, group, state)
        state["step"] += 1
        g = self._effective_grad(p, grad, group)
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        s = state["sum"]
        s += g * g
        p.data -= clr * g / (np.sqrt(s) + group["eps"])
