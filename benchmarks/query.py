"""Query end to end and featurizer throughput, with the bundled all-MiniLM-L6-v2.

    python benchmarks/query.py [--docs 2000] [--queries 200]

One run measures, on the same texts:
  - featurizer throughput: hashsearch's featurizer against a plain ``model.encode`` (docs/s, ratio);
  - API query latency with the query embedding included (model loaded once): p50/p99 for
    codes only and with rerank, and the embedding alone;
  - CLI query latency (a new process per query: imports, model load, index load, query).
Corpus: 20 Newsgroups test posts from ../shared/data (first --docs, latin-1), or the standard
library's docstrings where ../shared is absent.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def corpus(n: int) -> tuple[list[str], str]:
    tar = SHARED / "20news-bydate.tar.gz"
    if tar.exists():
        texts = []
        with tarfile.open(tar) as t:
            for m in t:
                if m.isfile() and "20news-bydate-test/" in m.name:
                    texts.append(t.extractfile(m).read().decode("latin-1"))  # type: ignore[union-attr]
                    if len(texts) >= n:
                        break
        return texts, "20 Newsgroups test posts"
    from hashsearch.demo import stdlib_docstrings

    return [r["text"] for r in stdlib_docstrings()][:n], "standard-library docstrings"


def pct(ts: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(ts) * 1e3, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=200)
    a = ap.parse_args()
    from hashsearch import HashIndex, Record
    from hashsearch.featurizers import SentenceTransformerFeaturizer

    texts, what = corpus(a.docs)
    fz = SentenceTransformerFeaturizer()
    model = fz._load()
    print(f"corpus: {len(texts)} {what}; max_seq_length {model.max_seq_length}; {os.cpu_count()} cores", flush=True)
    half = texts[: len(texts) // 2]
    model.encode(half[:64], batch_size=64)  # warm up
    # interleaved (ABBA over 4 slices) so that drift on a noisy machine hits both sides alike
    t_raw = t_ours = 0.0
    slices = np.array_split(np.arange(len(half)), 4)
    for i, sl in enumerate(slices):
        part = [half[j] for j in sl]
        order = ("raw", "ours") if i % 2 == 0 else ("ours", "raw")
        for which in order:
            t = time.perf_counter()
            if which == "raw":
                raw = model.encode(part, batch_size=64, normalize_embeddings=True)
                t_raw += time.perf_counter() - t
            else:
                ours = fz.transform(part)
                t_ours += time.perf_counter() - t
        assert np.allclose(raw, ours, atol=1e-5)

    work = Path(tempfile.mkdtemp(prefix="hs-query-"))
    idx = HashIndex.build(work / "idx", [Record(str(i), s) for i, s in enumerate(texts)], featurizer=fz)
    rng = np.random.default_rng(0)
    queries = [" ".join(texts[i].split()[20:40]) or "query" for i in rng.choice(len(texts), a.queries)]
    rows = []
    for name, fn in (
        ("embedding only", lambda q: fz.transform([q])),
        ("API search, codes only", lambda q: idx.search(q, 10)),
        ("API search, rerank", lambda q: idx.search(q, 10, rerank=True)),
    ):
        fn(queries[0])
        ts = []
        for q in queries:
            t = time.perf_counter()
            fn(q)
            ts.append(time.perf_counter() - t)
        rows.append((name, ts))
    cli = []
    for q in queries[:5]:
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "hashsearch.cli", "query", str(work / "idx"), q, "--json"],
            check=True,
            capture_output=True,
        )
        cli.append(time.perf_counter() - t)
    rows.append(("CLI query (new process)", cli))

    print(
        f"\nfeaturizer on {len(half)} docs: plain model.encode {len(half) / t_raw:.1f} docs/s; "
        f"hashsearch {len(half) / t_ours:.1f} docs/s; overhead {100 * (t_ours / t_raw - 1):+.1f}%"
    )
    print(f"\n{'query path':<28}{'p50 ms':>10}{'p99 ms':>10}")
    for name, ts in rows:
        print(f"{name:<28}{pct(ts, 50):>10.2f}{pct(ts, 99):>10.2f}")


if __name__ == "__main__":
    main()
