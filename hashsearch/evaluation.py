"""Retrieval metrics and hashing baselines, measured the literature's way.

Labeled corpora: every test document queries the train set; precision@k is the share of the k
nearest train documents (Hamming distance, ties broken by train index) sharing the query's label.
"""

from __future__ import annotations

import gzip
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from . import codes as bitcodes
from .config import TrainConfig, Variant
from .errors import HashsearchError


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


# -- baselines: fit(train); project(x) -> real values whose signs are the bits; encode(x) -> packed codes
class LSH:
    """Random hyperplanes through the training mean."""

    def __init__(self, bits: int, seed: int = 0) -> None:
        self.bits, self.seed = bits, seed

    def fit(self, x: np.ndarray) -> LSH:
        rng = np.random.default_rng(self.seed)
        self.mean = x.mean(0)
        self.w = rng.standard_normal((x.shape[1], self.bits)).astype(np.float32)
        return self

    def project(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) @ self.w

    def encode(self, x: np.ndarray) -> np.ndarray:
        return bitcodes.pack(self.project(x) > 0)


class PCASign:
    """Sign of the top principal components (spectral-style projection)."""

    def __init__(self, bits: int) -> None:
        self.bits = bits

    def fit(self, x: np.ndarray) -> PCASign:
        self.mean = x.mean(0)
        _, _, vt = np.linalg.svd(x - self.mean, full_matrices=False)
        self.w = vt[: self.bits].T.astype(np.float32)
        return self

    def project(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) @ self.w

    def encode(self, x: np.ndarray) -> np.ndarray:
        return bitcodes.pack(self.project(x) > 0)


class ITQ(PCASign):
    """Iterative quantization (Gong & Lazebnik 2011): PCA then a learned rotation."""

    def __init__(self, bits: int, iterations: int = 50, seed: int = 0) -> None:
        super().__init__(bits)
        self.iterations, self.seed = iterations, seed

    def fit(self, x: np.ndarray) -> ITQ:
        super().fit(x)
        self.w = (self.w @ itq_rotation((x - self.mean) @ self.w, self.iterations, self.seed)).astype(np.float32)
        return self


def itq_rotation(v: np.ndarray, iterations: int = 50, seed: int = 0) -> np.ndarray:
    """The orthogonal rotation that ITQ learns for projected data ``v`` (n, bits)."""
    bits = v.shape[1]
    rng = np.random.default_rng(seed)
    r, _ = np.linalg.qr(rng.standard_normal((bits, bits)))
    for _ in range(iterations):
        b = np.where(v @ r >= 0, 1.0, -1.0)
        u, _, vt = np.linalg.svd(b.T @ v)
        r = (u @ vt).T
    return r


class SignQuantization:
    """Sign of each embedding dimension (sentence-transformers' binary quantization)."""

    def __init__(self, bits: int | None = None) -> None:
        self.bits = bits

    def fit(self, x: np.ndarray) -> SignQuantization:
        self.bits = x.shape[1] - x.shape[1] % 8
        return self

    def project(self, x: np.ndarray) -> np.ndarray:
        return x[:, : self.bits]

    def encode(self, x: np.ndarray) -> np.ndarray:
        return bitcodes.pack(self.project(x) > 0)


# -- benchmark data --------------------------------------------------------------------------------
@dataclass
class LabeledData:
    """A labeled corpus split the literature's way: test documents query the train set."""

    name: str
    x_train: Any
    y_train: np.ndarray
    x_test: Any
    y_test: np.ndarray
    sparse: bool


@dataclass
class QrelsData:
    """A query/relevance benchmark (BEIR or TREC)."""

    name: str
    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]


def load_labeled(path: str | Path) -> LabeledData:
    """``.npz`` with ``{train,test}_{emb|vectors}`` and ``{train,test}_labels``, or a VDSH-style ``.mat``."""
    path = Path(path)
    if path.suffix == ".mat":
        import scipy.io
        import scipy.sparse as sp

        d = scipy.io.loadmat(str(path))
        return LabeledData(
            path.stem,
            sp.csr_matrix(d["train"], dtype=np.float32),
            np.asarray(d["gnd_train"]).argmax(1),
            sp.csr_matrix(d["test"], dtype=np.float32),
            np.asarray(d["gnd_test"]).argmax(1),
            sparse=True,
        )
    d = np.load(path, allow_pickle=False)
    key = next((k for k in ("emb", "vectors", "x") if f"train_{k}" in d), None)
    if key is None or "train_labels" not in d:
        raise HashsearchError(f"{path}: expected arrays train_emb/test_emb (or _vectors) and train_labels/test_labels")
    return LabeledData(
        path.stem,
        d[f"train_{key}"].astype(np.float32),
        d["train_labels"],
        d[f"test_{key}"].astype(np.float32),
        d["test_labels"],
        sparse=False,
    )


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:  # type: ignore[operator]
        return [json.loads(line) for line in f if line.strip()]


