"""The embedded document store: one SQLite file (through sqlite-utils) holding every document and its code.

SQLite is the source of truth of an index. A write (add, delete) is one transaction; the float
feature chunk files it needs are written and fsynced *before* the transaction that lists them
commits, so a command killed at any point leaves the previous state intact.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from .errors import HashsearchError
from .store import SQLITE, DocumentStore, StoredDoc

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    slot INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL,
    code BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feature_chunks (start INTEGER PRIMARY KEY, stop INTEGER NOT NULL, file TEXT NOT NULL);
"""
INSERT_DOC = "INSERT INTO docs (slot, id, text, metadata, code) VALUES (?, ?, ?, ?, ?)"
UPDATE_CODE = "UPDATE docs SET code = ? WHERE slot = ?"
INSERT_CHUNK = "INSERT INTO feature_chunks (start, stop, file) VALUES (?, ?, ?)"
SET_META = "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"
BUMP_GENERATION = (
    "INSERT INTO meta (key, value) VALUES ('generation', '1') "
    "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
)
GET_META = "SELECT value FROM meta WHERE key = ?"
SELECT_CODES = "SELECT slot, code FROM docs ORDER BY slot"
SELECT_CHUNKS = "SELECT start, stop, file FROM feature_chunks ORDER BY start"
COUNT_DOCS = "SELECT COUNT(*) FROM docs"
SLOTS_OF_IDS = "SELECT id, slot FROM docs WHERE id IN (SELECT value FROM json_each(?))"
DOCS_OF_SLOTS = "SELECT slot, id, text, metadata FROM docs WHERE slot IN (SELECT value FROM json_each(?))"
CODE_OF_ID = "SELECT slot, code FROM docs WHERE id = ?"
DELETE_SLOTS = "DELETE FROM docs WHERE slot IN (SELECT value FROM json_each(?))"
EXISTING_IDS = "SELECT id FROM docs WHERE id IN (SELECT value FROM json_each(?))"

STORE_FILE = "store.db"
FEATURES_DIR = "features"
LOCK_FILE = ".lock"


