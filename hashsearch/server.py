"""HTTP API (FastAPI): search by text, vector or code, similar, add, delete, encode, info, health.

Texts of concurrent requests are featurized together (one model call for all that queued). Reads run
concurrently; a write holds the index exclusively while it commits, so no reader sees a
half-written state. Bound to loopback by default; bound elsewhere, write endpoints need an API key.
Every request is bounded: k, radius, batch size and body size.
"""

from __future__ import annotations

import hmac
import ipaddress
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from .errors import HashsearchError, NotFoundError

MAX_K = 1000
MAX_RADIUS = 16
MAX_BATCH = 256
MAX_BODY = 10 * 2**20  # bytes
MAX_TEXT = 100_000  # characters per text


class Params(BaseModel):
    k: int = Field(10, ge=1, le=MAX_K)
    radius: int | None = Field(None, ge=0, le=MAX_RADIUS)
    rerank: bool | None = None
    candidates: int | None = Field(None, ge=1, le=10 * MAX_K)
    asymmetric: bool = False  # order codes by the query's real-valued code (text and vector queries)


class TextQuery(Params):
    queries: list[str] = Field(..., min_length=1, max_length=MAX_BATCH)


class VectorQuery(Params):
    vectors: list[list[float]] = Field(..., min_length=1, max_length=MAX_BATCH)


class CodeQuery(Params):
    codes: list[str] = Field(..., min_length=1, max_length=MAX_BATCH, description="hex codes")


class Doc(BaseModel):
    id: str = Field(..., min_length=1, max_length=1000)
    text: str = Field(..., max_length=MAX_TEXT)
    metadata: dict[str, Any] = Field(default_factory=dict)


class AddBody(BaseModel):
    documents: list[Doc] = Field(..., min_length=1, max_length=10 * MAX_BATCH)


class DeleteBody(BaseModel):
    ids: list[str] = Field(..., min_length=1, max_length=10 * MAX_BATCH)


class EncodeBody(BaseModel):
    texts: list[str] = Field(..., min_length=1, max_length=MAX_BATCH)


