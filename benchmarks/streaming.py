"""Streaming: peak memory of `hashsearch index` on JSONL grows with the features kept, not the text.

    python benchmarks/streaming.py [--docs 1000]

Builds two indexes with the bundled MiniLM from JSONL files with the same number of documents:
one of ~2.5 KB texts and one of ~65 KB texts. Both fill MiniLM's 256-token window, so the model's
own working memory is the same; only the amount of text differs. Each build runs in its own process; the table shows each one's peak RSS. If the
text were held in memory, the long corpus would cost about its size in extra peak memory.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import resource, sys, time
from hashsearch.cli import main
sys.argv = ["hashsearch", "index", sys.argv[1], "--index", sys.argv[2], "-q", "--epochs", "5"]
t = time.perf_counter()
try:
    main()
except SystemExit:
    pass
print("PEAK", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, time.perf_counter() - t, file=sys.stderr)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=1000)
    a = ap.parse_args()
    words = "semantic hashing maps documents to short binary codes so that similar documents collide".split()
    work = Path(tempfile.mkdtemp(prefix="hs-stream-"))
    rows = []
    for name, reps in (("short", 25), ("long", 700)):
        src = work / f"{name}.jsonl"
        with open(src, "w") as f:
            for i in range(a.docs):
                text = " ".join(words[(i + j) % len(words)] for j in range(len(words))) + f" doc {i}. "
                f.write(json.dumps({"id": str(i), "text": text * reps}) + "\n")
        size = src.stat().st_size
        p = subprocess.run([sys.executable, "-c", CHILD, str(src), str(work / name)], capture_output=True, text=True)
        line = next(ln for ln in p.stderr.splitlines() if ln.startswith("PEAK"))
        _, peak, secs = line.split()
        rows.append((name, size, float(peak), float(secs)))
    print(f"\n{'corpus':<8}{'docs':>7}{'JSONL MiB':>11}{'peak RSS MiB':>14}{'seconds':>9}")
    for name, size, peak, secs in rows:
        print(f"{name:<8}{a.docs:>7}{size / 2**20:>11.1f}{peak:>14.0f}{secs:>9.1f}")
    grow = rows[1][2] - rows[0][2]
    more = (rows[1][1] - rows[0][1]) / 2**20
    print(f"\n{more:.0f} MiB more text cost {grow:+.0f} MiB of peak memory ({grow / more:.2f} MiB per MiB of text)")


if __name__ == "__main__":
    main()
