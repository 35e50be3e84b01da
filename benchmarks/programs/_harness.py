"""The programs' common interface: ``build(module, framework, seed, size, shuffle) -> Program``,
whose ``.epoch()`` trains one epoch and returns its mean loss; and ``port_diff(module)``, the
lines by which a program's rnnfast version still differs from its torch twin.

Each program module (one per example, same name) defines:

- ``DATA``: the module name of the data package it reads through rnnfast.datasets (a key of
  rnnfast.datasets.DATA_PACKAGES), or None for synthetic data;
- ``SIZES``: {"full": cfg, "tiny": cfg}: "full" is the benchmark's fixed size, "tiny" the
  check's (a few steps, seconds);
- ``make_data(cfg, seed)``: the data as NumPy arrays, prepared once and given to both twins;
- ``torch_program(data, cfg, seed, shuffle)`` and ``rnnfast_program(...)`` with the same
  signature: build the model, the DataLoader, the optimizer and the loss, and return
  ``(model, train_epoch)``; ``train_epoch()`` trains one epoch and returns its per-step losses.

The two functions hold the same text except their imports (``import rnnfast as torch``, ...) and
the lines marked ``# port: ...``: the places where rnnfast lacks a torch name today. Those are
what the porting work removes; ``port_diff`` finds them, and tests/test_programs.py checks
that every such line is marked.

Not here: timing, threads and the table (rnnfast.bench.programs, ``python -m rnnfast
--programs``).
"""

from __future__ import annotations

import difflib
import inspect
import io
import textwrap
import tokenize

FRAMEWORKS = ("rnnfast", "torch")

_DATA_CACHE = {}


class Program:
    """One framework's version of a program, ready to train: ``epoch()`` trains one epoch and
    returns its mean loss; ``losses`` holds the last epoch's per-step losses."""

    def __init__(self, name, framework, model, train_epoch):
        self.name = name
        self.framework = framework
        self.model = model
        self._train_epoch = train_epoch
        self.losses = []
        self.epochs = 0

    def epoch(self):
        losses = [float(v) for v in self._train_epoch()]
        if not losses:
            raise RuntimeError(f"{self.name} ({self.framework}): an epoch made no step")
        self.losses = losses
        self.epochs += 1
        return sum(losses) / len(losses)

    def __repr__(self):
        return f"Program({self.name!r}, {self.framework!r}, epochs={self.epochs})"


def data_for(module, size="full", seed=0):
    """The module's data at ``size`` (cached: both twins train on the same arrays)."""
    key = (module.__name__, size, seed)
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = module.make_data(module.SIZES[size], seed)
    return _DATA_CACHE[key]


def torch_state_as_numpy(model):
    """A torch module's state_dict as NumPy arrays, the form rnnfast's load_state_dict takes."""
    return {k: v.detach().numpy() for k, v in model.state_dict().items()}


def build(module, framework, seed=0, size="full", shuffle=True):
    """Build ``module``'s program for ``framework`` ("rnnfast" or "torch").

    Both frameworks start from the same weights: the torch model, initialized by torch under
    ``torch.manual_seed(seed)``, is built first and its state_dict copied into the rnnfast
    model. ``shuffle=False`` keeps the data order fixed, so that both twins see the same batches
    in the same order and their per-step losses can be compared."""
    name = module.__name__.rpartition(".")[2]
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework: expected one of {FRAMEWORKS}, got {framework!r}")
    if size not in module.SIZES:
        raise ValueError(f"size: expected one of {tuple(module.SIZES)}, got {size!r}")
    cfg = module.SIZES[size]
    data = data_for(module, size, seed)
    model, train_epoch = module.torch_program(data, cfg, seed, shuffle)
    if framework == "rnnfast":
        weights = torch_state_as_numpy(model)
        model, train_epoch = module.rnnfast_program(data, cfg, seed, shuffle)
        model.load_state_dict(weights)
    return Program(name, framework, model, train_epoch)


def _code_lines(fn):
    """The function's body as (code, text, marked) per line, without the def line, import
    statements, blank and comment-only lines: code is the line without its comment, text the
    line as written, marked whether a ``# port:`` comment stands on it or in the comment lines
    right above it."""
    src = textwrap.dedent(inspect.getsource(fn))
    lines = src.splitlines()
    comments = {}
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0] - 1] = (tok.start[1], tok.string)
    out = []
    above = False           # a "# port:" in the comment-only lines just above
    for i, text in enumerate(lines):
        col, comment = comments.get(i, (len(text), ""))
        code = text[:col].rstrip()
        is_port = comment.startswith("# port:")
        if not code.strip():
            above = (above or is_port) if comment else False
            continue
        marked, above = is_port or above, False
        head = code.strip()
        if i == 0 or head.startswith("import ") or head.startswith("from ") and " import " in head:
            continue
        out.append((code, text, marked))
    return out


def port_diff(module):
    """The hunks by which ``rnnfast_program`` differs from ``torch_program`` beyond their
    imports (comments ignored): a list of (rnnfast lines, torch lines), each line as written,
    and whether every rnnfast line of the hunk is marked ``# port:`` (on it or just above)."""
    r, t = _code_lines(module.rnnfast_program), _code_lines(module.torch_program)
    sm = difflib.SequenceMatcher(a=[c for c, _, _ in r], b=[c for c, _, _ in t], autojunk=False)
    return [([x[1] for x in r[i1:i2]], [x[1] for x in t[j1:j2]],
             i2 > i1 and all(x[2] for x in r[i1:i2]))
            for op, i1, i2, j1, j2 in sm.get_opcodes() if op != "equal"]


def port_lines(module):
    """How many lines of the rnnfast version differ from the torch twin beyond the imports
    (a torch line with no rnnfast counterpart counts too)."""
    return sum(max(len(a), len(b)) for a, b, _ in port_diff(module))
