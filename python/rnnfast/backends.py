"""``rnnfast.backends``: the ``torch.backends`` flags that seeding and device-choosing code
touches (``torch.backends.cudnn.deterministic = True``, ``torch.backends.mps.is_available()``),
answered for a CPU-only library. The cuDNN flags can be set and read and change nothing:
rnnfast's kernels are deterministic (see ``rnnfast.use_deterministic``).
"""

from __future__ import annotations

import types

__all__ = ["cudnn", "mps", "cuda"]


def _false():
    return False


cudnn = types.SimpleNamespace(is_available=_false, enabled=False, deterministic=False,
                              benchmark=False)
cudnn.__doc__ = "cuDNN: not available; its flags are recorded and change nothing."

mps = types.SimpleNamespace(is_available=_false, is_built=_false)
mps.__doc__ = "Apple's Metal backend: not available."

cuda = types.SimpleNamespace(is_built=_false)
cuda.__doc__ = "CUDA: not built."
