"""Distributed builds on Dask: featurizing and coding run on the workers, partition by partition.

The driver streams the records once: each partition's texts go to the store (on the driver) and
to a worker, which featurizes them and keeps the features. The driver then gathers only the rows
training uses (the same sample a single-process build draws, :func:`hashsearch.train.training_rows`),
trains the model, broadcasts it, and the workers code their partitions. The result is the index a
single-process build makes with the same model and seed, code for code: workers featurize in the
same 1,024-document chunks and code in the same 8,192-row batches as one process does.

``hashsearch index docs.jsonl --dask tcp://scheduler:8786`` uses a running cluster (its workers
need hashsearch installed); ``--workers N`` starts a local one (N processes, one thread each).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from . import codes as bitcodes
from .config import TrainConfig, check_bits
from .errors import HashsearchError
from .featurizers import Featurizer, make_featurizer
from .sources import Record
from .store import DocumentStore, create_store

PARTITION_DOCS = 8192  # a multiple of the model's 8,192-row coding batch and of the 1,024-doc stream chunk


def local_client(workers: int) -> Any:
    """A Dask client on a local cluster of ``workers`` processes, one thread each."""
    distributed = _require()
    cluster = distributed.LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40
    )
    return distributed.Client(cluster)


def connect(address: str) -> Any:
    distributed = _require()
    try:
        return distributed.Client(address, timeout="30s")
    except OSError as e:
        raise HashsearchError(f"cannot reach the Dask scheduler at {address}: {e}") from None


def _require() -> Any:
    try:
        import distributed
    except ImportError:
        raise HashsearchError("distributed builds need Dask: pip install 'hashsearch[dask]'") from None
    return distributed


# -- tasks (run on the workers) -----------------------------------------------------------------
def _threads() -> None:
    """One worker thread, one torch thread: workers must not oversubscribe the machine's cores."""
    import torch

    try:
        from distributed import get_worker

        torch.set_num_threads(max(1, int(get_worker().state.nthreads)))
    except (ImportError, ValueError, AttributeError):
        torch.set_num_threads(1)


def _featurize(fz: Featurizer, texts: list[str], chunk: int) -> Any:
    _threads()
    parts = [fz.transform(texts[s : s + chunk]) for s in range(0, len(texts), chunk)]
    return sp.vstack(parts).tocsr() if fz.sparse else np.concatenate(parts)


def _take(x: Any, rows: np.ndarray) -> Any:
    return x[rows]


def _code(model: Any, x: Any, sparse: bool, keep_features: bool) -> tuple[np.ndarray, np.ndarray | None]:
    from .index import _normalize

    _threads()
    signs, latent = model.encode(x)
    rv = _normalize(latent if sparse else np.asarray(x, dtype=np.float32)) if keep_features else None
    return bitcodes.pack(signs), (rv.astype(np.float16) if rv is not None else None)


# -- the build (runs on the driver) -------------------------------------------------------------
def build_distributed(
    path: str | Path,
    records: Iterable[Record],
    client: Any,
    *,
    bits: int = 64,
    featurizer: str | Featurizer = "minilm",
    train: TrainConfig | None = None,
    keep_features: bool = True,
    overwrite: bool = False,
    progress: bool = False,
    store: str | None = None,
    partition_docs: int = PARTITION_DOCS,
) -> Any:
    """Build an index with featurizing and coding on the Dask workers of ``client``."""
    from .index import (
        STREAM_CHUNK,
        HashIndex,
        _abandon,
        _batched,
        _check_target,
        _install,
        _temp_dir,
        _write_index_files,
    )
    from .index import _zero_codes as zero_codes
    from .train import train_autoencoder, training_rows

    check_bits(bits)
    path = Path(path)
    _check_target(path, overwrite)
    cfg = train or TrainConfig()
    fz = make_featurizer(featurizer) if isinstance(featurizer, str) else featurizer
    if fz.sparse:  # TF-IDF fits its vocabulary on the driver first, as a single-process build does
        records = list(records)
        fz.fit([r.text for r in records])
    bar = _bar(progress, "featurizing on workers")
    tmp = _temp_dir(path, "building")
    db: DocumentStore | None = None
    try:
        db = create_store(tmp, store, path.name)
        remote_fz = client.scatter(fz, broadcast=True)
        parts: list[tuple[int, int, Any]] = []
        start = 0
        for batch in _batched(records, partition_docs):
            db.add(
                [r.id for r in batch],
                [r.text for r in batch],
                [r.metadata for r in batch],
                zero_codes(len(batch), bits),
                None,
            )
            fut = client.submit(_featurize, remote_fz, [r.text for r in batch], STREAM_CHUNK, pure=False)
            parts.append((start, len(batch), fut))
            start += len(batch)
            if bar is not None:
                bar.update(len(batch))
        if bar is not None:
            bar.close()
        n = start
        if n < 2:
            raise HashsearchError("an index needs at least 2 documents to train its model")
        rows = training_rows(n, cfg)
        sample = _gather_rows(client, parts, rows)
        model, _ = train_autoencoder(sample, bits, cfg, bow=fz.sparse, progress=progress, sampled_from=n)
        del sample
        remote_model = client.scatter(model, broadcast=True)
        coded = [client.submit(_code, remote_model, f, fz.sparse, keep_features, pure=False) for _, _, f in parts]
        bar = _bar(progress, "coding on workers", n)
        for (s, m, f), c in zip(parts, coded):
            codes, rv = c.result()
            db.set_codes(np.arange(s, s + m, dtype=np.int64), codes, rv)
            f.release()
            c.release()
            if bar is not None:
                bar.update(m)
        if bar is not None:
            bar.close()
        _write_index_files(tmp, db, model, fz, bits, cfg)
        _install(tmp, path)
    except BaseException:
        _abandon(tmp, db)
        raise
    return HashIndex.load(path)


def _gather_rows(client: Any, parts: list[tuple[int, int, Any]], rows: np.ndarray | None) -> Any:
    """The training rows' features, gathered from the workers in corpus order."""
    futs = []
    for s, m, f in parts:
        if rows is None:
            futs.append(f)
            continue
        local = rows[(rows >= s) & (rows < s + m)] - s
        if len(local):
            futs.append(client.submit(_take, f, local, pure=False))
    got = client.gather(futs)
    return sp.vstack(got).tocsr() if sp.issparse(got[0]) else np.concatenate(got)


def _bar(progress: bool, desc: str, total: int | None = None) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(desc=desc, unit="doc", total=total)


__all__ = ["PARTITION_DOCS", "build_distributed", "connect", "local_client"]
