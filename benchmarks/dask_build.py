"""Distributed build: one process against local Dask clusters, same corpus, same seed, one run.

    python benchmarks/dask_build.py [--docs 4096] [--workers 1,2,4] [--partition 1024]

Indexes the first N standard-library docstrings (``hashsearch.demo``) with the bundled MiniLM at
64 bits: once with ``HashIndex.build`` in this process, then with ``build_distributed`` on local
clusters of W worker processes (one thread each). Prints wall time per phase-free build, the speed-up
against one process, and whether every code equals the single-process build's.

On a machine with C cores, one process already runs MiniLM's matrix products on C threads; W
workers of one thread each can only beat it where W <= C and the per-process overheads (starting
workers, loading the model once per worker, shipping texts and features) are small against the
featurizing work. The table says how it went on the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    from hashsearch import HashIndex, Record, TrainConfig
    from hashsearch.demo import stdlib_docstrings
    from hashsearch.distributed import build_distributed, local_client

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=4096)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--partition", type=int, default=1024)
    ap.add_argument("--epochs", type=int, default=10)
    a = ap.parse_args()
    recs = [Record(r["id"], r["text"]) for r in list(stdlib_docstrings())[: a.docs]]
    cfg = TrainConfig(epochs=a.epochs, min_steps=0, max_steps=200)
    work = Path(tempfile.mkdtemp(prefix="hs-dask-"))
    rows = []
    try:
        t = time.perf_counter()
        ref = HashIndex.build(work / "single", recs, train=cfg)
        t_single = time.perf_counter() - t
        ref_codes = ref.store.codes(8)[1]
        rows.append(("1 process", os.cpu_count(), t_single, 1.0, "reference", 0.0))
        for w in [int(v) for v in a.workers.split(",")]:
            t = time.perf_counter()
            client = local_client(w)
            t_start = time.perf_counter() - t
            t = time.perf_counter()
            idx = build_distributed(work / f"dask{w}", recs, client, train=cfg, partition_docs=a.partition)
            t_build = time.perf_counter() - t
            client.close()
            client.cluster.close()
            same = np.array_equal(idx.store.codes(8)[1], ref_codes)
            rows.append((f"Dask, {w} workers", w, t_build, t_single / t_build, "identical" if same else "DIFFERENT", t_start))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{a.docs} docstrings, MiniLM, 64 bits, {a.epochs} epochs, partitions of {a.partition}, {os.cpu_count()} cores")
    print("| build | threads | build s | speed-up vs 1 process | codes | cluster start s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, th, s, r, same, st in rows:
        print(f"| {name} | {th} | {s:.1f} | {r:.2f}x | {same} | {st:.1f} |")


if __name__ == "__main__":
    main()
