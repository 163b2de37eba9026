"""Output folders that never lose a user's file.

A command writes its outputs into a fresh temporary folder beside the target and, once everything
is written, swaps it into place. The target may be

* missing or empty: it is created (replaced);
* a folder trainsim wrote before: recognised by the ``manifest.json`` it holds, which lists
  every file with its SHA-256; the folder is replaced as long as it holds nothing else and no
  listed file was changed since;
* a folder trainsim wrote that also holds the output folder of another command, with its own
  manifest (``outputs/<scenario>/nowcast`` inside ``outputs/<scenario>``): the inner folder is
  not the outer command's to judge or delete; it is kept, moved into the replacement;
* anything else (a user's folder, a file, the home or current folder): refused with a one-line
  :class:`~simulator.errors.OutputError` (exit code 2), before any simulating. ``replace=True``
  (``--replace``) replaces a user's folder on request, but never the file-system root, the home
  folder, the current folder or a folder above it, or the repository.

Concurrent runs: every temporary folder is locked (``flock``) by its run for the run's life, so
the next run can tell a live one from the leftover of a killed run, which it removes. Checking and
swapping happen under a lock on the parent folder, so two runs writing the same target take turns:
the second waits (at most :data:`LOCK_WAIT_S`) and then replaces the first one's outputs. The
swap itself is one ``renameat2(RENAME_EXCHANGE)`` where the kernel has it: the target is never
missing or half-written.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from simulator import settings
from simulator.errors import OutputBusyError, OutputError

__all__ = ["MANIFEST", "OutputFolder", "claim_outputs"]

MANIFEST = "manifest.json"
#: how long a run waits for another one to finish swapping its outputs into the same folder
LOCK_WAIT_S = 60.0
_TMP_SUFFIX = ".trainsim-tmp"
_OLD_SUFFIX = ".trainsim-old"
#: names the tool wrote before it wrote manifests (recognised in the default outputs/ only)
LEGACY_NAMES = frozenset({
    "timeline.csv", "events.csv", "route.geojson", "map.png", "map.html", "timedistance.png",
    "comparison.png", "summary.md", "comparison.csv", "comparison.md", "route.csv", "route.png",
    "journey.gpkg", "journey.kml", "route.gpkg",
})


class OutputFolder:
    """A target folder, claimed before a run and replaced by :meth:`commit` after it.

    Use as a context manager: leaving it with an exception (or a signal turned into one) removes
    the temporary folder, and the target is left as it was.
    """

    def __init__(self, target: Path, *, replace: bool = False, option: str = "--out",
                 inputs: Iterable[Path | None] = ()) -> None:
        self.target = _absolute(target)
        self.replace = replace
        self.option = option
        #: files the run reads (its scenario, its network): never inside the folder it replaces
        self.inputs = [Path(os.path.realpath(p)) for p in inputs if p is not None]
        self.path: Path | None = None  # the temporary folder to write into
        self._fd: int | None = None

    # ---- life cycle ---------------------------------------------------------------------------
    def claim(self) -> OutputFolder:
        """Check the target and create the temporary folder; raise :class:`OutputError`."""
        guarded = _guarded(self.target)
        if guarded:
            msg = f"{self.option} {self.target}: is {guarded}; give a new folder for the outputs"
            raise OutputError(msg)
        parent = self.target.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"{self.option} {self.target}: cannot create {parent} ({_reason(exc)})"
            raise OutputError(msg) from None
        with _locked(parent, self.option):
            # under the lock: another run may be swapping its outputs into the target
            self._check_target()
            _clean_stale(parent, self.target.name)
            try:
                tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{self.target.name}.",
                                            suffix=_TMP_SUFFIX))
            except OSError as exc:
                msg = f"{self.option} {self.target}: cannot write in {parent} ({_reason(exc)})"
                raise OutputError(msg) from None
            self.path = tmp
            self._fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)
            with contextlib.suppress(OSError):  # a file system without locks: no staleness test
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when we exit
        tmp.chmod(0o777 & ~_umask())
        return self

    def commit(self, **manifest: Any) -> list[str]:
        """Write the manifest and swap the written folder into place; return the files."""
        assert self.path is not None, "claim() first"
        files = _listing(self.path)
        record = {"tool": "trainsim", "created": datetime.now(UTC).isoformat(timespec="seconds"),
                  **manifest, "files": files}
        (self.path / MANIFEST).write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
        with _locked(self.target.parent, self.option):
            self._check_target()  # again: the folder may have changed while we simulated
            if self.target.exists():
                # another command's outputs inside the target (outputs/<scenario>/nowcast)
                # move into the new folder: replacing this command's files keeps them
                for name in _nested_names(self.target):
                    if not (self.path / name).exists():
                        os.rename(self.target / name, self.path / name)
                if not _exchange(self.path, self.target):
                    old = self.path.with_name(self.path.name.replace(_TMP_SUFFIX, _OLD_SUFFIX))
                    os.rename(self.target, old)
                    os.rename(self.path, self.target)
                    self.path = old
                shutil.rmtree(self.path, ignore_errors=True)  # the previous outputs
            else:
                os.rename(self.path, self.target)
            self.path = None
        self._release()
        return sorted(files)

    def discard(self) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None
        self._release()

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> OutputFolder:
        return self if self.path is not None else self.claim()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.discard()

    # ---- what the target is --------------------------------------------------------------------
    def _check_target(self) -> None:
        t, opt = self.target, self.option
        guarded = _guarded(t)
        if guarded:
            msg = f"{opt} {t}: is {guarded}; give a new folder for the outputs"
            raise OutputError(msg)
        if t.is_symlink() and not t.exists():
            msg = f"{opt} {t}: is a broken symbolic link"
            raise OutputError(msg)
        if not t.exists():
            return
        if not t.is_dir():
            msg = f"{opt} {t}: is a file, not a folder; give a folder for the outputs"
            raise OutputError(msg)
        if os.path.ismount(t):
            msg = f"{opt} {t}: is a mount point; give a folder inside it"
            raise OutputError(msg)
        real = Path(os.path.realpath(t))
        inside = [p for p in self.inputs if real in p.parents]
        if inside:  # --replace would delete it (and the advice below would say to add it)
            msg = (f"{opt} {t}: holds {inside[0]}, which this run reads; give another folder "
                   "for the outputs")
            raise OutputError(msg)
        foreign = _foreign(t)
        if foreign and not self.replace:
            shown = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
            msg = (f"{opt} {t}: the folder holds files trainsim did not write ({shown}); "
                   "give a new or empty folder, or add --replace to replace it")
            raise OutputError(msg)


def claim_outputs(targets: Iterable[Path], *, replace: bool = False, option: str = "--out",
                  inputs: Iterable[Path | None] = ()) -> list[OutputFolder]:
    """Claim several output folders (all or none); raise :class:`OutputError` for the first bad."""
    claimed: list[OutputFolder] = []
    inputs = list(inputs)
    try:
        for t in targets:
            claimed.append(OutputFolder(t, replace=replace, option=option,
                                        inputs=inputs).claim())
    except BaseException:
        for c in claimed:
            c.discard()
        raise
    return claimed


# ----------------------------------------------------------------------------------------------
def _absolute(path: Path) -> Path:
    # follow symbolic links to folders (outputs/ may point to a larger disk), not to be fooled by
    # "a/../b"
    p = Path(os.path.abspath(Path(path).expanduser()))
    return p.resolve() if p.is_symlink() and p.exists() else p


def _guarded(t: Path) -> str | None:
    """Why ``t`` may never be an output folder (replaced whole), or ``None``."""
    real = Path(os.path.realpath(t))
    cwd = Path(os.path.realpath(Path.cwd()))
    home = Path(os.path.realpath(Path.home()))
    repo = Path(os.path.realpath(settings.repo_root))
    if real == Path(real.anchor):
        return "the root of the file system"
    if real.parent == Path(real.anchor):
        return "a top-level folder of the file system"
    if real == home:
        return "your home folder"
    if real == cwd or real in cwd.parents:
        return "the current folder" if real == cwd else "a folder above the current one"
    if real == repo or real in repo.parents:
        return "the trainsim folder" if real == repo else "a folder above trainsim's own"
    if real in (Path(os.path.realpath(p)) for p in (settings.data_dir, settings.scenarios_dir,
                                                   settings.outputs_dir)):
        return "one of trainsim's own folders"
    return None


def _nested(folder: Path) -> list[str]:
    """Subfolders of ``folder`` that are output folders of their own (a manifest, every file
    as trainsim wrote it), such as ``outputs/<scenario>/nowcast``: they belong to another
    command and are kept when ``folder`` is replaced."""
    out = []
    for entry in sorted(os.listdir(folder)):
        sub = folder / entry
        if sub.is_dir() and not sub.is_symlink() and _read_manifest(sub) is not None \
                and not _foreign(sub):
            out.append(entry)
    return out


def _foreign(folder: Path) -> list[str]:
    """Entries of ``folder`` that trainsim did not write (or that changed since)."""
    nested = set(_nested_names(folder))
    entries = sorted(e for e in os.listdir(folder) if e not in nested)
    if not entries:
        return []
    manifest = _read_manifest(folder)
    if manifest is None:
        if Path(os.path.realpath(folder)).parent == Path(os.path.realpath(settings.outputs_dir)) \
                and set(entries) <= LEGACY_NAMES:
            return []  # written by a trainsim from before manifests, in its own outputs/
        return entries
    listed: dict[str, str] = manifest
    found: list[str] = []
    for rel in _walk(folder):
        if rel == MANIFEST or Path(rel).parts[0] in nested:
            continue
        digest = listed.get(rel)
        if digest is None:
            found.append(rel)
        elif _sha256(folder / rel) != digest:
            found.append(f"{rel} (changed since trainsim wrote it)")
        if len(found) > 3:
            break
    return found


def _nested_names(folder: Path) -> list[str]:
    """:func:`_nested`, for a folder that may not be one (no error if it cannot be listed)."""
    try:
        return _nested(folder) if folder.is_dir() else []
    except OSError:
        return []


def _read_manifest(folder: Path) -> dict[str, str] | None:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = data["files"]
        if data.get("tool") != "trainsim" or not isinstance(files, dict):
            return None
        return {str(k): str(v) for k, v in files.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _walk(folder: Path) -> Iterator[str]:
    """Relative paths of the files (and anything else but folders) below ``folder``."""
    for root, dirs, files in os.walk(folder):
        rel_root = Path(root).relative_to(folder)
        for name in dirs:
            p = Path(root) / name
            if p.is_symlink():
                yield str(rel_root / name)  # a link is never trainsim's
        for name in files:
            yield str(rel_root / name) if str(rel_root) != "." else name


def _listing(folder: Path) -> dict[str, str]:
    return {rel: _sha256(folder / rel) for rel in sorted(_walk(folder)) if rel != MANIFEST}


def _sha256(path: Path) -> str:
    if path.is_symlink() or not path.is_file():
        return ""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _locked(folder: Path, option: str) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (waiting up to :data:`LOCK_WAIT_S`)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        msg = f"{option}: cannot open {folder} ({_reason(exc)})"
        raise OutputError(msg) from None
    try:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    msg = (f"{option}: another trainsim run has kept {folder} locked for "
                           f"{LOCK_WAIT_S:.0f} s; try again when it has finished")
                    raise OutputBusyError(msg) from None
                time.sleep(0.05)
            except OSError:
                break  # the file system has no locks (some network ones): go on without
        yield
    finally:
        os.close(fd)  # releases the lock


_RANDOM = re.compile(r"[a-z0-9_]{8}")


def _clean_stale(parent: Path, name: str) -> None:
    """Remove temporary folders in ``parent`` left by runs that were killed.

    A live run holds a lock on its temporary folder, so one that can be locked is stale (of any
    target in ``parent``). Folders named as the temporaries of trainsim before this module
    (``.NAME.XXXXXXXX``, ``.NAME.old``) are removed only for this ``name``, and only when they hold
    nothing but trainsim's output names.
    """
    for entry in os.scandir(parent):
        if not entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
            continue
        path = Path(entry.path)
        stem, dot, kind = entry.name.rpartition(".")
        if kind in ("trainsim-tmp", "trainsim-old") and _RANDOM.fullmatch(stem[-8:]) \
                and stem[-9:-8] == dot:
            if _is_locked(path):
                continue
        elif entry.name.startswith(f".{name}.") and (
                _RANDOM.fullmatch(entry.name[len(name) + 2:]) or entry.name == f".{name}.old"):
            if not all(n in LEGACY_NAMES or (n.startswith(".") and n.endswith(".tmp"))
                       for n in os.listdir(path)):
                continue
        else:
            continue
        shutil.rmtree(path, ignore_errors=True)


def _is_locked(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return True  # cannot tell: leave it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held by a live run (or no locks here: leave it)
        return True
    finally:
        os.close(fd)
    return False


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); ``False`` where that is unavailable."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _reason(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
