"""The public API's docstrings (issue #16): every public class and function a user reaches from
``import rnnfast`` has a docstring that names each parameter of its signature, the modules'
docstrings have ``Inputs:`` and ``Outputs:`` sections, and every ``>>>`` example runs and
prints what it says (doctest), so a wrong example fails here."""

import doctest
import inspect
import re
import types

import numpy as np
import pytest

import rnnfast
import rnnfast.nn.utils.rnn
from rnnfast.tensor import default_generator

# The packages whose __all__ is the public API in scope (rnnfast's own first, with torch's
# top-level names), and the public methods of the classes below.
_PACKAGES = [rnnfast.nn, rnnfast.nn.utils, rnnfast.nn.utils.rnn, rnnfast.optim,
             rnnfast.optim.lr_scheduler, rnnfast.data, rnnfast.functional]


def _public():
    seen, out = set(), []

    def add(name, obj):
        if id(obj) not in seen:
            seen.add(id(obj))
            out.append((name, obj))

    for pkg in [rnnfast] + _PACKAGES:
        for name in pkg.__all__:
            obj = getattr(pkg, name)
            if isinstance(obj, types.ModuleType) or not callable(obj):
                continue
            add(f"{pkg.__name__}.{name}", obj)
    # the public methods a user calls on tensors, modules, optimizers, schedulers and
    # vocabularies, and Tensor's properties (by their getter, which holds the docstring)
    owners = [rnnfast.Tensor, rnnfast.nn.Module, rnnfast.nn.Embedding, rnnfast.nn.EmbeddingBag,
              rnnfast.data.Vocab] + [
        getattr(rnnfast.optim, n) for n in rnnfast.optim.__all__
        if isinstance(getattr(rnnfast.optim, n), type)]
    for cls in owners:
        for name, fn in vars(cls).items():
            if isinstance(fn, (classmethod, staticmethod)):
                fn = getattr(cls, name)
            elif isinstance(fn, property) and cls is rnnfast.Tensor:
                fn = fn.fget
            if cls is not rnnfast.nn.Module and name in ("forward", "extra_repr"):
                continue            # a module's forward is its class docstring's Inputs:
            if not name.startswith("_") and callable(fn):
                add(f"{cls.__module__}.{cls.__qualname__}.{name}", fn)
    return out


PUBLIC = _public()
IDS = [name for name, _ in PUBLIC]


def _params(obj):
    """The names a docstring must mention: the signature's parameters (the constructor's for a
    class) but self, and *args / **kwargs, which the docstring describes by what they take."""
    fn = obj.__init__ if inspect.isclass(obj) else obj
    sig = inspect.signature(fn)
    return [p.name for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _doc(obj):
    return obj.__doc__ if inspect.isclass(obj) else inspect.getdoc(obj)


@pytest.mark.parametrize("name,obj", PUBLIC, ids=IDS)
def test_docstring_names_every_parameter(name, obj):
    doc = _doc(obj)
    assert doc and doc.strip(), f"{name} has no docstring"
    missing = [p for p in _params(obj) if not re.search(rf"\b{re.escape(p)}\b", doc)]
    assert not missing, f"{name}'s docstring does not name its parameters {missing}"


MODULES = [(n, o) for n, o in PUBLIC
           if inspect.isclass(o) and issubclass(o, rnnfast.nn.Module)
           # the base class and the containers without a forward of their own
           and o not in (rnnfast.nn.Module, rnnfast.nn.ModuleList, rnnfast.nn.ModuleDict)]


@pytest.mark.parametrize("name,obj", MODULES, ids=[n for n, _ in MODULES])
def test_module_docstring_has_inputs_and_outputs(name, obj):
    doc = obj.__doc__
    assert re.search(r"^\s*Inputs?:", doc, re.M), f"{name}: no Inputs: section"
    assert re.search(r"^\s*Outputs?:", doc, re.M), f"{name}: no Outputs: section"


def test_recurrent_docstrings_have_args_attributes_and_example():
    for cls in (rnnfast.nn.RNN, rnnfast.nn.LSTM, rnnfast.nn.GRU, rnnfast.nn.RNNCell,
                rnnfast.nn.LSTMCell, rnnfast.nn.GRUCell):
        doc = cls.__doc__
        for section in ("Args:", "Inputs:", "Outputs:", "Attributes:", "Example::"):
            assert section in doc, f"{cls.__name__}: no {section} section"


EXAMPLES = [(n, o) for n, o in PUBLIC if ">>>" in (_doc(o) or "")]


def test_examples_exist():
    # the recurrent layers at least carry runnable examples (a regression guard on the list)
    names = {n for n, _ in EXAMPLES}
    for cls in ("RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"):
        assert f"rnnfast.nn.{cls}" in names
    for method in ("backward", "grad", "reshape", "max"):
        assert f"rnnfast.tensor.Tensor.{method}" in names


def test_tensor_methods_in_scope():
    # a regression guard on the list: Tensor's methods and properties are checked, aliases
    # (view = reshape, clip = clamp) once under their first name, magic methods not at all
    names = {n.rsplit(".", 1)[1] for n in IDS if n.startswith("rnnfast.tensor.Tensor.")}
    public = {n for n, v in vars(rnnfast.Tensor).items()
              if not n.startswith("_") and (callable(v) or isinstance(v, property))}
    aliases = {"view", "reshape_as", "clip"}
    assert names == public - aliases
    assert {"sum", "backward", "shape", "grad", "T", "new_zeros", "add_"} <= names


@pytest.mark.parametrize("name,obj", EXAMPLES, ids=[n for n, _ in EXAMPLES])
def test_docstring_examples_run(name, obj, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # examples that save files write here
    gen = default_generator()
    state = gen.bit_generator.state      # restored after, as the examples draw from it
    threads, explicit = rnnfast.get_num_threads(), rnnfast._threads_explicit
    rnnfast.manual_seed(0)
    globs = {"rnnfast": rnnfast, "nn": rnnfast.nn, "np": np}
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(obj, name, globs=globs):
        test.docstring = _doc(obj)
        runner.run(test)
    result = runner.summarize(verbose=False)
    gen.bit_generator.state = state
    rnnfast.set_num_threads(threads)     # set_num_threads's example calls it
    rnnfast._threads_explicit = explicit
    assert result.attempted > 0, f"{name}: no example ran"
    assert result.failed == 0, f"{name}: {result.failed} example(s) failed (see output)"
