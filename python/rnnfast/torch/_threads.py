"""How many threads rnnfast's kernels use under rnnfast.torch.

The rule, in order:

1. ``rnnfast.set_num_threads(n)`` was called: ``n``.
2. Under ``torchrun`` with several processes on this machine, torchrun's default is in force:
   ``LOCAL_WORLD_SIZE`` > 1, ``OMP_NUM_THREADS`` is ``1`` and ``torch.get_num_threads()`` is
   1. torchrun sets ``OMP_NUM_THREADS=1`` for its workers when ``--nproc_per_node`` > 1 and
   the variable was not set, which leaves all but one core per rank idle. Then each rank
   uses ``max(1, usable cores // LOCAL_WORLD_SIZE)`` threads (usable cores: the process's
   CPU affinity), and local rank 0 logs one line saying so at the first call.
3. Otherwise ``torch.get_num_threads()``, read at each call.

torchrun's default and an ``OMP_NUM_THREADS=1`` the user set before torchrun cannot be told
apart in the workers (torchrun passes the user's value on unchanged, and its own default is
the same string), so rule 2 treats both alike; a user who wants one thread per rank calls
``rnnfast.set_num_threads(1)``. Any other ``OMP_NUM_THREADS``, or a
``torch.set_num_threads(k)`` with k > 1, is followed as is (rule 3). Only rnnfast's kernels
are sized by rule 2: torch's own ops keep ``torch.get_num_threads()``.
"""

import logging
import os

import torch

import rnnfast
from rnnfast import _core

__all__ = ["sync_threads", "rank_share"]

_log = logging.getLogger("rnnfast.torch")

# rule 2's thread count, computed at the first call: None (not yet), 0 (rule 2 does not apply)
_share = None


def _usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no sched_getaffinity (macOS, Windows)
        return os.cpu_count() or 1


def rank_share(environ=None):
    """Rule 2's thread count for this process, or 0 when torchrun's default is not in force
    (not under torchrun, one local rank, or OMP_NUM_THREADS other than "1")."""
    env = os.environ if environ is None else environ
    try:
        local_ranks = int(env.get("LOCAL_WORLD_SIZE", ""))
    except ValueError:
        return 0
    if local_ranks <= 1 or env.get("OMP_NUM_THREADS", "").strip() != "1":
        return 0
    return max(1, _usable_cores() // local_ranks)


def sync_threads():
    """Size rnnfast's thread team before a kernel call (the rule above)."""
    global _share
    if rnnfast._threads_explicit:
        return
    n = torch.get_num_threads()
    if n == 1:
        if _share is None:
            _share = rank_share()
            if _share and os.environ.get("LOCAL_RANK", "0") == "0":
                _log.warning(
                    "rnnfast.torch: torchrun's OMP_NUM_THREADS=1 with %s local ranks: rnnfast's "
                    "kernels use %d thread(s) per rank (%d usable cores / %s); "
                    "rnnfast.set_num_threads(n) overrides", os.environ["LOCAL_WORLD_SIZE"],
                    _share, _usable_cores(), os.environ["LOCAL_WORLD_SIZE"])
        if _share:
            n = _share
    if _core.get_num_threads() != n:
        _core.set_num_threads(n)
