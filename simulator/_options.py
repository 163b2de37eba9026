"""What the commands share: argument types with one-line errors, and the progress display."""

from __future__ import annotations

import argparse
import sys
import time
from types import TracebackType

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from simulator.scenario import MAX_REPLICATIONS, MAX_SEED

__all__ = ["PROGRESS_EVERY_S", "ProgressDisplay", "fraction", "particles", "positive",
           "power_of_two", "replications", "scheduler", "seed", "whole"]

#: without a terminal, a progress line at each tenth of the work or after this many seconds
PROGRESS_EVERY_S = 5.0


# ----------------------------------------------------------------------------------------------
# argument types
# ----------------------------------------------------------------------------------------------
def whole(text: str) -> int:
    """A whole number."""
    try:
        return int(text)
    except ValueError:
        msg = f"expected a whole number, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def positive(text: str) -> int:
    """A whole number ≥ 1."""
    value = whole(text)
    if value < 1:
        msg = f"expected at least 1, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def replications(text: str) -> int:
    """Replications, 1 to :data:`~simulator.scenario.MAX_REPLICATIONS`."""
    value = positive(text)
    if value > MAX_REPLICATIONS:
        msg = f"expected at most {MAX_REPLICATIONS:,} replications, got {value:,}"
        raise argparse.ArgumentTypeError(msg)
    return value


def seed(text: str) -> int:
    """A master seed, 0 to 2**63 − 1."""
    value = whole(text)
    if not 0 <= value <= MAX_SEED:
        msg = f"expected a whole number from 0 to 2**63 - 1, got {text}"
        raise argparse.ArgumentTypeError(msg)
    return value


def power_of_two(text: str, *, zero: bool = True) -> int:
    """A power of two ≥ 2 (or 0 when ``zero``: none)."""
    value = whole(text)
    if value < 0 or value & (value - 1) or value == 1 or (value == 0 and not zero):
        msg = (f"expected {'0 or ' if zero else ''}a power of two ≥ 2 (64, 256, 1024, …), "
               f"got {text}")
        raise argparse.ArgumentTypeError(msg)
    return value


def scheduler(text: str) -> str:
    """A Dask scheduler address, checked before anything is loaded (``tcp://host:8786``)."""
    from distributed.comm import parse_address, parse_host_port  # only with --scheduler

    try:
        scheme, location = parse_address(text)
        if scheme in ("tcp", "tls"):
            host, _port = parse_host_port(location)
            if not host:
                msg = "no host"
                raise ValueError(msg)
    except ValueError as exc:
        msg = (f"expected a Dask scheduler address such as tcp://10.0.0.5:8786, got {text!r} "
               f"({exc})")
        raise argparse.ArgumentTypeError(msg) from None
    return text


def fraction(text: str) -> float:
    """A fraction from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 1:
        msg = f"expected a fraction from 0 to 1 (0.1 is 10 %), got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def particles(text: str) -> int:
    """Particles of the nowcast's filter: 10 to ten times the most replications."""
    value = positive(text)
    if not 10 <= value <= 10 * MAX_REPLICATIONS:
        msg = f"expected 10 to {10 * MAX_REPLICATIONS:,} particles, got {value:,}"
        raise argparse.ArgumentTypeError(msg)
    return value


# ----------------------------------------------------------------------------------------------
# progress
# ----------------------------------------------------------------------------------------------
class ProgressDisplay:
    """The progress of replications, for the ``progress`` of the API's functions
    (``progress(label, done, total)``): a bar with an ETA per label on a terminal, plain lines
    on stderr without, nothing when ``quiet``. Use as a context manager."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self._bar: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._lines: dict[str, _LineProgress] = {}

    def __enter__(self) -> ProgressDisplay:
        if not self.quiet and sys.stderr.isatty():
            self._bar = Progress("[progress.description]{task.description}", BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), "ETA",
                                 TimeRemainingColumn(), transient=True)
            self._bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, label: str, done: int, total: int) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            if label not in self._tasks:
                self._tasks[label] = self._bar.add_task(f"{label}: {total:,} replications",
                                                        total=total)
            self._bar.update(self._tasks[label], completed=done)
            return
        if label not in self._lines:
            self._lines[label] = _LineProgress(total, label)
        self._lines[label](done)


class _LineProgress:
    """Progress as lines for logs and pipes: every 10 % or every few seconds, whichever first."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label = max(total, 1), label
        self.start = self.last = time.monotonic()
        self.step = 0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        step = 10 * done // self.total
        if step <= self.step and now - self.last < PROGRESS_EVERY_S:
            return
        self.step, self.last = step, now
        elapsed = now - self.start
        left = elapsed * (self.total - done) / done if done else float("nan")
        eta = f", about {left:.0f} s left" if done < self.total else ""
        print(f"{self.label}: {done:,}/{self.total:,} replications "
              f"({100 * done // self.total} %), {elapsed:.0f} s{eta}", file=sys.stderr,
              flush=True)
