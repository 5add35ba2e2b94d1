"""The demo corpus: docstrings of the installed Python standard library (every machine has it).

``python -m hashsearch.demo OUT.jsonl [--limit N]`` writes one JSON object per docstring, with
the module as its label. Sources are parsed with ``ast``, never imported.
"""

from __future__ import annotations

import ast
import json
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

SKIP_PARTS = {"test", "tests", "idlelib", "site-packages", "dist-packages", "lib2to3", "turtledemo", "__pycache__"}


def stdlib_docstrings(min_chars: int = 80) -> Iterator[dict[str, str]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if SKIP_PARTS.intersection(rel.parts):
            continue
        module = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        nodes: list[tuple[str, ast.AST]] = [(module, tree)]
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                nodes.append((f"{module}.{node.name}", node))
        seen: set[str] = set()
        for name, node in nodes:
            doc = ast.get_docstring(node)  # type: ignore[arg-type]
            if doc and len(doc) >= min_chars and name not in seen:
                seen.add(name)
                yield {"id": name, "text": doc, "label": module.split(".")[0]}


def write_corpus(out: Path, limit: int | None = None) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(out, "w", encoding="utf-8") as f:
        for row in stdlib_docstrings():
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
            if limit and n >= limit:
                break
    return n


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--limit", type=int, default=None)
    a = ap.parse_args()
    print(f"wrote {write_corpus(a.out, a.limit)} standard-library docstrings to {a.out}", file=sys.stderr)
