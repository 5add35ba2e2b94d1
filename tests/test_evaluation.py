from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import SHARED, clustered
from hashsearch.cli import app
from hashsearch.evaluation import (
    ITQ,
    LSH,
    PCASign,
    SignQuantization,
    hamming_knn,
    ndcg_at_k,
    precision_at_k,
    precision_by_radius,
    recall_at_k,
)


def test_precision_at_k_by_hand():
    nb = np.array([[0, 1, 2], [2, 1, 0]])
    assert precision_at_k(nb, np.array([0, 1]), np.array([0, 0, 1]), 2) == pytest.approx((1.0 + 0.5) / 2)


def test_hamming_knn_breaks_ties_by_index():
    db = np.array([[0b1111], [0b0000], [0b0001], [0b0000]], dtype=np.uint8)
    assert hamming_knn(np.array([[0]], np.uint8), db, 4).tolist() == [[1, 3, 2, 0]]


def test_ndcg_and_recall_by_hand():
    ranked = [["a", "b", "c"]]
    qrels = [{"b": 1, "z": 1}]
    ideal = 1 + 1 / np.log2(3)
    assert ndcg_at_k(ranked, qrels, 10) == pytest.approx((1 / np.log2(3)) / ideal)
    assert recall_at_k(ranked, qrels, 100) == 0.5


def test_precision_by_radius():
    q = np.array([[0]], np.uint8)
    db = np.array([[0], [1], [3], [255]], np.uint8)
    r = precision_by_radius(q, db, np.array([0]), np.array([0, 1, 0, 0]), [0, 1, 2])
    assert [x["precision"] for x in r] == [1.0, 0.5, 2 / 3]
    assert [x["mean_retrieved"] for x in r] == [1, 2, 3]


def test_baselines_code_shapes_and_balance():
    x, _ = clustered(300, dim=24)
    for m in (LSH(16), PCASign(16), ITQ(16)):
        c = m.fit(x).encode(x)
        assert c.shape == (300, 2) and len(np.unique(c, axis=0)) > 8
    assert SignQuantization().fit(x).encode(x).shape == (300, 3)


def test_itq_rotation_is_orthogonal_and_beats_lsh_on_clusters():
    x, y = clustered(600, dim=32, clusters=6, seed=3)
    itq = ITQ(16).fit(x)
    lsh = LSH(16).fit(x)
    p = lambda m: precision_at_k(hamming_knn(m.encode(x[:100]), m.encode(x), 20), y[:100], y, 20)  # noqa: E731
    assert p(itq) >= p(lsh)


def test_eval_labeled_cli_json(tmp_path):
    x, y = clustered(500, dim=16, clusters=5, seed=1)
    np.savez(tmp_path / "d.npz", train_emb=x[:400], train_labels=y[:400], test_emb=x[400:], test_labels=y[400:])
    r = CliRunner().invoke(
        app,
        [
            "eval",
            "labeled",
            str(tmp_path / "d.npz"),
            "--bits",
            "8,16",
            "--epochs",
            "2",
            "--methods",
            "float,lsh,itq,hashsearch",
            "--json",
            "--plot",
            str(tmp_path / "p.png"),
        ],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    methods = {(row["method"], row["bits"]) for row in out["rows"]}
    assert {("float", None), ("lsh", 8), ("itq", 16), ("hashsearch", 16)} <= methods
    hs = next(row for row in out["rows"] if row["method"] == "hashsearch" and row["bits"] == 16)
    assert 0 < hs["p@100"] <= 1 and len(hs["by_radius"]) == 4
    assert (tmp_path / "p.png").stat().st_size > 1000


@pytest.mark.skipif(
    not (SHARED / "ng20-minilm.npz").exists(), reason="needs ../shared/data/ng20-minilm.npz (absent in a user's clone)"
)
def test_ng20_minilm_baselines_match_the_published_figures():
    from hashsearch.evaluation import evaluate_labeled, load_labeled

    d = load_labeled(SHARED / "ng20-minilm.npz")
    rows = evaluate_labeled(d, [64], ["float", "itq"], ks=(100,))
    got = {r["method"]: 100 * r["p@100"] for r in rows}
    assert got["float"] == pytest.approx(44.98, abs=0.05)
    assert got["itq"] == pytest.approx(42.83, abs=0.3)


def test_eval_qrels_orders_against_exact_references():
    from hashsearch.evaluation import QrelsData, asymmetric_order, evaluate_qrels

    x, _ = clustered(300, dim=24, clusters=6, seed=3)
    q = x[:40] + 0.3 * np.random.default_rng(0).standard_normal((40, 24)).astype(np.float32)
    ids = [f"d{i}" for i in range(300)]
    qrels = {f"q{i}": {f"d{i}": 1, f"d{(i * 7) % 300}": 1} for i in range(40)}
    data = QrelsData("toy", ids, [""] * 300, list(qrels), [""] * 40, qrels)
    # share 1: the pool is the whole corpus, so rerank must give exactly the float cosine ranking
    rows = {r["method"]: r for r in evaluate_qrels(data, x, q, [16], share=1.0, methods=["itq"])}
    assert set(rows) == {"float", "itq", "itq-asym", "itq+rerank"}
    assert rows["itq+rerank"]["ndcg@10"] == pytest.approx(rows["float"]["ndcg@10"])
    assert rows["itq+rerank"]["recall@100"] == pytest.approx(rows["float"]["recall@100"])
    assert rows["itq+rerank"]["scored_share"] == 1.0 and rows["itq"]["scored_share"] == 0.0
    # the asymmetric step by hand: latent . (+-1 bits), ties kept in pool order
    bits = np.zeros((3, 8), bool)
    bits[0, :2] = bits[2, 0] = True
    codes = np.packbits(bits, 1)
    lat = np.array([[0.9, 0.1, 0, 0, 0, 0, 0, 0]], np.float32)
    assert asymmetric_order(lat, codes, np.array([[1, 2, 0]]), 3).tolist() == [[0, 2, 1]]
    assert asymmetric_order(lat, codes, np.array([[1, 2]]), 1).tolist() == [[2]]
