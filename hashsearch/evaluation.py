"""Retrieval metrics and hashing baselines, measured the literature's way.

Labeled corpora: every test document queries the train set; precision@k is the share of the k
nearest train documents (Hamming distance, ties broken by train index) sharing the query's label.
"""

from __future__ import annotations

from collections.abc import Sequence

import faiss
import numpy as np

from . import codes as bitcodes


def hamming_knn(query_codes: np.ndarray, db_codes: np.ndarray, k: int) -> np.ndarray:
    """Indices (n_q, k) of the k nearest db codes by (Hamming distance, index). Exact (FAISS flat)."""
    index = faiss.IndexBinaryFlat(db_codes.shape[1] * 8)
    index.add(np.ascontiguousarray(db_codes, dtype=np.uint8))
    _, idx = index.search(np.ascontiguousarray(query_codes, dtype=np.uint8), min(k, len(db_codes)))
    return idx


def cosine_knn(queries: np.ndarray, db: np.ndarray, k: int) -> np.ndarray:
    """Indices (n_q, k) of the k most cosine-similar rows (exact)."""
    q = np.ascontiguousarray(queries, dtype=np.float32)
    d = np.ascontiguousarray(db, dtype=np.float32)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    d = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    index = faiss.IndexFlatIP(d.shape[1])
    index.add(d)
    _, idx = index.search(q, min(k, len(d)))
    return idx


def precision_at_k(neighbors: np.ndarray, query_labels: np.ndarray, db_labels: np.ndarray, k: int) -> float:
    """Mean share of the first k neighbours that share the query's label."""
    nb = neighbors[:, :k]
    return float((db_labels[nb] == query_labels[:, None]).mean())


def recall_of(neighbors: np.ndarray, reference: np.ndarray, k: int) -> float:
    """Mean share of the reference top-k found among the first k neighbours."""
    hits = [len(np.intersect1d(a[:k], b[:k])) for a, b in zip(neighbors, reference)]
    return float(np.mean(hits) / k)


def ndcg_at_k(ranked: Sequence[Sequence[str]], qrels: Sequence[dict[str, int]], k: int = 10) -> float:
    """Mean nDCG@k (graded gains, log2 discount) over queries."""
    out = []
    for docs, rel in zip(ranked, qrels):
        gains = [rel.get(d, 0) for d in docs[:k]]
        dcg = sum((2**g - 1) / np.log2(i + 2) for i, g in enumerate(gains))
        ideal = sorted(rel.values(), reverse=True)[:k]
        idcg = sum((2**g - 1) / np.log2(i + 2) for i, g in enumerate(ideal))
        out.append(dcg / idcg if idcg > 0 else 0.0)
    return float(np.mean(out)) if out else 0.0


def recall_at_k(ranked: Sequence[Sequence[str]], qrels: Sequence[dict[str, int]], k: int = 100) -> float:
    out = []
    for docs, rel in zip(ranked, qrels):
        relevant = {d for d, g in rel.items() if g > 0}
        if relevant:
            out.append(len(relevant.intersection(docs[:k])) / len(relevant))
    return float(np.mean(out)) if out else 0.0


# -- baselines: functions fit(train) -> encode(x) -> packed codes --------------------------------
class LSH:
    """Random hyperplanes through the training mean."""

    def __init__(self, bits: int, seed: int = 0) -> None:
        self.bits, self.seed = bits, seed

    def fit(self, x: np.ndarray) -> LSH:
        rng = np.random.default_rng(self.seed)
        self.mean = x.mean(0)
        self.w = rng.standard_normal((x.shape[1], self.bits)).astype(np.float32)
        return self

    def encode(self, x: np.ndarray) -> np.ndarray:
        return bitcodes.pack((x - self.mean) @ self.w > 0)


class PCASign:
    """Sign of the top principal components (spectral-style projection)."""

    def __init__(self, bits: int) -> None:
        self.bits = bits

    def fit(self, x: np.ndarray) -> PCASign:
        self.mean = x.mean(0)
        _, _, vt = np.linalg.svd(x - self.mean, full_matrices=False)
        self.w = vt[: self.bits].T.astype(np.float32)
        return self

    def encode(self, x: np.ndarray) -> np.ndarray:
        return bitcodes.pack((x - self.mean) @ self.w > 0)


class ITQ(PCASign):
    """Iterative quantization (Gong & Lazebnik 2011): PCA then a learned rotation."""

    def __init__(self, bits: int, iterations: int = 50, seed: int = 0) -> None:
        super().__init__(bits)
        self.iterations, self.seed = iterations, seed

    def fit(self, x: np.ndarray) -> ITQ:
        super().fit(x)
        v = (x - self.mean) @ self.w
        rng = np.random.default_rng(self.seed)
        r, _ = np.linalg.qr(rng.standard_normal((self.bits, self.bits)))
        for _ in range(self.iterations):
            b = np.where(v @ r >= 0, 1.0, -1.0)
            u, _, vt = np.linalg.svd(b.T @ v)
            r = (u @ vt).T
        self.w = (self.w @ r).astype(np.float32)
        return self


class SignQuantization:
    """Sign of each embedding dimension (sentence-transformers' binary quantization)."""

    def __init__(self, bits: int | None = None) -> None:
        self.bits = bits

    def fit(self, x: np.ndarray) -> SignQuantization:
        self.bits = x.shape[1] - x.shape[1] % 8
        return self

    def encode(self, x: np.ndarray) -> np.ndarray:
        return bitcodes.pack(x[:, : self.bits] > 0)
