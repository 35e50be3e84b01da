"""``rnnfast.utils``: torch.utils' layout for ported programs; ``rnnfast.utils.data`` is
``rnnfast.data`` under torch's path (``from rnnfast.utils.data import DataLoader``)."""

from . import data

__all__ = ["data"]
