"""The PostgreSQL document store: many processes (and machines) share one index through a server.

Chosen by a URL: ``hashsearch index docs.jsonl --store postgresql://user@host:5432/db``. The index
directory still holds ``config.json`` and the model; documents, codes and float16 features live
in two tables, ``<name>_docs`` and ``<name>_meta`` (``<name>`` is recorded in ``config.json`` and
shown by ``hashsearch info``). Passwords are never written to ``config.json``: give them with
``PGPASSWORD`` or ``~/.pgpass``, as for any libpq client.

The first 64 bits of each code sit in an indexed ``bigint`` column (the big-endian value of the
packed bytes, as :func:`hashsearch.codes.to_int64` and ``hashsearch export`` write it), so other
programs probe buckets in SQL. :meth:`PostgresStore.knn` does exactly that: an indexed
``code = ANY(<flipped codes>)`` over the Hamming ball, ranked by ``bit_count(code # query)``.

Reads use one autocommit connection; writes use a second one, inside a transaction and under a
session advisory lock, so a reader never sees a half-written state and writers from many
processes serialise. A killed writer's transaction is rolled back by the server.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np

from . import codes as bitcodes
from .errors import HashsearchError
from .store import POSTGRESQL, DocumentStore, StoredDoc

try:
    import psycopg
    from psycopg import sql
except ImportError:  # pragma: no cover - exercised only without the extra
    psycopg = None  # type: ignore[assignment]

SCHEMA = """
CREATE TABLE {docs} (
    slot bigint PRIMARY KEY,
    id text NOT NULL UNIQUE,
    text text NOT NULL,
    metadata json NOT NULL,
    code bigint NOT NULL,
    code_tail bytea,
    feature bytea
);
CREATE TABLE {meta} (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO {meta} (key, value) VALUES ('next_slot', '0'), ('generation', '0'), ('features', '0'), ('nbytes', '8');
"""
CODE_INDEX = "CREATE INDEX IF NOT EXISTS {code_idx} ON {docs} (code)"
GET_META = "SELECT value FROM {meta} WHERE key = %s"
LOCK_NEXT_SLOT = "SELECT value FROM {meta} WHERE key = 'next_slot' FOR UPDATE"
SET_META = "UPDATE {meta} SET value = %s WHERE key = %s"
BUMP_GENERATION = "UPDATE {meta} SET value = (value::bigint + 1)::text WHERE key = 'generation'"
COPY_DOCS = "COPY {docs} (slot, id, text, metadata, code, code_tail, feature) FROM STDIN"
COUNT_DOCS = "SELECT count(*) FROM {docs}"
SELECT_CODES = "SELECT slot, code, code_tail FROM {docs} ORDER BY slot"
SLOTS_OF_IDS = "SELECT id, slot FROM {docs} WHERE id = ANY(%s)"
CODE_OF_ID = "SELECT slot, code, code_tail FROM {docs} WHERE id = %s"
DOCS_OF_SLOTS = "SELECT slot, id, text, metadata::text FROM {docs} WHERE slot = ANY(%s)"
ITER_DOCS = "SELECT slot, id, text, metadata::text, code, code_tail FROM {docs} ORDER BY slot"
FEATURES_OF_SLOTS = "SELECT slot, feature FROM {docs} WHERE slot = ANY(%s)"
DELETE_SLOTS = "DELETE FROM {docs} WHERE slot = ANY(%s)"
UPDATE_CODES = "CREATE TEMP TABLE new_codes (slot bigint, code bigint, code_tail bytea, feature bytea) ON COMMIT DROP;"
COPY_NEW_CODES = "COPY new_codes (slot, code, code_tail, feature) FROM STDIN"
APPLY_NEW_CODES = (
    "UPDATE {docs} d SET code = n.code, code_tail = n.code_tail, feature = COALESCE(n.feature, d.feature) "
    "FROM new_codes n WHERE d.slot = n.slot"
)
# the Hamming ball, probed on the code index, ranked by distance then slot
PROBE = (
    "SELECT slot, bit_count((code # %(q)s)::bit(64))::int AS d FROM {docs} "
    "WHERE code = ANY(%(keys)s) ORDER BY d, slot LIMIT %(limit)s"
)
SCAN = "SELECT slot, bit_count((code # %(q)s)::bit(64))::int AS d FROM {docs} ORDER BY d, slot LIMIT %(limit)s"
COPY_TABLE = "CREATE TABLE {new} (LIKE {old} INCLUDING ALL); INSERT INTO {new} SELECT * FROM {old}"
DROP = "DROP TABLE IF EXISTS {docs}, {meta}"
TABLE_PARAM = "table"


def _require() -> None:
    if psycopg is None:
        raise HashsearchError("the PostgreSQL store needs psycopg: pip install 'hashsearch[postgres]'")


def split_url(url: str) -> tuple[str, str | None]:
    """(connection URL without hashsearch's own ``table`` parameter, that table name or None)."""
    u = urlsplit(url)
    params = parse_qsl(u.query, keep_blank_values=True)
    table = next((v for k, v in params if k == TABLE_PARAM), None)
    rest = urlencode([(k, v) for k, v in params if k != TABLE_PARAM])
    return urlunsplit((u.scheme, u.netloc, u.path, rest, u.fragment)), table


def public_url(url: str) -> str:
    """The URL without its password, as written to ``config.json``."""
    u = urlsplit(url)
    if u.password is None:
        return url
    netloc = u.netloc.rsplit("@", 1)
    user = u.username or ""
    return urlunsplit((u.scheme, f"{user}@{netloc[1]}", u.path, u.query, u.fragment))


def table_name(name: str) -> str:
    """A fresh, safe table-name stem: the index name, sanitized, plus a random suffix."""
    stem = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")[:40] or "index"
    return f"hs_{stem}_{secrets.token_hex(4)}"


class PostgresStore(DocumentStore):
    """Documents, codes and features of one index in two PostgreSQL tables."""

    kind = POSTGRESQL

    def __init__(self, url: str, table: str) -> None:
        _require()
        self.url, self.table = url, table
        try:
            self.conn = psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError as e:
            raise HashsearchError(f"cannot connect to PostgreSQL at {public_url(url)}: {_first_line(e)}") from None
        self._wconn: Any = None
        self._wmutex = threading.RLock()
        self._q = {
            "docs": sql.Identifier(f"{table}_docs"),
            "meta": sql.Identifier(f"{table}_meta"),
            "code_idx": sql.Identifier(f"{table}_code"),
        }
        self._dim: int | None = None

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def create(cls, url: str, name: str) -> PostgresStore:
        conn_url, table = split_url(url)
        store = cls(conn_url, table_name(table or name))
        store.conn.execute(store._sql(SCHEMA))
        return store

    @classmethod
    def open(cls, spec: dict[str, Any]) -> PostgresStore:
        store = cls(spec["url"], spec["table"])
        if store.conn.execute("SELECT to_regclass(%s)", (f"{spec['table']}_docs",)).fetchone()[0] is None:
            raise HashsearchError(f"PostgreSQL table {spec['table']}_docs does not exist at {public_url(spec['url'])}")
        return store

    def _sql(self, template: str, **extra: Any) -> Any:
        return sql.SQL(template).format(**self._q, **extra)  # type: ignore[arg-type]

    def _fetch(self, template: str, params: Any = None) -> list[Any]:
        return self.conn.execute(self._sql(template), params).fetchall()

    # -- reads -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._fetch(COUNT_DOCS)[0][0])

    def meta(self, key: str) -> str | None:
        rows = self._fetch(GET_META, (key,))
        return rows[0][0] if rows else None

    @property
    def nbytes(self) -> int:
        """Bytes per packed code (recorded with the first codes written)."""
        return int(self.meta("nbytes") or 8)

    @property
    def generation(self) -> int:
        return int(self.meta("generation") or 0)

    def codes(self, nbytes: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self._fetch(SELECT_CODES)
        slots = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        head = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        return slots, _join(head, [r[2] for r in rows], nbytes)

    def slots_of(self, ids: Sequence[str]) -> dict[str, int]:
        return dict(self._fetch(SLOTS_OF_IDS, (list(ids),)))

    def code_of(self, doc_id: str) -> tuple[int, bytes] | None:
        rows = self._fetch(CODE_OF_ID, (doc_id,))
        if not rows:
            return None
        slot, head, tail = rows[0]
        return int(slot), _code_bytes(head, tail, self.nbytes)

    def docs(self, slots: Iterable[int]) -> dict[int, StoredDoc]:
        rows = self._fetch(DOCS_OF_SLOTS, ([int(s) for s in slots],))
        return {r[0]: StoredDoc(r[0], r[1], r[2], json.loads(r[3])) for r in rows}

    def iter_docs(self, batch: int = 10_000) -> Iterator[tuple[int, str, str, dict[str, Any], bytes]]:
        nbytes = self.nbytes
        with self.conn.transaction(), self.conn.cursor(name=f"iter_{secrets.token_hex(4)}") as cur:
            cur.itersize = batch
            cur.execute(self._sql(ITER_DOCS))
            for slot, doc_id, text, meta, head, tail in cur:
                yield slot, doc_id, text, json.loads(meta), _code_bytes(head, tail, nbytes)

    @property
    def has_features(self) -> bool:
        return self.meta("features") == "1"

    def features(self, slots: np.ndarray) -> np.ndarray:
        slots = np.asarray(slots, dtype=np.int64)
        if not self.has_features:
            raise KeyError("this index keeps no float features")
        found = dict(self._fetch(FEATURES_OF_SLOTS, (slots.tolist(),)))
        rows = [np.frombuffer(found[int(s)], dtype=np.float16) for s in slots]
        return np.array(rows, dtype=np.float32).reshape(len(slots), len(rows[0]) if rows else 0)

    def knn(self, code: np.ndarray, k: int, radius: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact k nearest by (Hamming distance, slot), computed in PostgreSQL: the Hamming ball of
        ``radius`` probed through the code index (``code = ANY(...)``); a ranked scan of the
        ``code`` column when the ball holds fewer than ``k``. Codes of at most 64 bits."""
        code = np.asarray(code, dtype=np.uint8).ravel()
        if len(code) > 8:
            raise HashsearchError("SQL bucket probing covers codes of at most 64 bits; wider codes probe in memory")
        q = int(bitcodes.to_int64(code[None, :])[0])
        masks = np.concatenate([bitcodes.flip_masks(8 * len(code), d) for d in range(radius + 1)])
        keys = bitcodes.to_int64(code[None, :] ^ masks).tolist()
        rows = self._fetch(PROBE, {"q": q, "keys": keys, "limit": k})
        if len(rows) < k:
            rows = self._fetch(SCAN, {"q": q, "limit": k})
        return np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows], dtype=np.int32)

    # -- writes ------------------------------------------------------------------------------
    def _writer(self) -> Any:
        """The write connection, opened on first use (readers never share its transactions)."""
        if self._wconn is None:
            self._wconn = psycopg.connect(self.url, autocommit=True)
        return self._wconn

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._wmutex:
            with self._writer().transaction():
                yield self._wconn
                self._wconn.execute(self._sql(BUMP_GENERATION))

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        with self._wmutex:
            self._writer()
            key = f"hashsearch:{self.table}"
            self._wconn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (key,))
            try:
                yield
            finally:
                self._wconn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (key,))

    def add(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metadata: Sequence[dict[str, Any]],
        codes: np.ndarray,
        features: np.ndarray | None,
    ) -> np.ndarray:
        codes = np.asarray(codes, dtype=np.uint8)
        heads, tails = _split(codes)
        feats = _feature_bytes(features, len(ids))
        try:
            with self._transaction() as c:
                start = int(c.execute(self._sql(LOCK_NEXT_SLOT)).fetchone()[0])
                slots = np.arange(start, start + len(ids), dtype=np.int64)
                with c.cursor().copy(self._sql(COPY_DOCS)) as cp:
                    for row in zip(slots.tolist(), ids, texts, metadata, heads.tolist(), tails, feats):
                        cp.write_row((*row[:3], json.dumps(row[3], ensure_ascii=False), *row[4:]))
                c.execute(self._sql(SET_META), (str(start + len(ids)), "next_slot"))
                c.execute(self._sql(SET_META), (str(codes.shape[1]), "nbytes"))
                if features is not None and len(ids):
                    c.execute(self._sql(SET_META), ("1", "features"))
        except psycopg.errors.UniqueViolation as e:
            raise HashsearchError(f"duplicate document id ({_first_line(e)})") from None
        return slots

    def set_codes(self, slots: np.ndarray, codes: np.ndarray, features: np.ndarray | None = None) -> None:
        codes = np.asarray(codes, dtype=np.uint8)
        heads, tails = _split(codes)
        feats = _feature_bytes(features, len(heads))
        with self._transaction() as c:
            c.execute(UPDATE_CODES)
            with c.cursor().copy(COPY_NEW_CODES) as cp:
                for row in zip(np.asarray(slots).tolist(), heads.tolist(), tails, feats):
                    cp.write_row(row)
            c.execute(self._sql(APPLY_NEW_CODES))
            c.execute(self._sql(SET_META), (str(codes.shape[1]), "nbytes"))
            if features is not None and len(heads):
                c.execute(self._sql(SET_META), ("1", "features"))

    def delete(self, slots: Sequence[int]) -> None:
        with self._transaction() as c:
            c.execute(self._sql(DELETE_SLOTS), ([int(s) for s in slots],))

    # -- lifecycle ---------------------------------------------------------------------------
    def finalize(self) -> None:
        self.conn.execute(self._sql(CODE_INDEX))
        self.conn.execute(self._sql("ANALYZE {docs}"))

    def spec(self) -> dict[str, Any]:
        return {"kind": POSTGRESQL, "url": public_url(self.url), "table": self.table}

    def copy_to(self, directory: Path) -> dict[str, Any]:
        new = table_name(directory.name)
        with self._transaction() as c:  # one snapshot of both tables
            for part in ("docs", "meta"):
                c.execute(
                    sql.SQL(COPY_TABLE).format(
                        new=sql.Identifier(f"{new}_{part}"), old=sql.Identifier(f"{self.table}_{part}")
                    )
                )
        PostgresStore(self.url, new).finalize()
        return {"kind": POSTGRESQL, "url": public_url(self.url), "table": new}

    def destroy(self) -> None:
        self.conn.execute(self._sql(DROP))

    def close(self) -> None:
        self.conn.close()
        if self._wconn is not None:
            self._wconn.close()


def _split(codes: np.ndarray) -> tuple[np.ndarray, list[bytes | None]]:
    """(int64 of the first 64 bits, remaining bytes or None) of packed codes."""
    head = bitcodes.to_int64(codes[:, :8])
    tails: list[bytes | None] = [bytes(r) for r in codes[:, 8:]] if codes.shape[1] > 8 else [None] * len(codes)
    return head, tails


def _join(head: np.ndarray, tails: list[bytes | None], nbytes: int) -> np.ndarray:
    out = np.empty((len(head), nbytes), dtype=np.uint8)
    out[:, : min(nbytes, 8)] = bitcodes.from_int64(head, min(nbytes, 8))
    if nbytes > 8:
        out[:, 8:] = np.frombuffer(b"".join(t or b"" for t in tails), dtype=np.uint8).reshape(len(head), nbytes - 8)
    return out


def _code_bytes(head: int, tail: bytes | None, nbytes: int) -> bytes:
    return _join(np.array([head], dtype=np.int64), [tail], nbytes)[0].tobytes()


def _feature_bytes(features: np.ndarray | None, n: int) -> list[bytes | None]:
    if features is None:
        return [None] * n
    f16 = np.ascontiguousarray(features, dtype=np.float16)
    return [r.tobytes() for r in f16]


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
