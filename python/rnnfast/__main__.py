"""``python -m rnnfast``: the benchmark suite's quick default (``--help`` for the options)."""

from rnnfast.bench.cli import main

raise SystemExit(main())
