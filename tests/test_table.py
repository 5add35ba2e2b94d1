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


def test_directory_radius_rule():
    """The compiled probe visits directory entries: it answers while they number <= N / 128."""
    from hashsearch.table import max_directory_radius

    assert max_directory_radius(64, 18, 10**6) == 4  # 4,048 entries; radius 5 would visit 12,616
    assert max_directory_radius(64, 5, 100) == 1
    assert max_directory_radius(8, 8, 10**6) == 8  # every entry: the whole space
    if not numba_missing():
        t = BucketTable(64, random_codes(3000, 64, seed=1))
        assert t.compiled and t.max_radius == max_directory_radius(64, t._dbits, 3000)


def test_bucket_sizes():
    codes = np.array([[1], [1], [2], [3], [3], [3]], dtype=np.uint8)
    t = BucketTable(8, codes)
    assert sorted(t.bucket_sizes().tolist()) == [1, 2, 3]


@pytest.mark.parametrize("bits", [8, 16, 32, 64])
@pytest.mark.parametrize("n", [1, 40, 3000])
def test_compiled_probe_equals_numpy_probe(bits, n):
    """The compiled loop (directory + binary search) and the vectorised numpy lookups agree exactly,
    including a buffer overflow (a shell holding far more documents than the first buffer)."""
    table = BucketTable(bits, random_codes(n, bits, seed=n + bits))
    if numba_missing():
        pytest.skip("numba is not installed: only the numpy path exists")
    assert table.compiled
    queries = np.concatenate([random_codes(6, bits, seed=5), np.zeros((1, bits // 8), np.uint8)])
    for q in queries:
        for radius in range(0, {8: 8, 16: 5, 32: 4, 64: 3}[bits] + 1):
            for need in (1, 10, n + 1):
                a = table.probe(q, radius, need)
                b = table.probe(q, radius, need, compiled=False)
                assert np.array_equal(a.positions, b.positions) and np.array_equal(a.distances, b.distances)
                assert a.radius == b.radius


def test_slots_stay_exact_in_every_compact_form():
    """Slots are implicit (never deleted), holes (few deletions) or explicit (many)."""
    bits = 16
    codes = random_codes(1000, bits, seed=2)
    idx = BinaryIndex(bits)
    idx.add(codes, np.arange(1000) + 7)
    assert idx.nbytes == 1000 * 2  # nothing stored for the slots
    live = np.arange(1000) + 7
    rng = np.random.default_rng(0)
    for gone in (rng.choice(live, 30, replace=False), rng.choice(np.arange(1000) + 7, 800, replace=False)):
        idx.remove(gone)
        live = live[~np.isin(live, gone)]
        assert np.array_equal(idx.slots, live)
        pos = rng.integers(0, len(live), 50)
        assert np.array_equal(idx.slots_of(pos), live[pos])
        d, s = idx.search(codes[:3], 20)
        for i in range(3):
            exp_s, exp_d = brute(codes[i], idx.codes(), live, None, 20)
            assert np.array_equal(s[i], exp_s) and np.array_equal(d[i], exp_d)
    idx.add(codes[:5], np.array([5000, 5001, 5002, 5003, 5004]))
    assert np.array_equal(idx.slots[-5:], [5000, 5001, 5002, 5003, 5004]) and len(idx) == len(live) + 5


def numba_missing() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return True
    return False
