"""Distributed builds on a local Dask cluster equal the single-process build, code for code."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from conftest import make_corpus, write_jsonl
from hashsearch import HashIndex, InputError, Record, TrainConfig

pytest.importorskip("distributed", reason="distributed builds need Dask: pip install 'hashsearch[dask]'")

# max_train_docs below the corpus size: the Dask build must gather exactly the single build's sample
TRAIN = TrainConfig(epochs=3, hidden=(64, 32), batch_size=64, neighbors=5, max_train_docs=150)


@pytest.fixture(scope="module")
def client():
    from hashsearch.distributed import local_client

    c = local_client(2)
    yield c
    c.close()
    c.cluster.close()


@pytest.fixture(scope="module")
def records():
    return [Record(r["id"], r["text"], {"label": r["label"]}) for r in make_corpus(60)]


def same_index(a: HashIndex, b: HashIndex) -> None:
    sa, ca = a.store.codes(a.bits // 8)
    sb, cb = b.store.codes(b.bits // 8)
    assert np.array_equal(sa, sb) and np.array_equal(ca, cb)
    assert [(d.id, d.text, d.metadata) for d, _ in a.documents()] == [
        (d.id, d.text, d.metadata) for d, _ in b.documents()
    ]
    assert np.array_equal(a.store.features(sa), b.store.features(sb))
    assert a.config == b.config


@pytest.mark.parametrize("bits", [16, 64])
def test_dask_build_equals_single_process(tmp_path, client, records, bits):
    from hashsearch.distributed import build_distributed

    single = HashIndex.build(tmp_path / "one", records, bits=bits, featurizer="tfidf", train=TRAIN)
    dist = build_distributed(
        tmp_path / "dask", records, client, bits=bits, featurizer="tfidf", train=TRAIN, partition_docs=50
    )
    assert len(dist) == 240 and dist.info().constant_bits == 0
    same_index(single, dist)
    q = ["rocket launch orbit", "bake flour"]
    assert [[h.id for h in r] for r in single.search(q, 10, rerank=True)] == [
        [h.id for h in r] for r in dist.search(q, 10, rerank=True)
    ]


def test_dask_build_of_bad_input_leaves_nothing(tmp_path, client, records):
    from hashsearch.distributed import build_distributed

    def broken():
        yield from records[:100]
        raise InputError("docs.jsonl", "invalid JSON", 101)

    with pytest.raises(InputError, match="docs.jsonl:101"):
        build_distributed(tmp_path / "x", broken(), client, bits=16, featurizer="tfidf", train=TRAIN, partition_docs=40)
    assert list(tmp_path.iterdir()) == []


def test_cli_workers_builds_the_same_index(tmp_path):
    from typer.testing import CliRunner

    from hashsearch.cli import app

    src = write_jsonl(tmp_path / "c.jsonl", make_corpus(30))
    opts = ["--featurizer", "tfidf", "--epochs", "3", "--hidden", "64,32", "--neighbors", "5", "--bits", "16", "-q"]
    r1 = CliRunner().invoke(app, ["index", str(src), "--index", str(tmp_path / "a"), *opts])
    r2 = CliRunner().invoke(app, ["index", str(src), "--index", str(tmp_path / "b"), *opts, "--workers", "2", "--json"])
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    assert json.loads(r2.stdout)["documents"] == 120
    same_index(HashIndex.load(tmp_path / "a"), HashIndex.load(tmp_path / "b"))
    r3 = CliRunner().invoke(app, ["index", str(src), "--index", str(tmp_path / "c"), "--workers", "2", "--dask", "x"])
    assert r3.exit_code == 2 and "not both" in r3.output


def test_training_on_the_gathered_sample_is_training_on_all(records):
    """The driver trains on the sample rows only; the model equals one given the whole corpus."""
    from hashsearch.featurizers import TfidfFeaturizer
    from hashsearch.train import train_autoencoder, training_rows

    fz = TfidfFeaturizer()
    fz.fit([r.text for r in records])
    x = fz.transform([r.text for r in records])
    cfg = replace(TRAIN, epochs=2)
    rows = training_rows(x.shape[0], cfg)
    assert rows is not None and len(rows) == 150
    a, _ = train_autoencoder(x, 16, cfg, bow=True)
    b, _ = train_autoencoder(x[rows], 16, cfg, bow=True, sampled_from=x.shape[0])
    assert np.array_equal(a.encode(x)[0], b.encode(x)[0])
    with pytest.raises(ValueError, match="training sample"):
        train_autoencoder(x[:100], 16, cfg, bow=True, sampled_from=x.shape[0])


@pytest.mark.integration
def test_dask_build_with_minilm_equals_single_process(tmp_path, client, monkeypatch):
    """The default featurizer: the same texts in the same chunks give the same embeddings, so the
    same codes (a real build streams 1,024-document chunks; shrunk here to keep the test short)."""
    import hashsearch.index as index_mod
    from hashsearch.demo import stdlib_docstrings
    from hashsearch.distributed import build_distributed

    monkeypatch.setattr(index_mod, "STREAM_CHUNK", 100)
    recs = [Record(r["id"], r["text"]) for r in list(stdlib_docstrings())[:300]]
    cfg = TrainConfig(epochs=5, min_steps=20, max_train_docs=250)
    single = HashIndex.build(tmp_path / "one", recs, train=cfg)
    dist = build_distributed(tmp_path / "dask", recs, client, train=cfg, partition_docs=100)
    same_index(single, dist)
