"""Hamming kNN over the codes with FAISS (``IndexBinaryFlat``) plus the slot of each position.

Codes are kept in slot order (slots are added in increasing order and removal keeps the order),
so FAISS's ties (equal distance, broken by position) come out by slot: results equal a
brute-force scan ordered by (distance, slot). Positions are also what the bucket table stores.
"""

from __future__ import annotations

import faiss
import numpy as np


class BinaryIndex:
    def __init__(self, bits: int) -> None:
        self.bits = bits
        self._index = faiss.IndexBinaryFlat(bits)
        self._slots = np.empty(0, dtype=np.int32)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def slots(self) -> np.ndarray:
        """Slot of each position (read-only view): int32 while slots fit, else int64."""
        v = self._slots.view()
        v.setflags(write=False)
        return v

    def add(self, codes: np.ndarray, slots: np.ndarray) -> None:
        slots = np.asarray(slots, dtype=np.int64)
        if len(slots) == 0:
            return
        if np.any(np.diff(slots) <= 0) or (len(self._slots) and slots[0] <= self._slots[-1]):
            raise ValueError("slots must be added in strictly increasing order")
        self._index.add(np.ascontiguousarray(codes, dtype=np.uint8))
        merged = np.concatenate([self._slots.astype(np.int64), slots])
        self._slots = merged.astype(np.int32) if merged[-1] < 2**31 else merged

    def remove(self, slots: np.ndarray) -> int:
        """Remove documents by slot; positions after them shift down, order kept."""
        pos = np.flatnonzero(np.isin(self._slots, np.asarray(slots, dtype=np.int64)))
        if len(pos) == 0:
            return 0
        removed = int(self._index.remove_ids(faiss.IDSelectorBatch(pos.astype(np.int64))))
        self._slots = np.delete(self._slots, pos)
        return removed

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(distances int32, slots int64), each (n_queries, min(k, len)), ordered by (distance, slot)."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.uint8)
        k = min(k, len(self))
        if k == 0:
            z = np.empty((len(queries), 0))
            return z.astype(np.int32), z.astype(np.int64)
        if len(queries) < 8:  # one query: OpenMP start-up costs more than the scan it splits
            threads = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(1)
            try:
                d, pos = self._index.search(queries, k)
            finally:
                faiss.omp_set_num_threads(threads)
        else:
            d, pos = self._index.search(queries, k)
        return d.astype(np.int32), self._slots[pos].astype(np.int64)

    def codes(self) -> np.ndarray:
        """Packed codes (n, bits // 8) in position (= slot) order (a copy of FAISS's storage)."""
        return faiss.vector_to_array(self._index.xb).reshape(len(self), self.bits // 8)

    @property
    def nbytes(self) -> int:
        return len(self) * (self.bits // 8) + int(self._slots.nbytes)
