"""The ``hashsearch`` command line: a thin layer over :class:`hashsearch.HashIndex`.

Heavy imports (torch, sentence-transformers, faiss) happen inside the commands, so ``--help`` is instant.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, TypeVar

import typer

from .errors import HashsearchError

if TYPE_CHECKING:
    from .index import HashIndex, Hit
    from .sources import ReadStats

app = typer.Typer(
    name="hashsearch",
    help="Semantic hashing search: index a corpus as short binary codes, then search buckets and bit flips.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

T = TypeVar("T")
DEFAULT_INDEX_ROOT = Path("indexes")


def _run(fn: Callable[[], T]) -> T:
    """Run a command body: library errors become one line on stderr and a non-zero exit."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        return fn()
    except HashsearchError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        typer.echo("interrupted: the index is unchanged", err=True)
        raise typer.Exit(130) from None


def _emit(obj: Any) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2))


def _print_hits(hits: list[Hit]) -> None:
    if not hits:
        typer.echo("no results")
    for rank, h in enumerate(hits, 1):
        label = f" [{h.metadata['label']}]" if isinstance(h.metadata.get("label"), str) else ""
        typer.echo(f"{rank:>3}. d={h.distance:<3} score={h.score:.3f}  {h.id}{label}")
        typer.echo(f"     {h.snippet}")


def _open(index: Path) -> HashIndex:
    from .index import HashIndex

    return HashIndex.load(index)


IndexArg = typer.Argument(..., help="Index directory.", show_default=False)
IdField = typer.Option("id", "--id-field", help="JSONL/CSV field holding the document id.")
TextField = typer.Option("text", "--text-field", help="JSONL/CSV field holding the text.")
Encoding = typer.Option("utf-8", "--encoding", help="Text encoding of the input files.")
FolderLabels = typer.Option(
    True, "--folder-labels/--no-folder-labels", help="Keep a file's parent folder as its label."
)
SkipInvalid = typer.Option(
    False, "--skip-invalid", help="Skip (and count) bad records instead of stopping at the first."
)
VectorsKey = typer.Option(None, "--vectors-key", help="Array of an .npz source that holds the vectors.")
IdsKey = typer.Option("ids", "--ids-key", help="Array of an .npz source that holds the ids.")
Quiet = typer.Option(False, "--quiet", "-q", help="No progress bars.")
JsonOut = typer.Option(False, "--json", help="Print JSON for scripts.")


def _read(
    source: Path, id_field: str, text_field: str, encoding: str, folder_labels: bool, skip_invalid: bool
) -> tuple[list[Any], ReadStats]:
    from .sources import Reader, SourceOptions

    reader = Reader(source, SourceOptions(id_field, text_field, encoding, folder_labels, skip_invalid))
    records = list(reader)
    return records, reader.stats


def _report_skips(stats: ReadStats, as_json: bool) -> None:
    if as_json:
        return
    if stats.skipped_empty:
        typer.echo(f"skipped {stats.skipped_empty} empty documents", err=True)
    if stats.skipped_invalid:
        typer.echo(f"skipped {stats.skipped_invalid} invalid records, e.g.:", err=True)
        for ex in stats.examples:
            typer.echo(f"  {ex}", err=True)


