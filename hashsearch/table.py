"""The bucket table: code -> document slots, probed over a Hamming ball without a Python loop per probe.

Buckets are a sorted key array: the slots of one bucket are a contiguous run, found by
``searchsorted``. Probing distance ``d`` XORs the query key with all C(bits, d) precomputed
flip masks at once and looks every probe up in one vectorised call.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from . import codes as bitcodes

#: The Hamming ball is probed only while it has at most this many codes; beyond it scanning the
#: codes (FAISS) is cheaper than probing. At 64 bits this allows radius 2 (2,081 probes) and hands
#: radius 3 (43,745) to FAISS; at 16 bits radius 6 (14,893); at 256 bits radius 1.
MAX_BALL_PROBES = 20_000


class Probe(NamedTuple):
    positions: np.ndarray  # int64, ordered by (distance, position)
    distances: np.ndarray  # int32
    radius: int  # last shell probed completely (-1 if none)


@lru_cache(maxsize=64)
def _mask_keys(bits: int, distance: int) -> np.ndarray:
    k = bitcodes.keys(bitcodes.flip_masks(bits, distance))
    k.setflags(write=False)
    return k


def max_probe_radius(bits: int, n_docs: int, limit: int = MAX_BALL_PROBES) -> int:
    """Largest radius whose ball has at most ``min(limit, n_docs)`` codes to probe (at least 0)."""
    cap = max(1, min(limit, n_docs))
    r = 0
    while r < bits and bitcodes.ball_size(bits, r + 1) <= cap:
        r += 1
    return r


class BucketTable:
    """Sorted bucket keys and, for each, the position of its document in the code array.

    Positions index the codes the table was built from (the FAISS index's order, which is slot
    order), held as int32: 8 bytes of key + 4 of position per document at 64 bits. Immutable.
    """

    def __init__(self, bits: int, codes: np.ndarray) -> None:
        codes = np.asarray(codes, dtype=np.uint8).reshape(-1, bits // 8)
        k = bitcodes.keys(codes)
        order = np.argsort(k, kind="stable")  # stable: a bucket lists its positions in order
        self.bits = bits
        self._keys = k[order]
        self._positions = order.astype(np.int32 if len(order) < 2**31 else np.int64)
        self._wide = bits > 64

    def __len__(self) -> int:
        return len(self._positions)

    @property
    def nbytes(self) -> int:
        return int(self._keys.nbytes + self._positions.nbytes)

    def _probe_keys(self, code: np.ndarray, distance: int) -> np.ndarray:
        if self._wide:
            x = np.bitwise_xor(bitcodes.flip_masks(self.bits, distance), code[None, :])
            return bitcodes.keys(x)
        q = bitcodes.keys(code[None, :])[0]
        return _mask_keys(self.bits, distance) ^ q

    def lookup(self, probe_keys: np.ndarray) -> np.ndarray:
        """Positions of every document whose key is in ``probe_keys`` (unordered)."""
        keys = self._keys
        lo = np.searchsorted(keys, probe_keys, side="left")
        lo_c = np.minimum(lo, len(keys) - 1)
        hit = (lo < len(keys)) & (keys[lo_c] == probe_keys)  # most probes miss: one search for them
        if not hit.any():
            return np.empty(0, dtype=np.int64)
        lo = lo[hit]
        cnt = np.searchsorted(keys, probe_keys[hit], side="right") - lo
        total = int(cnt.sum())
        starts = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt)
        return self._positions[starts + np.arange(total)].astype(np.int64)

    def probe(self, code: np.ndarray, radius: int, need: int) -> Probe:
        """Probe shells 0, 1, ... up to ``radius``, stopping after the first shell that brings the
        total to ``need``. Whole shells only, so the result is the exact top by (distance, position)."""
        code = np.asarray(code, dtype=np.uint8).ravel()
        found: list[np.ndarray] = []
        dists: list[np.ndarray] = []
        total = 0
        last = -1
        for d in range(min(radius, self.bits) + 1):
            s = np.sort(self.lookup(self._probe_keys(code, d)))
            last = d
            if len(s):
                found.append(s)
                dists.append(np.full(len(s), d, dtype=np.int32))
                total += len(s)
            if total >= need:
                break
        if not found:
            return Probe(np.empty(0, np.int64), np.empty(0, np.int32), last)
        return Probe(np.concatenate(found), np.concatenate(dists), last)

    def bucket_sizes(self) -> np.ndarray:
        """Size of every non-empty bucket."""
        if len(self._keys) == 0:
            return np.empty(0, dtype=np.int64)
        _, counts = np.unique(self._keys, return_counts=True)
        return counts
