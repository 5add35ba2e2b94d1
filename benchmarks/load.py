"""Load: 64 concurrent clients against `hashsearch serve` on loopback for 60 s, 90% search, 10% writes.

    python benchmarks/load.py [--clients 64] [--seconds 60] [--docs 1000] [--featurizer minilm]

Builds an index of the first N standard-library docstrings, starts `hashsearch serve` in its own
process, and runs C client threads (one HTTP connection each) until the deadline. Each request is a
text search (k=10, rerank as served) with probability 0.9; otherwise a write: the client adds a new
document with an id of its own, or deletes one it added before (adds and deletes alternate).

Afterwards the server is stopped and the index reloaded from disk: every document that was added
and not deleted must be there exactly once, every deleted one gone, the initial corpus intact.
Prints one table: requests, errors (any non-2xx or transport failure), latency percentiles.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QUERIES = [
    "read and write compressed archive files", "parse command line arguments", "send an email over SMTP",
    "thread pool executor", "unicode normalization", "http client request", "regular expression match",
    "serialize objects to json", "sort a list in place", "temporary directory", "decimal arithmetic",
    "date and time formatting", "spawn a subprocess and read its output", "hash digest of bytes",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    import httpx

    from hashsearch import HashIndex, Record, TrainConfig
    from hashsearch.demo import stdlib_docstrings

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--featurizer", default="minilm")
    ap.add_argument("--write-share", type=float, default=0.1)
    a = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hs-load-"))
    rows = list(stdlib_docstrings())
    initial = rows[: a.docs]
    spare = rows[a.docs :] or rows
    d = work / "idx"
    cfg = TrainConfig.for_bag_of_words() if a.featurizer == "tfidf" else TrainConfig(epochs=10)
    HashIndex.build(d, [Record(r["id"], r["text"]) for r in initial], featurizer=a.featurizer, train=cfg).close()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "hashsearch.cli", "serve", str(d), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        raise SystemExit("server did not start: " + (server.stderr.read() if server.stderr else ""))

    lat: dict[str, list[float]] = {"search": [], "add": [], "delete": []}
    errors: list[str] = []
    added: set[str] = set()
    deleted: set[str] = set()
    mu = threading.Lock()
    deadline = time.perf_counter() + a.seconds

    def client(c: int) -> None:
        rng = np.random.default_rng(c)
        mine: list[str] = []
        n = 0
        with httpx.Client(base_url=base, timeout=120) as http:
            while time.perf_counter() < deadline:
                write = rng.random() < a.write_share
                if not write:
                    kind, path = "search", "/search"
                    body: dict = {"queries": [QUERIES[int(rng.integers(len(QUERIES)))]], "k": 10}
                elif not mine or n % 2 == 0:
                    doc_id = f"load-{c}-{n}"
                    r = spare[int(rng.integers(len(spare)))]
                    kind, path, body = "add", "/documents", {"documents": [{"id": doc_id, "text": r["text"], "metadata": {"client": c}}]}
                else:
                    doc_id = mine.pop(int(rng.integers(len(mine))))
                    kind, path, body = "delete", "/documents/delete", {"ids": [doc_id]}
                t = time.perf_counter()
                try:
                    resp = http.post(path, json=body)
                    ok = resp.status_code == 200
                    detail = f"{resp.status_code} {resp.text[:200]}"
                except httpx.HTTPError as e:
                    ok, detail = False, repr(e)
                ms = 1000 * (time.perf_counter() - t)
                with mu:
                    lat[kind].append(ms)
                    if not ok:
                        errors.append(f"{kind}: {detail}")
                    elif kind == "add":
                        added.add(doc_id)
                    elif kind == "delete":
                        deleted.add(doc_id)
                if ok and kind == "add":
                    mine.append(doc_id)
                if write:
                    n += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    server.terminate()
    server.wait(timeout=30)

    idx = HashIndex.load(d)
    ids = [doc.id for doc, _ in idx.documents()]
    expected = {r["id"] for r in initial} | (added - deleted)
    dup = len(ids) - len(set(ids))
    lost = expected - set(ids)
    ghost = set(ids) - expected
    shutil.rmtree(work, ignore_errors=True)

    total = sum(len(v) for v in lat.values())
    print(f"\n{a.clients} clients, {wall:.0f} s, index of {a.docs} docstrings ({a.featurizer}, 64 bits), {os.cpu_count()} cores")
    print("| requests | per s | errors | search p50 ms | search p99 ms | add p50/p99 ms | delete p50/p99 ms | lost | duplicated | ghosts |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    p = lambda k, q: np.percentile(lat[k], q) if lat[k] else float("nan")
    print(
        f"| {total} | {total / wall:.0f} | {len(errors)} | {p('search', 50):.1f} | {p('search', 99):.1f} | "
        f"{p('add', 50):.0f}/{p('add', 99):.0f} | {p('delete', 50):.0f}/{p('delete', 99):.0f} | {len(lost)} | {dup} | {len(ghost)} |"
    )
    print(f"searches {len(lat['search'])}, adds {len(lat['add'])} ({len(added)} ok), deletes {len(lat['delete'])} ({len(deleted)} ok); documents at the end {len(ids)} (expected {len(expected)})")
    for e in errors[:5]:
        print("error:", e)
    print(json.dumps({"requests": total, "errors": len(errors), "lost": len(lost), "duplicated": dup, "ghosts": len(ghost),
                      "search_p99_ms": round(float(p("search", 99)), 1)}))


if __name__ == "__main__":
    main()
