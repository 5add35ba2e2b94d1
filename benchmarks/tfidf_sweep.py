"""One point of the TF-IDF setting's validation sweep: train on `train`, query with `cv`.

    python benchmarks/tfidf_sweep.py [--bits 64] [--split cv] [--set noise=0.8 temperature=0.3 ...]

Trains the bag-of-words model on the train matrix of ../shared/data/ng20-tfidf (the VDSH .mat)
with ``TrainConfig.for_bag_of_words()`` plus the given overrides, and prints P@100 of the chosen
split's documents as queries against train (Hamming distance, ties by index) as one JSON line.
This is how the setting in README "Training objectives" was chosen: on cv, never on test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MAT = ROOT.parent / "shared" / "data" / "ng20-tfidf" / "ng20_recon.tfidf.mat"


def parse(v: str):  # type: ignore[no-untyped-def]
    for f in (int, float):
        try:
            return f(v)
        except ValueError:
            pass
    if v in ("True", "False"):
        return v == "True"
    if "," in v:
        return tuple(int(x) for x in v.split(",") if x)  # "1024," is a one-layer tuple
    return v


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bits", type=int, default=64)
    ap.add_argument("--split", default="cv", choices=["cv", "test"])
    ap.add_argument("--set", nargs="*", default=[], help="TrainConfig overrides, e.g. temperature=0.3 neighbors=5")
    a = ap.parse_args()
    if not MAT.exists():
        print(f"skipped: {MAT} is absent (the shared data lives beside the repository)")
        return
    import scipy.io
    import scipy.sparse as sp

    from hashsearch import codes as bc
    from hashsearch.config import Corruption, TrainConfig, Variant
    from hashsearch.evaluation import hamming_knn, precision_at_k
    from hashsearch.train import train_autoencoder

    d = scipy.io.loadmat(str(MAT))
    xtr, ytr = sp.csr_matrix(d["train"], dtype=np.float32), d["gnd_train"].argmax(1)
    xq, yq = sp.csr_matrix(d[a.split], dtype=np.float32), d[f"gnd_{a.split}"].argmax(1)
    over = {k: parse(v) for k, v in (s.split("=", 1) for s in a.set)}
    if "corruption" in over:
        over["corruption"] = Corruption(over["corruption"])
    if "variant" in over:
        over["variant"] = Variant(over["variant"])
    cfg = replace(TrainConfig.for_bag_of_words(), **over)
    t = time.perf_counter()
    model, _ = train_autoencoder(xtr, a.bits, cfg, bow=True)
    secs = time.perf_counter() - t
    p = precision_at_k(hamming_knn(bc.pack(model.encode(xq)[0]), bc.pack(model.encode(xtr)[0]), 100), yq, ytr, 100)
    print(json.dumps({"bits": a.bits, "split": a.split, "set": a.set, "p@100": round(100 * p, 2), "train_s": round(secs, 1)}))


if __name__ == "__main__":
    main()
