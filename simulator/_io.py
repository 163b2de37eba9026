"""File helpers: atomic output (write a temporary file beside the target, then rename), and input
files checked before they are read (one-line errors that name the file and line)."""

from __future__ import annotations

import csv
import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from simulator.errors import DataFileError

__all__ = ["atomic_path", "decode_utf8", "file_problem", "read_csv_rows", "write_csv"]

#: the data tables are a few KB; a larger file is not one of them
MAX_TABLE_BYTES = 1 << 20


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path; on success it replaces ``target``, on failure it is removed.

    Nothing half-written is ever left at ``target``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; outputs are not
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write rows (dicts with the same keys) as CSV with a header, atomically."""
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        if rows:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as an input file (``None`` when it can)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "file not found"
    except (OSError, ValueError) as exc:  # permission, a name too long or holding NUL
        return f"cannot open ({getattr(exc, 'strerror', None) or exc})"
    if stat.S_ISDIR(st.st_mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (a device, pipe or socket)"
    if not os.access(path, os.R_OK):
        return "not readable (permission denied)"
    return None


def decode_utf8(raw: bytes, path: str | Path) -> str:
    """``raw`` as UTF-8 text; one line naming the file and the first bad byte otherwise."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})"
        raise DataFileError(msg) from None


def read_csv_rows(path: Path, columns: Sequence[str], *,
                  check: Callable[[dict[str, str]], Any] | None = None,
                  comments: bool = False) -> list[dict[str, str]]:
    """Read a small CSV data table whose header has ``columns``; check every row.

    ``check`` raises ``ValueError`` for a bad row; lines starting with ``#`` are skipped when
    ``comments`` is set. Any problem is a :class:`DataFileError` naming the file (and the line).
    """
    problem = file_problem(path)
    if problem:
        msg = f"{path}: {problem}"
        raise DataFileError(msg)
    raw = Path(path).read_bytes()[:MAX_TABLE_BYTES + 1]
    if len(raw) > MAX_TABLE_BYTES:
        msg = f"{path}: larger than {MAX_TABLE_BYTES >> 20} MB; not a data table"
        raise DataFileError(msg)
    text = decode_utf8(raw, path)
    numbered = [(i, line) for i, line in enumerate(text.splitlines(), 1)
                if not (comments and line.startswith("#"))]
    if "\x00" in text:
        msg = f"{path}: holds NUL bytes; not a CSV table"
        raise DataFileError(msg)
    reader = csv.DictReader(line for _, line in numbered)
    try:
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            where = f"{path}:{numbered[0][0]}" if numbered else str(path)
            msg = (f"{where}: the header lacks column(s) {', '.join(missing)} "
                   f"(expected {','.join(columns)})")
            raise DataFileError(msg)
        rows = []
        for row in reader:
            line = numbered[reader.line_num - 1][0]
            if None in row or any(row[c] is None for c in columns):
                msg = f"{path}:{line}: expected {len(reader.fieldnames or [])} fields"
                raise DataFileError(msg)
            if check is not None:
                try:
                    check(row)
                except (ValueError, LookupError) as exc:
                    msg = f"{path}:{line}: {exc}"
                    raise DataFileError(msg) from None
            rows.append(row)
    except csv.Error as exc:
        msg = f"{path}: not a CSV table ({exc})"
        raise DataFileError(msg) from None
    return rows
