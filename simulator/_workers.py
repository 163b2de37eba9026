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
import pickle
import signal
import threading
import time
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
    goes on. A job's exception is raised here as it was raised in the worker. Workers are
    forked (they inherit what the parent holds) unless ``start`` is ``"spawn"`` or the
    platform cannot fork.
    """
    context = (get_context("fork") if start == "fork" and "fork" in get_all_start_methods()
               else get_context("spawn"))
    procs: list[Any] = []
    links: list[Connection] = []
    try:
        for _ in range(min(workers, len(jobs))):
            here, there = context.Pipe()
            proc = context.Process(target=_serve, args=(there, work, initializer, initargs),
                                   daemon=True)
            proc.start()
            there.close()
            procs.append(proc)
            links.append(here)
        queue = iter(enumerate(jobs))
        running: dict[Connection, int] = {}

        def hand_out(link: Connection) -> None:
            nxt = next(queue, None)
            if nxt is None:
                link.send(None)  # no more: the worker ends
            else:
                link.send(nxt)
                running[link] = nxt[0]

        for link in links:
            hand_out(link)
        while running:
            for ready in wait(list(running)):
                assert isinstance(ready, Connection)
                link = ready
                try:
                    ok, value = link.recv()
                except EOFError:
                    msg = f"a worker process ended without its result (job {running[link]})"
                    raise WorkerDiedError(msg) from None
                i = running.pop(link)
                if not ok:
                    raise value
                hand_out(link)
                take(i, value)
        for proc in procs:
            proc.join()
    except BaseException:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.join()
        raise
    finally:
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
            reply = (True, work(item[1]))
        except Exception as exc:  # raised again in the parent
            reply = (False, exc)
        try:
            link.send(reply)
        except (TypeError, AttributeError, pickle.PicklingError):  # an exception that won't pickle
            link.send((False, RuntimeError(f"in a worker process: {reply[1]!r}")))


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
