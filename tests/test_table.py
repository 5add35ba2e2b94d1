"""Bucket probing and FAISS kNN must equal a brute-force Hamming scan, ties broken by slot."""

from __future__ import annotations

import numpy as np
import pytest

from hashsearch import codes as bc
from hashsearch.binary_index import BinaryIndex
from hashsearch.table import BucketTable, max_probe_radius


def random_codes(n: int, bits: int, seed: int) -> np.ndarray:
    """Random codes with duplicates, all-zero and all-one rows, and near-duplicates."""
    rng = np.random.default_rng(seed)
    nb = bits // 8
    # few distinct bit patterns so that buckets collide and shells are populated
    base = rng.integers(0, 256, (max(4, n // 8), nb), dtype=np.uint8)
    c = base[rng.integers(0, len(base), n)]
    flip = rng.random((n, bits)) < (2.0 / bits)
    c = c ^ bc.pack(flip)
    c[: n // 20] = 0
    c[n // 20 : n // 10] = c[n // 10]
    c[-3:] = 0xFF
    return c


def brute(query: np.ndarray, codes: np.ndarray, slots: np.ndarray | None, radius: int | None, k: int | None):
    slots = np.arange(len(codes)) if slots is None else slots
    d = bc.hamming(query[None, :], codes)[0]
    order = np.lexsort((slots, d))
    s, dd = slots[order], d[order]
    if radius is not None:
        keep = dd <= radius
        s, dd = s[keep], dd[keep]
    if k is not None:
        s, dd = s[:k], dd[:k]
    return s, dd


@pytest.mark.parametrize("bits", [8, 16, 32, 64, 128])
def test_probe_equals_brute_force_within_radius(bits):
    n = 600
    codes = random_codes(n, bits, seed=bits)
    table = BucketTable(bits, codes)
    queries = np.concatenate(
        [codes[:5], codes[n // 10 : n // 10 + 2], random_codes(8, bits, seed=99), np.zeros((1, bits // 8), np.uint8)]
    )
    for radius in range(0, min(3, max_probe_radius(bits, n)) + 1):
        for q in queries:
            got = table.probe(q, radius, need=n + 1)  # never satisfied: probes the whole ball
            exp_s, exp_d = brute(q, codes, None, radius, None)
            assert np.array_equal(got.positions, exp_s)
            assert np.array_equal(got.distances, exp_d)


@pytest.mark.parametrize("bits", [16, 64, 128])
def test_probe_stops_after_the_shell_that_reaches_need_and_is_exact(bits):
    codes = random_codes(500, bits, seed=3)
    table = BucketTable(bits, codes)
    for q in codes[:20]:
        got = table.probe(q, 3, need=10)
        if len(got.positions) >= 10:
            exp_s, exp_d = brute(q, codes, None, None, len(got.positions))
            assert np.array_equal(got.positions, exp_s)
            assert np.array_equal(got.distances, exp_d)
            assert got.distances[-1] == got.radius  # whole shells only


@pytest.mark.parametrize("bits", [8, 32, 64, 256])
def test_faiss_knn_equals_brute_force_including_ties(bits):
    codes = random_codes(800, bits, seed=bits + 7)
    slots = np.arange(0, 1600, 2, dtype=np.int64)
    idx = BinaryIndex(bits)
    idx.add(codes[:500], slots[:500])
    idx.add(codes[500:], slots[500:])
    queries = np.concatenate([codes[:10], np.zeros((1, bits // 8), np.uint8), random_codes(5, bits, 1)])
    for k in (1, 10, 100, 800, 1000):
        d, s = idx.search(queries, k)
        for i, q in enumerate(queries):
            exp_s, exp_d = brute(q, codes, slots, None, k)
            assert np.array_equal(s[i], exp_s) and np.array_equal(d[i], exp_d)
    # removal keeps the order and the exactness
    gone = slots[::3]
    idx.remove(gone)
    keep = ~np.isin(slots, gone)
    d, s = idx.search(queries, 50)
    for i, q in enumerate(queries):
        exp_s, exp_d = brute(q, codes[keep], slots[keep], None, 50)
        assert np.array_equal(s[i], exp_s) and np.array_equal(d[i], exp_d)
    assert np.array_equal(idx.slots, slots[keep])
    assert np.array_equal(idx.codes(), codes[keep])


def test_max_probe_radius_rule():
    assert max_probe_radius(64, 10**6) == 2  # C(64,3) = 41,664 probes: FAISS takes radius 3
    assert max_probe_radius(16, 10**6) == 6
    assert max_probe_radius(256, 10**6) == 1
    assert max_probe_radius(64, 100) == 1  # never more probes than documents


def test_bucket_sizes():
    codes = np.array([[1], [1], [2], [3], [3], [3]], dtype=np.uint8)
    t = BucketTable(8, codes)
    assert sorted(t.bucket_sizes().tolist()) == [1, 2, 3]
