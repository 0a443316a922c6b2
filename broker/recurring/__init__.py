"""Recurring complaints: cases reporting the same problem at the same place, grouped as they arrive."""

from broker.recurring.features import Place, Signature, Weights, signature
from broker.recurring.grouping import Attached, Group, MemoryIndex, Params, attach, group_all

__all__ = [
    "Attached",
    "Group",
    "MemoryIndex",
    "Params",
    "Place",
    "Signature",
    "Weights",
    "attach",
    "group_all",
    "signature",
]
