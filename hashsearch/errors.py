"""Errors that hashsearch reports to users as one clear line, never a traceback."""

from __future__ import annotations

from pathlib import Path


class HashsearchError(Exception):
    """Base class: anything the CLI prints as ``error: <message>`` and exits non-zero."""


class InputError(HashsearchError):
    """Bad input data, located at a file and (when known) a line."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class IndexFormatError(HashsearchError):
    """An index directory that is missing, corrupt or of an unknown format version."""


class NotFoundError(HashsearchError):
    """A document id that is not in the index."""
