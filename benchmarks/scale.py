"""Scale: a 1,000,000-document index built from vectors, and the hash path against FAISS.

    python benchmarks/scale.py [--docs 1000000] [--bits 64] [--queries 2000]

Data: the 18,846 all-MiniLM-L6-v2 embeddings of 20 Newsgroups (../shared/data/ng20-minilm.npz)
tiled to N documents, each copy with Gaussian noise (sigma 0.02 per dimension, about a third of
a dimension's spread) and re-normalised: real topical structure, with near-duplicates.
Without ../shared it falls back to 200 Gaussian clusters in 384 dimensions (stated in the output).

One run measures: build (training on a sample, coding all N, writing the store); the hash path
(query code -> k=10 candidates) at radius 0..4 as p50/p99 latency and candidates found, and
with the asymmetric order (the 40 Hamming-nearest reordered by the query's latent); FAISS
IndexBinaryFlat kNN on the same codes and FAISS IndexFlatIP on the float vectors, as ratios;
resident bytes per document of the code index; peak memory; index size on disk.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, str]:
    rng = np.random.default_rng(seed)
    src = SHARED / "ng20-minilm.npz"
    if src.exists():
        d = np.load(src, allow_pickle=False)
        base = np.concatenate([d["train_emb"], d["test_emb"]]).astype(np.float32)
        what = f"ng20 MiniLM embeddings ({len(base)}) tiled with N(0, 0.02^2) noise"
    else:
        centers = rng.standard_normal((200, 384)).astype(np.float32)
        base = centers[rng.integers(0, 200, 20000)] + 0.5 * rng.standard_normal((20000, 384)).astype(np.float32)
        what = "200 Gaussian clusters in 384-d (../shared absent)"
    x = np.empty((n, base.shape[1]), dtype=np.float32)
    for s in range(0, n, 100_000):
        e = min(n, s + 100_000)
        x[s:e] = base[np.arange(s, e) % len(base)] + 0.02 * rng.standard_normal((e - s, base.shape[1])).astype(
            np.float32
        )
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, what


def pct(a: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(a) * 1e3, q))


def timed(fn, items) -> tuple[list[float], list]:
    out, ts = [], []
    for it in items:
        t = time.perf_counter()
        out.append(fn(it))
        ts.append(time.perf_counter() - t)
    return ts, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--bits", type=int, default=64)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--train-docs", type=int, default=50_000)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--keep", type=Path, default=None, help="keep the built index here")
    ap.add_argument("--reuse", action="store_true", help="load the index kept at --keep instead of building (no build figures)")
    a = ap.parse_args()

    import faiss

    from hashsearch import HashIndex, TrainConfig

    x, what = make_data(a.docs)
    ids = [str(i) for i in range(a.docs)]
    work = Path(tempfile.mkdtemp(prefix="hs-scale-"))
    path = a.keep or work / "idx"
    print(f"data: {a.docs:,} x {x.shape[1]} float32, {what}; {os.cpu_count()} cores", flush=True)

    t0 = time.perf_counter()
    cfg = TrainConfig(max_train_docs=a.train_docs, epochs=a.epochs)
    from hashsearch.train import train_autoencoder

    if a.reuse and a.keep is not None and a.keep.exists():
        idx = HashIndex.load(a.keep)
        t_train = t_code = float("nan")
        rep = type("R", (), {"train_docs": 0})()
    else:
        model, rep = train_autoencoder(x, a.bits, cfg)
        t_train = time.perf_counter() - t0
        t1 = time.perf_counter()
        idx = HashIndex.build_from_vectors(path, ids, x, bits=a.bits, train=cfg, overwrite=True, model=model)
        t_code = time.perf_counter() - t1
    peak_build = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    disk = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())

    rng = np.random.default_rng(1)
    qi = rng.choice(a.docs, a.queries, replace=False)
    q = x[qi] + 0.02 * rng.standard_normal((a.queries, x.shape[1])).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    qcodes, _ = idx.encode_features(q)
    qlat = idx.model.encode(q)[1]

    rows = []
    idx.candidates(qcodes[0], 10, radius=2)  # warm up: loads the compiled probe
    for r in (0, 1, 2, 3, 4):
        ts, res = timed(lambda c, r=r: idx._table.probe(c, r, 10), qcodes)
        found = [len(p.positions) for p in res]
        rows.append((f"bucket probe, radius {r}", ts, np.median(found), np.mean([f >= 10 for f in found])))
    ts, res = timed(lambda c: idx.candidates(c, 10, radius=2), qcodes)
    rows.append(("engine k=10 (r<=2, FAISS fallback)", ts, 10, 1.0))
    hash_ts = ts
    ts, res = timed(lambda c: idx.candidates(c, 10), qcodes)
    rows.append((f"engine k=10 (default r<={idx._table.max_radius}, FAISS fallback)", ts, 10, 1.0))
    ts, res = timed(lambda i: idx.select(qcodes[i], 10, latent=qlat[i]), range(len(qcodes)))
    rows.append(("engine k=10 asymmetric (of 40 nearest)", ts, 10, 1.0))
    ts, res = timed(lambda c: idx._table.probe(c, 2, 10, compiled=False), qcodes)
    rows.append(("numpy probe r<=2 (reference path)", ts, np.median([len(p.positions) for p in res]), np.mean([len(p.positions) >= 10 for p in res])))

    flat = faiss.IndexBinaryFlat(a.bits)
    flat.add(idx._binary.codes())
    ts_b, _ = timed(lambda c: flat.search(c[None, :], 10), qcodes[: min(300, a.queries)])
    ip = faiss.IndexFlatIP(x.shape[1])
    ip.add(x)
    ts_f, _ = timed(lambda v: ip.search(v[None, :], 10), q[: min(100, a.queries)])

    n = len(idx)
    code_bytes = (idx._table.nbytes + idx._binary.nbytes) / n
    p50h = pct(hash_ts, 50)
    print(
        f"\nbuild: train on {rep.train_docs:,} docs {t_train:.1f} s; code + store all {a.docs:,} {t_code:.1f} s; "
        f"total {t_train + t_code:.1f} s; peak RSS {peak_build:,.0f} MiB; on disk {disk / 2**20:,.0f} MiB "
        f"({disk / n:.0f} B/doc, float16 features included)"
    )
    print(
        f"resident code index: {code_bytes:.2f} bytes/doc: bucket keys {idx._table._keys.nbytes / n:.2f} + positions "
        f"{idx._table._positions.nbytes / n:.2f} + directory {(idx._table.nbytes - idx._table._keys.nbytes - idx._table._positions.nbytes) / n:.2f} "
        f"+ FAISS codes and slots {idx._binary.nbytes / n:.2f} (compiled probe: {idx._table.compiled})"
    )
    print(
        f"\n{'path (one query at a time)':<40}{'p50 ms':>10}{'p99 ms':>10}{'cands p50':>11}{'>=k':>7}{'p50 vs engine':>15}"
    )
    for name, ts, c, full in rows:
        print(
            f"{name:<40}{pct(ts, 50):>10.4f}{pct(ts, 99):>10.4f}{c:>11.0f}{100 * full:>6.0f}%{pct(ts, 50) / p50h:>14.2f}x"
        )
    print(
        f"{'FAISS IndexBinaryFlat kNN k=10':<40}{pct(ts_b, 50):>10.4f}{pct(ts_b, 99):>10.4f}{10:>11}{100:>6}%{pct(ts_b, 50) / p50h:>14.1f}x"
    )
    print(
        f"{'FAISS IndexFlatIP (float) k=10':<40}{pct(ts_f, 50):>10.4f}{pct(ts_f, 99):>10.4f}{10:>11}{100:>6}%{pct(ts_f, 50) / p50h:>14.1f}x"
    )
    idx.close()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