@app.command()
def index(
    source: Path = typer.Argument(
        ..., help="JSONL, CSV, folder of text files, or .npy/.npz vectors.", show_default=False
    ),
    index_dir: Optional[Path] = typer.Option(
        None, "--index", "-i", help="Where to build it [default: indexes/<source name>]."
    ),
    bits: int = typer.Option(64, "--bits", "-b", help="Code length: 8 to 256, a multiple of 8."),
    featurizer: str = typer.Option(
        "minilm", "--featurizer", "-f", help="minilm (bundled), tfidf, or a sentence-transformers model name/path."
    ),
    id_field: str = IdField,
    text_field: str = TextField,
    encoding: str = Encoding,
    folder_labels: bool = FolderLabels,
    skip_invalid: bool = SkipInvalid,
    vectors_key: Optional[str] = VectorsKey,
    ids_key: str = IdsKey,
    variant: Optional[str] = typer.Option(
        None,
        "--variant",
        help="Training objective: neighbor (default: similar documents), distill (query -> document "
        "retrieval), plain, denoising, variational.",
    ),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (same seed, same codes)."),
    hidden: Optional[str] = typer.Option(None, "--hidden", help="Hidden layer sizes of the encoder, e.g. 1024,512."),
    corruption: Optional[str] = typer.Option(
        None, "--corruption", help="Denoising corruption: gaussian, mask, salt-pepper."
    ),
    noise: Optional[float] = typer.Option(None, "--noise", help="Corruption level."),
    neighbors: Optional[int] = typer.Option(
        None, "--neighbors", help="Float kNN neighbours per document (neighbor variant)."
    ),
    keep_features: bool = typer.Option(
        True, "--keep-features/--no-keep-features", help="Keep float16 features for reranking."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing index (only once the new one is complete)."
    ),
    store: Optional[str] = typer.Option(
        None,
        "--store",
        help="Document store: sqlite (embedded, default) or a postgresql://user@host:port/db URL "
        "(add ?table=NAME to choose the table name's stem).",
    ),
    dask: Optional[str] = typer.Option(
        None, "--dask", help="Featurize and code on the Dask cluster at this scheduler address."
    ),
    workers: Optional[int] = typer.Option(
        None, "--workers", help="Featurize and code on a local Dask cluster of N worker processes."
    ),
    quiet: bool = Quiet,
    as_json: bool = JsonOut,
) -> None:
    """Build an index: featurize, train the binary autoencoder, code and store every document."""

    def body() -> None:
        from dataclasses import replace

        from .config import Corruption, TrainConfig
        from .index import HashIndex
        from .sources import SourceKind, detect_kind, read_vectors

        target = index_dir or DEFAULT_INDEX_ROOT / source.name.split(".")[0]
        opts: dict[str, Any] = {}
        try:
            base = TrainConfig.for_bag_of_words() if featurizer == "tfidf" else TrainConfig()
            if variant is not None:
                base = TrainConfig.for_variant(variant, bag_of_words=featurizer == "tfidf")
            if corruption is not None:
                opts["corruption"] = Corruption(corruption)
            if hidden is not None:
                opts["hidden"] = tuple(int(h) for h in hidden.split(","))
        except ValueError as e:
            raise HashsearchError(f"invalid training option: {e}") from None
        for name, val in (("epochs", epochs), ("seed", seed), ("noise", noise), ("neighbors", neighbors)):
            if val is not None:
                opts[name] = val
        train = replace(base, **opts)
        try:
            from .config import check_bits

            check_bits(bits)
        except ValueError as e:
            raise HashsearchError(str(e)) from None
        stats = None
        if dask is not None and workers is not None:
            raise HashsearchError("give --dask ADDRESS or --workers N, not both")
        if workers is not None and workers < 1:
            raise HashsearchError("--workers must be at least 1")
        distributed = dask is not None or workers is not None
        if detect_kind(source) == SourceKind.VECTORS:
            if distributed:
                raise HashsearchError(
                    "--dask/--workers distribute featurizing; a vector source is already featurized: build without them"
                )
            ids, vectors = read_vectors(source, ids_key=ids_key, vectors_key=vectors_key)
            idx = HashIndex.build_from_vectors(
                target,
                ids,
                vectors,
                bits=bits,
                train=train,
                keep_features=keep_features,
                overwrite=overwrite,
                progress=not quiet,
                store=store,
            )
        else:
            from .sources import Reader, SourceOptions

            reader = Reader(source, SourceOptions(id_field, text_field, encoding, folder_labels, skip_invalid))
            stats = reader.stats
            opts = dict(
                bits=bits,
                featurizer=featurizer,
                train=train,
                keep_features=keep_features,
                overwrite=overwrite,
                progress=not quiet,
                store=store,
            )
            if distributed:
                from .distributed import build_distributed, connect, local_client

                client = connect(dask) if dask is not None else local_client(int(workers or 1))
                try:
                    idx = build_distributed(target, reader, client, **opts)  # type: ignore[arg-type]
                finally:
                    client.close()
                    if dask is None:
                        client.cluster.close()
            else:
                idx = HashIndex.build(target, reader, **opts)  # type: ignore[arg-type]
        info = idx.info()
        if as_json:
            out = info.to_dict()
            if stats is not None:
                out["skipped_empty"], out["skipped_invalid"] = stats.skipped_empty, stats.skipped_invalid
            _emit(out)
            return
        if stats is not None:
            _report_skips(stats, as_json)
        typer.echo(
            f"indexed {info.documents} documents into {target}: {info.bits} bits, {info.buckets} buckets, "
            f"largest bucket {info.largest_bucket} ({100 * info.largest_bucket_share:.2f}%), "
            f"constant bits {info.constant_bits}"
        )

    _run(body)


