"""Hamming kNN over the codes with FAISS (``IndexBinaryFlat``) plus the slot of each position.

Codes are kept in slot order (slots are added in increasing order and removal keeps the order),
so FAISS's ties (equal distance, broken by position) come out by slot: results equal a
brute-force scan ordered by (distance, slot). Positions are also what the bucket table stores.
"""

from __future__ import annotations

import faiss
import numpy as np


class BinaryIndex:
    """FAISS codes plus the slot of each position.

    Slots are kept compactly: an index that was never deleted from has slots ``first + position``
    (nothing stored); after deletions, the sorted deleted slots below the last one (8 bytes each)
    or, when that is larger, the explicit int32 slot of every position.
    """

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self._index = faiss.IndexBinaryFlat(bits)
        self._first = 0  # slot of position 0
        self._holes = np.empty(0, dtype=np.int64)  # missing slots above _first, minus their rank
        self._explicit: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def slots_of(self, positions: np.ndarray) -> np.ndarray:
        """int64 slots of positions."""
        positions = np.asarray(positions, dtype=np.int64)
        if self._explicit is not None:
            return self._explicit[positions].astype(np.int64)
        if len(self._holes) == 0:
            return positions + self._first
        # holes[i] = (i-th missing slot) - first - i: the number of present slots below it
        return positions + self._first + np.searchsorted(self._holes, positions, side="right")

    def positions_of(self, slots: np.ndarray) -> np.ndarray:
        """int64 positions of present slots (the inverse of :meth:`slots_of`)."""
        slots = np.asarray(slots, dtype=np.int64)
        if self._explicit is not None:
            return np.searchsorted(self._explicit, slots).astype(np.int64)
        if len(self._holes) == 0:
            return slots - self._first
        missing = self._holes + self._first + np.arange(len(self._holes), dtype=np.int64)
        return slots - self._first - np.searchsorted(missing, slots, side="left")

    def codes_of(self, slots: np.ndarray) -> np.ndarray:
        """Packed codes (len(slots), bits // 8) of present slots, read from FAISS's storage in place."""
        n, nbytes = len(self), self.bits // 8
        if n == 0:
            return np.empty((0, nbytes), dtype=np.uint8)
        stored = faiss.rev_swig_ptr(self._index.xb.data(), n * nbytes).reshape(n, nbytes)
        return stored[self.positions_of(slots)]

    @property
    def slots(self) -> np.ndarray:
        """Slot of each position (int64, read-only)."""
        v = self.slots_of(np.arange(len(self), dtype=np.int64))
        v.setflags(write=False)
        return v

    def _set_slots(self, slots: np.ndarray) -> None:
        """Choose the compact form of a strictly increasing slot array."""
        self._explicit = None
        if len(slots) == 0:
            self._first, self._holes = 0, np.empty(0, dtype=np.int64)
            return
        first = int(slots[0])
        missing = np.setdiff1d(np.arange(first, int(slots[-1]) + 1, dtype=np.int64), slots, assume_unique=True)
        if 8 * len(missing) > 4 * len(slots):
            self._explicit = slots.astype(np.int32 if slots[-1] < 2**31 else np.int64)
        else:
            self._first = first
            self._holes = missing - first - np.arange(len(missing), dtype=np.int64)

    def add(self, codes: np.ndarray, slots: np.ndarray) -> None:
        slots = np.asarray(slots, dtype=np.int64)
        if len(slots) == 0:
            return
        old = self.slots
        if np.any(np.diff(slots) <= 0) or (len(old) and slots[0] <= old[-1]):
            raise ValueError("slots must be added in strictly increasing order")
        self._index.add(np.ascontiguousarray(codes, dtype=np.uint8))
        self._set_slots(np.concatenate([old, slots]))

    def remove(self, slots: np.ndarray) -> int:
        """Remove documents by slot; positions after them shift down, order kept."""
        current = self.slots
        pos = np.flatnonzero(np.isin(current, np.asarray(slots, dtype=np.int64)))
        if len(pos) == 0:
            return 0
        removed = int(self._index.remove_ids(faiss.IDSelectorBatch(pos.astype(np.int64))))
        self._set_slots(np.delete(current, pos))
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
        return d.astype(np.int32), self.slots_of(pos.ravel()).reshape(pos.shape)

    def codes(self) -> np.ndarray:
        """Packed codes (n, bits // 8) in position (= slot) order (a copy of FAISS's storage)."""
        return faiss.vector_to_array(self._index.xb).reshape(len(self), self.bits // 8)

    @property
    def nbytes(self) -> int:
        slots = self._explicit.nbytes if self._explicit is not None else self._holes.nbytes
        return len(self) * (self.bits // 8) + int(slots)