def load_beir(root: str | Path, split: str = "test") -> QrelsData:
    root = Path(root)
    corpus_path = next((p for p in (root / "corpus.jsonl", root / "corpus.jsonl.gz") if p.exists()), None)
    if corpus_path is None:
        raise HashsearchError(f"{root}: no corpus.jsonl(.gz): not a BEIR folder")
    corpus = _read_jsonl(corpus_path)
    queries = {str(q["_id"]): q["text"] for q in _read_jsonl(root / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    with open(root / "qrels" / f"{split}.tsv", encoding="utf-8") as f:
        for i, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            if i == 0 and not parts[-1].lstrip("-").isdigit():
                continue  # header
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    qids = [q for q in queries if q in qrels]
    return QrelsData(
        root.name,
        [str(c["_id"]) for c in corpus],
        [(c.get("title", "") + " " + c.get("text", "")).strip() for c in corpus],
        qids,
        [queries[q] for q in qids],
        qrels,
    )


def _trec_docs(path: Path, id_tag: str = "DOCNO") -> dict[str, str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    out = {}
    for block in re.findall(r"<DOC>(.*?)</DOC>", text, flags=re.S):
        m = re.search(rf"<{id_tag}>\s*(.*?)\s*</{id_tag}>", block, flags=re.S)
        if m:
            body = re.sub(rf"<{id_tag}>.*?</{id_tag}>", " ", block, flags=re.S)
            out[m.group(1).strip()] = " ".join(re.sub(r"<[^>]+>", " ", body).split())
    return out


def load_trec(root: str | Path) -> QrelsData:
    """TREC-style folder: ``doc-text.trec``, ``query-text.trec`` and ``qrels`` (qid 0 docid rel)."""
    root = Path(root)
    docs = _trec_docs(root / "doc-text.trec")
    queries = _trec_docs(root / "query-text.trec", "QUERYID") or _trec_docs(root / "query-text.trec")
    qrels: dict[str, dict[str, int]] = {}
    for line in (root / "qrels").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 4:
            qrels.setdefault(parts[0], {})[parts[2]] = int(parts[3])
    qids = [q for q in queries if q in qrels]
    return QrelsData(root.name, list(docs), list(docs.values()), qids, [queries[q] for q in qids], qrels)


# -- the harness ---------------------------------------------------------------------------------
METHODS = ("float", "sign", "lsh", "pca", "itq", "hashsearch", "hashsearch-shallow", "hashsearch-plain")


def _dense(x: Any) -> np.ndarray:
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float32)


def _baseline(method: str, bits: int, seed: int) -> Any:
    return {
        "lsh": lambda: LSH(bits, seed),
        "pca": lambda: PCASign(bits),
        "itq": lambda: ITQ(bits, seed=seed),
        "sign": lambda: SignQuantization(),
    }[method]()


def fit_encoder(
    method: str, bits: int, x_train: Any, train: TrainConfig, seed: int, bow: bool
) -> Callable[[Any], tuple[np.ndarray, np.ndarray]]:
    """Fit a hashing method on ``x_train``; return x -> (packed codes, real-valued latents whose
    signs are the bits: the autoencoder's tanh latent, a baseline's projection)."""
    if method.startswith("hashsearch"):
        from .train import train_autoencoder

        cfg = replace(train, seed=seed)
        if method == "hashsearch-shallow":
            cfg = replace(cfg, hidden=(cfg.hidden[0],))
        elif method == "hashsearch-plain":
            cfg = replace(cfg, variant=Variant.PLAIN)
        model, _ = train_autoencoder(x_train, bits, cfg, bow=bow)

        def encode(x: Any) -> tuple[np.ndarray, np.ndarray]:
            signs, latent = model.encode(x)
            return bitcodes.pack(signs), latent

        return encode
    if method in ("pca", "itq") and hasattr(x_train, "toarray"):
        base: Any = _SparsePCA(method, bits, seed).fit(x_train)
    else:
        base = _baseline(method, bits, seed).fit(_dense(x_train))

    def project(x: Any) -> tuple[np.ndarray, np.ndarray]:
        v = np.asarray(base.project(_dense(x)), dtype=np.float32)
        return bitcodes.pack(v > 0), v

    return project


def fit_codes(
    method: str, bits: int, x_train: Any, others: Sequence[Any], train: TrainConfig, seed: int, bow: bool
) -> tuple[np.ndarray, list[np.ndarray], float]:
    """Fit a hashing method on ``x_train``; return its packed codes for train and for each of ``others``."""
    t0 = time.perf_counter()
    enc = fit_encoder(method, bits, x_train, train, seed, bow)
    tr = enc(x_train)[0]
    return tr, [enc(o)[0] for o in others], time.perf_counter() - t0


class _SparsePCA:
    """PCA-sign / ITQ on sparse input via a randomized SVD of the centred matrix (implicitly)."""

    def __init__(self, method: str, bits: int, seed: int) -> None:
        self.method, self.bits, self.seed = method, bits, seed

    def fit(self, x: Any) -> _SparsePCA:
        from sklearn.utils.extmath import randomized_svd

        self.mean = np.asarray(x.mean(0)).ravel().astype(np.float32)
        xd = _dense(x) - self.mean
        _, _, vt = randomized_svd(xd, self.bits, random_state=self.seed)
        self.w = vt.T.astype(np.float32)
        if self.method == "itq":
            self.w = (self.w @ itq_rotation(xd @ self.w, seed=self.seed)).astype(np.float32)
        return self

    def project(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) @ self.w


def _cosine_topk(q: Any, db: Any, k: int) -> np.ndarray:
    if hasattr(db, "toarray"):
        out = np.empty((q.shape[0], k), dtype=np.int64)
        for s in range(0, q.shape[0], 1024):
            sims = (q[s : s + 1024] @ db.T).toarray()
            out[s : s + 1024] = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        return out
    return cosine_knn(_dense(q), _dense(db), k)


def precision_by_radius(
    q_codes: np.ndarray, db_codes: np.ndarray, yq: np.ndarray, ydb: np.ndarray, radii: Sequence[int]
) -> list[dict[str, float]]:
    """Hash-lookup precision: share of the documents within radius r sharing the label (0 when none)."""
    out = []
    d = np.concatenate([bitcodes.hamming(q_codes[s : s + 512], db_codes) for s in range(0, len(q_codes), 512)])
    same = yq[:, None] == ydb[None, :]
    for r in radii:
        within = d <= r
        cnt = within.sum(1)
        prec = np.where(cnt > 0, (within & same).sum(1) / np.maximum(cnt, 1), 0.0)
        out.append(
            {
                "radius": int(r),
                "precision": float(prec.mean()),
                "mean_retrieved": float(cnt.mean()),
                "empty_share": float((cnt == 0).mean()),
            }
        )
    return out


def evaluate_labeled(
    data: LabeledData,
    bits: Sequence[int],
    methods: Sequence[str] = METHODS,
    train: TrainConfig | None = None,
    seeds: Sequence[int] = (0,),
    ks: Sequence[int] = (10, 100, 1000),
    radii: Sequence[int] = (0, 1, 2, 3),
    log: Any = None,
) -> list[dict[str, Any]]:
    """Rows of {method, bits, seed, p@k..., float_recall@100, seconds[, by_radius]}."""
    train = train or TrainConfig()
    kmax = max(max(ks), 100)
    ref = _cosine_topk(data.x_test, data.x_train, kmax)
    rows: list[dict[str, Any]] = []
    if "float" in methods:
        rows.append(
            {
                "method": "float",
                "bits": None,
                "seed": 0,
                **{f"p@{k}": precision_at_k(ref, data.y_test, data.y_train, k) for k in ks},
                "float_recall@100": 1.0,
            }
        )
    for method in methods:
        if method == "float":
            continue
        for b in [None] if method == "sign" else bits:
            for seed in seeds if method not in ("pca", "sign") else seeds[:1]:
                if method == "sign" and data.sparse:
                    continue
                nb = b or data.x_train.shape[1] - data.x_train.shape[1] % 8
                tr, (te,), secs = fit_codes(method, nb, data.x_train, [data.x_test], train, seed, bow=data.sparse)
                nn = hamming_knn(te, tr, kmax)
                row = {
                    "method": method,
                    "bits": nb,
                    "seed": seed,
                    **{f"p@{k}": precision_at_k(nn, data.y_test, data.y_train, k) for k in ks},
                    "float_recall@100": recall_of(nn, ref, 100),
                    "seconds": round(secs, 2),
                }
                if method == "hashsearch":
                    row["by_radius"] = precision_by_radius(te, tr, data.y_test, data.y_train, radii)
                rows.append(row)
                if log:
                    log(row)
    return rows


def summarize(rows: list[dict[str, Any]], metric: str = "p@100") -> list[dict[str, Any]]:
    """Mean and spread (min..max) over seeds per (method, bits)."""
    groups: dict[tuple[str, Any], list[float]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["bits"]), []).append(r[metric])
    return [
        {
            "method": m,
            "bits": b,
            "mean": float(np.mean(v)),
            "min": float(np.min(v)),
            "max": float(np.max(v)),
            "n": len(v),
        }
        for (m, b), v in groups.items()
    ]


def rank_by_codes(q_codes: np.ndarray, db_codes: np.ndarray, k: int) -> np.ndarray:
    return hamming_knn(q_codes, db_codes, k)


def asymmetric_order(q_latents: np.ndarray, db_codes: np.ndarray, pool: np.ndarray, k: int) -> np.ndarray:
    """The engine's asymmetric step: each query's ``pool`` (Hamming-nearest first) reordered by
    :func:`hashsearch.codes.asymmetric_scores`, ties by Hamming rank; the first ``k`` kept."""
    return np.stack([row[bitcodes.asymmetric_top(q_latents[i], db_codes[row], k)[0]] for i, row in enumerate(pool)])


QRELS_METHODS = ("sign", "itq", "hashsearch")


def evaluate_qrels(
    data: QrelsData,
    doc_x: np.ndarray,
    query_x: np.ndarray,
    bits: Sequence[int] = (64,),
    share: float = 0.1,
    train: TrainConfig | None = None,
    seeds: Sequence[int] = (0,),
    log: Any = None,
    methods: Sequence[str] = QRELS_METHODS,
) -> list[dict[str, Any]]:
    """nDCG@10, recall@100 and the share of the corpus scored by floats per query, for float cosine
    and, per hashing method, the engine's three orders:

    - ``M``: codes alone, the 100 nearest by Hamming distance (ties by index);
    - ``M-asym``: codes alone, the 4 x 100 Hamming-nearest reordered by the asymmetric score
      (query latent against document bits, ``HashIndex.search(..., asymmetric=True)``);
    - ``M+rerank``: the 4 x ``share`` Hamming-nearest, the best ``share`` of the corpus by the
      asymmetric score, reranked by float cosine (``HashIndex.search(..., rerank=True)``). Floats
      are scored for ``share`` of the corpus (``scored_share``); codes for 4 x that (``codes_share``).
    """
    from .index import ASYMMETRIC_POOL

    train = train or TrainConfig()
    ids = np.array(data.doc_ids)
    qrels = [data.qrels[q] for q in data.query_ids]
    n = len(ids)
    pool = min(n, max(100, int(share * n)))
    dn = doc_x / np.maximum(np.linalg.norm(doc_x, axis=1, keepdims=True), 1e-12)
    qn = query_x / np.maximum(np.linalg.norm(query_x, axis=1, keepdims=True), 1e-12)

    def metrics(method: str, b: Any, seed: int, ranked: np.ndarray, scored: float, codes: float) -> dict[str, Any]:
        lists = [list(ids[r]) for r in ranked]
        row = {
            "method": method,
            "bits": b,
            "seed": seed,
            "ndcg@10": ndcg_at_k(lists, qrels, 10),
            "recall@100": recall_at_k(lists, qrels, 100),
            "scored_share": scored,
            "codes_share": codes,
        }
        if log:
            log(row)
        return row

    rows = [metrics("float", None, 0, cosine_knn(qn, dn, 100), 1.0, 0.0)]
    for method in methods:
        for b in [None] if method == "sign" else bits:
            for seed in seeds if method.startswith("hashsearch") else seeds[:1]:
                nb = b or doc_x.shape[1] - doc_x.shape[1] % 8
                enc = fit_encoder(method, nb, doc_x, train, seed, bow=False)
                (tr, _), (te, lq) = enc(doc_x), enc(query_x)
                near = hamming_knn(te, tr, min(n, ASYMMETRIC_POOL * pool))  # every prefix is exact (ties by index)
                rows.append(metrics(method, nb, seed, near[:, :100], 0.0, 1.0))
                wide = near[:, : ASYMMETRIC_POOL * 100]
                rows.append(metrics(f"{method}-asym", nb, seed, asymmetric_order(lq, tr, wide, 100), 0.0, 1.0))
                cand = asymmetric_order(lq, tr, near, pool)
                sims = np.einsum("qd,qkd->qk", qn, dn[cand])
                rr = np.take_along_axis(cand, np.argsort(-sims, axis=1, kind="stable")[:, :100], 1)
                rows.append(metrics(f"{method}+rerank", nb, seed, rr, pool / n, min(n, ASYMMETRIC_POOL * pool) / n))
    return rows