@app.command()
def query(
    index_dir: Path = IndexArg,
    text: str = typer.Argument(..., help="Query text.", show_default=False),
    k: int = typer.Option(10, "-k", help="Number of results."),
    radius: Optional[int] = typer.Option(
        None, "--radius", "-r", help="Largest Hamming radius to probe [default: the cheapest-to-probe maximum]."
    ),
    rerank: Optional[bool] = typer.Option(
        None, "--rerank/--no-rerank", help="Rerank candidates by float cosine [default: when the index keeps features]."
    ),
    candidates: Optional[int] = typer.Option(
        None, "--candidates", help="Candidates to rerank [default: max(10k, 100)]."
    ),
    asymmetric: bool = typer.Option(
        False,
        "--asymmetric",
        help="Without rerank: order the Hamming-nearest codes by the query's real-valued code against "
        "their bits (finer than Hamming distance, no float features needed).",
    ),
    as_json: bool = JsonOut,
) -> None:
    """Search the index with a text: its bucket, then buckets 1, 2, ... bit flips away."""

    def body() -> None:
        idx = _open(index_dir)
        _check_k(k, radius)
        hits = idx.search(
            text,
            k,
            radius=radius,
            rerank=idx.has_features if rerank is None else rerank,
            candidates=candidates,
            asymmetric=asymmetric,
        )[0]
        _emit([h.to_dict() for h in hits]) if as_json else _print_hits(hits)

    _run(body)


@app.command()
def similar(
    index_dir: Path = IndexArg,
    doc_id: str = typer.Argument(..., help="Id of a stored document.", show_default=False),
    k: int = typer.Option(10, "-k", help="Number of results."),
    radius: Optional[int] = typer.Option(None, "--radius", "-r", help="Largest Hamming radius to probe."),
    rerank: Optional[bool] = typer.Option(
        None, "--rerank/--no-rerank", help="Rerank by float cosine [default: when available]."
    ),
    as_json: bool = JsonOut,
) -> None:
    """More like this: documents near a stored document's code (itself left out)."""

    def body() -> None:
        idx = _open(index_dir)
        _check_k(k, radius)
        hits = idx.similar(doc_id, k, radius=radius, rerank=idx.has_features if rerank is None else rerank)
        _emit([h.to_dict() for h in hits]) if as_json else _print_hits(hits)

    _run(body)


@app.command()
def add(
    index_dir: Path = IndexArg,
    source: Path = typer.Argument(
        ..., help="JSONL, CSV, folder of text files, or .npy/.npz vectors.", show_default=False
    ),
    id_field: str = IdField,
    text_field: str = TextField,
    encoding: str = Encoding,
    folder_labels: bool = FolderLabels,
    skip_invalid: bool = SkipInvalid,
    vectors_key: Optional[str] = VectorsKey,
    ids_key: str = IdsKey,
    quiet: bool = Quiet,
    as_json: bool = JsonOut,
) -> None:
    """Code new documents with the trained model and add them (all or nothing; no retraining)."""

    def body() -> None:
        from .sources import SourceKind, detect_kind, read_vectors

        idx = _open(index_dir)
        stats = None
        if detect_kind(source) == SourceKind.VECTORS:
            ids, vectors = read_vectors(source, ids_key=ids_key, vectors_key=vectors_key)
            n = idx.add_vectors(ids, vectors)
        else:
            records, stats = _read(source, id_field, text_field, encoding, folder_labels, skip_invalid)
            if not records:
                raise HashsearchError(f"{source}: no documents to add")
            n = idx.add(records, progress=not quiet)
        if as_json:
            _emit(
                {
                    "added": n,
                    "documents": len(idx),
                    **(
                        {"skipped_empty": stats.skipped_empty, "skipped_invalid": stats.skipped_invalid}
                        if stats
                        else {}
                    ),
                }
            )
        else:
            if stats is not None:
                _report_skips(stats, as_json)
            typer.echo(f"added {n} documents; the index now holds {len(idx)}")

    _run(body)


