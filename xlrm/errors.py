"""Errors that stages report to the user with a clear message and a non-zero exit."""

from __future__ import annotations


class XlrmError(Exception):
    """An error caused by the user's input or configuration (not a bug).

    Stage scripts catch it, print the message (which names the file, row and
    field where that applies) and exit with status 2.
    """


class DataError(XlrmError):
    """A data file or row does not have the expected shape."""

    def __init__(self, message: str, *, path: str | None = None, row: int | None = None,
                 field: str | None = None):
        where = []
        if path is not None:
            where.append(f"file {path}")
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.path, self.row, self.field = path, row, field


class ConfigError(XlrmError):
    """A params section has an unknown key or a value of the wrong type."""


class MissingResourceError(XlrmError):
    """A model or data set is neither reachable on the hub nor in the local cache."""
