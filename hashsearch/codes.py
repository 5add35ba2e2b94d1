"""Binary codes: packing, bucket keys, Hamming distances and bit-flip masks.

A code of ``bits`` bits is stored packed, ``bits // 8`` bytes a row (``numpy.packbits`` order,
the layout FAISS binary indexes use). Bucket keys are a sortable view of the packed bytes:
native ``uint64`` for codes of at most 64 bits, a fixed-size void (memcmp-ordered) beyond.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations
from math import comb

import numpy as np

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def pack(signs: np.ndarray) -> np.ndarray:
    """Pack a boolean (n, bits) array (True = 1) into uint8 (n, bits // 8)."""
    signs = np.asarray(signs, dtype=bool)
    if signs.ndim != 2 or signs.shape[1] % 8:
        raise ValueError(f"expected (n, bits) with bits a multiple of 8, got {signs.shape}")
    return np.packbits(signs, axis=1)


def unpack(codes: np.ndarray, bits: int) -> np.ndarray:
    """Unpack uint8 (n, bits // 8) into a boolean (n, bits) array."""
    return np.unpackbits(np.asarray(codes, dtype=np.uint8), axis=1, count=bits).astype(bool)


def popcount(x: np.ndarray) -> np.ndarray:
    """Number of set bits of each uint8, summed over the last axis."""
    return _POPCOUNT[x].sum(axis=-1, dtype=np.int32)


def keys(codes: np.ndarray) -> np.ndarray:
    """Sortable 1-D bucket keys of packed codes: uint64 (<= 64 bits, big-endian value) or void."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    n, nbytes = codes.shape
    if nbytes <= 8:
        padded = np.zeros((n, 8), dtype=np.uint8)
        padded[:, :nbytes] = codes
        return padded.view(">u8").ravel().astype(np.uint64)
    return codes.view(f"V{nbytes}").ravel()


def hamming(queries: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Exact Hamming distances, int32 (n_queries, n_codes). The brute-force reference."""
    queries = np.atleast_2d(np.asarray(queries, dtype=np.uint8))
    codes = np.asarray(codes, dtype=np.uint8)
    out = np.empty((len(queries), len(codes)), dtype=np.int32)
    step = max(1, (1 << 26) // max(1, codes.size))  # about 64 MB of XOR bytes per block
    for s in range(0, len(queries), step):
        out[s : s + step] = popcount(queries[s : s + step, None, :] ^ codes[None, :, :])
    return out


def asymmetric_scores(latent: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Asymmetric scores (n_queries, n_codes), float32 in [-1, 1]: each query's real-valued latent
    (before binarisation) against the codes' bits as +-1, over the number of bits. Only the codes
    are needed on the document side; unlike Hamming distance, two codes equally far from the
    query's code still differ when the query is sure of some bits and unsure of others."""
    latent = np.atleast_2d(np.asarray(latent, dtype=np.float32))
    bits = latent.shape[1]
    signs = unpack(codes, bits).astype(np.float32) * 2 - 1
    return (latent @ signs.T) / bits


def asymmetric_top(latent: np.ndarray, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, scores) of the ``k`` best ``codes`` for one query's ``latent`` by the asymmetric
    score; equal scores keep the codes' given order (pass them nearest-first)."""
    a = asymmetric_scores(latent, codes)[0]
    rows = np.lexsort((np.arange(len(a)), -a))[:k]
    return rows, a[rows]


def brute_force_knn(queries: np.ndarray, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest codes by (Hamming distance, index). Returns (distances, indices), 2-D."""
    d = hamming(queries, codes)
    k = min(k, d.shape[1])
    order = np.lexsort((np.broadcast_to(np.arange(d.shape[1]), d.shape), d), axis=1)[:, :k]
    return np.take_along_axis(d, order, axis=1), order


def ball_size(bits: int, radius: int) -> int:
    """Number of codes within Hamming distance ``radius`` of a code of ``bits`` bits."""
    return sum(comb(bits, r) for r in range(radius + 1))


@lru_cache(maxsize=64)
def flip_masks(bits: int, distance: int) -> np.ndarray:
    """Packed XOR masks (C(bits, distance), bits // 8) that flip exactly ``distance`` bits, read-only."""
    m = comb(bits, distance)
    if distance == 0:
        out = np.zeros((1, bits // 8), dtype=np.uint8)
    else:
        flat = np.fromiter(
            (p for c in combinations(range(bits), distance) for p in c), dtype=np.int32, count=m * distance
        ).reshape(m, distance)
        onehot = np.zeros((m, bits), dtype=bool)
        onehot[np.arange(m)[:, None], flat] = True
        out = np.packbits(onehot, axis=1)
    out.setflags(write=False)
    return out


def to_hex(codes: np.ndarray) -> list[str]:
    return [bytes(row).hex() for row in np.asarray(codes, dtype=np.uint8)]


def from_hex(values: list[str], bits: int) -> np.ndarray:
    try:
        rows = [bytes.fromhex(v) for v in values]
    except ValueError as e:
        raise ValueError(f"invalid hex code: {e}") from None
    if any(len(r) * 8 != bits for r in rows):
        raise ValueError(f"a code must be {bits // 4} hex characters ({bits} bits)")
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), bits // 8)


def to_bitstrings(codes: np.ndarray, bits: int) -> list[str]:
    return ["".join("1" if b else "0" for b in row) for row in unpack(codes, bits)]


def to_int64(codes: np.ndarray) -> np.ndarray:
    """Codes of at most 64 bits as int64: the big-endian value of the bytes (two's complement at 64 bits)."""
    codes = np.asarray(codes, dtype=np.uint8)
    nbytes = codes.shape[1]
    if nbytes > 8:
        raise ValueError("the int64 form exists only for codes of at most 64 bits")
    return (keys(codes) >> np.uint64(64 - 8 * nbytes)).view(np.int64)


def from_int64(values: np.ndarray, nbytes: int) -> np.ndarray:
    """Inverse of :func:`to_int64`: packed uint8 (n, nbytes) codes of int64 values."""
    if nbytes > 8:
        raise ValueError("the int64 form exists only for codes of at most 64 bits")
    v = np.asarray(values, dtype=np.int64).view(np.uint64) << np.uint64(64 - 8 * nbytes)
    return v.astype(">u8").view(np.uint8).reshape(-1, 8)[:, :nbytes].copy()
