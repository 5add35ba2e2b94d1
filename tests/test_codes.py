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


def test_asymmetric_scores_by_hand():
    codes = bc.pack(np.array([[1, 0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0, 0]], dtype=bool))
    latent = np.array([[0.5, -1, 0, 0, 0, 0, 0, 0.25]], dtype=np.float32)
    # code 0 as +-1: [1,-1,-1,-1,-1,-1,-1,1]; code 1: all -1
    np.testing.assert_allclose(bc.asymmetric_scores(latent, codes), [[(0.5 + 1 + 0.25) / 8, (-0.5 + 1 - 0.25) / 8]])
    # the code of the latent's own signs attains the highest score of all 256 codes: sum |latent| / bits
    s = bc.asymmetric_scores(latent, np.arange(256, dtype=np.uint8)[:, None])[0]
    assert s.max() == pytest.approx(np.abs(latent).sum() / 8) == s[int(bc.pack(latent > 0)[0, 0])]


def test_binary_index_reads_codes_by_slot_in_every_slot_form():
    from hashsearch.binary_index import BinaryIndex

    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (300, 4), dtype=np.uint8)
    b = BinaryIndex(32)
    b.add(codes, np.arange(10, 310))
    for form in ("implicit", "holes", "explicit"):
        if form == "holes":
            b.remove(np.arange(15, 300, 7))
        elif form == "explicit":
            b.remove(b.slots[b.slots % 3 != 0])
        slots = b.slots
        assert (b.positions_of(slots) == np.arange(len(slots))).all()
        np.testing.assert_array_equal(b.codes_of(slots[::-1]), codes[slots[::-1] - 10])
    assert b._explicit is not None  # the last removal left the explicit form