class RWLock:
    """Many readers or one writer; a waiting writer blocks new readers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class Batcher:
    """Featurizes concurrent requests' texts together: one model call for everything that queued
    while the previous call ran (up to ``max_texts``). Under load this turns many one-text model
    calls into a few batched ones; alone, a request waits for nothing."""

    def __init__(self, featurize: Any, max_texts: int = MAX_BATCH) -> None:
        import queue

        self._featurize, self._max = featurize, max_texts
        self._queue: queue.Queue[tuple[list[str], Any]] = queue.Queue()
        threading.Thread(target=self._run, name="hashsearch-batcher", daemon=True).start()

    def __call__(self, texts: list[str]) -> Any:
        from concurrent.futures import Future

        fut: Future = Future()
        self._queue.put((texts, fut))
        return fut.result()

    def _run(self) -> None:
        import queue

        while True:
            jobs = [self._queue.get()]
            n = len(jobs[0][0])
            while n < self._max:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
                n += len(jobs[-1][0])
            try:
                x = self._featurize([t for texts, _ in jobs for t in texts])
            except BaseException as e:  # every waiting request gets the error
                for _, fut in jobs:
                    fut.set_exception(e)
                continue
            start = 0
            for texts, fut in jobs:
                fut.set_result(x[start : start + len(texts)])
                start += len(texts)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with 413, streamed or not."""

    def __init__(self, app: Any, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await _plain_error(send, 413, f"request body over {self.limit} bytes")
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge()
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _plain_error(send, 413, f"request body over {self.limit} bytes")


class _TooLarge(Exception):
    pass


async def _plain_error(send: Any, status: int, detail: str) -> None:
    import json

    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def create_app(index_dir: str | Path, *, api_key: str | None = None, require_key: bool = False) -> Any:
    """The FastAPI app over one index directory. ``require_key``: write endpoints need ``api_key``."""
    try:
        from fastapi import Depends, FastAPI, Header, HTTPException, Request
        from fastapi.responses import JSONResponse
    except ImportError:
        raise HashsearchError("serving needs FastAPI and uvicorn: pip install 'hashsearch[serve]'") from None

    from . import codes as bitcodes
    from .index import HashIndex
    from .sources import Record

    if require_key and not api_key:
        raise HashsearchError("an API key is required when serving beyond loopback (--api-key or HASHSEARCH_API_KEY)")
    index = HashIndex.load(index_dir)
    lock = RWLock()
    featurize = Batcher(index.featurize)
    app = FastAPI(title="hashsearch", version="1", description=__doc__)

    @app.exception_handler(NotFoundError)
    async def _not_found(_: Request, e: NotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=404)

    @app.exception_handler(HashsearchError)
    async def _bad(_: Request, e: HashsearchError) -> JSONResponse:
        return JSONResponse({"detail": str(e)}, status_code=400)

    def writer(x_api_key: str | None = Header(default=None)) -> None:
        if require_key or api_key:
            if not x_api_key or not hmac.compare_digest(x_api_key.encode(), (api_key or "").encode()):
                raise HTTPException(401, "missing or wrong X-API-Key")

    @contextmanager
    def reading() -> Iterator[HashIndex]:
        if index.store.generation != index._generation:  # another process wrote
            with lock.write():
                index.refresh()
        with lock.read():
            yield index

    def hits(results: list) -> dict[str, Any]:
        return {"results": [[h.to_dict() for h in row] for row in results]}

    def rerank_of(p: Params, idx: HashIndex) -> bool:
        return idx.has_features if p.rerank is None else p.rerank

    @app.get("/health")
    def health() -> dict[str, Any]:
        with reading() as idx:
            return {"status": "ok", "documents": len(idx)}

    @app.get("/info")
    def info() -> dict[str, Any]:
        with reading() as idx:
            return idx.info().to_dict()

    @app.post("/search")
    def search(q: TextQuery) -> dict[str, Any]:
        if any(len(t) > MAX_TEXT for t in q.queries):
            raise HTTPException(422, f"a query is over {MAX_TEXT} characters")
        x = featurize(q.queries)  # batched with concurrent requests' texts
        with reading() as idx:
            r = rerank_of(q, idx)
            return hits(
                idx.search_vectors(x, q.k, radius=q.radius, rerank=r, candidates=q.candidates, asymmetric=q.asymmetric)
            )

    @app.post("/search/vectors")
    def search_vectors(q: VectorQuery) -> dict[str, Any]:
        import numpy as np

        v = np.asarray(q.vectors, dtype=np.float32)
        with reading() as idx:
            if v.ndim != 2 or v.shape[1] != idx.config.input_dim:
                raise HTTPException(422, f"vectors must have {idx.config.input_dim} dimensions")
            return hits(
                idx.search_vectors(
                    v, q.k, radius=q.radius, rerank=rerank_of(q, idx), candidates=q.candidates, asymmetric=q.asymmetric
                )
            )

    @app.post("/search/codes")
    def search_codes(q: CodeQuery) -> dict[str, Any]:
        with reading() as idx:
            try:
                c = bitcodes.from_hex(q.codes, idx.bits)
            except ValueError as e:
                raise HTTPException(422, str(e)) from None
            if q.asymmetric:
                raise HTTPException(422, "asymmetric ordering needs the query's real-valued code: send text")
            return hits(idx.search_codes(c, q.k, radius=q.radius))

    @app.get("/similar/{doc_id:path}")
    def similar(doc_id: str, k: int = 10, radius: int | None = None, rerank: bool | None = None) -> dict[str, Any]:
        if not 1 <= k <= MAX_K or (radius is not None and not 0 <= radius <= MAX_RADIUS):
            raise HTTPException(422, f"k must be 1..{MAX_K} and radius 0..{MAX_RADIUS}")
        with reading() as idx:
            r = idx.has_features if rerank is None else rerank
            return hits([idx.similar(doc_id, k, radius=radius, rerank=r)])

    @app.post("/encode")
    def encode(body: EncodeBody) -> dict[str, Any]:
        x = featurize(body.texts)
        with reading() as idx:
            c = idx.encode_features(x)[0]
            ints = bitcodes.to_int64(c).tolist() if idx.bits <= 64 else [None] * len(c)
            return {
                "codes": [
                    {"hex": h, "int64": i, "bits": b}
                    for h, i, b in zip(bitcodes.to_hex(c), ints, bitcodes.to_bitstrings(c, idx.bits))
                ]
            }

    @app.post("/documents", dependencies=[Depends(writer)])
    def add(body: AddBody) -> dict[str, Any]:
        ids = [d.id for d in body.documents]
        if len(set(ids)) != len(ids):
            raise HTTPException(422, "duplicate ids in the request")
        if any(not d.text.strip() for d in body.documents):
            raise HTTPException(422, "a document has no text")
        recs = [Record(d.id, d.text, d.metadata) for d in body.documents]
        x = featurize([r.text for r in recs])  # the slow part, outside the exclusive section
        with lock.write():
            n = index.add(recs, features=x)
            return {"added": n, "documents": len(index)}

    @app.post("/documents/delete", dependencies=[Depends(writer)])
    def delete(body: DeleteBody) -> dict[str, Any]:
        with lock.write():
            n = index.delete(body.ids)
            return {"deleted": n, "documents": len(index)}

    app.state.index = index
    app.add_middleware(BodyLimit)
    return app
