"""pytest configuration: makes tests/_problems.py importable and re-exports its named tolerances.

Test files import helpers with ``from _problems import ...`` (there is no tests/__init__.py).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from _problems import (  # noqa: E402,F401  (re-exported for readers of conftest)
    FD_EPS,
    FD_TOL,
    GRAD_KEYS,
    TOL,
    assert_close,
    make_cotangents,
    make_problem,
    tol,
)
