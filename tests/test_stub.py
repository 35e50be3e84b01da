"""rnnfast/_core.pyi, the type stub of the compiled module, against the module itself: the same
names both ways, and for each function the bindings' argument names and order, defaults,
scalar argument types (int, bool, float, str), return type where it is a scalar, a list or None,
and docstring (pybind11 writes each function's signature and docstring into its ``__doc__``).
A binding added, removed or changed without the stub fails here. The py.typed marker that
tells type checkers to read the stub sits beside it.
"""

import ast
import os
import re

import pytest

import rnnfast
from rnnfast import _core

PACKAGE = os.path.dirname(rnnfast.__file__)
STUB = os.path.join(PACKAGE, "_core.pyi")
SCALARS = {"int", "bool", "float", "str"}


def _stub():
    with open(STUB, encoding="utf-8") as f:
        tree = ast.parse(f.read(), STUB)
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    aliases = {n.targets[0].id: n.value for n in tree.body
               if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)}
    return defs, aliases


DEFS, ALIASES = _stub()
EXPORTS = sorted(n for n in dir(_core) if not (n.startswith("__") and n.endswith("__")))
# The enums the module exports (pybind11 classes); the rest are functions.
ENUMS = ["Cell"]
MODULE_NAMES = [n for n in EXPORTS if n not in ENUMS]


def _split_top(text):
    """Splits ``text`` at the commas outside brackets and quotes."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    if text[start:].strip():
        parts.append(text[start:].strip())
    return parts


def _binding(name):
    """(params [(name, type, default text or None)], return type, docstring) from pybind11's
    ``__doc__``: ``name(a: int, b: bool = False) -> None`` then the docstring."""
    doc = getattr(_core, name).__doc__ or ""
    first, _, rest = doc.partition("\n")
    m = re.fullmatch(rf"{re.escape(name)}\((.*)\) -> (.+)", first.strip())
    assert m, f"_core.{name}: unexpected pybind11 signature line {first!r}"
    params = []
    for arg in _split_top(m.group(1)):
        pname, _, rest_arg = arg.partition(": ")
        ptype, _, default = rest_arg.partition(" = ")
        params.append((pname, ptype.strip(), default.strip() or None))
    return params, m.group(2).strip(), rest.strip()


def _annotation(node):
    """The annotation's text with the stub's own aliases (``_Reduction``...) resolved once."""
    if isinstance(node, ast.Name) and node.id in ALIASES:
        node = ALIASES[node.id]
    return ast.unparse(node)


def _matches(binding_type, stub_text):
    """Whether the stub's annotation agrees with pybind11's type name where that name is
    precise: scalars, lists of scalars and None (arrays, tuples and objects are ``object``,
    ``tuple`` or ``numpy.ndarray`` to pybind11, and the stub says more)."""
    b = binding_type.replace("List[", "list[")
    # pybind11 3 names the arguments it converts with __int__ / __float__ by those protocols
    if re.fullmatch(r"(typing\.)?SupportsInt( \| (typing\.)?SupportsIndex)?", b):
        b = "int"
    elif re.fullmatch(r"(typing\.)?SupportsFloat( \| (typing\.)?SupportsIndex)?", b):
        b = "float"
    if b == "str" and stub_text.startswith("Literal["):
        return all(isinstance(v, str) for v in ast.literal_eval(
            "[" + stub_text[len("Literal["):-1] + "]"))
    if b in SCALARS or b == "None" or re.fullmatch(r"list\[\w+\]", b):
        return stub_text == b
    return stub_text != "None"


def test_stub_names_equal_module_names():
    stub, module = set(DEFS), set(EXPORTS)
    assert not module - stub, f"in rnnfast._core, missing from _core.pyi: {sorted(module - stub)}"
    assert not stub - module, f"in _core.pyi, not in rnnfast._core: {sorted(stub - module)}"


def test_module_exports_only_functions():
    """The stub's parameter checks below assume every export is a pybind11 function."""
    for name in MODULE_NAMES:
        assert type(getattr(_core, name)).__name__ == "builtin_function_or_method", name
        assert isinstance(DEFS[name], ast.FunctionDef), name


@pytest.mark.parametrize("name", ENUMS)
def test_stub_enum_matches_binding(name):
    """An enum's members: the same names with the same values in the stub's class."""
    node = DEFS[name]
    assert isinstance(node, ast.ClassDef), name
    stub = {t.targets[0].id: ast.literal_eval(t.value) for t in node.body
            if isinstance(t, ast.Assign)}
    module = {k: int(v) for k, v in getattr(_core, name).__members__.items()}
    assert stub == module


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_stub_signature_matches_binding(name):
    params, returns, doc = _binding(name)
    node = DEFS[name]
    args = node.args
    assert not (args.vararg or args.kwarg or args.kwonlyargs or args.posonlyargs), name
    names = [a.arg for a in args.args]
    assert names == [p[0] for p in params], f"{name}: stub arguments {names}, bindings' " \
                                            f"{[p[0] for p in params]}"
    defaults = [None] * (len(args.args) - len(args.defaults)) + list(args.defaults)
    for a, d, (pname, ptype, pdefault) in zip(args.args, defaults, params):
        assert a.annotation is not None, f"{name}({pname}): no annotation in the stub"
        stub_type = _annotation(a.annotation)
        assert _matches(ptype, stub_type), \
            f"{name}({pname}): stub says {stub_type}, the binding takes {ptype}"
        if pdefault is None:
            assert d is None, f"{name}({pname}): the stub has a default the binding lacks"
        else:
            assert d is not None, f"{name}({pname}): the binding's default {pdefault} missing"
            assert ast.literal_eval(d) == ast.literal_eval(pdefault), \
                f"{name}({pname}): stub default {ast.unparse(d)}, binding's {pdefault}"
    assert node.returns is not None, f"{name}: no return annotation in the stub"
    stub_ret = _annotation(node.returns)
    assert _matches(returns, stub_ret), f"{name}: stub returns {stub_ret}, binding {returns}"
    assert (ast.get_docstring(node) or "") == doc, f"{name}: docstring differs from the binding's"


def test_py_typed_marker_beside_the_stub():
    assert os.path.isfile(os.path.join(PACKAGE, "py.typed"))