@app.command()
def delete(
    index_dir: Path = IndexArg,
    ids: list[str] = typer.Argument(..., help="Ids of the documents to delete.", show_default=False),
    as_json: bool = JsonOut,
) -> None:
    """Delete documents by id (all or nothing: an unknown id deletes none)."""

    def body() -> None:
        idx = _open(index_dir)
        n = idx.delete(ids)
        _emit({"deleted": n, "documents": len(idx)}) if as_json else typer.echo(
            f"deleted {n} documents; {len(idx)} remain"
        )

    _run(body)


@app.command()
def info(index_dir: Path = IndexArg, as_json: bool = JsonOut) -> None:
    """Documents, bits, featurizer, buckets used, the largest bucket and each bit's share of ones."""

    def body() -> None:
        i = _open(index_dir).info()
        if as_json:
            _emit(i.to_dict())
            return
        shares = i.bit_ones_share
        typer.echo(f"index          {i.path}")
        typer.echo(f"documents      {i.documents}")
        typer.echo(f"bits           {i.bits}  (probe radius up to {i.max_probe_radius}, then FAISS)")
        typer.echo(f"featurizer     {json.dumps(i.featurizer)}")
        typer.echo(f"variant        {i.variant}")
        typer.echo(f"buckets used   {i.buckets}")
        typer.echo(f"largest bucket {i.largest_bucket} documents ({100 * i.largest_bucket_share:.2f}%)")
        typer.echo(f"constant bits  {i.constant_bits}")
        typer.echo(f"float features {'kept (rerank available)' if i.has_features else 'not kept'}")
        st = i.extra.get("store", {})
        where = f"{st.get('url')} table {st.get('table')}_docs" if st.get("kind") == "postgresql" else "store.db"
        typer.echo(f"store          {st.get('kind', 'sqlite')} ({where})")
        if shares:
            typer.echo(f"ones per bit   min {min(shares):.3f}  max {max(shares):.3f}")
            for s in range(0, len(shares), 16):
                typer.echo("  " + " ".join(f"{v:.2f}" for v in shares[s : s + 16]))

    _run(body)


@app.command()
def encode(
    index_dir: Path = IndexArg,
    texts: list[str] = typer.Argument(..., help="Texts to encode.", show_default=False),
    as_json: bool = JsonOut,
) -> None:
    """Print the binary code of texts: hex, int64 (codes up to 64 bits) and bit string."""

    def body() -> None:
        from . import codes as bc

        idx = _open(index_dir)
        c = idx.encode(texts)
        ints = bc.to_int64(c).tolist() if idx.bits <= 64 else [None] * len(texts)
        rows = [
            {"text": t, "hex": h, "int64": i, "bits": b}
            for t, h, i, b in zip(texts, bc.to_hex(c), ints, bc.to_bitstrings(c, idx.bits))
        ]
        if as_json:
            _emit(rows)
        else:
            for r in rows:
                typer.echo(f"{r['hex']}  {r['bits']}  {r['text'][:60]}")

    _run(body)


eval_app = typer.Typer(
    help="Measure code quality against baselines (LSH, PCA-sign, ITQ, sign, float cosine).", no_args_is_help=True
)
app.add_typer(eval_app, name="eval")


def _parse_bits(bits: str) -> list[int]:
    from .config import check_bits

    try:
        out = [int(b) for b in bits.split(",")]
        for b in out:
            check_bits(b)
    except ValueError as e:
        raise HashsearchError(f"--bits: {e}") from None
    return out


def _train_opts(variant: str | None, epochs: int | None, bag_of_words: bool = False) -> Any:
    from dataclasses import replace

    from .config import TrainConfig

    cfg = TrainConfig.for_bag_of_words() if bag_of_words else TrainConfig()
    try:
        if variant:
            cfg = TrainConfig.for_variant(variant, bag_of_words=bag_of_words)
    except ValueError as e:
        raise HashsearchError(f"invalid training option: {e}") from None
    return replace(cfg, epochs=epochs) if epochs else cfg


