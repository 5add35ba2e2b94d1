from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"

TOPICS = {
    "space": "rocket orbit launch satellite nasa astronaut moon mars shuttle telescope",
    "cooking": "recipe oven bake flour sugar butter sauce pasta garlic onion",
    "football": "goal striker league match referee penalty stadium coach season team",
    "finance": "stock market shares investor bank interest rate bond dividend inflation",
}


def make_corpus(n_per_topic: int = 40, seed: int = 0) -> list[dict[str, str]]:
    """Small labeled text corpus: each doc draws words mostly from its topic."""
    rng = np.random.default_rng(seed)
    vocab = {t: w.split() for t, w in TOPICS.items()}
    allw = [w for ws in vocab.values() for w in ws]
    docs = []
    for t, ws in vocab.items():
        for i in range(n_per_topic):
            words = list(rng.choice(ws, 12)) + list(rng.choice(allw, 3))
            docs.append({"id": f"{t}-{i}", "text": " ".join(words), "label": t})
    return docs


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def clustered(n: int, dim: int = 32, clusters: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, dim)) * 3
    labels = rng.integers(0, clusters, n)
    x = centers[labels] + rng.standard_normal((n, dim))
    return x.astype(np.float32), labels


@pytest.fixture(scope="session")
def corpus() -> list[dict[str, str]]:
    return make_corpus()


@pytest.fixture(scope="session")
def fast_train():
    from hashsearch import TrainConfig

    return TrainConfig(epochs=3, hidden=(64, 32), batch_size=64, neighbors=5)


@pytest.fixture(scope="session")
def tfidf_index_dir(tmp_path_factory, corpus, fast_train) -> Path:
    """A built TF-IDF index (session-wide, never modified: copy it before writing)."""
    from hashsearch import HashIndex, Record

    d = tmp_path_factory.mktemp("idx") / "tfidf"
    recs = [Record(r["id"], r["text"], {"label": r["label"]}) for r in corpus]
    HashIndex.build(d, recs, bits=16, featurizer="tfidf", train=fast_train).close()
    return d


@pytest.fixture(scope="session")
def pg_url():
    """A fresh PostgreSQL database for this test session, dropped at the end.

    Needs a server: ``HASHSEARCH_TEST_PG_URL`` (``.ci/run`` starts one on loopback with
    ``.ci/postgres``). Without one, only the PostgreSQL tests skip, and say why.
    """
    base = os.environ.get("HASHSEARCH_TEST_PG_URL")
    if not base:
        pytest.skip("no PostgreSQL server: set HASHSEARCH_TEST_PG_URL (eval \"$(.ci/postgres)\" starts one)")
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'hashsearch[postgres]')")
    try:
        admin = psycopg.connect(base, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        pytest.skip(f"PostgreSQL at {base} is unreachable: {str(e).strip().splitlines()[0]}")
    name = f"hashsearch_test_{os.getpid()}_{np.random.default_rng().integers(1 << 30)}"
    admin.execute(f'CREATE DATABASE "{name}"')
    from urllib.parse import urlsplit, urlunsplit

    u = urlsplit(base)
    yield urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()
