"""Local worker processes: the Monte Carlo batches, the nowcast's particles, the calibration's
fits.

:func:`run_in_processes` runs a function over jobs on a few forked (or, where fork is missing,
spawned) processes. Each worker has a pipe of its own to the parent, for its jobs and its
results. ``multiprocessing.Pool`` shares one result pipe and its lock among all workers, and
its ``terminate`` kills them and then writes to that pipe: a worker killed while it was sending
a result kept the lock, and the run hung for good (a run whose progress callback failed: once
in 120 runs of 12 failing pools). With a pipe per worker nothing a killed worker held is
needed again.

Every worker first sets itself up with :func:`init_worker`: a forked worker inherits the
parent's signal handlers, and the command line turns SIGTERM into an exit of the whole run
(``cli._on_signal``), which a worker must not: it simply dies when the run ends it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.connection import Connection, wait
from typing import Any, Literal, TypeVar

__all__ = ["WorkerDiedError", "init_worker", "run_in_processes"]

J = TypeVar("J")
R = TypeVar("R")


class WorkerDiedError(RuntimeError):
    """A worker process ended without sending its result (killed, out of memory)."""


def run_in_processes(work: Callable[[J], R], jobs: Sequence[J],
                     take: Callable[[int, R], Any], *, workers: int,
                     start: Literal["fork", "spawn"] = "fork",
                     initializer: Callable[..., Any] | None = None,
                     initargs: tuple[Any, ...] = ()) -> None:
    """Run ``work(job)`` for every job on ``workers`` processes; ``take(i, result)`` (``i``:
    the job's index) each result in this process as it comes.

    The workers end with the call: after the last job, or, when anything raises (a job, a
    ``take``, Ctrl-C, SIGTERM turned into an exception), at once, terminated; the exception
    goes on. A job's exception is raised here as it was raised in the worker, with the
    worker's traceback in a note. Workers are forked (they inherit what the parent holds)
    unless ``start`` is ``"spawn"`` or the platform cannot fork.

    Raises
    ------
    ValueError
        ``workers`` is less than 1.
    WorkerDiedError
        A worker ended before it sent the result of its job (killed, out of memory).
    """
    if workers < 1:
        msg = f"workers must be at least 1, got {workers}"
        raise ValueError(msg)
    context = (get_context("fork") if start == "fork" and "fork" in get_all_start_methods()
               else get_context("spawn"))
    procs: list[Any] = []
    links: list[Connection] = []
    failed = True
    try:
        for _ in range(min(workers, len(jobs))):
            here, there = context.Pipe()
            proc = context.Process(target=_serve, args=(there, work, initializer, initargs),
                                   daemon=True)
            proc.start()
            there.close()
            procs.append(proc)
            links.append(here)
        worker_of = dict(zip(links, procs, strict=True))
        queue = iter(enumerate(jobs))
        running: dict[Connection, int] = {}

        def died(link: Connection, job: int | None) -> WorkerDiedError:
            proc = worker_of[link]
            proc.join(1)  # its exit code, where it has one already
            what = "before its first job" if job is None else f"without the result of job {job}"
            msg = (f"a worker process ended {what} (exit code {proc.exitcode}; -9: killed, "
                   "often for want of memory)")
            return WorkerDiedError(msg)

        def hand_out(link: Connection) -> None:
            nxt = next(queue, None)
            try:
                link.send(nxt)  # None: no more, the worker ends
            except OSError:
                if nxt is not None:
                    raise died(link, nxt[0]) from None
                return  # it had sent its last result: the run lacks nothing
            if nxt is not None:
                running[link] = nxt[0]

        for link in links:
            hand_out(link)
        while running:
            for ready in wait(list(running)):
                assert isinstance(ready, Connection)
                link = ready
                try:
                    ok, value = link.recv()
                except (EOFError, OSError):
                    raise died(link, running[link]) from None
                except Exception as exc:  # a reply that pickled but does not unpickle here
                    msg = f"the reply of a worker process could not be read: {exc!r}"
                    raise RuntimeError(msg) from exc
                i = running.pop(link)
                if not ok:
                    raise value
                hand_out(link)
                take(i, value)
        failed = False
    finally:
        for proc in procs:
            if failed:
                proc.terminate()
            # a worker that does not end (a thread of a job's library that keeps it alive) is
            # killed rather than waited for
            proc.join(5)
            if proc.exitcode is None:
                proc.kill()
                proc.join()
            proc.close()
        for link in links:
            link.close()


def _serve(link: Connection, work: Callable[[Any], Any],
           initializer: Callable[..., Any] | None, initargs: tuple[Any, ...]) -> None:
    """A worker: jobs from the parent until it sends None (or is gone), each result back."""
    if initializer is not None:
        initializer(*initargs)
    while True:
        try:
            item = link.recv()
        except EOFError:  # the parent closed its end
            return
        if item is None:
            return
        try:
            reply: tuple[bool, Any] = (True, work(item[1]))
        except Exception as exc:  # raised again in the parent, with where it happened here
            exc.add_note("in a worker process:\n" + "".join(traceback.format_exception(exc)))
            reply = (False, exc)
        try:
            link.send(reply)
        except Exception as exc:
            what = "the result of a job" if reply[0] else f"an exception ({reply[1]!r})"
            link.send((False, RuntimeError(f"a worker process could not send {what}: {exc!r}")))


def init_worker(parent: int) -> None:
    """Signals as a worker needs them, and a watch on the parent process ``parent``."""
    # Ctrl-C reaches the whole process group: let the parent alone decide to stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a worker must simply die when the run ends it, whichever of its threads the signal
    # reaches
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # a result sent to a parent that was killed (SIGKILL: no chance to end its workers) meets
    # a closed pipe: die of SIGPIPE as a Unix filter does, instead of printing
    # multiprocessing's BrokenPipeError traceback into the user's terminal
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _watch_parent(parent: int) -> None:
    """Exit when the parent process is gone (killed without ending its workers)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    while os.getppid() == parent:
        time.sleep(0.2)  # a killed run's workers stop computing within a fifth of a second
    os._exit(1)
