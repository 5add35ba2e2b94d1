"""Integration: the real bundled all-MiniLM-L6-v2 on a real corpus (the standard library's docstrings)."""

from __future__ import annotations

import numpy as np
import pytest

from hashsearch import HashIndex, Record
from hashsearch import codes as bc
from hashsearch.demo import stdlib_docstrings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stdlib_index(tmp_path_factory):
    rows = list(stdlib_docstrings())[:2500]
    recs = [Record(r["id"], r["text"], {"label": r["label"]}) for r in rows]
    idx = HashIndex.build(tmp_path_factory.mktemp("m") / "stdlib", recs)  # the defaults: minilm, 64 bits, neighbor
    return idx


def test_defaults_give_non_degenerate_codes(stdlib_index):
    info = stdlib_index.info()
    assert info.documents == 2500 and info.bits == 64
    assert info.constant_bits == 0
    assert info.largest_bucket_share <= 0.05
    assert info.featurizer["model"] == "minilm" and info.has_features


def test_queries_find_the_right_modules(stdlib_index):
    hits = stdlib_index.search(
        ["read and write compressed archive files", "parse command line options"], k=5, rerank=True
    )
    assert {h.metadata["label"] for h in hits[0]} & {"tarfile", "gzip", "zipfile", "bz2", "lzma", "shutil"}
    assert {h.metadata["label"] for h in hits[1]} & {"argparse", "optparse", "getopt", "cmd"}


def test_hash_path_on_real_codes_equals_brute_force(stdlib_index):
    idx = stdlib_index
    codes, slots = idx._binary.codes(), idx._binary.slots
    q = idx.encode(["http client request", "unicode normalization", "thread pool executor"])
    for k in (1, 10, 100):
        for code, hits in zip(q, idx.search_codes(q, k)):
            d = bc.hamming(code[None, :], codes)[0]
            order = np.lexsort((slots, d))[:k]
            assert [h.slot for h in hits] == slots[order].tolist()


def test_add_codes_new_documents_without_retraining(stdlib_index, tmp_path):
    stdlib_index.save(tmp_path / "copy")
    idx = HashIndex.load(tmp_path / "copy")
    weights = {k: v.clone() for k, v in idx.model.state_dict().items()}
    idx.add([Record("new/doc", "Compute the SHA-256 digest of a byte string with hashlib.")])
    hits = idx.search("hash digest of bytes sha256", k=10, rerank=True)[0]
    assert "new/doc" in [h.id for h in hits]
    assert all((weights[k] == v).all() for k, v in idx.model.state_dict().items())
