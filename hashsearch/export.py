"""Export codes for other backends: JSONL, a folder of .npy arrays, or Parquet (with pyarrow).

Each document: its id, its code as hex (``bits / 4`` characters), as int64 (codes of at most 64
bits: the big-endian value, two's complement at 64 bits) and as packed bytes, and its metadata.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import codes as bitcodes
from .errors import HashsearchError

if TYPE_CHECKING:
    from .index import HashIndex

FORMATS = ("jsonl", "npy", "parquet")


def export_codes(index: HashIndex, out: Path, fmt: str = "jsonl") -> int:
    """Write every document's id, code and metadata to ``out``; returns the count. Written to a
    temporary name and renamed, so ``out`` is either absent or complete."""
    if fmt not in FORMATS:
        raise HashsearchError(f"unknown export format {fmt!r} (choose from {', '.join(FORMATS)})")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    ids, metas, rows = [], [], []
    for doc, code in index.documents():
        ids.append(doc.id)
        metas.append(doc.metadata)
        rows.append(code)
    codes = np.array(rows, dtype=np.uint8).reshape(len(rows), index.bits // 8)
    ints = bitcodes.to_int64(codes) if index.bits <= 64 else None
    hexes = bitcodes.to_hex(codes)
    if fmt == "jsonl":
        with open(tmp, "w", encoding="utf-8") as f:
            for i, (doc_id, meta, h) in enumerate(zip(ids, metas, hexes)):
                row = {
                    "id": doc_id,
                    "code_hex": h,
                    "code_int64": int(ints[i]) if ints is not None else None,
                    "metadata": meta,
                }
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif fmt == "npy":
        tmp.mkdir()
        np.save(tmp / "codes.npy", codes, allow_pickle=False)
        np.save(tmp / "ids.npy", np.array(ids, dtype=str), allow_pickle=False)
        if ints is not None:
            np.save(tmp / "codes_int64.npy", ints, allow_pickle=False)
        (tmp / "metadata.jsonl").write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in metas))
    else:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise HashsearchError("Parquet export needs pyarrow: pip install pyarrow") from None
        table = pa.table(
            {
                "id": ids,
                "code_hex": hexes,
                "code_int64": ints if ints is not None else [None] * len(ids),
                "code": [bytes(c) for c in codes],
                "metadata": [json.dumps(m, ensure_ascii=False) for m in metas],
            }
        )
        pq.write_table(table, tmp)
    if out.exists():
        import shutil

        shutil.rmtree(out) if out.is_dir() else out.unlink()
    os.replace(tmp, out)
    return len(ids)
