"""ModuleList and ModuleDict: containers that register their modules (parameters, state_dict
keys "0.weight" / "name.weight", train/eval) as torch.nn's do. Neither defines forward.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

import numpy as np

from .module import Module

__all__ = ["ModuleList", "ModuleDict"]


def _check_module(m, where):
    if not isinstance(m, Module):
        raise TypeError(f"{where}: expected an rnnfast.nn.Module, got {type(m).__name__}")
    return m


class ModuleList(Module):
    """A list of modules, indexed like a Python list; its modules' parameters belong to the
    module that holds the list (state_dict keys "0.weight", ...). It has no ``forward``.

    Args:
        modules (iterable of Modules, optional): the initial modules. Default: empty.

    Example::

        >>> layers = rnnfast.nn.ModuleList([rnnfast.nn.Linear(8, 8) for _ in range(3)])
        >>> x = rnnfast.randn(2, 8)
        >>> for layer in layers:
        ...     x = layer(x).tanh()
        >>> len(layers), len(list(layers.parameters())), tuple(x.shape)
        (3, 6, (2, 8))
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _index(self, idx):
        n = len(self)
        if isinstance(idx, bool) or not isinstance(idx, (int, np.integer)):
            raise TypeError(f"idx: expected an int or slice, got {type(idx).__name__}")
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for ModuleList of length {n}")
        return str(int(idx) % n)

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return ModuleList(list(self._modules.values())[idx])
        return self._modules[self._index(idx)]

    def __setitem__(self, idx, module):
        self._modules[self._index(idx)] = _check_module(module, "module")

    def __delitem__(self, idx):
        items = list(self._modules.values())
        if isinstance(idx, slice):
            del items[idx]
        else:
            del items[int(self._index(idx))]
        self._modules.clear()
        for i, m in enumerate(items):
            self._modules[str(i)] = m

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        if not isinstance(other, ModuleList):
            raise TypeError(f"other: expected a ModuleList, got {type(other).__name__}")
        return ModuleList(list(self) + list(other))

    def append(self, module):
        self.add_module(str(len(self)), _check_module(module, "module"))
        return self

    def extend(self, modules):
        if not isinstance(modules, Iterable) or isinstance(modules, Module):
            raise TypeError(f"modules: expected an iterable of Modules, got "
                            f"{type(modules).__name__}")
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        items = list(self._modules.values())
        items.insert(index, _check_module(module, "module"))
        self._modules.clear()
        for i, m in enumerate(items):
            self._modules[str(i)] = m

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward(); iterate over its modules")


class ModuleDict(Module):
    """An ordered dict of modules keyed by name (insertion order kept); its modules'
    parameters belong to the module that holds it (state_dict keys "name.weight"). It has no
    ``forward``.

    Args:
        modules (mapping or iterable of (name, Module) pairs, optional): the initial modules.
            Default: empty.

    Example::

        >>> heads = rnnfast.nn.ModuleDict({"cls": rnnfast.nn.Linear(8, 3),
        ...                                "reg": rnnfast.nn.Linear(8, 1)})
        >>> tuple(heads["cls"](rnnfast.randn(2, 8)).shape), list(heads.keys())
        ((2, 3), ['cls', 'reg'])
    """

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        if key not in self._modules:
            raise KeyError(key)
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, _check_module(module, f"modules[{key!r}]"))

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key):
        m = self[key]
        del self[key]
        return m

    def clear(self):
        self._modules.clear()

    def update(self, modules):
        """Add (name, module) pairs from a mapping or an iterable of pairs."""
        if isinstance(modules, (Mapping, OrderedDict)):
            pairs = modules.items()
        elif isinstance(modules, Iterable):
            pairs = []
            for i, kv in enumerate(modules):
                if not isinstance(kv, (tuple, list)) or len(kv) != 2:
                    raise TypeError(f"modules[{i}]: expected a (name, module) pair, got "
                                    f"{type(kv).__name__}")
                pairs.append(kv)
        else:
            raise TypeError(f"modules: expected a mapping or an iterable of (name, module) "
                            f"pairs, got {type(modules).__name__}")
        for k, m in pairs:
            self[k] = m

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward(); call its modules by name")
