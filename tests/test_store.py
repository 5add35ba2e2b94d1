"""One battery, every store: SQLite (embedded) and PostgreSQL return the same, exact results.

Each test runs once per backend; the PostgreSQL runs skip (saying why) when no server is set up.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import clustered
from hashsearch import HashIndex, HashsearchError, NotFoundError, TrainConfig
from hashsearch import codes as bc

TRAIN = TrainConfig(epochs=3, hidden=(64, 32), batch_size=64, neighbors=5)
N = 300


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request):
    return None if request.param == "sqlite" else request.getfixturevalue("pg_url")


def build(path, store_url, bits=16, n=N, seed=0, **kw):
    x, labels = clustered(n, dim=24, clusters=6, seed=seed)
    x[:4] = x[4]  # duplicate codes on purpose
    ids = [f"d{i}" for i in range(n)]
    meta = [
        {"label": int(lab), "name": f"dokument-{i} é✓", "nested": {"i": i, "b": [1, None]}}
        for i, lab in enumerate(labels)
    ]
    texts = [f"text of {i}" for i in range(n)]
    idx = HashIndex.build_from_vectors(
        path, ids, x, bits=bits, train=TRAIN, texts=texts, metadata=meta, store=store_url, **kw
    )
    return idx, x


def brute(idx: HashIndex, qcode: np.ndarray, k: int) -> tuple[list[int], list[int]]:
    slots, codes = idx.store.codes(idx.bits // 8)
    d = bc.hamming(qcode[None, :], codes)[0]
    o = np.lexsort((slots, d))[:k]
    return slots[o].tolist(), d[o].tolist()


def hits_of(rows):
    return [[(h.id, h.distance, round(h.score, 5), h.text, h.metadata) for h in row] for row in rows]


@pytest.mark.parametrize("bits", [16, 64, 128])
def test_search_equals_brute_force(tmp_path, store_url, bits):
    idx, x = build(tmp_path / "i", store_url, bits=bits)
    assert idx.info().extra["store"]["kind"] == ("sqlite" if store_url is None else "postgresql")
    q = np.concatenate([x[:3], x[50:52] + 0.7])
    codes, _ = idx.encode_features(q)
    for k in (1, 10, 77, N + 5):
        for radius in (0, 1, None):
            for c, row in zip(codes, idx.search_codes(codes, k, radius=radius)):
                s, d = brute(idx, c, k)
                assert [h.slot for h in row] == s and [h.distance for h in row] == d


def test_codes_metadata_and_features_round_trip(tmp_path, store_url):
    idx, x = build(tmp_path / "i", store_url, bits=128)
    docs = list(idx.documents())
    assert [d.id for d, _ in docs] == [f"d{i}" for i in range(N)]
    assert docs[7][0].metadata == {
        "label": docs[7][0].metadata["label"],
        "name": "dokument-7 é✓",
        "nested": {"i": 7, "b": [1, None]},
    }
    assert np.array_equal(np.stack([c for _, c in docs]), idx.encode_features(x)[0])
    f = idx.store.features(np.array([5, 0, 299]))
    xn = x[[5, 0, 299]] / np.linalg.norm(x[[5, 0, 299]], axis=1, keepdims=True)
    assert f.shape == (3, 24) and np.abs(f - xn).max() < 2e-3  # float16 storage
    assert idx.store.code_of("d9") == (9, bytes(docs[9][1]))
    assert idx.store.code_of("nope") is None


def test_add_delete_and_a_second_process_sees_them(tmp_path, store_url):
    idx, x = build(tmp_path / "i", store_url)
    other = HashIndex.load(tmp_path / "i")  # another reader of the same index
    g0 = other.store.generation
    idx.add_vectors(["n1", "n2"], x[:2] + 0.01, texts=["new one", "new two"], metadata=[{"k": 1}, {}])
    with pytest.raises(HashsearchError, match="already in the index"):
        idx.add_vectors(["n3", "d5"], x[:2])
    with pytest.raises(NotFoundError, match="nothing deleted"):
        idx.delete(["d1", "missing"])
    assert idx.delete(["d1", "n2"]) == 2
    assert other.store.generation > g0 and other.refresh()
    assert len(other) == len(idx) == N
    assert {d.id for d, _ in other.documents()} == {f"d{i}" for i in range(N) if i != 1} | {"n1"}
    c, _ = other.encode_features(x[:3])
    for q, row in zip(c, other.search_codes(c, 20)):
        assert [h.slot for h in row] == brute(other, q, 20)[0]
    assert "d1" not in [h.id for h in other.similar("d0", k=50)]


CONCURRENT_WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from hashsearch import HashIndex
    idx = HashIndex.load(sys.argv[1])
    tag = sys.argv[2]
    rng = np.random.default_rng(len(tag))
    for b in range(5):
        idx.add_vectors([f"{tag}-{b}-{i}" for i in range(8)], rng.standard_normal((8, 24)).astype("float32"))
    idx.delete([f"{tag}-0-0"])
    """
)


