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
