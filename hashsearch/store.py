"""The document store interface: where an index keeps its documents, codes and rerank features.

Two implementations pass one test battery (``tests/test_store.py``):

* :class:`~hashsearch.store_sqlite.SQLiteStore`, the embedded default: one SQLite file inside the
  index directory, float16 features as memory-mapped ``.npy`` chunks beside it;
* :class:`~hashsearch.store_postgres.PostgresStore`, chosen by a ``postgresql://`` URL: documents,
  codes (an indexed ``bigint`` column) and features in PostgreSQL tables, so that many processes
  (on many machines) share one index, and other programs can probe the buckets in SQL.

The index directory always holds the config and the model; ``config.json`` names the store
(``{"kind": "sqlite"}`` or ``{"kind": "postgresql", "url": ..., "table": ...}``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import HashsearchError

SQLITE = "sqlite"
POSTGRESQL = "postgresql"


@dataclass(frozen=True)
class StoredDoc:
    slot: int
    id: str
    text: str
    metadata: dict[str, Any]


class DocumentStore(ABC):
    """Documents by slot (a dense, never reused integer), their packed codes and float16 features.

    Every write is one transaction that bumps :attr:`generation`; a reader that sees a new
    generation reloads. Writers from several processes serialise through :meth:`write_lock`.
    """

    kind: str

    # -- reads -------------------------------------------------------------------------------
    @abstractmethod
    def __len__(self) -> int: ...

    @property
    @abstractmethod
    def generation(self) -> int:
        """Counts committed writes."""

    @abstractmethod
    def codes(self, nbytes: int) -> tuple[np.ndarray, np.ndarray]:
        """(slots int64, packed codes uint8 (n, nbytes)) of every document, in slot order."""

    @abstractmethod
    def slots_of(self, ids: Sequence[str]) -> dict[str, int]: ...

    @abstractmethod
    def code_of(self, doc_id: str) -> tuple[int, bytes] | None: ...

    @abstractmethod
    def docs(self, slots: Iterable[int]) -> dict[int, StoredDoc]: ...

    @abstractmethod
    def iter_docs(self, batch: int = 10_000) -> Iterator[tuple[int, str, str, dict[str, Any], bytes]]:
        """(slot, id, text, metadata, packed code) of every document, in slot order."""

    @property
    @abstractmethod
    def has_features(self) -> bool: ...

    @abstractmethod
    def features(self, slots: np.ndarray) -> np.ndarray:
        """float32 (len(slots), dim) rerank features of stored documents."""

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        return set(self.slots_of(ids))

    # -- writes ------------------------------------------------------------------------------
    @abstractmethod
    def add(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metadata: Sequence[dict[str, Any]],
        codes: np.ndarray,
        features: np.ndarray | None,
    ) -> np.ndarray:
        """Insert documents in one transaction; returns their new slots. Duplicate ids fail it all."""

    @abstractmethod
    def set_codes(self, slots: np.ndarray, codes: np.ndarray, features: np.ndarray | None = None) -> None:
        """Replace codes (and set features) of stored documents: used while building."""

    @abstractmethod
    def delete(self, slots: Sequence[int]) -> None: ...

    @abstractmethod
    def write_lock(self) -> AbstractContextManager[None]:
        """Held by a writer from its read of the current state to its commit."""

    # -- lifecycle ---------------------------------------------------------------------------
    def reload(self) -> None:  # noqa: B027 - optional hook
        """Re-read what a reader caches (feature files), after another writer committed."""

    def finalize(self) -> None:  # noqa: B027 - optional hook
        """After a build: build indexes, compact."""

    @abstractmethod
    def spec(self) -> dict[str, Any]:
        """What ``config.json`` records to open this store again."""

    @abstractmethod
    def copy_to(self, directory: Path) -> dict[str, Any]:
        """Write a consistent copy for an index saved at ``directory``; returns the copy's spec."""

    def destroy(self) -> None:  # noqa: B027 - optional hook
        """Drop what lives outside the index directory (a failed build's tables)."""

    @abstractmethod
    def close(self) -> None: ...


def create_store(directory: Path, url: str | None = None, name: str = "index") -> DocumentStore:
    """A new, empty store for an index being built in ``directory`` (SQLite unless ``url``)."""
    if url is None or url == SQLITE:
        from .store_sqlite import SQLiteStore

        return SQLiteStore(directory, create=True)
    if url.startswith(("postgresql://", "postgres://")):
        from .store_postgres import PostgresStore

        return PostgresStore.create(url, name)
    raise HashsearchError(f"unknown store {url!r}: use 'sqlite' or a postgresql:// URL")


def open_store(directory: Path, spec: dict[str, Any]) -> DocumentStore:
    """Open the store an index's ``config.json`` names."""
    kind = spec.get("kind", SQLITE)
    if kind == SQLITE:
        from .store_sqlite import SQLiteStore

        return SQLiteStore(directory)
    if kind == POSTGRESQL:
        from .store_postgres import PostgresStore

        return PostgresStore.open(spec)
    raise HashsearchError(f"{directory}: unknown store kind {kind!r}")


def drop_store(spec: dict[str, Any]) -> None:
    """Remove the external part of a replaced index's store (nothing for SQLite)."""
    if spec.get("kind") == POSTGRESQL:
        from .store_postgres import PostgresStore

        PostgresStore.open(spec).destroy()
