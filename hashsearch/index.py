"""The index facade: build, load, search, add, delete. The typed Python API the CLI and server use.

An index is one directory::

    config.json          IndexConfig (format version, bits, featurizer, training options)
    model.safetensors    the autoencoder, input statistics included
    tfidf_*.json/.npy    featurizer state, when it has one
    store.db             SQLite: documents, metadata and codes (the source of truth)
    features/*.npy       float16 rerank features, memory-mapped, listed by store.db

or, with a PostgreSQL store (``store="postgresql://..."``), the last two as PostgreSQL tables named
in config.json. A build is written to a temporary directory (and fresh tables) and renamed into
place; adds and deletes are single transactions under a write lock, so a failed or killed command
leaves the index as it was.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import codes as bitcodes
from .binary_index import BinaryIndex
from .config import IndexConfig, TrainConfig, check_bits
from .errors import HashsearchError, IndexFormatError, InputError, NotFoundError
from .featurizers import VECTORS, Featurizer, VectorFeaturizer, load_featurizer, make_featurizer
from .sources import Record
from .store import DocumentStore, StoredDoc, create_store, drop_store, open_store
from .table import BucketTable

CONFIG_FILE = "config.json"
# Asymmetric ordering picks its results (or rerank pool) from this many times as many Hamming-nearest codes
ASYMMETRIC_POOL = 4
SNIPPET_CHARS = 200


@dataclass(frozen=True)
class Hit:
    """One result. ``score`` is the rerank cosine when reranked, the asymmetric score (query latent
    against the code's bits, in [-1, 1]) when ordered asymmetrically, else ``1 - distance / bits``."""

    id: str
    distance: int
    score: float
    text: str
    metadata: dict[str, Any]
    slot: int

    @property
    def snippet(self) -> str:
        t = " ".join(self.text.split())
        return t if len(t) <= SNIPPET_CHARS else t[: SNIPPET_CHARS - 1] + "…"

    def to_dict(self, full_text: bool = False) -> dict[str, Any]:
        return {
            "id": self.id,
            "distance": self.distance,
            "score": round(self.score, 6),
            "text": self.text if full_text else self.snippet,
            "metadata": self.metadata,
        }


@dataclass(frozen=True)
class IndexInfo:
    path: str
    documents: int
    bits: int
    featurizer: dict[str, Any]
    variant: str
    buckets: int
    largest_bucket: int
    largest_bucket_share: float
    bit_ones_share: list[float]
    constant_bits: int
    has_features: bool
    max_probe_radius: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class HashIndex:
    """A semantic-hashing index on disk, loaded for queries. Create with :meth:`build` or :meth:`load`."""

    def __init__(
        self, path: Path, config: IndexConfig, model: Any, featurizer: Featurizer, store: DocumentStore
    ) -> None:
        self.path = path
        self.config = config
        self.model = model
        self.featurizer = featurizer
        self.store = store
        self._load_state()

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        path: str | Path,
        records: Iterable[Record],
        *,
        bits: int = 64,
        featurizer: str | Featurizer = "minilm",
        train: TrainConfig | None = None,
        keep_features: bool = True,
        overwrite: bool = False,
        progress: bool = False,
        store: str | None = None,
    ) -> HashIndex:
        """Featurize ``records``, train the autoencoder, code every document and write the index.
        ``store``: ``None`` (embedded SQLite) or a ``postgresql://`` URL.

        Records are streamed: texts go to the store chunk by chunk as they are featurized, so
        memory grows with the features kept, not with the text (TF-IDF, which needs its
        vocabulary first, holds the texts). Nothing is visible at ``path`` until it is complete.
        """
        check_bits(bits)
        path = Path(path)
        _check_target(path, overwrite)
        fz = make_featurizer(featurizer) if isinstance(featurizer, str) else featurizer
        if fz.sparse:
            recs = list(records)
            fz.fit([r.text for r in recs])
            records = recs
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(desc="featurizing", unit="doc", total=len(records) if isinstance(records, list) else None)
        tmp = _temp_dir(path, "building")
        db: DocumentStore | None = None
        try:
            db = create_store(tmp, store, path.name)
            chunks: list[Any] = []
            for batch in _batched(records, STREAM_CHUNK):
                x = fz.transform([r.text for r in batch])
                db.add(
                    [r.id for r in batch],
                    [r.text for r in batch],
                    [r.metadata for r in batch],
                    _zero_codes(len(batch), bits),
                    None,
                )
                chunks.append(x)
                if bar is not None:
                    bar.update(len(batch))
            if bar is not None:
                bar.close()
            if not chunks:
                raise HashsearchError("no documents to index")
            x_all = sp.vstack(chunks).tocsr() if fz.sparse else np.concatenate(chunks)
            del chunks
            cls._finish(tmp, db, x_all, fz, bits, train, keep_features, progress, None)
            _install(tmp, path)
        except BaseException:
            _abandon(tmp, db)
            raise
        return cls.load(path)

    @classmethod
    def build_from_vectors(
        cls,
        path: str | Path,
        ids: Sequence[str],
        vectors: np.ndarray,
        *,
        texts: Sequence[str] | None = None,
        metadata: Sequence[dict[str, Any]] | None = None,
        bits: int = 64,
        train: TrainConfig | None = None,
        keep_features: bool = True,
        overwrite: bool = False,
        progress: bool = False,
        model: Any = None,
        store: str | None = None,
    ) -> HashIndex:
        """Index vectors the user already has (no featurizer: queries are vectors or stored ids).
        ``model``: an already trained :class:`BinaryAutoencoder` to code them with (no training)."""
        check_bits(bits)
        path = Path(path)
        _check_target(path, overwrite)
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(ids):
            raise HashsearchError(f"expected {len(ids)} vectors in a 2-D array, got shape {vectors.shape}")
        if len(set(ids)) != len(ids):
            raise HashsearchError("duplicate ids among the vectors")
        texts = list(texts) if texts is not None else [""] * len(ids)
        metadata = list(metadata) if metadata is not None else [{} for _ in ids]
        fz = VectorFeaturizer(vectors.shape[1])
        return cls._build(
            path, list(ids), texts, metadata, vectors, fz, bits, train, keep_features, progress, model, store
        )

    @classmethod
    def _build(
        cls,
        path: Path,
        ids: list[str],
        texts: list[str],
        metadata: list[dict[str, Any]],
        x: Any,
        fz: Featurizer,
        bits: int,
        train: TrainConfig | None,
        keep_features: bool,
        progress: bool,
        model: Any = None,
        store: str | None = None,
    ) -> HashIndex:
        tmp = _temp_dir(path, "building")
        db: DocumentStore | None = None
        try:
            db = create_store(tmp, store, path.name)
            for s in range(0, len(ids), STREAM_CHUNK):
                e = s + STREAM_CHUNK
                db.add(ids[s:e], texts[s:e], metadata[s:e], _zero_codes(len(ids[s:e]), bits), None)
            cls._finish(tmp, db, x, fz, bits, train, keep_features, progress, model)
            _install(tmp, path)
        except BaseException:
            _abandon(tmp, db)
            raise
        return cls.load(path)

    @classmethod
    def _finish(
        cls,
        tmp: Path,
        store: DocumentStore,
        x: Any,
        fz: Featurizer,
        bits: int,
        train: TrainConfig | None,
        keep_features: bool,
        progress: bool,
        model: Any,
    ) -> None:
        """Train (unless given a model), code every stored document, write config, model and features."""
        from .train import train_autoencoder

        cfg = train or TrainConfig()
        if model is None:
            if x.shape[0] < 2:
                raise HashsearchError("an index needs at least 2 documents to train its model")
            model, _ = train_autoencoder(x, bits, cfg, bow=fz.sparse, progress=progress)
        elif (model.bits, model.input_dim, model.hidden) != (bits, x.shape[1], cfg.hidden):
            raise HashsearchError("the given model does not match bits, input dimension or hidden sizes")
        signs, latent = model.encode(x)
        slots = np.arange(x.shape[0], dtype=np.int64)
        store.set_codes(slots, bitcodes.pack(signs), cls._rerank_vectors(fz, x, latent) if keep_features else None)
        _write_index_files(tmp, store, model, fz, bits, cfg)

    @classmethod
    def load(cls, path: str | Path) -> HashIndex:
        path = Path(path)
        if not path.is_dir():
            raise IndexFormatError(f"{path}: no index here (build one with `hashsearch index`)")
        config = IndexConfig.load(path / CONFIG_FILE)
        from .model import BinaryAutoencoder

        fz = load_featurizer(path, config.featurizer, dim=config.input_dim)
        try:
            model = BinaryAutoencoder.load(path, config.input_dim, config.bits, config.train.hidden, bow=fz.sparse)
            store = open_store(path, config.store)
        except (FileNotFoundError, RuntimeError, sqlite3.DatabaseError) as e:
            raise IndexFormatError(f"{path}: damaged index ({e})") from None
        return cls(path, config, model, fz, store)

    def _load_state(self) -> None:
        self.store.reload()
        slots, codes = self.store.codes(self.bits // 8)
        self._binary = BinaryIndex(self.bits)
        self._binary.add(codes, slots)
        del codes
        self._table = BucketTable(self.bits, self._binary.codes())
        self._generation = self.store.generation

    def refresh(self) -> bool:
        """Reload codes if another process changed the index. Returns whether it did."""
        if self.store.generation != self._generation:
            self._load_state()
            return True
        return False

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> HashIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- properties ------------------------------------------------------------------------------
    @property
    def bits(self) -> int:
        return self.config.bits

    def __len__(self) -> int:
        return len(self._binary)

    @property
    def has_features(self) -> bool:
        return self.store.has_features

    # -- encoding ----------------------------------------------------------------------------------
    @staticmethod
    def _rerank_vectors(fz: Featurizer, x: Any, latent: np.ndarray) -> np.ndarray:
        """What reranking compares: the normalised features, or the code's float latent for sparse input."""
        return _normalize(latent if fz.sparse else np.asarray(x, dtype=np.float32))

    def featurize(self, texts: Sequence[str]) -> Any:
        return self.featurizer.transform(list(texts))

    def encode_features(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """(packed codes, rerank vectors) of feature rows."""
        codes, rv, _ = self._encode_queries(x)
        return codes, rv

    def _encode_queries(self, x: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(packed codes, rerank vectors, real-valued latents) of feature rows."""
        if x.shape[1] != self.config.input_dim:
            raise HashsearchError(f"vectors have dimension {x.shape[1]}, the index expects {self.config.input_dim}")
        signs, latent = self.model.encode(x)
        return bitcodes.pack(signs), self._rerank_vectors(self.featurizer, x, latent), latent

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Packed codes (n, bits // 8) of texts."""
        return self.encode_features(self.featurize(texts))[0]

    def reconstruction_error(self, texts: Sequence[str]) -> np.ndarray:
        """Anomaly score: how badly each text's code reconstructs its features."""
        return self.model.reconstruction_error(self.featurize(texts))

    # -- search ------------------------------------------------------------------------------------
    def search(
        self,
        queries: str | Sequence[str],
        k: int = 10,
        *,
        radius: int | None = None,
        rerank: bool = False,
        candidates: int | None = None,
        asymmetric: bool = False,
    ) -> list[list[Hit]]:
        """Search by text. Always 2-D: one list of hits per query. See :meth:`search_codes`."""
        if isinstance(queries, str):
            queries = [queries]
        return self.search_vectors(
            self.featurize(queries), k, radius=radius, rerank=rerank, candidates=candidates, asymmetric=asymmetric
        )

    def search_vectors(
        self,
        vectors: Any,
        k: int = 10,
        *,
        radius: int | None = None,
        rerank: bool = False,
        candidates: int | None = None,
        asymmetric: bool = False,
    ) -> list[list[Hit]]:
        """Search by feature vectors (rows), e.g. for an index built from vectors. A reranked
        search always picks its pool asymmetrically (see :meth:`search_codes`)."""
        if not hasattr(vectors, "toarray"):
            vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        codes, rv, latent = self._encode_queries(vectors)
        return self.search_codes(
            codes,
            k,
            radius=radius,
            rerank=rerank,
            candidates=candidates,
            rerank_vectors=rv,
            query_latents=latent if (rerank or asymmetric) else None,
        )

    def search_codes(
        self,
        codes: np.ndarray,
        k: int = 10,
        *,
        radius: int | None = None,
        rerank: bool = False,
        candidates: int | None = None,
        rerank_vectors: np.ndarray | None = None,
        exclude: Sequence[int] | None = None,
        query_latents: np.ndarray | None = None,
    ) -> list[list[Hit]]:
        """Search by packed codes (n, bits // 8).

        Plain: the ``k`` nearest codes by (Hamming distance, slot), exactly. ``rerank``: the
        ``candidates`` nearest, reordered by float cosine. ``query_latents`` (the queries'
        real-valued codes before binarisation, as :meth:`search_vectors` passes them): the
        ``ASYMMETRIC_POOL`` times as many Hamming-nearest codes are ordered by the asymmetric score
        (:func:`hashsearch.codes.asymmetric_scores`), and the best ``k`` (or rerank pool) kept.
        """
        codes = np.atleast_2d(np.asarray(codes, dtype=np.uint8))
        if len(codes) == 0:
            return []
        if codes.shape[1] != self.bits // 8:
            raise HashsearchError(f"codes must have {self.bits // 8} bytes ({self.bits} bits)")
        if rerank and (rerank_vectors is None or not self.has_features):
            raise HashsearchError("reranking needs float features: this index or query has none")
        if query_latents is not None and len(query_latents) != len(codes):
            raise HashsearchError(f"{len(codes)} codes but {len(query_latents)} query latents")
        need = max(k, candidates or self.default_candidates(k)) if rerank else k
        latents = [None] * len(codes) if query_latents is None else list(query_latents)
        found = [self.select(c, need, radius=radius, exclude=exclude, latent=q) for c, q in zip(codes, latents)]
        if rerank:
            assert rerank_vectors is not None
            found = [self._rerank(s, d, rerank_vectors[i], k) for i, (s, d, _) in enumerate(found)]
        else:
            found = [(s[:k], d[:k], sc[:k]) for s, d, sc in found]
        docs = self.store.docs(np.concatenate([s for s, _, _ in found]) if found else [])
        return [
            [
                Hit(docs[int(s)].id, int(d), float(sc), docs[int(s)].text, docs[int(s)].metadata, int(s))
                for s, d, sc in zip(*f)
            ]
            for f in found
        ]

    def candidates(
        self,
        code: np.ndarray,
        k: int,
        *,
        radius: int | None = None,
        rerank: bool = False,
        candidates: int | None = None,
        exclude: Sequence[int] | None = None,
        in_store: bool = False,
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """(slots, distances, probe radius) of the nearest codes by (distance, slot).

        Probes the Hamming ball shell by shell up to ``radius`` (by default, and at most, the
        largest radius that stays cheaper than a scan: ``BucketTable.max_radius``) until it holds
        ``k`` (or, when reranking, ``candidates``) documents; if the ball runs out first, FAISS kNN
        answers instead. Either way the result is exact for the (distance, slot) order.
        ``in_store``: probe in the store instead (PostgreSQL: SQL over the indexed code column).
        """
        if k < 1:
            raise HashsearchError("k must be at least 1")
        need = max(k, candidates or self.default_candidates(k)) if rerank else k
        n_ex = len(exclude) if exclude is not None else 0
        want = min(need + n_ex, len(self._table))
        r_max = self._table.max_radius
        r = r_max if radius is None else max(0, min(radius, r_max))
        if in_store:
            if not hasattr(self.store, "knn"):
                raise HashsearchError(f"the {self.store.kind} store does not probe buckets itself")
            slots, dists = self.store.knn(code, want, r)
            if n_ex:
                keep = ~np.isin(slots, np.asarray(exclude, dtype=np.int64))
                slots, dists = slots[keep], dists[keep]
            return slots, dists, r
        probe = self._table.probe(code, r, want)
        slots, dists = self._binary.slots_of(probe.positions), probe.distances
        if len(slots) < want:
            d, s = self._binary.search(code[None, :], want)
            slots, dists = s[0], d[0]
        if exclude is not None and n_ex:
            keep = ~np.isin(slots, np.asarray(exclude, dtype=np.int64))
            slots, dists = slots[keep], dists[keep]
        return slots, dists, probe.radius

    def select(
        self,
        code: np.ndarray,
        need: int,
        *,
        radius: int | None = None,
        exclude: Sequence[int] | None = None,
        latent: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(slots, distances, scores) of one query before reranking. Without ``latent``: the ``need``
        nearest codes by (distance, slot), completed to whole shells, scored ``1 - distance / bits``.
        With it: the best ``need`` by the asymmetric score among the ``ASYMMETRIC_POOL * need``
        nearest, ties by (distance, slot)."""
        if latent is None:
            s, d, _ = self.candidates(code, need, radius=radius, exclude=exclude)
            return s, d, 1.0 - d / self.bits
        pool = ASYMMETRIC_POOL * need
        s, d, _ = self.candidates(code, pool, radius=radius, exclude=exclude)
        s, d = s[:pool], d[:pool]  # exactly the pool nearest by (distance, slot)
        rows, scores = bitcodes.asymmetric_top(latent, self._binary.codes_of(s), need)
        return s[rows], d[rows], scores

    def default_candidates(self, k: int) -> int:
        """Rerank pool: enough to recover the float order, at most a small share of the corpus."""
        return max(10 * k, 100)

    def _rerank(
        self, slots: np.ndarray, dists: np.ndarray, q: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if len(slots) == 0:
            return slots, dists, np.empty(0, np.float32)
        scores = self.store.features(slots) @ np.asarray(q, dtype=np.float32)
        order = np.lexsort((slots, dists, -scores))[:k]
        return slots[order], dists[order], scores[order]

    def similar(
        self,
        doc_id: str,
        k: int = 10,
        *,
        radius: int | None = None,
        rerank: bool = False,
        candidates: int | None = None,
    ) -> list[Hit]:
        """More like a stored document (the document itself left out)."""
        found = self.store.code_of(doc_id)
        if found is None:
            raise NotFoundError(f"no document with id {doc_id!r}")
        slot, code = found
        rv = self.store.features(np.array([slot])) if (rerank and self.has_features) else None
        return self.search_codes(
            np.frombuffer(code, dtype=np.uint8)[None, :],
            k,
            radius=radius,
            rerank=rerank,
            candidates=candidates,
            rerank_vectors=rv,
            exclude=[slot],
        )[0]

    # -- writes ------------------------------------------------------------------------------------
    @contextmanager
    def _write_lock(self) -> Iterator[None]:
        with self.store.write_lock():
            self.refresh()
            yield

    def add(self, records: Iterable[Record], progress: bool = False, features: Any = None) -> int:
        """Code new documents with the trained model (no retraining). All or nothing.
        ``features``: the records' rows from :meth:`featurize`, when already computed."""
        recs = list(records)
        if not recs:
            return 0
        x = self.featurizer.transform([r.text for r in recs], progress=progress) if features is None else features
        if x.shape[0] != len(recs):
            raise HashsearchError(f"{len(recs)} records but {x.shape[0]} feature rows")
        return self._add([r.id for r in recs], [r.text for r in recs], [r.metadata for r in recs], x, recs)

    def add_vectors(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        texts: Sequence[str] | None = None,
        metadata: Sequence[dict[str, Any]] | None = None,
    ) -> int:
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        if len(vectors) != len(ids):
            raise HashsearchError(f"{len(ids)} ids for {len(vectors)} vectors")
        if len(set(ids)) != len(ids):
            raise HashsearchError("duplicate ids among the new vectors")
        return self._add(list(ids), list(texts or [""] * len(ids)), list(metadata or [{} for _ in ids]), vectors, None)

    def _add(
        self, ids: list[str], texts: list[str], metadata: list[dict[str, Any]], x: Any, recs: list[Record] | None
    ) -> int:
        codes, rv = self.encode_features(x)
        with self._write_lock():
            clash = self.store.existing_ids(ids)
            if clash:
                i = next(j for j, d in enumerate(ids) if d in clash)
                msg = f"id {ids[i]!r} is already in the index ({len(clash)} such ids); nothing added"
                if recs and recs[i].source:
                    raise InputError(recs[i].source, msg, recs[i].line)
                raise HashsearchError(msg)
            slots = self.store.add(ids, texts, metadata, codes, rv if self.has_features else None)
            self._binary.add(codes, slots)
            self._table = BucketTable(self.bits, self._binary.codes())
            self._generation = self.store.generation
        return len(ids)

    def delete(self, ids: Sequence[str]) -> int:
        """Delete documents by id. Unknown ids are an error and nothing is deleted."""
        ids = list(dict.fromkeys(ids))
        with self._write_lock():
            found = self.store.slots_of(ids)
            missing = [i for i in ids if i not in found]
            if missing:
                raise NotFoundError(f"no document with id {missing[0]!r} ({len(missing)} unknown ids); nothing deleted")
            slots = np.array(sorted(found.values()), dtype=np.int64)
            self.store.delete(slots)
            self._binary.remove(slots)
            self._table = BucketTable(self.bits, self._binary.codes())
            self._generation = self.store.generation
        return len(slots)

    def save(self, path: str | Path, overwrite: bool = False) -> None:
        """Write a consistent copy of this index to ``path`` (a store snapshot + the model files).
        A PostgreSQL-backed index is copied to fresh tables in the same database."""
        path = Path(path)
        _check_target(path, overwrite)
        tmp = _temp_dir(path, "saving")
        spec = None
        try:
            for p in self.path.iterdir():
                if p.is_file() and p.name.endswith((".json", ".safetensors", ".npy")):
                    shutil.copy2(p, tmp / p.name)
            spec = self.store.copy_to(tmp)
            IndexConfig(**{**self.config.__dict__, "store": spec}).save(tmp / CONFIG_FILE)
            _install(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            if spec is not None and spec != self.store.spec():
                drop_store(spec)
            raise

    # -- inspection --------------------------------------------------------------------------------
    def info(self) -> IndexInfo:
        sizes = self._table.bucket_sizes()
        n = len(self)
        ones = bitcodes.unpack(self._binary.codes(), self.bits).mean(0) if n else np.zeros(self.bits)
        largest = int(sizes.max()) if len(sizes) else 0
        return IndexInfo(
            path=str(self.path),
            documents=n,
            bits=self.bits,
            featurizer=self.config.featurizer,
            variant=self.config.train.variant.value,
            buckets=int(len(sizes)),
            largest_bucket=largest,
            largest_bucket_share=largest / n if n else 0.0,
            bit_ones_share=[round(float(v), 4) for v in ones],
            constant_bits=int(((ones == 0) | (ones == 1)).sum()) if n else 0,
            has_features=self.has_features,
            max_probe_radius=self._table.max_radius,
            extra={
                "bytes_per_doc_code_index": (self._table.nbytes + self._binary.nbytes) / max(n, 1),
                "store": self.store.spec(),
            },
        )

    def documents(self) -> Iterator[tuple[StoredDoc, np.ndarray]]:
        """Every stored document with its packed code, in slot order."""
        for slot, doc_id, text, meta, code in self.store.iter_docs():
            yield StoredDoc(slot, doc_id, text, meta), np.frombuffer(code, dtype=np.uint8)

    @property
    def is_vector_index(self) -> bool:
        return self.config.featurizer.get("kind") == VECTORS


STREAM_CHUNK = 1024


def _batched(items: Iterable[Record], n: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for it in items:
        batch.append(it)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def _zero_codes(n: int, bits: int) -> np.ndarray:
    return np.zeros((n, bits // 8), dtype=np.uint8)


def _temp_dir(path: Path, what: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{path.name}.{what}-", dir=path.parent))


def _check_target(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        if path.is_dir() and not any(path.iterdir()):
            return
        raise HashsearchError(f"{path} already exists (pass --overwrite to replace it)")


def _install(tmp: Path, path: Path) -> None:
    """Move a fully written directory into place; an existing index is replaced only at the end
    (the rename is the commit point; a replaced index's PostgreSQL tables are dropped after it)."""
    if path.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
        os.rename(path, old / "index")
        os.rename(tmp, path)
        try:
            old_store = IndexConfig.load(old / "index" / CONFIG_FILE).store
            if old_store != IndexConfig.load(path / CONFIG_FILE).store:
                drop_store(old_store)
        except Exception as e:  # the new index is in place; a leftover table is only garbage
            warnings.warn(f"could not drop the replaced index's store: {e}", stacklevel=2)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, path)


def _write_index_files(
    tmp: Path, store: DocumentStore, model: Any, fz: Featurizer, bits: int, cfg: TrainConfig
) -> None:
    """The end of every build: finalize and close the store, write config, model and featurizer."""
    store.finalize()
    config = IndexConfig(bits=bits, featurizer=fz.spec(), input_dim=int(model.input_dim), train=cfg, store=store.spec())
    config.save(tmp / CONFIG_FILE)
    model.save(tmp)
    fz.save(tmp)
    store.close()


def _abandon(tmp: Path, db: DocumentStore | None) -> None:
    """Undo a failed build: its temporary directory and, for PostgreSQL, its fresh tables."""
    if db is not None:
        try:
            db.destroy()
            db.close()
        except Exception:
            pass
    shutil.rmtree(tmp, ignore_errors=True)
