"""The engine against exact references: brute-force Hamming for the hash path, brute-force cosine for rerank."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import clustered
from hashsearch import HashIndex, HashsearchError, IndexFormatError, NotFoundError, Record, TrainConfig
from hashsearch import codes as bc
from hashsearch.index import ASYMMETRIC_POOL

TRAIN = TrainConfig(epochs=4, hidden=(64, 32), batch_size=64, neighbors=5)


@pytest.fixture(scope="module")
def vec_index(tmp_path_factory):
    x, labels = clustered(400, dim=32, clusters=8, seed=0)
    x[:5] = x[5]  # duplicates
    ids = [f"v{i}" for i in range(len(x))]
    d = tmp_path_factory.mktemp("v") / "idx"
    meta = [{"label": int(lab)} for lab in labels]
    idx = HashIndex.build_from_vectors(d, ids, x, bits=16, train=TRAIN, metadata=meta)
    return idx, x, labels


def brute_hamming(idx: HashIndex, qcode: np.ndarray, k: int):
    codes, slots = idx._binary.codes(), idx._binary.slots
    d = bc.hamming(qcode[None, :], codes)[0]
    o = np.lexsort((slots, d))[:k]
    return slots[o], d[o]


def test_codes_are_not_degenerate(vec_index):
    idx, _, _ = vec_index
    info = idx.info()
    assert info.documents == 400 and info.constant_bits == 0
    assert all(0.3 <= s <= 0.7 for s in info.bit_ones_share)
    # 8 tight clusters in 16 bits: a bucket may hold a cluster's core, never the corpus
    assert info.buckets >= 16 and info.largest_bucket_share <= 0.2


@pytest.mark.parametrize("k", [1, 5, 37, 400, 1000])
@pytest.mark.parametrize("radius", [0, 1, 2, None])
def test_search_equals_brute_force_hamming(vec_index, k, radius):
    idx, x, _ = vec_index
    queries = np.concatenate([x[:3], x[100:103] + 0.5, np.zeros((1, x.shape[1]), np.float32)])
    hits = idx.search_vectors(queries, k, radius=radius)
    codes, _ = idx.encode_features(queries)
    for q, h in zip(codes, hits):
        exp_s, exp_d = brute_hamming(idx, q, k)
        assert len(h) == min(k, len(idx))  # falls back to FAISS when the ball runs out
        assert [x.slot for x in h] == exp_s.tolist()
        assert [x.distance for x in h] == exp_d.tolist()
        assert all(abs(x.score - (1 - x.distance / 16)) < 1e-6 for x in h)


def test_rerank_orders_candidates_by_exact_cosine(vec_index):
    idx, x, _ = vec_index
    q = x[10:13] + 0.3
    codes, rv = idx.encode_features(q)
    all_slots = idx._binary.slots
    feats = idx.store.features(all_slots)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    # a pool as large as the corpus: rerank is brute-force cosine over the stored float16 features
    for i, h in enumerate(idx.search_vectors(q, 10, rerank=True, candidates=len(idx))):
        ref = all_slots[np.argsort(-(feats @ rv[i]), kind="stable")[:10]]
        assert [y.slot for y in h] == ref.tolist()
        exact = np.argsort(-(xn @ rv[i]))[:10]  # float32 cosine: same set up to float16 rounding
        assert len(set(exact.tolist()) & {y.slot for y in h}) >= 9
        assert all(a.score >= b.score for a, b in zip(h, h[1:]))
    # a smaller pool: the 50 best by the asymmetric score among the 4 x 50 Hamming-nearest, reranked
    latent = idx.model.encode(q[:1])[1][0]
    pool, _ = brute_asymmetric(idx, codes[0], latent, 50)
    h = idx.search_vectors(q[:1], 10, rerank=True, candidates=50)[0]
    best = pool[np.argsort(-(idx.store.features(pool) @ rv[0]), kind="stable")[:10]]
    assert [y.slot for y in h] == best.tolist()


def brute_asymmetric(idx: HashIndex, qcode: np.ndarray, latent: np.ndarray, need: int):
    """Reference of the asymmetric order: the ASYMMETRIC_POOL x need Hamming-nearest (brute force),
    ordered by latent . (+-1 bits) / bits, then Hamming distance, then slot."""
    codes, slots = idx._binary.codes(), idx._binary.slots
    d = bc.hamming(qcode[None, :], codes)[0]
    near = np.lexsort((slots, d))[: ASYMMETRIC_POOL * need]
    signs = np.array([[1.0 if (c[b // 8] >> (7 - b % 8)) & 1 else -1.0 for b in range(idx.bits)] for c in codes[near]])
    a = signs @ latent.astype(np.float64) / idx.bits
    o = np.lexsort((slots[near], d[near], -a))[:need]
    return slots[near][o], a[o]


@pytest.mark.parametrize("deleted", ["none", "holes", "most"])
@pytest.mark.parametrize("k", [1, 5, 37, 400])
def test_asymmetric_order_equals_brute_force(vec_index, tmp_path, deleted, k):
    idx, x, _ = vec_index
    if deleted != "none":  # exercise each compact slot form of BinaryIndex (codes read by slot)
        shutil.copytree(idx.path, tmp_path / "c")
        idx = HashIndex.load(tmp_path / "c")
        gone = [f"v{i}" for i in (range(7, 400, 9) if deleted == "holes" else range(0, 300))]
        idx.delete(gone)
    queries = np.concatenate([x[:3], x[100:103] + 0.5])
    codes, _ = idx.encode_features(queries)
    latents = idx.model.encode(queries)[1]
    hits = idx.search_vectors(queries, k, asymmetric=True)
    for q, lat, h in zip(codes, latents, hits):
        exp_s, exp_a = brute_asymmetric(idx, q, lat, k)
        assert [y.slot for y in h] == exp_s.tolist()
        np.testing.assert_allclose([y.score for y in h], exp_a, atol=1e-5)
        assert all(a.score >= b.score for a, b in zip(h, h[1:]))
        assert [y.distance for y in h] == bc.hamming(q[None, :], idx._binary.codes_of(exp_s))[0].tolist()


def test_similar_leaves_the_document_out(vec_index):
    idx, x, labels = vec_index
    hits = idx.similar("v200", k=5)
    assert len(hits) == 5 and "v200" not in [h.id for h in hits]
    assert np.mean([h.metadata["label"] == int(labels[200]) for h in hits]) >= 0.6
    with pytest.raises(NotFoundError):
        idx.similar("nope")


def test_round_trip_save_load(vec_index, tmp_path):
    idx, x, _ = vec_index
    idx.save(tmp_path / "copy")
    other = HashIndex.load(tmp_path / "copy")
    assert np.array_equal(other._binary.codes(), idx._binary.codes())
    assert np.array_equal(other.encode_features(x[:50])[0], idx.encode_features(x[:50])[0])
    for a, b in zip(idx.search_vectors(x[:5], 10, rerank=True), other.search_vectors(x[:5], 10, rerank=True)):
        assert [(h.id, h.distance, round(h.score, 5)) for h in a] == [(h.id, h.distance, round(h.score, 5)) for h in b]


def test_same_seed_same_codes(tmp_path):
    x, _ = clustered(120, dim=16, seed=4)
    ids = [str(i) for i in range(120)]
    a = HashIndex.build_from_vectors(tmp_path / "a", ids, x, bits=8, train=TRAIN)
    b = HashIndex.build_from_vectors(tmp_path / "b", ids, x, bits=8, train=TRAIN)
    assert np.array_equal(a._binary.codes(), b._binary.codes())


def test_add_and_delete(vec_index, tmp_path):
    src, x, _ = vec_index
    src.save(tmp_path / "w")
    idx = HashIndex.load(tmp_path / "w")
    new = x[:20] + 0.01
    idx.add_vectors([f"n{i}" for i in range(20)], new)
    assert len(idx) == 420
    reloaded = HashIndex.load(tmp_path / "w")
    assert len(reloaded) == 420
    c, _ = idx.encode_features(new)
    hits = reloaded.search_codes(c[:1], 420)[0]
    exp_s, exp_d = brute_hamming(reloaded, c[0], 420)
    assert [h.slot for h in hits] == exp_s.tolist()
    with pytest.raises(HashsearchError, match="already in the index"):
        idx.add_vectors(["v3"], x[:1])
    assert len(HashIndex.load(tmp_path / "w")) == 420
    assert idx.delete(["n0", "v1"]) == 2
    with pytest.raises(NotFoundError, match="nothing deleted"):
        idx.delete(["v2", "missing"])
    again = HashIndex.load(tmp_path / "w")
    assert len(again) == 418 and "v2" in again.store.slots_of(["v2"])
    assert not any(h.id in ("n0", "v1") for h in again.search_vectors(x[:2], 418)[0])


def test_refresh_sees_another_writer(vec_index, tmp_path):
    src, x, _ = vec_index
    src.save(tmp_path / "w")
    reader, writer = HashIndex.load(tmp_path / "w"), HashIndex.load(tmp_path / "w")
    writer.add_vectors(["z"], x[:1])
    assert reader.refresh() and len(reader) == 401
    assert not reader.refresh()


def test_unknown_format_version_is_refused(vec_index, tmp_path):
    src, _, _ = vec_index
    src.save(tmp_path / "w")
    cfg = json.loads((tmp_path / "w" / "config.json").read_text())
    cfg["format_version"] = 99
    (tmp_path / "w" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(IndexFormatError, match="format version 99 is not supported"):
        HashIndex.load(tmp_path / "w")
    with pytest.raises(IndexFormatError, match="no index here"):
        HashIndex.load(tmp_path / "nothing")


def test_build_refuses_to_clobber_and_overwrite_replaces(vec_index, tmp_path):
    src, x, _ = vec_index
    src.save(tmp_path / "w")
    with pytest.raises(HashsearchError, match="already exists"):
        HashIndex.build_from_vectors(tmp_path / "w", ["a", "b"], x[:2], bits=8, train=TRAIN)
    assert len(HashIndex.load(tmp_path / "w")) == 400
    HashIndex.build_from_vectors(
        tmp_path / "w", [str(i) for i in range(50)], x[:50], bits=8, train=TRAIN, overwrite=True
    )
    assert len(HashIndex.load(tmp_path / "w")) == 50
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_vector_index_refuses_text_queries(vec_index):
    idx, _, _ = vec_index
    with pytest.raises(HashsearchError, match="built from vectors"):
        idx.search("some text")


def test_tfidf_index_text_search(tfidf_index_dir, corpus):
    idx = HashIndex.load(tfidf_index_dir)
    hits = idx.search(["rocket orbit nasa launch", "bake flour sugar oven"], k=10, rerank=True)
    assert [h.metadata["label"] for h in hits[0]].count("space") >= 7
    assert [h.metadata["label"] for h in hits[1]].count("cooking") >= 7
    err = idx.reconstruction_error(["rocket orbit launch nasa", "zebra quantum violin"])
    assert err.shape == (2,) and np.all(np.isfinite(err))


def test_killed_build_leaves_no_index(tmp_path, monkeypatch):
    x, _ = clustered(50, dim=8)
    import hashsearch.store_sqlite as store_mod

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store_mod.SQLiteStore, "add", boom)
    with pytest.raises(RuntimeError):
        HashIndex.build_from_vectors(tmp_path / "w", [str(i) for i in range(50)], x, bits=8, train=TRAIN)
    assert not (tmp_path / "w").exists() and list(tmp_path.iterdir()) == []


def test_records_keep_metadata(tmp_path):
    recs = [Record(f"d{i}", f"alpha beta gamma {i} delta", {"n": i}) for i in range(30)]
    idx = HashIndex.build(tmp_path / "t", recs, bits=8, featurizer="tfidf", train=TRAIN)
    h = idx.similar("d3", k=3)
    assert all(isinstance(x.metadata["n"], int) for x in h)
    shutil.rmtree(tmp_path / "t")