@eval_app.command("labeled")
def eval_labeled(
    data: Path = typer.Argument(
        ...,
        help="Labeled split: .npz with train_emb/train_labels/test_emb/test_labels, or a VDSH .mat.",
        show_default=False,
    ),
    bits: str = typer.Option("16,32,64,128", "--bits", help="Comma-separated code lengths."),
    methods: str = typer.Option(
        ",".join(("float", "sign", "lsh", "pca", "itq", "hashsearch")), "--methods", help="Comma-separated methods."
    ),
    seeds: int = typer.Option(1, "--seeds", help="Seeds per learned method (mean and spread reported)."),
    variant: Optional[str] = typer.Option(None, "--variant", help="Training objective of the hashsearch method."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the rows as JSON here."),
    plot: Optional[Path] = typer.Option(
        None, "--plot", help="Save a PNG of precision against bits and against radius."
    ),
    as_json: bool = JsonOut,
) -> None:
    """Test documents query the train set; P@k by Hamming distance, ties broken by index."""

    def body() -> None:
        from .evaluation import METHODS, evaluate_labeled, load_labeled, summarize

        ms = [m for m in methods.split(",") if m]
        bad = [m for m in ms if m not in METHODS]
        if bad:
            raise HashsearchError(f"unknown method {bad[0]!r} (choose from {', '.join(METHODS)})")
        d = load_labeled(data)
        rows = evaluate_labeled(
            d,
            _parse_bits(bits),
            ms,
            _train_opts(variant, epochs, d.sparse),
            seeds=list(range(seeds)),
            log=None
            if as_json
            else lambda r: typer.echo(
                f"  {r['method']:<20} {r['bits']!s:>4} bits seed {r['seed']}: P@100 {100 * r['p@100']:.2f}", err=True
            ),
        )
        result = {"data": str(data), "rows": rows, "summary": summarize(rows)}
        if out:
            out.write_text(json.dumps(result, indent=2))
        if plot:
            _plot_labeled(rows, plot, d.name)
        if as_json:
            _emit(result)
        else:
            _print_table(summarize(rows), _parse_bits(bits), "P@100 (%)")

    _run(body)


@eval_app.command("qrels")
def eval_qrels(
    data: Path = typer.Argument(
        ..., help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/) or TREC folder.", show_default=False
    ),
    vectors: Optional[Path] = typer.Option(
        None, "--vectors", help=".npz with corpus_emb/corpus_ids/query_emb/query_ids (skips featurizing)."
    ),
    split: str = typer.Option("test", "--split", help="BEIR qrels split."),
    bits: str = typer.Option("64", "--bits", help="Comma-separated code lengths."),
    share: float = typer.Option(0.1, "--share", help="Share of the corpus taken as hash candidates for rerank."),
    seeds: int = typer.Option(1, "--seeds", help="Seeds of the hashsearch method (one row each)."),
    methods: str = typer.Option("sign,itq,hashsearch", "--methods", help="Comma-separated hashing methods."),
    variant: Optional[str] = typer.Option(
        None, "--variant", help="Training objective of the hashsearch method (distill: the retrieval setting)."
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the rows as JSON here."),
    as_json: bool = JsonOut,
) -> None:
    """nDCG@10, recall@100 and the share of the corpus scored, for float cosine and, per method, codes
    (Hamming), codes ordered asymmetrically, and asymmetric candidates reranked by float cosine."""

    def body() -> None:
        import numpy as np

        from .evaluation import METHODS, evaluate_qrels, load_beir, load_trec
        from .featurizers import SentenceTransformerFeaturizer

        d = load_trec(data) if (data / "doc-text.trec").exists() else load_beir(data, split)
        if vectors:
            v = np.load(vectors, allow_pickle=False)
            pos = {str(i): j for j, i in enumerate(v["corpus_ids"])}
            qpos = {str(i): j for j, i in enumerate(v["query_ids"])}
            doc_x = v["corpus_emb"].astype(np.float32)[[pos[i] for i in d.doc_ids]]
            q_x = v["query_emb"].astype(np.float32)[[qpos[q] for q in d.query_ids]]
        else:
            fz = SentenceTransformerFeaturizer()
            doc_x, q_x = fz.transform(d.doc_texts, progress=not as_json), fz.transform(d.query_texts)
        ms = [m for m in methods.split(",") if m]
        bad = [m for m in ms if m not in METHODS]
        if bad:
            raise HashsearchError(f"unknown method {bad[0]!r} (choose from {', '.join(METHODS)})")
        rows = evaluate_qrels(
            d,
            doc_x,
            q_x,
            _parse_bits(bits),
            share,
            _train_opts(variant, None),
            seeds=list(range(seeds)),
            methods=ms,
        )
        if out:
            out.write_text(json.dumps({"data": str(data), "rows": rows}, indent=2))
        if as_json:
            _emit(rows)
            return
        typer.echo(f"{'method':<22}{'bits':>6}{'seed':>6}{'nDCG@10':>10}{'R@100':>8}{'floats':>9}{'codes':>9}")
        for r in rows:
            typer.echo(
                f"{r['method']:<22}{r['bits']!s:>6}{r['seed']:>6}{100 * r['ndcg@10']:>10.2f}"
                f"{100 * r['recall@100']:>8.2f}{100 * r['scored_share']:>8.1f}%{100 * r['codes_share']:>8.1f}%"
            )
        typer.echo("floats / codes: share of the corpus whose float features / codes each query scores")

    _run(body)


def _print_table(summary: list[dict[str, Any]], bits: list[int], title: str) -> None:
    cols = sorted({b for s in summary for b in ([s["bits"]] if s["bits"] else [])} | set(bits))
    typer.echo(f"{title}: mean over seeds [min..max]")
    typer.echo(f"{'method':<22}" + "".join(f"{b:>18}" for b in cols))
    methods = list(dict.fromkeys(s["method"] for s in summary))
    for m in methods:
        cells = {s["bits"]: s for s in summary if s["method"] == m}
        line = f"{m:<22}"
        for b in cols:
            s = cells.get(b) or (cells.get(None) if None in cells else None)
            if s is None:
                line += f"{'':>18}"
            elif s["n"] > 1:
                line += f"{100 * s['mean']:>8.2f} [{100 * s['min']:.1f}..{100 * s['max']:.1f}]".rjust(18)
            else:
                line += f"{100 * s['mean']:>18.2f}"
        typer.echo(line)


def _plot_labeled(rows: list[dict[str, Any]], path: Path, name: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise HashsearchError("--plot needs matplotlib: pip install 'hashsearch[plot]'") from None
    from .evaluation import summarize

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for s_m in dict.fromkeys(r["method"] for r in rows):
        pts = sorted((s["bits"], s["mean"]) for s in summarize(rows) if s["method"] == s_m and s["bits"])
        if s_m == "float":
            fl = next(s["mean"] for s in summarize(rows) if s["method"] == "float")
            a.axhline(100 * fl, ls="--", color="gray", label="float cosine")
        elif pts:
            a.plot([p[0] for p in pts], [100 * p[1] for p in pts], marker="o", label=s_m)
    a.set_xscale("log", base=2)
    a.set_xlabel("bits")
    a.set_ylabel("P@100 (%)")
    a.set_title(f"{name}: precision against bits")
    a.legend()
    for r in rows:
        if r.get("by_radius") and r["seed"] == 0:
            br = r["by_radius"]
            b.plot([x["radius"] for x in br], [100 * x["precision"] for x in br], marker="o", label=f"{r['bits']} bits")
    b.set_xlabel("Hamming radius")
    b.set_ylabel("precision within radius (%)")
    b.set_title("hashsearch: precision against radius")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


@app.command()
def export(
    index_dir: Path = IndexArg,
    out: Path = typer.Option(..., "--out", "-o", help="Output file (jsonl, parquet) or folder (npy)."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl, npy or parquet."),
    as_json: bool = JsonOut,
) -> None:
    """Write id, code (hex, int64, packed bytes) and metadata of every document, for other backends."""

    def body() -> None:
        from .export import export_codes

        n = export_codes(_open(index_dir), out, fmt)
        _emit({"exported": n, "out": str(out), "format": fmt}) if as_json else typer.echo(
            f"exported {n} codes to {out} ({fmt})"
        )

    _run(body)


@app.command()
def serve(
    index_dir: Path = IndexArg,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8000, "--port", help="Port."),
    api_key: Optional[str] = typer.Option(
        None, "--api-key", envvar="HASHSEARCH_API_KEY", help="Key for write endpoints (required beyond loopback)."
    ),
) -> None:
    """Serve the index over HTTP (FastAPI; OpenAPI docs at /docs). The model stays loaded."""

    def body() -> None:
        from .server import create_app, is_loopback

        app_ = create_app(index_dir, api_key=api_key, require_key=not is_loopback(host))
        try:
            import uvicorn
        except ImportError:
            raise HashsearchError("serving needs uvicorn: pip install 'hashsearch[serve]'") from None
        uvicorn.run(app_, host=host, port=port, log_level="info")

    _run(body)


def _check_k(k: int, radius: int | None) -> None:
    if k < 1 or k > 10_000:
        raise HashsearchError("k must be between 1 and 10000")
    if radius is not None and radius < 0:
        raise HashsearchError("radius must be >= 0")


def main() -> None:
    app(prog_name="hashsearch")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
