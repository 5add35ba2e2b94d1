from __future__ import annotations

from math import comb

import numpy as np
import pytest

from hashsearch import codes as bc


@pytest.mark.parametrize("bits", [8, 24, 64, 128, 256])
def test_pack_unpack_round_trip(bits):
    rng = np.random.default_rng(bits)
    signs = rng.random((50, bits)) > 0.5
    packed = bc.pack(signs)
    assert packed.shape == (50, bits // 8)
    assert np.array_equal(bc.unpack(packed, bits), signs)


@pytest.mark.parametrize("bits,d", [(8, 0), (8, 1), (16, 2), (64, 2), (24, 3), (128, 1)])
def test_flip_masks_flip_exactly_d_bits_once_each(bits, d):
    m = bc.flip_masks(bits, d)
    assert m.shape == (comb(bits, d), bits // 8)
    assert np.all(bc.popcount(m) == d)
    assert len(np.unique(m, axis=0)) == len(m)


@pytest.mark.parametrize("bits", [16, 64, 128])
def test_keys_are_equal_iff_codes_are_equal(bits):
    rng = np.random.default_rng(1)
    c = rng.integers(0, 256, (200, bits // 8), dtype=np.uint8)
    c[100:] = c[:100]
    k = bc.keys(c)
    assert np.all(k[100:] == k[:100])
    assert len(np.unique(k)) == len(np.unique(c, axis=0))


def test_hamming_matches_bit_count():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (7, 4), dtype=np.uint8)
    b = rng.integers(0, 256, (9, 4), dtype=np.uint8)
    ref = (bc.unpack(a, 32)[:, None, :] != bc.unpack(b, 32)[None, :, :]).sum(-1)
    assert np.array_equal(bc.hamming(a, b), ref)


def test_int64_and_hex_forms():
    c = np.array([[0x80, 0x01], [0x00, 0x00], [0xFF, 0xFF]], dtype=np.uint8)
    assert bc.to_int64(c).tolist() == [0x8001, 0, 0xFFFF]
    assert bc.to_hex(c) == ["8001", "0000", "ffff"]
    assert np.array_equal(bc.from_hex(bc.to_hex(c), 16), c)
    assert bc.to_bitstrings(c[:1], 16) == ["1000000000000001"]
    full = np.full((1, 8), 0xFF, dtype=np.uint8)
    assert bc.to_int64(full).tolist() == [-1]  # two's complement at 64 bits
    with pytest.raises(ValueError):
        bc.from_hex(["abc"], 16)
