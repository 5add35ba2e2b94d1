"""The bucket table: code -> document slots, probed over a Hamming ball without a Python loop per probe.

Buckets are a sorted key array: the slots of one bucket are a contiguous run. Probing distance
``d`` XORs the query key with all C(bits, d) precomputed flip masks and looks every probe up:

* codes of at most 64 bits: one compiled (numba) loop over the masks; a directory on the keys'
  top bits (2 to 4 documents an entry: at most 2 bytes a document) narrows each lookup to a few
  keys, so a probe is one read of the directory and, when that entry is not empty, a few keys;
* wider codes, or without numba: the same lookups as vectorised numpy ``searchsorted`` calls.

Both give the same result, checked against each other and against brute force in the tests.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations
from math import comb
from typing import NamedTuple

import numpy as np

from . import codes as bitcodes

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; numpy answers the same without it
    numba = None

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


#: The compiled table visits directory entries instead of single buckets: it answers a radius
#: while the entries within it number at most N / DIRECTORY_SCAN_RATIO (each entry costs about as
#: much as scanning this many codes; measured by benchmarks/scale.py). At 1M documents and 64 bits
#: (an 18-bit directory) that is radius 4: 4,048 entries.
DIRECTORY_SCAN_RATIO = 128


def max_directory_radius(bits: int, dbits: int, n_docs: int) -> int:
    """Largest radius the compiled probe answers before FAISS takes over (at least 1 when any
    entry budget exists, never beyond ``bits``)."""
    cap = max(1 + dbits, n_docs // DIRECTORY_SCAN_RATIO)
    r, total = 0, 1
    while r < min(bits, dbits) and total + comb(dbits, r + 1) <= cap:
        r += 1
        total += comb(dbits, r)
    return bits if r >= dbits else r  # every entry visited: the whole space is covered


def max_probe_radius(bits: int, n_docs: int, limit: int = MAX_BALL_PROBES) -> int:
    """Largest radius whose ball has at most ``min(limit, n_docs)`` codes to probe (at least 0)."""
    cap = max(1, min(limit, n_docs))
    r = 0
    while r < bits and bitcodes.ball_size(bits, r + 1) <= cap:
        r += 1
    return r


@lru_cache(maxsize=64)
def _top_masks(dbits: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """XOR masks of ``dbits``-bit directory entries with 0..min(radius, dbits) bits set, by weight,
    and the end offset of each weight."""
    parts = [
        np.array([sum(1 << b for b in c) for c in combinations(range(dbits), t)], dtype=np.uint64)
        for t in range(min(radius, dbits) + 1)
    ]
    ends = np.cumsum([len(p) for p in parts]).astype(np.int64)
    masks = np.concatenate(parts)
    masks.setflags(write=False)
    ends.setflags(write=False)
    return masks, ends


#: Directory entries per document, as a power of two: 2^DIRECTORY_SHIFT documents an entry on
#: average (an int32 entry: 4 / 2^DIRECTORY_SHIFT bytes a document at most).
DIRECTORY_SHIFT = 1


def _directory_bits(n: int) -> int:
    """Top key bits the directory resolves: 2 to 4 documents an entry (at most 2 bytes a
    document), 1..24 bits. Most probes of a clustered corpus then land on an empty entry."""
    return int(min(24, max(1, int(np.floor(np.log2(max(n, 2)))) - DIRECTORY_SHIFT)))


class BucketTable:
    """Sorted bucket keys and, for each, the position of its document in the code array.

    Positions index the codes the table was built from (the FAISS index's order, which is slot
    order), held as int32: 8 bytes of key + 4 of position per document at 64 bits, plus the
    directory's 0.25. Immutable.
    """

    def __init__(self, bits: int, codes: np.ndarray) -> None:
        codes = np.asarray(codes, dtype=np.uint8).reshape(-1, bits // 8)
        k = bitcodes.keys(codes)
        order = np.argsort(k, kind="stable")  # stable: a bucket lists its positions in order
        self.bits = bits
        self._keys = k[order]
        self._positions = order.astype(np.int32 if len(order) < 2**31 else np.int64)
        self._wide = bits > 64
        self.max_radius = max_probe_radius(bits, len(order))
        self._dir: np.ndarray | None = None
        if not self._wide and numba is not None and len(order):
            dbits = self._dbits = min(_directory_bits(len(order)), bits)
            self._shift = np.uint64(64 - dbits)
            top = self._keys >> self._shift
            self._dir = np.searchsorted(top, np.arange(2**dbits + 1, dtype=np.uint64)).astype(self._positions.dtype)
            self.max_radius = max_directory_radius(bits, dbits, len(order))

    def __len__(self) -> int:
        return len(self._positions)

    @property
    def nbytes(self) -> int:
        d = self._dir.nbytes if self._dir is not None else 0
        return int(self._keys.nbytes + self._positions.nbytes + d)

    @property
    def compiled(self) -> bool:
        """Whether probes run the compiled loop (codes of at most 64 bits, numba present)."""
        return self._dir is not None

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

    def probe(self, code: np.ndarray, radius: int, need: int, compiled: bool = True) -> Probe:
        """Probe shells 0, 1, ... up to ``radius``, stopping after the first shell that brings the
        total to ``need``. Whole shells only, so the result is the exact top by (distance, position).
        ``compiled=False`` forces the numpy path (the reference the tests compare with)."""
        code = np.asarray(code, dtype=np.uint8).ravel()
        if compiled and self._dir is not None:
            return self._probe_compiled(code, min(radius, self.bits), need)
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

    def _probe_compiled(self, code: np.ndarray, radius: int, need: int) -> Probe:
        masks, ends = _top_masks(self._dbits, radius)
        q = np.uint64(int.from_bytes(code.tobytes().ljust(8, b"\0"), "big"))
        size = max(1, min(max(4 * need, 256), len(self._keys)))  # never more than every document
        while True:
            pos = np.empty(size, dtype=np.int64)
            dist = np.empty(size, dtype=np.int32)
            n, last = _ball_kernel(
                self._keys, self._positions, self._dir, self._shift, q, masks, ends, radius, need, pos, dist
            )
            if n <= size:
                return Probe(pos[:n], dist[:n], int(last))
            size = n  # the ball held more than the buffer: once more with room for all

    def bucket_sizes(self) -> np.ndarray:
        """Size of every non-empty bucket."""
        if len(self._keys) == 0:
            return np.empty(0, dtype=np.int64)
        _, counts = np.unique(self._keys, return_counts=True)
        return counts


_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)
_U1, _U2, _U4, _U56 = np.uint64(1), np.uint64(2), np.uint64(4), np.uint64(56)
_POS_BITS = np.int64(40)


def _popcount64(x):  # type: ignore[no-untyped-def]
    x = x - ((x >> _U1) & _M1)
    x = (x & _M2) + ((x >> _U2) & _M2)
    x = (x + (x >> _U4)) & _M4
    return np.int64((x * _H01) >> _U56)


def _ball_kernel_py(keys, positions, directory, shift, q, top_masks, top_ends, radius, need, out_pos, out_dist):  # type: ignore[no-untyped-def]
    """Every document within ``radius`` of key ``q``, by directory entry rather than by probe.

    A key within distance r of q has top bits within distance r of q's top bits, so visiting the
    directory entries at top distance 0, 1, ..., r (C(D, t) of them: 172 in all for r = 2 and an
    18-bit directory, against 2,081 probes of single buckets) and measuring each of their keys
    finds the ball exactly. After the entries at top distance t, every key within distance t has
    been seen: the loop stops there once those reach ``need``. Keeps the shells 0..s for the
    smallest s that reaches ``need`` (or all up to ``radius``), ordered by (distance, position).
    Returns (documents kept, last shell); writes at most len(out_pos) (a larger count returned
    means: call again with room for that many; output buffers are not grown in the loop, which
    would keep numba from holding them in registers)."""
    cap = len(out_pos)
    n = 0
    counts = np.zeros(radius + 1, dtype=np.int64)
    qt = q >> shift
    start = 0
    stop = -1
    for t in range(len(top_ends)):
        for i in range(start, top_ends[t]):
            e = qt ^ top_masks[i]
            for j in range(directory[e], directory[e + 1]):
                d = _popcount64(keys[j] ^ q)
                if d <= radius:
                    counts[d] += 1
                    if n < cap:
                        out_pos[n] = positions[j]
                        out_dist[n] = d
                    n += 1
        start = top_ends[t]
        cum = 0
        for s in range(t + 1):  # every key within distance t is known now
            cum += counts[s]
            if cum >= need:
                stop = s
                break
        if stop >= 0:
            break
    if stop < 0:  # the whole ball is known: the first shell that reaches need, else all of it
        stop = radius
        cum = 0
        for s in range(radius + 1):
            cum += counts[s]
            if cum >= need:
                stop = s
                break
    if n > cap:
        return n, stop
    m = 0
    order = np.empty(n, dtype=np.int64)
    for i in range(n):
        if out_dist[i] <= stop:
            order[m] = (np.int64(out_dist[i]) << _POS_BITS) | out_pos[i]
            m += 1
    order = np.sort(order[:m])
    mask = (np.int64(1) << _POS_BITS) - 1
    for i in range(m):
        out_pos[i] = order[i] & mask
        out_dist[i] = order[i] >> _POS_BITS
    return m, stop


if numba is not None:
    _popcount64 = numba.njit(inline="always")(_popcount64)
    _ball_kernel = numba.njit(cache=True, nogil=True)(_ball_kernel_py)
else:  # pragma: no cover
    _ball_kernel = _ball_kernel_py