class SQLiteStore(DocumentStore):
    """SQLite documents + codes, and float16 feature chunks beside it."""

    kind = SQLITE

    def __init__(self, root: Path, *, create: bool = False) -> None:
        self.root = Path(root)
        path = self.root / STORE_FILE
        if not create and not path.exists():
            raise FileNotFoundError(path)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self.db = sqlite_utils.Database(conn)
        self.conn = conn
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        if create:
            conn.executescript(SCHEMA)
            (self.root / FEATURES_DIR).mkdir(exist_ok=True)
        self._features = FeatureStore(self.root, self.feature_chunks())

    def close(self) -> None:
        self.conn.close()

    # -- reads -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.conn.execute(COUNT_DOCS).fetchone()[0])

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute(GET_META, (key,)).fetchone()
        return row[0] if row else default

    @property
    def generation(self) -> int:
        """Counts committed writes: a reader reloads when it changes."""
        return int(self.meta("generation", "0") or 0)

    @property
    def next_slot(self) -> int:
        return int(self.meta("next_slot", "0") or 0)

    def codes(self, nbytes: int) -> tuple[np.ndarray, np.ndarray]:
        """(slots int64, codes uint8 (n, nbytes)) of every document, in slot order."""
        rows = self.conn.execute(SELECT_CODES).fetchall()
        slots = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        blob = b"".join(r[1] for r in rows)
        return slots, np.frombuffer(blob, dtype=np.uint8).reshape(len(rows), nbytes).copy()

    def slots_of(self, ids: Sequence[str]) -> dict[str, int]:
        return dict(self.conn.execute(SLOTS_OF_IDS, (json.dumps(list(ids)),)).fetchall())

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        return {r[0] for r in self.conn.execute(EXISTING_IDS, (json.dumps(list(ids)),))}

    def code_of(self, doc_id: str) -> tuple[int, bytes] | None:
        row = self.conn.execute(CODE_OF_ID, (doc_id,)).fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def docs(self, slots: Iterable[int]) -> dict[int, StoredDoc]:
        rows = self.conn.execute(DOCS_OF_SLOTS, (json.dumps([int(s) for s in slots]),)).fetchall()
        return {r[0]: StoredDoc(r[0], r[1], r[2], json.loads(r[3])) for r in rows}

    def iter_docs(self, batch: int = 10_000) -> Iterator[tuple[int, str, str, dict[str, Any], bytes]]:
        cur = self.conn.execute("SELECT slot, id, text, metadata, code FROM docs ORDER BY slot")
        while rows := cur.fetchmany(batch):
            for r in rows:
                yield r[0], r[1], r[2], json.loads(r[3]), bytes(r[4])

    def feature_chunks(self) -> list[tuple[int, int, str]]:
        return [tuple(r) for r in self.conn.execute(SELECT_CHUNKS)]  # type: ignore[misc]

    @property
    def has_features(self) -> bool:
        return bool(self._features)

    def features(self, slots: np.ndarray) -> np.ndarray:
        return self._features.get(slots)

    def reload(self) -> None:
        self._features = FeatureStore(self.root, self.feature_chunks())

    # -- writes ------------------------------------------------------------------------------
    def write_features(self, start: int, features: np.ndarray) -> str:
        """Write a float16 chunk for slots [start, start + n) and fsync it. Not yet committed."""
        name = f"f{start:012d}-{start + len(features):012d}.npy"
        path = self.root / FEATURES_DIR / name
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(features, dtype=np.float16), allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return name

    def add(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metadata: Sequence[dict[str, Any]],
        codes: np.ndarray,
        features: np.ndarray | None,
    ) -> np.ndarray:
        """Insert documents in one transaction; returns their new slots."""
        start = self.next_slot
        slots = np.arange(start, start + len(ids), dtype=np.int64)
        chunk = self.write_features(start, features) if features is not None and len(ids) else None
        rows = (
            (int(s), i, t, json.dumps(m, ensure_ascii=False), bytes(c))
            for s, i, t, m, c in zip(slots, ids, texts, metadata, np.asarray(codes, dtype=np.uint8))
        )
        with self._transaction() as c:
            try:
                c.executemany(INSERT_DOC, rows)
            except sqlite3.IntegrityError as e:
                raise HashsearchError(f"duplicate document id ({e})") from None
            if chunk is not None:
                c.execute(INSERT_CHUNK, (start, start + len(ids), chunk))
            c.execute(SET_META, ("next_slot", str(start + len(ids))))
        self.reload()
        return slots

    def set_codes(self, slots: np.ndarray, codes: np.ndarray, features: np.ndarray | None = None) -> None:
        """Replace the codes of existing documents (used while building, before the index is live).
        ``features``, when given, are listed as one chunk: ``slots`` must then be consecutive."""
        slots = np.asarray(slots, dtype=np.int64)
        chunk = None
        if features is not None and len(slots):
            if not np.array_equal(slots, np.arange(slots[0], slots[0] + len(slots))):
                raise ValueError("features are stored in chunks of consecutive slots")
            chunk = (int(slots[0]), int(slots[0]) + len(slots), self.write_features(int(slots[0]), features))
        rows = ((bytes(c), int(s)) for s, c in zip(slots, np.asarray(codes, dtype=np.uint8)))
        with self._transaction() as c:
            c.executemany(UPDATE_CODE, rows)
            if chunk is not None:
                c.execute(INSERT_CHUNK, chunk)
        self.reload()

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        """One write: BEGIN IMMEDIATE, the body, the generation bump, COMMIT (ROLLBACK on any error)."""
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
            c.execute(BUMP_GENERATION)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def delete(self, slots: Sequence[int]) -> None:
        with self._transaction() as c:
            c.execute(DELETE_SLOTS, (json.dumps([int(s) for s in slots]),))

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """An exclusive file lock in the index directory; cleans up what a killed writer left."""
        with open(self.root / LOCK_FILE, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                self.remove_orphan_chunks()
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def finalize(self) -> None:
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def spec(self) -> dict[str, Any]:
        return {"kind": SQLITE}

    def copy_to(self, directory: Path) -> dict[str, Any]:
        """SQLite online backup (a consistent snapshot) plus the feature files it lists."""
        dst = sqlite3.connect(directory / STORE_FILE)
        with dst:
            self.conn.backup(dst)
        listed = [r[2] for r in dst.execute(SELECT_CHUNKS)]
        dst.close()
        (directory / FEATURES_DIR).mkdir(exist_ok=True)
        for f in listed:
            shutil.copy2(self.root / FEATURES_DIR / f, directory / FEATURES_DIR / f)
        return self.spec()

    def remove_orphan_chunks(self) -> None:
        """Delete feature files that no committed transaction lists (left by a killed write)."""
        listed = {f for _, _, f in self.feature_chunks()}
        for p in (self.root / FEATURES_DIR).glob("*"):
            if p.name not in listed:
                p.unlink(missing_ok=True)


class FeatureStore:
    """Read-only, memory-mapped float16 features, looked up by slot."""

    def __init__(self, root: Path, chunks: list[tuple[int, int, str]]) -> None:
        self._starts = np.array([c[0] for c in chunks], dtype=np.int64)
        self._arrays = [np.load(root / FEATURES_DIR / f, mmap_mode="r", allow_pickle=False) for _, _, f in chunks]

    def __bool__(self) -> bool:
        return bool(self._arrays)

    def get(self, slots: np.ndarray) -> np.ndarray:
        slots = np.asarray(slots, dtype=np.int64)
        if not self._arrays:
            raise KeyError("this index keeps no float features")
        which = np.searchsorted(self._starts, slots, side="right") - 1
        dim = self._arrays[0].shape[1]
        out = np.empty((len(slots), dim), dtype=np.float32)
        for w in np.unique(which):
            sel = which == w
            out[sel] = self._arrays[w][slots[sel] - self._starts[w]]
        return out
