"""hashsearch: semantic hashing search. Deep binary autoencoder codes, Hamming-ball probing, FAISS fallback."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Corruption",
    "HashIndex",
    "HashsearchError",
    "Hit",
    "IndexConfig",
    "IndexFormatError",
    "IndexInfo",
    "InputError",
    "NotFoundError",
    "Record",
    "TrainConfig",
    "Variant",
    "__version__",
]

from .config import Corruption, IndexConfig, TrainConfig, Variant
from .errors import HashsearchError, IndexFormatError, InputError, NotFoundError
from .sources import Record

if TYPE_CHECKING:
    from .index import HashIndex, Hit, IndexInfo


def __getattr__(name: str) -> Any:  # the index pulls in faiss and torch: import it on first use
    if name in ("HashIndex", "Hit", "IndexInfo"):
        from . import index

        return getattr(index, name)
    raise AttributeError(name)
