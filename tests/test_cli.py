"""The CLI end to end on a TF-IDF index (no model download): output, JSON, errors and exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from conftest import make_corpus, write_jsonl
from hashsearch.cli import app

runner = CliRunner()
FAST = ["--featurizer", "tfidf", "--epochs", "10", "--hidden", "64,32", "--bits", "16", "-q"]


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture()
def built(tmp_path, tfidf_index_dir):
    d = tmp_path / "idx"
    shutil.copytree(tfidf_index_dir, d)
    return d


def snapshot(d):
    """Everything a reader sees: documents and their codes."""
    from hashsearch import HashIndex

    idx = HashIndex.load(d)
    out = sorted((doc.id, bytes(code)) for doc, code in idx.documents())
    idx.close()
    return out


def test_index_query_info_json(tmp_path, corpus):
    src = write_jsonl(tmp_path / "c.jsonl", corpus)
    r = run("index", src, "--index", tmp_path / "i", *FAST, "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["documents"] == len(corpus) and info["bits"] == 16
    r = run("query", tmp_path / "i", "rocket launch orbit", "-k", "5", "--json")
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout)
    assert len(hits) == 5 and {"id", "distance", "score", "text", "metadata"} <= set(hits[0])
    assert sum(h["metadata"]["label"] == "space" for h in hits) >= 4
    r = run("query", tmp_path / "i", "rocket launch orbit", "-k", "3", "--no-rerank", "--radius", "0")
    assert r.exit_code == 0 and r.stdout.count("d=") == 3
    r = run("similar", tmp_path / "i", "cooking-3", "-k", "4", "--json")
    assert r.exit_code == 0 and len(json.loads(r.stdout)) == 4
    r = run("info", tmp_path / "i")
    assert r.exit_code == 0 and "largest bucket" in r.stdout and "ones per bit" in r.stdout
    r = run("encode", tmp_path / "i", "rocket orbit", "--json")
    code = json.loads(r.stdout)[0]
    assert len(code["hex"]) == 4 and len(code["bits"]) == 16 and isinstance(code["int64"], int)


def test_retrieval_setting_and_asymmetric_query(tmp_path, corpus):
    src = write_jsonl(tmp_path / "c.jsonl", corpus)
    r = run("index", src, "--index", tmp_path / "i", *FAST, "--variant", "distill", "--json")
    assert r.exit_code == 0, r.output
    train = json.loads((tmp_path / "i" / "config.json").read_text())["train"]
    assert train["variant"] == "distill" and train["distill_weight"] == 3.0 and train["contrastive_weight"] == 0.0
    r = run("query", tmp_path / "i", "rocket launch orbit", "-k", "5", "--no-rerank", "--asymmetric", "--json")
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout)
    assert len(hits) == 5 and all(a["score"] >= b["score"] for a, b in zip(hits, hits[1:]))
    assert all(-1 <= h["score"] <= 1 for h in hits)
    r = run("index", src, "--index", tmp_path / "j", *FAST, "--variant", "nonsense")
    assert r.exit_code != 0 and "nonsense" in r.output and "Traceback" not in r.output


def test_add_then_delete(built, tmp_path):
    new = write_jsonl(
        tmp_path / "new.jsonl", [{"id": "x1", "text": "rocket moon orbit"}, {"id": "x2", "text": "pasta garlic"}]
    )
    r = run("add", built, new, "--json", "-q")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"added": 2, "documents": 162, "skipped_empty": 0, "skipped_invalid": 0}
    r = run("delete", built, "x1", "space-0", "--json")
    assert json.loads(r.stdout) == {"deleted": 2, "documents": 160}


@pytest.mark.parametrize(
    "content,expect",
    [
        (b'{"id": "n1", "text": "ok"}\n{"id": "n2", "text": \n', "new.jsonl:2: invalid JSON"),
        (b'{"id": "n1", "text": "ok"}\n{"id": "n2", "body": "x"}\n', "new.jsonl:2: missing text field 'text'"),
        (b'{"id": "n1", "text": "ok"}\n{"id": "n1", "text": "x"}\n', "new.jsonl:2: duplicate id 'n1'"),
        (
            b'{"id": "n1", "text": "ok"}\n{"id": "space-1", "text": "x"}\n',
            "new.jsonl:2: id 'space-1' is already in the index",
        ),
        (b'{"id": "n1", "text": "ok"}\n{"id": "n2", "text": "caf\xe9"}\n', "new.jsonl:2: cannot decode as utf-8"),
        (b'{"id": "n1", "text": "   "}\n', "no documents to add"),
    ],
)
def test_bad_add_is_one_line_error_and_leaves_the_index(built, tmp_path, content, expect):
    before = snapshot(built)
    src = tmp_path / "new.jsonl"
    src.write_bytes(content)
    r = run("add", built, src, "-q")
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0 and expect in r.stderr, r.stderr
    assert "Traceback" not in r.output
    assert snapshot(built) == before


def test_skip_invalid_counts(built, tmp_path):
    src = tmp_path / "new.jsonl"
    src.write_bytes(b'{"id": "n1", "text": "rocket"}\nnot json\n{"id": "n3", "text": ""}\n')
    r = run("add", built, src, "--skip-invalid", "--json", "-q")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {"added": 1, "documents": 161, "skipped_empty": 1, "skipped_invalid": 1}


def test_errors_on_index_dirs(built, tmp_path, corpus):
    cfg = json.loads((built / "config.json").read_text())
    cfg["format_version"] = 7
    (built / "config.json").write_text(json.dumps(cfg))
    r = run("query", built, "x")
    assert r.exit_code == 2 and "format version 7 is not supported" in r.stderr
    r = run("info", tmp_path / "missing")
    assert r.exit_code == 2 and "no index here" in r.stderr
    r = run("delete", built, "nope")
    assert r.exit_code == 2
    src = write_jsonl(tmp_path / "c.jsonl", corpus)
    r = run("index", src, "--index", built, *FAST)
    assert r.exit_code == 2 and "already exists" in r.stderr
    r = run("index", src, "--index", tmp_path / "b", "--bits", "12", "-q")
    assert r.exit_code == 2 and "multiple of 8" in r.stderr
    r = run("index", src, "--index", tmp_path / "b", *FAST, "--variant", "nonsense")
    assert r.exit_code == 2 and "invalid training option" in r.stderr


def test_index_folder_with_labels_and_vectors(tmp_path):
    import numpy as np

    for row in make_corpus(10):
        d = tmp_path / "docs" / row["label"]
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{row['id']}.txt").write_text(row["text"])
    r = run("index", tmp_path / "docs", "--index", tmp_path / "f", *FAST, "--json")
    assert r.exit_code == 0, r.output
    r = run("query", tmp_path / "f", "stock market bank", "-k", "3", "--json")
    assert json.loads(r.stdout)[0]["metadata"]["label"] == "finance"
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "v.npz",
        ids=np.array([f"r{i}" for i in range(60)]),
        vectors=rng.standard_normal((60, 8)).astype(np.float32),
    )
    r = run(
        "index",
        tmp_path / "v.npz",
        "--index",
        tmp_path / "v",
        "--bits",
        "8",
        "--epochs",
        "2",
        "--hidden",
        "16,16",
        "-q",
        "--json",
    )
    assert r.exit_code == 0, r.output
    r = run("similar", tmp_path / "v", "r5", "-k", "3", "--json")
    assert r.exit_code == 0 and len(json.loads(r.stdout)) == 3
    r = run("query", tmp_path / "v", "text")
    assert r.exit_code == 2 and "built from vectors" in r.stderr


def test_help_imports_nothing_heavy():
    heavy = "('torch', 'faiss', 'sentence_transformers', 'transformers', 'sklearn')"
    code = f"import sys, hashsearch.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
    r = subprocess.run(
        [sys.executable, "-m", "hashsearch.cli", "--help"], capture_output=True, text=True, env=os.environ
    )
    assert r.returncode == 0 and "index" in r.stdout and "query" in r.stdout


def test_export_jsonl_and_npy(built, tmp_path):
    import numpy as np

    from hashsearch import HashIndex
    from hashsearch import codes as bc

    r = run("export", built, "--out", tmp_path / "c.jsonl", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["exported"] == 160
    rows = [json.loads(x) for x in (tmp_path / "c.jsonl").read_text().splitlines()]
    idx = HashIndex.load(built)
    stored = {doc.id: code for doc, code in idx.documents()}
    for row in rows[:20]:
        assert bytes.fromhex(row["code_hex"]) == bytes(stored[row["id"]])
        assert row["code_int64"] == int(bc.to_int64(stored[row["id"]][None, :])[0])
    r = run("export", built, "--out", tmp_path / "npy", "--format", "npy")
    assert r.exit_code == 0
    codes = np.load(tmp_path / "npy" / "codes.npy", allow_pickle=False)
    ids = np.load(tmp_path / "npy" / "ids.npy", allow_pickle=False)
    assert codes.shape == (160, 2) and bytes(codes[0]) == bytes(stored[str(ids[0])])
    r = run("export", built, "--out", tmp_path / "x", "--format", "xml")
    assert r.exit_code == 2 and "unknown export format" in r.stderr
