"""Module, Parameter and Sequential: the bookkeeping half of rnnfast.nn, modelled on torch.nn.

A Module registers the Parameters, buffers and sub-Modules assigned to it, names them with
dotted paths ("0.weight", "rnn.weight_ih_l0"), and saves / loads them as a state_dict of NumPy
arrays, so a torch state_dict converted to NumPy loads unchanged. No hooks, no devices, no
parametrizations.
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Mapping

import numpy as np

from .. import _device
from ..tensor import Tensor, _to_array, _wrap, as_tensor

__all__ = ["Parameter", "Module", "Sequential"]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _float_dtype(dtype, name="dtype") -> np.dtype:
    """float32 or float64 as an np.dtype; anything else raises TypeError naming ``name``."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in _FLOAT_DTYPES:
        raise TypeError(f"{name}: expected float32 or float64, got {dtype!r}")
    return dt


def _check_size(value, name, minimum=1):
    """A positive int argument (bools rejected), else TypeError / ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return int(value)


class Parameter(Tensor):
    """A Tensor that a Module registers as a parameter; requires grad by default and keeps its
    dtype (NumPy arrays are used as they are, without a copy; Python data becomes float32).

    Args:
        data (Tensor, array or nested sequence, optional): the values; an rnnfast Tensor's
            array is shared. Default: an empty float32 tensor.
        requires_grad (bool, optional): whether gradients are recorded. Default: ``True``.

    Example::

        >>> p = rnnfast.nn.Parameter(rnnfast.zeros(2, 3))
        >>> p.requires_grad, tuple(p.shape)
        (True, (2, 3))
    """

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.empty((0,), dtype=np.float32)
        arr = data.data if isinstance(data, Tensor) else _to_array(data, name="data")
        self.data = arr
        self._grad = None
        self._requires_grad = False
        self._node = None
        self.requires_grad = requires_grad

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _addindent(text, spaces):
    lines = text.split("\n")
    return lines[0] if len(lines) == 1 else \
        lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


class Module:
    """Base class of all layers. Subclasses call ``super().__init__()`` first, assign
    Parameters and Modules as attributes, and define ``forward``; calling the module calls
    ``forward``. Parameters, buffers and submodules are registered by assignment, and their
    state_dict keys are the dotted attribute paths, as torch's.

    Example::

        >>> class Model(rnnfast.nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.lstm = rnnfast.nn.LSTM(4, 8, batch_first=True)
        ...         self.head = rnnfast.nn.Linear(8, 2)
        ...     def forward(self, x):
        ...         y, _ = self.lstm(x)
        ...         return self.head(y[:, -1])
        >>> model = Model()
        >>> tuple(model(rnnfast.randn(3, 5, 4)).shape)
        (3, 2)
        >>> list(model.state_dict())[:2]
        ['lstm.weight_ih_l0', 'lstm.weight_hh_l0']
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- attribute registration ------------------------------------------------------------
    def __setattr__(self, name, value):
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._discard(name)
            params[name] = value
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                f"(rnnfast.nn.Parameter or None expected)")
            params[name] = None
            return
        modules = self.__dict__.get("_modules")
        if isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._discard(name)
            modules[name] = value
            return
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module "
                                f"'{name}' (rnnfast.nn.Module or None expected)")
            modules[name] = None
            return
        buffers = self.__dict__.get("_buffers")
        if buffers is not None and name in buffers:
            buffers[name] = None if value is None else as_tensor(value, name=name)
            return
        object.__setattr__(self, name, value)

    def _discard(self, name):
        self.__dict__.pop(name, None)
        for d in (self._parameters, self._buffers, self._modules):
            d.pop(name, None)
        self._non_persistent.discard(name)

    def __getattr__(self, name):
        # Only called when normal lookup fails.
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if key in d and name in d[key]:
                return d[key][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for key in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(key, ()):
                del self.__dict__[key][name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    def register_parameter(self, name, param):
        """Register ``param`` (a Parameter, or None for an absent one such as a bias) under
        ``name`` (a non-empty str without '.')."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameters before Module.__init__() call")
        self._check_name(name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' as parameter '{name}' "
                            f"(rnnfast.nn.Parameter or None expected)")
        self._discard(name)
        self._parameters[name] = param

    def register_buffer(self, name, value, persistent=True):
        """Register ``value`` (a Tensor, array or None) under ``name`` as a state array that is
        not a parameter; it is saved in state_dict if ``persistent`` (default ``True``)."""
        self._check_name(name)
        self._discard(name)
        self._buffers[name] = None if value is None else as_tensor(value, name=name)
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name, module):
        """Register ``module`` (a Module, or None) as the submodule ``name`` (also reachable as
        ``register_module``)."""
        self._check_name(name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"module: expected an rnnfast.nn.Module, got {type(module).__name__}")
        self._discard(name)
        self._modules[name] = module

    register_module = add_module

    @staticmethod
    def _check_name(name):
        if not isinstance(name, str):
            raise TypeError(f"name: expected a str, got {type(name).__name__}")
        if not name or "." in name:
            raise KeyError(f"name: expected a non-empty name without '.', got {name!r}")

    # -- traversal -------------------------------------------------------------------------
    def named_modules(self, memo=None, prefix=""):
        """(dotted name, module) pairs of self and every submodule, depth first, each module
        once. ``prefix`` is put before every name; ``memo`` is the set of ids already
        yielded (internal to the recursion, None to start)."""
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, prefix + ("." if prefix else "") + name)

    def modules(self):
        """Self and every submodule, as ``named_modules`` without the names."""
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        """(name, module) pairs of the direct submodules."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        """The direct submodules."""
        for _, m in self.named_children():
            yield m

    def _named_members(self, attr, prefix, recurse):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mprefix, m in mods:
            for name, v in getattr(m, attr).items():
                if v is None or id(v) in seen:
                    continue
                seen.add(id(v))
                yield mprefix + ("." if mprefix else "") + name, v

    def named_parameters(self, prefix="", recurse=True):
        """(dotted name, Parameter) pairs; a parameter shared by two modules appears once.
        ``prefix`` is put before every name; with ``recurse=False`` only this module's own."""
        yield from self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse=True):
        """The Parameters (with ``recurse``, default ``True``, those of the submodules too),
        e.g. for an optimizer: ``rnnfast.optim.SGD(model.parameters(), lr=0.1)``."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True):
        """(dotted name, buffer Tensor) pairs, as ``named_parameters`` (``prefix``,
        ``recurse``)."""
        yield from self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse=True):
        """The buffer Tensors (with ``recurse``, default ``True``, those of the submodules
        too)."""
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Call ``fn`` on every submodule (children first) and on self; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- state -----------------------------------------------------------------------------
    def state_dict(self, *, prefix="", keep_vars=False):
        """OrderedDict of dotted name -> NumPy array copy of every parameter and persistent
        buffer (the Tensors themselves with ``keep_vars``); ``prefix`` is put before every
        key."""
        out = OrderedDict()
        self._save_to(out, prefix, keep_vars)
        return out

    def _save_to(self, out, prefix, keep_vars):
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = p if keep_vars else p.data.copy()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent:
                out[prefix + name] = b if keep_vars else b.data.copy()
        for name, m in self._modules.items():
            if m is not None:
                m._save_to(out, prefix + name + ".", keep_vars)

    def load_state_dict(self, state_dict, strict=True):
        """Copy ``state_dict`` values (NumPy arrays, Tensors, anything np.asarray accepts) into
        the parameters and buffers in place, cast to their dtypes.

        Raises RuntimeError for shape mismatches and, if ``strict``, for missing or unexpected
        keys; nothing is modified when it raises. Returns (missing_keys, unexpected_keys)."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict: expected a mapping, got {type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors, todo = [], []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = _state_value(state_dict[key], key)
            if value.shape != target.shape:
                errors.append(f"size mismatch for {key}: copying a param with shape "
                              f"{value.shape} from checkpoint, the shape in current model is "
                              f"{target.shape}.")
            else:
                todo.append((target, value))
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        for target, value in todo:
            np.copyto(target.data, value, casting="unsafe")
        return _IncompatibleKeys(missing, unexpected)

    # -- modes, grads, dtypes --------------------------------------------------------------
    def train(self, mode=True):
        """Set training mode (``mode=True``) or evaluation mode (``False``) on self and every
        submodule (dropout is active in training mode only); returns self. ``mode`` must be a
        bool (TypeError otherwise)."""
        if not isinstance(mode, bool):
            raise TypeError(f"mode: expected a bool, got {type(mode).__name__}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        """``train(False)``: evaluation mode; returns self."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` on every parameter (False freezes the module); returns self."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Reset parameter gradients: to None (``set_to_none=True``, the default, as torch), or
        to zeros in place."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.fill(0)

    def to(self, *args, dtype=None, device=None, non_blocking=False):
        """As torch's ``Module.to``: ``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or
        ``to(tensor)`` (its dtype). Converts float parameters (and their grads) and float
        buffers to the float ``dtype`` in place (``non_blocking`` is accepted and ignored);
        the device must be the CPU (``"cpu"``,
        ``rnnfast.device("cpu")``), another raises ValueError. Returns self."""
        if len(args) > 2:
            raise TypeError(f"to(): expected at most 2 positional arguments, got {len(args)}")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif _device.is_device_like(a) or (isinstance(a, int) and not isinstance(a, bool)):
                device = a
            else:
                dtype = a
        _device.check_device(device)
        if dtype is None:
            return self
        dt = _float_dtype(dtype)
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None and p.dtype.kind == "f" and p.dtype != dt:
                    p.data = p.data.astype(dt)
                    if p.grad is not None:
                        p.grad = p.grad.astype(dt)
            for name, b in m._buffers.items():
                if b is not None and b.dtype.kind == "f" and b.dtype != dt:
                    m._buffers[name] = _wrap(b.data.astype(dt))
        return self

    def double(self):
        """``to(float64)``: float parameters and buffers to float64; returns self."""
        return self.to(np.float64)

    def cpu(self):
        """Returns self (everything is on the CPU)."""
        return self

    def cuda(self, device=None):
        """Raises ValueError whatever ``device``: rnnfast runs on the CPU only (a CPU
        ``device`` too, as torch's "Invalid device, must be cuda device")."""
        _device.refuse_cuda(device, "Module")

    def float(self):
        """``to(float32)``: float parameters and buffers to float32; returns self."""
        return self.to(np.float32)

    def _param_dtype(self):
        """The dtype of the first float parameter (None for a module without parameters)."""
        for p in self.parameters():
            if p.dtype.kind == "f":
                return p.dtype
        return None

    def _as_input(self, x, name="input"):
        """Module input as a Tensor: Tensors keep their dtype; NumPy arrays, sequences and
        numbers are cast to the module's float dtype (when it has one). Non-numeric data
        raises TypeError naming ``name``."""
        if isinstance(x, Tensor):
            return x
        arr = _to_array(x, name=name)
        dt = self._param_dtype()
        if dt is not None and arr.dtype != dt:
            arr = arr.astype(dt)
        return _wrap(arr)

    # -- calling and printing --------------------------------------------------------------
    def forward(self, *args, **kwargs):
        """The computation, defined by every subclass with its own arguments; the module's
        ``__call__`` passes its ``*args`` and ``**kwargs`` here."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def extra_repr(self):
        """The module's settings shown inside its repr; subclasses override it."""
        return ""

    def __repr__(self):
        lines = []
        extra = self.extra_repr()
        if extra:
            lines.extend(extra.split("\n"))
        for name, m in self._modules.items():
            lines.append(f"({name}): " + _addindent(repr(m), 2))
        head = type(self).__name__ + "("
        if not lines:
            return head + ")"
        if len(lines) == 1 and not self._modules:
            return head + lines[0] + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def _state_value(value, key):
    """A state_dict value as an array (Tensors, arrays, torch tensors, nested lists)."""
    if isinstance(value, Tensor):
        arr = value.data
    else:
        if hasattr(value, "detach") and hasattr(value, "cpu"):      # e.g. a torch tensor
            value = value.detach().cpu().numpy()
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as e:
            raise TypeError(f"state_dict[{key!r}]: cannot convert {type(value).__name__} to an "
                            f"array: {e}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"state_dict[{key!r}]: expected numeric data, got dtype {arr.dtype}")
    return arr


class Sequential(Module):
    """Modules applied in order: ``Sequential(m0, m1, ...)`` or ``Sequential(OrderedDict)``.

    Args:
        *modules: the modules, or one OrderedDict of name -> module (named submodules);
            otherwise the submodules are named "0", "1", ...

    Inputs: input
        * **input**: what the first module takes.

    Outputs: output
        * **output**: what the last module returns (each module's output is the next one's
          input).

    Example::

        >>> model = rnnfast.nn.Sequential(rnnfast.nn.Linear(4, 8), rnnfast.nn.ReLU(),
        ...                               rnnfast.nn.Linear(8, 2))
        >>> tuple(model(rnnfast.randn(3, 4)).shape)
        (3, 2)
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return Sequential(OrderedDict(list(self._modules.items())[idx]))
        n = len(self)
        if isinstance(idx, bool) or not isinstance(idx, (int, np.integer)):
            raise TypeError(f"idx: expected an int or slice, got {type(idx).__name__}")
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for Sequential of length {n}")
        return list(self._modules.values())[idx]

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def forward(self, input):
        for m in self._modules.values():
            input = m(input)
        return input