def test_concurrent_writers_in_processes_lose_nothing(tmp_path, store_url):
    build(tmp_path / "i", store_url)
    procs = [
        subprocess.Popen([sys.executable, "-c", CONCURRENT_WRITER, str(tmp_path / "i"), t], stderr=subprocess.PIPE)
        for t in ("a", "bb", "ccc")
    ]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read().decode()
    idx = HashIndex.load(tmp_path / "i")
    docs = [d for d, _ in idx.documents()]
    ids = [d.id for d in docs]
    assert len(ids) == len(set(ids)) == N + 3 * (40 - 1)
    assert len({d.slot for d in docs}) == len(docs)
    assert all(
        f"{t}-{b}-{i}" in ids for t in ("a", "bb", "ccc") for b in range(5) for i in range(8) if (b, i) != (0, 0)
    )


def test_save_copies_and_overwrite_replaces(tmp_path, store_url):
    idx, x = build(tmp_path / "i", store_url)
    idx.save(tmp_path / "copy")
    copy = HashIndex.load(tmp_path / "copy")
    assert hits_of(copy.search_vectors(x[:4], 10, rerank=True)) == hits_of(idx.search_vectors(x[:4], 10, rerank=True))
    copy.delete(["d3"])  # the copy is independent
    assert len(HashIndex.load(tmp_path / "i")) == N and len(HashIndex.load(tmp_path / "copy")) == N - 1
    build(tmp_path / "i", store_url, n=50, overwrite=True)
    assert len(HashIndex.load(tmp_path / "i")) == 50


def test_failed_build_leaves_nothing(tmp_path, store_url, monkeypatch):
    store_postgres = pytest.importorskip("hashsearch.store_postgres")
    from hashsearch import store_sqlite

    made = []
    real = store_postgres.PostgresStore.create

    def create(url, name):
        made.append(real(url, name))
        return made[-1]

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store_postgres.PostgresStore, "create", staticmethod(create))
    for cls in (store_sqlite.SQLiteStore, store_postgres.PostgresStore):
        monkeypatch.setattr(cls, "set_codes", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        build(tmp_path / "i", store_url)
    assert list(tmp_path.iterdir()) == []
    if store_url is not None:
        import psycopg

        with psycopg.connect(store_url) as c:
            t = made[0].table
            assert c.execute("SELECT to_regclass(%s)", (f"{t}_docs",)).fetchone()[0] is None


def test_in_store_probe_equals_brute_force(tmp_path, pg_url):
    """The SQL path: code = ANY(<Hamming ball>) on the indexed column, ranked by bit_count(code # q)."""
    from hashsearch.store_postgres import PROBE

    for bits in (16, 64):
        idx, x = build(tmp_path / f"i{bits}", pg_url, bits=bits)
        codes, _ = idx.encode_features(np.concatenate([x[:3], x[100:102] + 1.0]))
        for c in codes:
            for k, r in ((1, 0), (10, 1), (40, 2), (N, 1)):
                s, d, _ = idx.candidates(c, k, radius=r, in_store=True)
                assert (s.tolist(), d.tolist()) == brute(idx, c, k)
        if bits == 64:  # the probe can go through the code index (on 300 rows the planner may prefer a scan)
            idx.store.conn.execute("SET enable_seqscan = off")
            plan = idx.store.conn.execute(
                idx.store._sql("EXPLAIN " + PROBE), {"q": 1, "keys": list(range(2000)), "limit": 10}
            ).fetchall()
            idx.store.conn.execute("RESET enable_seqscan")
            assert any("_code" in row[0] for row in plan), plan
    wide, _ = build(tmp_path / "w", pg_url, bits=128)
    with pytest.raises(HashsearchError, match="at most 64 bits"):
        wide.candidates(np.zeros(16, np.uint8), 5, in_store=True)


def test_sqlite_and_postgresql_return_identical_results(tmp_path, pg_url):
    a, x = build(tmp_path / "a", None, bits=32)
    b, _ = build(tmp_path / "b", pg_url, bits=32)
    assert np.array_equal(a.store.codes(4)[1], b.store.codes(4)[1])
    q = np.concatenate([x[::37], x[:5] + 0.5])
    for kw in ({}, {"radius": 0}, {"rerank": True}, {"rerank": True, "candidates": 40}):
        assert hits_of(a.search_vectors(q, 15, **kw)) == hits_of(b.search_vectors(q, 15, **kw))
    assert [h.id for h in a.similar("d10", k=8, rerank=True)] == [h.id for h in b.similar("d10", k=8, rerank=True)]
    for idx in (a, b):
        idx.add_vectors(["z"], x[:1] * 0.9)
        idx.delete(["d2"])
    assert hits_of(a.search_vectors(q, 15, rerank=True)) == hits_of(b.search_vectors(q, 15, rerank=True))
    assert [(d.id, d.metadata, bytes(c)) for d, c in a.documents()] == [
        (d.id, d.metadata, bytes(c)) for d, c in b.documents()
    ]


def test_bad_store_url_is_a_clear_error(tmp_path):
    x, _ = clustered(20, dim=8)
    with pytest.raises(HashsearchError, match="unknown store"):
        HashIndex.build_from_vectors(
            tmp_path / "i", [str(i) for i in range(20)], x, bits=8, train=TRAIN, store="mysql://x"
        )
    assert list(tmp_path.iterdir()) == []
