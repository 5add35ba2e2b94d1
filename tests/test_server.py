"""The HTTP API: results equal the Python API, writes are guarded, bad requests get a clear 4xx."""

from __future__ import annotations

import shutil
import threading

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from hashsearch import HashIndex  # noqa: E402
from hashsearch.server import RWLock, create_app, is_loopback  # noqa: E402


@pytest.fixture()
def served(tmp_path, tfidf_index_dir):
    d = tmp_path / "idx"
    shutil.copytree(tfidf_index_dir, d)
    return d, TestClient(create_app(d))


def test_search_matches_the_python_api(served):
    d, c = served
    r = c.post("/search", json={"queries": ["rocket orbit nasa", "bake flour"], "k": 5, "rerank": False})
    assert r.status_code == 200
    got = [[h["id"] for h in row] for row in r.json()["results"]]
    idx = HashIndex.load(d)
    assert got == [[h.id for h in row] for row in idx.search(["rocket orbit nasa", "bake flour"], 5)]
    code = c.post("/encode", json={"texts": ["rocket orbit nasa"]}).json()["codes"][0]
    r2 = c.post("/search/codes", json={"codes": [code["hex"]], "k": 5})
    assert [h["id"] for h in r2.json()["results"][0]] == got[0]
    assert len(code["bits"]) == 16 and isinstance(code["int64"], int)
    assert c.get("/health").json() == {"status": "ok", "documents": 160}
    assert c.get("/info").json()["bits"] == 16
    r3 = c.post("/search", json={"queries": ["rocket orbit nasa"], "k": 5, "rerank": False, "asymmetric": True})
    assert [h["id"] for h in r3.json()["results"][0]] == [
        h.id for h in idx.search("rocket orbit nasa", 5, asymmetric=True)[0]
    ]
    sim = c.get("/similar/space-3", params={"k": 3}).json()["results"][0]
    assert len(sim) == 3 and "space-3" not in [h["id"] for h in sim]


def test_add_and_delete(served):
    d, c = served
    r = c.post("/documents", json={"documents": [{"id": "new", "text": "rocket moon launch", "metadata": {"a": 1}}]})
    assert r.status_code == 200 and r.json()["documents"] == 161
    assert c.post("/documents/delete", json={"ids": ["new", "space-0"]}).json() == {"deleted": 2, "documents": 159}
    assert len(HashIndex.load(d)) == 159


@pytest.mark.parametrize(
    "method,path,body,status",
    [
        ("post", "/search", {"queries": ["x"], "k": 10**9}, 422),
        ("post", "/search", {"queries": ["x"], "radius": 64}, 422),
        ("post", "/search", {"queries": []}, 422),
        ("post", "/search", {"queries": ["x"] * 1000}, 422),
        ("post", "/search/codes", {"codes": ["zz"]}, 422),
        ("post", "/search/codes", {"codes": ["abcdef"]}, 422),
        ("post", "/search/codes", {"codes": ["abcd"], "asymmetric": True}, 422),
        ("post", "/search/vectors", {"vectors": [[0.1, 0.2]]}, 422),
        ("get", "/similar/unknown-id", None, 404),
        ("post", "/documents", {"documents": [{"id": "space-1", "text": "dup"}]}, 400),
        ("post", "/documents", {"documents": [{"id": "e", "text": "  "}]}, 422),
        ("post", "/documents/delete", {"ids": ["nope"]}, 404),
    ],
)
def test_bad_requests_get_4xx_and_change_nothing(served, method, path, body, status):
    d, c = served
    r = getattr(c, method)(path, json=body) if body is not None else getattr(c, method)(path)
    assert r.status_code == status, r.text
    assert "detail" in r.json()
    assert len(HashIndex.load(d)) == 160


def test_malformed_json_and_huge_body(served):
    d, c = served
    r = c.post("/search", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    r = c.post("/search", content=b"x" * (11 * 2**20), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert len(HashIndex.load(d)) == 160


def test_api_key_guards_writes(tmp_path, tfidf_index_dir):
    d = tmp_path / "idx"
    shutil.copytree(tfidf_index_dir, d)
    c = TestClient(create_app(d, api_key="s3cret", require_key=True))
    doc = {"documents": [{"id": "n", "text": "rocket"}]}
    assert c.post("/documents", json=doc).status_code == 401
    assert c.post("/documents", json=doc, headers={"X-API-Key": "wrong"}).status_code == 401
    assert c.post("/documents", json=doc, headers={"X-API-Key": "s3cret"}).status_code == 200
    assert c.post("/search", json={"queries": ["rocket"]}).status_code == 200  # reads stay open
    from hashsearch import HashsearchError

    with pytest.raises(HashsearchError, match="API key is required"):
        create_app(d, require_key=True)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0")


def test_rwlock_excludes_writers_from_readers():
    lock, log = RWLock(), []
    with lock.read():
        t = threading.Thread(target=lambda: (lock.write().__enter__(), log.append("w")))
        t.start()
        t.join(0.2)
        assert log == []  # the writer waits for the reader
    t.join(2)
    assert log == ["w"]


def test_batcher_answers_each_request_with_its_own_rows():
    """Concurrent requests' texts go through one model call; each request gets back exactly its rows."""
    import time

    import numpy as np

    from hashsearch.server import Batcher

    calls = []

    def featurize(texts):
        calls.append(len(texts))
        time.sleep(0.02)
        if any(t == "boom" for t in texts):
            raise ValueError("bad text")
        return np.array([[len(t)] for t in texts])

    b = Batcher(featurize)
    got: dict[int, list] = {}

    def ask(i: int) -> None:
        got[i] = b(["x" * i, "y" * (i + 100)]).tolist()

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == {i: [[i], [i + 100]] for i in range(40)}
    assert len(calls) < 40 and sum(calls) == 80  # batched, nothing lost or repeated
    with pytest.raises(ValueError, match="bad text"):
        b(["boom"])
    assert b(["ok"]).tolist() == [[2]]  # the batcher survives a failed call
