"""Reading a corpus: JSONL, CSV, a folder of text files, or vectors the user already has.

Every problem is reported as an :class:`InputError` naming the file and line. With
``skip_invalid`` such records are skipped and counted instead. Empty documents are always
skipped and counted (a document with no text has nothing to hash).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError


class SourceKind(str, Enum):
    JSONL = "jsonl"
    CSV = "csv"
    FOLDER = "folder"
    VECTORS = "vectors"


@dataclass(frozen=True)
class Record:
    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # the file it came from, and its line, for error messages
    line: int | None = None


@dataclass
class ReadStats:
    read: int = 0
    skipped_empty: int = 0
    skipped_invalid: int = 0
    examples: list[str] = field(default_factory=list)  # the first few skip reasons

    def skip(self, err: InputError) -> None:
        self.skipped_invalid += 1
        if len(self.examples) < 5:
            self.examples.append(str(err))


@dataclass(frozen=True)
class SourceOptions:
    id_field: str = "id"
    text_field: str = "text"
    encoding: str = "utf-8"
    folder_labels: bool = True
    skip_invalid: bool = False


def detect_kind(path: Path) -> SourceKind:
    if path.is_dir():
        return SourceKind.FOLDER
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json", ".jsonl.gz"):
        return SourceKind.JSONL
    if suffix in (".csv", ".tsv"):
        return SourceKind.CSV
    if suffix in (".npy", ".npz"):
        return SourceKind.VECTORS
    if not path.exists():
        raise InputError(path, "no such file or folder")
    raise InputError(path, "unknown input type: expected .jsonl, .csv, .npy, .npz or a folder of text files")


def _open_binary(path: Path) -> io.BufferedIOBase:
    if path.suffix == ".gz":
        import gzip

        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


class Reader:
    """Iterates the records of one source, validating as it goes; ``stats`` counts what was skipped."""

    def __init__(self, path: str | Path, options: SourceOptions | None = None) -> None:
        self.path = Path(path)
        self.options = options or SourceOptions()
        self.kind = detect_kind(self.path)
        if not self.path.exists():
            raise InputError(self.path, "no such file or folder")
        self.stats = ReadStats()
        self._seen: set[str] = set()

    def __iter__(self) -> Iterator[Record]:
        it = {
            SourceKind.JSONL: self._jsonl,
            SourceKind.CSV: self._csv,
            SourceKind.FOLDER: self._folder,
        }.get(self.kind)
        if it is None:
            raise InputError(self.path, "vectors have no text: read them with read_vectors()")
        for rec in it():
            if rec is not None:
                self.stats.read += 1
                yield rec

    def _fail(self, path: Path, message: str, line: int | None) -> None:
        err = InputError(path, message, line)
        if not self.options.skip_invalid:
            raise err
        self.stats.skip(err)

    def _make(self, path: Path, line: int | None, doc_id: Any, text: Any, meta: dict[str, Any]) -> Record | None:
        o = self.options
        if doc_id is None or (isinstance(doc_id, str) and not doc_id.strip()):
            self._fail(path, f"missing id field {o.id_field!r} (choose another with --id-field)", line)
            return None
        if isinstance(doc_id, (dict, list)):
            self._fail(path, f"id field {o.id_field!r} must be a string or a number", line)
            return None
        if text is None:
            self._fail(path, f"missing text field {o.text_field!r} (choose another with --text-field)", line)
            return None
        if not isinstance(text, str):
            self._fail(path, f"text field {o.text_field!r} must be a string", line)
            return None
        doc_id = str(doc_id)
        if doc_id in self._seen:
            self._fail(path, f"duplicate id {doc_id!r}", line)
            return None
        if not text.strip():
            self.stats.skipped_empty += 1
            return None
        self._seen.add(doc_id)
        return Record(doc_id, text, meta, str(path), line)

    def _jsonl(self) -> Iterator[Record | None]:
        o = self.options
        with _open_binary(self.path) as f:
            for lineno, raw in enumerate(f, start=1):
                try:
                    line = raw.decode(o.encoding)
                except UnicodeDecodeError as e:
                    self._fail(self.path, f"cannot decode as {o.encoding} ({e.reason}); try --encoding", lineno)
                    continue
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    self._fail(self.path, f"invalid JSON ({e.msg} at column {e.colno})", lineno)
                    continue
                if not isinstance(obj, dict):
                    self._fail(self.path, "expected a JSON object", lineno)
                    continue
                meta = {k: v for k, v in obj.items() if k not in (o.id_field, o.text_field)}
                yield self._make(self.path, lineno, obj.get(o.id_field), obj.get(o.text_field), meta)

    def _csv(self) -> Iterator[Record | None]:
        o = self.options
        delimiter = "\t" if self.path.suffix.lower() == ".tsv" else ","
        with open(self.path, encoding=o.encoding, newline="") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            try:
                header = reader.fieldnames or []
            except UnicodeDecodeError as e:
                raise InputError(self.path, f"cannot decode as {o.encoding} ({e.reason}); try --encoding", 1) from None
            except csv.Error as e:
                raise InputError(self.path, f"invalid CSV ({e})", 1) from None
            for name in (o.id_field, o.text_field):
                if name not in header:
                    raise InputError(self.path, f"no column {name!r} in the header {header}", 1)
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except UnicodeDecodeError as e:
                    raise InputError(
                        self.path, f"cannot decode as {o.encoding} ({e.reason}); try --encoding", reader.line_num + 1
                    ) from None
                except csv.Error as e:
                    self._fail(self.path, f"invalid CSV ({e})", reader.line_num)
                    continue
                if None in row:  # more cells than header columns
                    self._fail(self.path, "more cells than the header has columns", reader.line_num)
                    continue
                meta = {k: v for k, v in row.items() if k not in (o.id_field, o.text_field)}
                yield self._make(self.path, reader.line_num, row.get(o.id_field), row.get(o.text_field), meta)

    def _folder(self) -> Iterator[Record | None]:
        o = self.options
        files = sorted(
            p
            for p in self.path.rglob("*")
            if p.is_file() and not any(s.startswith(".") for s in p.relative_to(self.path).parts)
        )
        for p in files:
            rel = p.relative_to(self.path)
            try:
                text = p.read_bytes().decode(o.encoding)
            except UnicodeDecodeError as e:
                self._fail(p, f"cannot decode as {o.encoding} ({e.reason}); try --encoding latin-1", None)
                continue
            except OSError as e:
                self._fail(p, f"cannot read ({e.strerror})", None)
                continue
            meta: dict[str, Any] = {}
            if o.folder_labels and len(rel.parts) > 1:
                meta["label"] = rel.parts[-2]
            yield self._make(p, None, rel.as_posix(), text, meta)


def read_vectors(
    path: str | Path, ids_key: str = "ids", vectors_key: str | None = None
) -> tuple[list[str], np.ndarray]:
    """Vectors from ``.npy`` (ids are row numbers) or ``.npz`` (``ids`` plus one float array)."""
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except ValueError as e:
        raise InputError(path, f"cannot read as numpy data without pickle ({e})") from None
    except OSError as e:
        raise InputError(path, f"not a numpy file ({e})") from None
    if isinstance(data, np.ndarray):
        vectors = data
        ids = [str(i) for i in range(len(vectors))]
    else:
        keys = list(data.keys())
        if vectors_key is None:
            floats = [k for k in keys if k != ids_key and np.issubdtype(data[k].dtype, np.floating)]
            if len(floats) != 1:
                raise InputError(
                    path, f"expected one float array beside {ids_key!r}, found {keys}; name it with --vectors-key"
                )
            vectors_key = floats[0]
        if vectors_key not in keys:
            raise InputError(path, f"no array {vectors_key!r} (arrays: {keys})")
        vectors = data[vectors_key]
        ids = [str(i) for i in data[ids_key]] if ids_key in keys else [str(i) for i in range(len(vectors))]
    if vectors.ndim != 2 or not np.issubdtype(vectors.dtype, np.floating):
        raise InputError(path, f"expected a 2-D float array, got {vectors.dtype} {vectors.shape}")
    if len(ids) != len(vectors):
        raise InputError(path, f"{len(ids)} ids for {len(vectors)} vectors")
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if len(bad):
        raise InputError(path, f"row {int(bad[0])} has a NaN or infinite value ({len(bad)} such rows)")
    seen: set[str] = set()
    for i, x in enumerate(ids):
        if x in seen:
            raise InputError(path, f"row {i}: duplicate id {x!r}")
        seen.add(x)
    return ids, np.asarray(vectors, dtype=np.float32)
