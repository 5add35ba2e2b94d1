"""Hamming kNN over the codes with FAISS (``IndexBinaryIDMap`` over ``IndexBinaryFlat``).

Slots are added in increasing order, so FAISS's internal positions follow slot order and its
ties (equal distance) come out by slot: results equal a brute-force scan ordered by (distance, slot).
"""

from __future__ import annotations

import faiss
import numpy as np


class BinaryIndex:
    def __init__(self, bits: int) -> None:
        self.bits = bits
        self._index = faiss.IndexBinaryIDMap(faiss.IndexBinaryFlat(bits))
        self._max_slot = -1

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, codes: np.ndarray, slots: np.ndarray) -> None:
        slots = np.asarray(slots, dtype=np.int64)
        if len(slots) == 0:
            return
        if np.any(np.diff(slots) <= 0) or slots[0] <= self._max_slot:
            raise ValueError("slots must be added in strictly increasing order")
        self._index.add_with_ids(np.ascontiguousarray(codes, dtype=np.uint8), slots)
        self._max_slot = int(slots[-1])

    def remove(self, slots: np.ndarray) -> int:
        slots = np.asarray(slots, dtype=np.int64)
        if len(slots) == 0:
            return 0
        return int(self._index.remove_ids(faiss.IDSelectorBatch(slots)))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(distances int32, slots int64), each (n_queries, min(k, len)), ordered by (distance, slot)."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.uint8)
        k = min(k, len(self))
        if k == 0:
            z = np.empty((len(queries), 0))
            return z.astype(np.int32), z.astype(np.int64)
        d, i = self._index.search(queries, k)
        return d.astype(np.int32), i

    @property
    def nbytes(self) -> int:
        # packed codes plus one int64 id per document
        return len(self) * (self.bits // 8 + 8)

    def codes(self) -> np.ndarray:
        """Packed codes (n, bits // 8) in slot order (a copy)."""
        flat = faiss.vector_to_array(faiss.downcast_IndexBinary(self._index.index).xb)
        return flat.reshape(len(self), self.bits // 8)

    def slots(self) -> np.ndarray:
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)
