"""``rnnfast.utils.data``: the names of ``rnnfast.data`` under torch.utils.data's path, so
``from torch.utils.data import DataLoader, Dataset`` ports by changing ``torch`` to
``rnnfast``. The objects are the same; see rnnfast.data for what they do."""

from ..data import *  # noqa: F401,F403
from ..data import __all__  # noqa: F401
