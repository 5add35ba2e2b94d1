"""Nothing is lost: a write killed with SIGKILL at any point leaves the previous index loadable."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import write_jsonl
from hashsearch import HashIndex

KILL_INSIDE_TRANSACTION = textwrap.dedent(
    """
    import os, signal, sys
    from hashsearch import HashIndex, Record
    from hashsearch import store_sqlite as store

    class KillingConn:
        # forwards to sqlite, but dies by SIGKILL just before the write would commit
        def __init__(self, conn): self._c = conn
        def __getattr__(self, name): return getattr(self._c, name)
        def execute(self, sql, *a):
            if sql == store.BUMP_GENERATION:
                os.kill(os.getpid(), signal.SIGKILL)
            return self._c.execute(sql, *a)

    idx = HashIndex.load(sys.argv[1])
    idx.store.conn = KillingConn(idx.store.conn)
    if sys.argv[2] == "add":
        idx.add([Record(f"new-{i}", f"rocket orbit number {i}") for i in range(50)])
    else:
        idx.delete(["space-1", "cooking-2"])
    """
)


def state(d):
    idx = HashIndex.load(d)
    out = sorted((doc.id, bytes(code)) for doc, code in idx.documents())
    n = len(idx)
    hits = idx.search("rocket orbit", k=5, rerank=True)[0]  # features and codes usable
    idx.close()
    return out, n, len(hits)


@pytest.mark.parametrize("op", ["add", "delete"])
def test_sigkill_inside_the_write_transaction(tmp_path, tfidf_index_dir, op):
    d = tmp_path / "idx"
    shutil.copytree(tfidf_index_dir, d)
    before = state(d)
    p = subprocess.run([sys.executable, "-c", KILL_INSIDE_TRANSACTION, str(d), op], capture_output=True, text=True)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert state(d) == before
    # the next write cleans up the uncommitted feature file and works
    idx = HashIndex.load(d)
    from hashsearch import Record

    idx.add([Record("after", "bake flour sugar")])
    assert len(idx) == before[1] + 1
    listed = {f for _, _, f in idx.store.feature_chunks()}
    assert {p.name for p in (d / "features").iterdir()} == listed


def test_sigkill_cli_add_at_random_moments(tmp_path, tfidf_index_dir):
    rows = [{"id": f"k{i}", "text": f"stock market bank shares rate {i % 7} goal striker"} for i in range(3000)]
    src = write_jsonl(tmp_path / "big.jsonl", rows)
    d = tmp_path / "idx"
    shutil.copytree(tfidf_index_dir, d)
    ids0, n0, _ = state(d)
    outcomes = set()
    for delay in (0.2, 0.6, 1.0, 1.5, 2.5):
        p = subprocess.Popen(
            [sys.executable, "-m", "hashsearch.cli", "add", str(d), str(src), "-q"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        ids, n, hits = state(d)
        assert hits == 5
        if n == n0:
            assert ids == ids0
            outcomes.add("unchanged")
        else:  # the add committed before the kill: all of it, none of the old lost
            assert n == n0 + 3000 and set(ids0) <= set(ids)
            outcomes.add("committed")
            break
    assert "unchanged" in outcomes
